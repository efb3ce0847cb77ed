package metaserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiversion "k8s.io/apimachinery/pkg/version"

	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/components/version"
)

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// serveVersion answers the build as a Kubernetes version.Info. Major and
// Minor are left empty: they would name a Kubernetes release, and this is
// KubeEdge's.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	if !readMethod(r.Method) {
		writeStatus(w, readOnly(r.Method, r.URL.Path))
		return
	}
	v := version.Get()
	writeJSON(w, http.StatusOK, apiversion.Info{
		GitVersion: v.GitVersion, GitCommit: v.GitCommit, GitTreeState: v.GitTreeState,
		BuildDate: v.BuildDate, GoVersion: v.GoVersion, Compiler: v.Compiler, Platform: v.Platform,
	})
}

func readMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// request is a parsed resource URL.
type request struct {
	res       *resource
	namespace string
	name      string
}

// serveAPI answers everything under /api and /apis.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !readMethod(r.Method) {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, readOnly(r.Method, r.URL.Path))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var gv groupVersion
	var rest []string
	switch {
	case len(parts) == 1 && parts[0] == "api":
		writeJSON(w, http.StatusOK, metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.Addr}},
		})
		return
	case len(parts) == 1 && parts[0] == "apis":
		writeJSON(w, http.StatusOK, metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{deviceAPIGroup()},
		})
		return
	case len(parts) == 2 && parts[0] == "apis" && parts[1] == deviceGroup:
		writeJSON(w, http.StatusOK, deviceAPIGroup())
		return
	case len(parts) >= 2 && parts[0] == "api":
		gv, rest = groupVersion{version: parts[1]}, parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		gv, rest = groupVersion{group: parts[1], version: parts[2]}, parts[3:]
	default:
		writeStatus(w, notFoundPath(r.URL.Path))
		return
	}
	if len(rest) == 0 {
		if l, ok := resourceList(gv); ok {
			writeJSON(w, http.StatusOK, l)
			return
		}
		writeStatus(w, notFoundPath(r.URL.Path))
		return
	}
	req, ok := parseResourcePath(gv, rest)
	if !ok {
		writeStatus(w, notFoundPath(r.URL.Path))
		return
	}
	q := r.URL.Query()
	if watch, _ := strconv.ParseBool(q.Get("watch")); watch {
		s.serveWatch(w, r, req)
		return
	}
	if req.name != "" {
		s.serveGet(w, req)
		return
	}
	s.serveList(w, r, req)
}

// parseResourcePath reads {plural}[/{name}] or namespaces/{ns}/{plural}[/{name}].
func parseResourcePath(gv groupVersion, p []string) (request, bool) {
	var req request
	if p[0] == "namespaces" && len(p) >= 3 {
		req.namespace, p = p[1], p[2:]
	}
	if len(p) > 2 || p[0] == "" {
		return req, false // subresources are not served
	}
	req.res = lookup(gv, p[0])
	if req.res == nil {
		return req, false
	}
	if len(p) == 2 {
		req.name = p[1]
		if req.name == "" {
			return req, false
		}
	}
	switch {
	case req.res.namespaced && req.name != "" && req.namespace == "":
		return req, false // a namespaced object is only found in its namespace
	case !req.res.namespaced && req.namespace != "":
		return req, false
	}
	return req, true
}

func (s *Server) serveGet(w http.ResponseWriter, req request) {
	it, found, err := s.get(req)
	if err != nil {
		s.log.Error(err, "get", "resource", req.res.plural, "namespace", req.namespace, "name", req.name)
		writeStatus(w, internalError(err))
		return
	}
	if !found {
		writeStatus(w, notFound(req.res, req.name))
		return
	}
	b, err := it.render(req.res)
	if err != nil {
		writeStatus(w, internalError(err))
		return
	}
	writeRaw(w, http.StatusOK, b)
}

func (s *Server) get(req request) (item, bool, error) {
	if !req.res.namespaced {
		// Cluster-scoped objects are stored under a placeholder namespace
		// that depends on who sent them: look by name.
		items, _, err := s.list(req.res, &filter{name: req.name})
		if err != nil || len(items) == 0 {
			return item{}, false, err
		}
		return items[0], true, nil
	}
	o, found, err := s.src.Get(message.Resource{Namespace: req.namespace, Type: req.res.typ, Name: req.name})
	if err != nil || !found {
		return item{}, false, err
	}
	it, err := newItem(o)
	return it, err == nil, err
}

// list reads the objects of a resource that pass f (nil: all), and the
// list's resourceVersion: the largest of every object read, before f.
func (s *Server) list(r *resource, f *filter) ([]item, uint64, error) {
	ns := ""
	if r.namespaced && f != nil {
		ns = f.namespace
	}
	objs, err := s.src.List(ns, r.typ)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", r.plural, err)
	}
	var maxRV uint64
	items := make([]item, 0, len(objs))
	var seen map[string]int // cluster-scoped: name → index, to drop copies under other placeholders
	if !r.namespaced {
		seen = map[string]int{}
	}
	for _, o := range objs {
		it, err := newItem(o)
		if err != nil {
			s.log.Info("skipping a stored object that is not valid JSON", "key", o.Key.String(), "err", err)
			continue
		}
		maxRV = max(maxRV, it.rv)
		if f != nil && !f.matches(r, &it) {
			continue
		}
		if seen != nil {
			name := it.name(r)
			if i, dup := seen[name]; dup {
				if it.rv > items[i].rv {
					items[i] = it
				}
				continue
			}
			seen[name] = len(items)
		}
		items = append(items, it)
	}
	return items, maxRV, nil
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, req request) {
	f, err := parseFilter(r.URL.Query(), req.res, req.namespace, "")
	if err != nil {
		writeStatus(w, badRequest("%v", err))
		return
	}
	items, rv, err := s.list(req.res, &f)
	if err != nil {
		s.log.Error(err, "list", "resource", req.res.plural, "namespace", req.namespace)
		writeStatus(w, internalError(err))
		return
	}
	b, err := renderList(req.res, items, rv)
	if err != nil {
		writeStatus(w, internalError(err))
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// renderList writes a <Kind>List without decoding the items again.
func renderList(r *resource, items []item, rv uint64) ([]byte, error) {
	size := 128
	for i := range items {
		size += len(items[i].obj.Data) + 64
	}
	var buf bytes.Buffer
	buf.Grow(size)
	av, _ := json.Marshal(r.apiVersion())
	buf.WriteString(`{"kind":"`)
	buf.WriteString(r.kind)
	buf.WriteString(`List","apiVersion":`)
	buf.Write(av)
	buf.WriteString(`,"metadata":{"resourceVersion":"`)
	buf.WriteString(strconv.FormatUint(rv, 10))
	buf.WriteString(`"},"items":[`)
	for i := range items {
		b, err := items[i].render(r)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}
