package metaserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
)

// head is the part of a stored object the server looks at.
type head struct {
	// Raw, to tell an absent key from an empty or null one.
	APIVersion json.RawMessage `json:"apiVersion"`
	Kind       json.RawMessage `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

// item is a stored object ready to be served.
type item struct {
	obj  store.Object
	head head
	rv   uint64 // 0 when the resourceVersion is not a number
	rvOK bool
}

func parseRV(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func newItem(o store.Object) (item, error) {
	it := item{obj: o}
	if err := json.Unmarshal(o.Data, &it.head); err != nil {
		return it, fmt.Errorf("stored %s: %w", o.Key, err)
	}
	it.rv, it.rvOK = parseRV(o.ResourceVersion)
	return it, nil
}

// name and namespace as the API shows them: from the object, falling back to
// the store key (cluster-scoped objects have no namespace whatever the key's
// placeholder says).
func (it *item) name(r *resource) string {
	if it.head.Metadata.Name != "" {
		return it.head.Metadata.Name
	}
	return it.obj.Key.Name
}

func (it *item) namespace(r *resource) string {
	if !r.namespaced {
		return ""
	}
	if it.head.Metadata.Namespace != "" {
		return it.head.Metadata.Namespace
	}
	return it.obj.Key.Namespace
}

// render returns the object JSON with apiVersion and kind filled in, as the
// apiserver serves it; the cloud usually sends objects without them.
func (it *item) render(r *resource) ([]byte, error) {
	av, kind := r.apiVersion(), r.kind
	data := it.obj.Data
	if bytes.Equal(it.head.APIVersion, quoted(av)) && bytes.Equal(it.head.Kind, quoted(kind)) {
		return data, nil
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if it.head.APIVersion == nil && it.head.Kind == nil && len(trimmed) > 1 && trimmed[0] == '{' {
		// Splice the two fields in front: no re-encoding of the object.
		rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
		out := make([]byte, 0, len(data)+len(av)+len(kind)+32)
		out = append(out, `{"apiVersion":"`...)
		out = append(out, av...)
		out = append(out, `","kind":"`...)
		out = append(out, kind...)
		out = append(out, '"')
		if len(rest) > 0 && rest[0] != '}' {
			out = append(out, ',')
		}
		return append(out, rest...), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("stored %s: %w", it.obj.Key, err)
	}
	m["apiVersion"], _ = json.Marshal(av)
	m["kind"], _ = json.Marshal(kind)
	return json.Marshal(m)
}

// quoted is s as a JSON string; served kinds and versions need no escaping.
func quoted(s string) []byte { return []byte(`"` + s + `"`) }

// filter is what a request asks for: a namespace, a name and selectors.
type filter struct {
	namespace string // "" for all
	name      string // "" for all
	labels    labels.Selector
	fields    fields.Selector
}

// parseFilter reads labelSelector and fieldSelector. Only metadata.name and
// metadata.namespace can be selected on, as for most apiserver resources.
func parseFilter(q url.Values, r *resource, namespace, name string) (filter, error) {
	f := filter{namespace: namespace, name: name, labels: labels.Everything(), fields: fields.Everything()}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return f, fmt.Errorf("labelSelector %q: %w", s, err)
		}
		f.labels = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return f, fmt.Errorf("fieldSelector %q: %w", s, err)
		}
		for _, req := range sel.Requirements() {
			switch req.Field {
			case "metadata.name":
			case "metadata.namespace":
				if !r.namespaced {
					return f, fmt.Errorf("fieldSelector %q: field label not supported: %s (%s are cluster-scoped)", s, req.Field, r.plural)
				}
			default:
				return f, fmt.Errorf("fieldSelector %q: field label not supported: %s (the edge-local API selects on metadata.name and metadata.namespace only)", s, req.Field)
			}
		}
		f.fields = sel
	}
	return f, nil
}

func (f *filter) matches(r *resource, it *item) bool {
	name, ns := it.name(r), it.namespace(r)
	if f.namespace != "" && ns != f.namespace || f.name != "" && name != f.name {
		return false
	}
	if f.fields != nil && !f.fields.Empty() {
		set := fields.Set{"metadata.name": name}
		if r.namespaced {
			set["metadata.namespace"] = ns
		}
		if !f.fields.Matches(set) {
			return false
		}
	}
	return f.labels == nil || f.labels.Empty() || f.labels.Matches(labels.Set(it.head.Metadata.Labels))
}

// tracksMembership reports whether an object can enter and leave the filter
// by changing: only labels can change; names and namespaces cannot.
func (f *filter) tracksMembership() bool { return f.labels != nil && !f.labels.Empty() }

// key identifies an object within a resource for a watch.
func (it *item) key(r *resource) string {
	if !r.namespaced {
		return it.name(r)
	}
	return it.namespace(r) + "/" + it.name(r)
}
