package devicetwin

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// ResourceType is the meta.db type of the twin state documents: one object
// per device, keyed <namespace>/devicetwin/<device id>.
const ResourceType message.ResourceType = "devicetwin"

// DefaultNamespace is the namespace of a device whose Device object has not
// been seen yet (membership messages carry no namespace).
const DefaultNamespace = "default"

// record is one device's twin state: the JSON document stored in meta.db and
// the value the Run goroutine keeps in memory. Records are never changed in
// place before they are committed: a change is made on a clone, written, and
// only then swapped in.
type record struct {
	ID          string                   `json:"id"`
	Name        string                   `json:"name,omitempty"`
	Namespace   string                   `json:"namespace"`
	Description string                   `json:"description,omitempty"`
	State       string                   `json:"state,omitempty"`
	LastOnline  string                   `json:"last_online,omitempty"`
	Attributes  map[string]*twin.MsgAttr `json:"attributes,omitempty"`
	Twin        map[string]*twin.MsgTwin `json:"twin,omitempty"`
	// ObjectVersion is the resourceVersion of the last Device object applied.
	ObjectVersion uint64 `json:"object_version,omitempty"`
	// UnsentTwin lists the properties whose actual value changed and was not
	// yet handed to Upstream; they are sent again after a restart.
	UnsentTwin []string `json:"unsent_twin,omitempty"`
	// UnsentState is true while the device state was not yet handed to
	// Upstream.
	UnsentState bool `json:"unsent_state,omitempty"`
}

func (r *record) key() message.Resource {
	ns := r.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return message.Resource{Namespace: ns, Type: ResourceType, Name: r.ID}
}

func (r *record) object() (store.Object, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return store.Object{}, fmt.Errorf("encode twin state of %s: %w", r.ID, err)
	}
	obj := store.Object{Key: r.key(), Data: data}
	if r.ObjectVersion > 0 {
		obj.ResourceVersion = strconv.FormatUint(r.ObjectVersion, 10)
	}
	return obj, nil
}

func decodeRecord(obj store.Object) (*record, error) {
	var r record
	if err := json.Unmarshal(obj.Data, &r); err != nil {
		return nil, fmt.Errorf("decode twin state %s: %w", obj.Key, err)
	}
	if r.ID == "" {
		r.ID = obj.Key.Name
	}
	r.Namespace = obj.Key.Namespace
	if r.Twin == nil {
		r.Twin = map[string]*twin.MsgTwin{}
	}
	return &r, nil
}

// clone returns a deep copy.
func (r *record) clone() *record {
	c := *r
	c.Attributes = cloneAttrs(r.Attributes)
	c.Twin = make(map[string]*twin.MsgTwin, len(r.Twin))
	for k, v := range r.Twin {
		c.Twin[k] = cloneTwin(v)
	}
	c.UnsentTwin = slices.Clone(r.UnsentTwin)
	return &c
}

// device renders the record as the twin flows carry it.
func (r *record) device(withTwin bool) twin.Device {
	d := twin.Device{
		ID: r.ID, Name: r.Name, Description: r.Description,
		State: r.State, LastOnline: r.LastOnline, Attributes: cloneAttrs(r.Attributes),
	}
	if withTwin {
		d.Twin = cloneTwins(r.Twin)
	}
	return d
}

func (r *record) addUnsent(props ...string) {
	for _, p := range props {
		if !slices.Contains(r.UnsentTwin, p) {
			r.UnsentTwin = append(r.UnsentTwin, p)
		}
	}
	sort.Strings(r.UnsentTwin)
}

func (r *record) removeUnsent(prop string) {
	r.UnsentTwin = slices.DeleteFunc(r.UnsentTwin, func(p string) bool { return p == prop })
	if len(r.UnsentTwin) == 0 {
		r.UnsentTwin = nil
	}
}

func cloneAttrs(in map[string]*twin.MsgAttr) map[string]*twin.MsgAttr {
	if in == nil {
		return nil
	}
	out := make(map[string]*twin.MsgAttr, len(in))
	for k, v := range in {
		if v == nil {
			out[k] = nil
			continue
		}
		a := *v
		a.Optional = cloneBool(v.Optional)
		if v.Metadata != nil {
			m := *v.Metadata
			a.Metadata = &m
		}
		out[k] = &a
	}
	return out
}

func cloneTwins(in map[string]*twin.MsgTwin) map[string]*twin.MsgTwin {
	out := make(map[string]*twin.MsgTwin, len(in))
	for k, v := range in {
		out[k] = cloneTwin(v)
	}
	return out
}

func cloneTwin(t *twin.MsgTwin) *twin.MsgTwin {
	if t == nil {
		return nil
	}
	return &twin.MsgTwin{
		Expected:        cloneValue(t.Expected),
		Actual:          cloneValue(t.Actual),
		Optional:        cloneBool(t.Optional),
		Metadata:        cloneTypeMeta(t.Metadata),
		ExpectedVersion: cloneVersion(t.ExpectedVersion),
		ActualVersion:   cloneVersion(t.ActualVersion),
	}
}

func cloneValue(v *twin.TwinValue) *twin.TwinValue {
	if v == nil {
		return nil
	}
	c := &twin.TwinValue{}
	if v.Value != nil {
		c.Value = twin.StringPtr(*v.Value)
	}
	if v.Metadata != nil {
		m := *v.Metadata
		c.Metadata = &m
	}
	return c
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func cloneTypeMeta(m *twin.TypeMetadata) *twin.TypeMetadata {
	if m == nil {
		return nil
	}
	c := *m
	return &c
}

func cloneVersion(v *twin.TwinVersion) *twin.TwinVersion {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// Accessors that treat missing parts as empty.

func twinType(t *twin.MsgTwin) string {
	if t == nil || t.Metadata == nil {
		return ""
	}
	return t.Metadata.Type
}

func isDeleted(t *twin.MsgTwin) bool { return twinType(t) == twin.TypeDeleted }

func valueOf(v *twin.TwinValue) (string, bool) {
	if v == nil || v.Value == nil {
		return "", false
	}
	return *v.Value, true
}

func cloudVersion(v *twin.TwinVersion) int64 {
	if v == nil {
		return 0
	}
	return v.CloudVersion
}

func boolOf(b *bool) bool { return b != nil && *b }

// deltaOf returns the properties whose non-empty expected value differs from
// the actual one (deleted twins excluded).
func deltaOf(twins map[string]*twin.MsgTwin) map[string]string {
	delta := map[string]string{}
	for k, t := range twins {
		if t == nil || isDeleted(t) {
			continue
		}
		exp, ok := valueOf(t.Expected)
		if !ok || exp == "" {
			continue
		}
		if act, ok := valueOf(t.Actual); !ok || act != exp {
			delta[k] = exp
		}
	}
	return delta
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
