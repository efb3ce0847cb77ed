package metaserver

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// fakeSource is an in-memory Source whose watches are closed when they fall
// behind, as MetaManager's are.
type fakeSource struct {
	mu   sync.Mutex
	objs map[message.Resource]store.Object
	subs map[message.ResourceType][]*fakeSub
	rv   uint64
}

type fakeSub struct{ ch chan metamanager.Event }

func newFakeSource() *fakeSource {
	return &fakeSource{objs: map[message.Resource]store.Object{}, subs: map[message.ResourceType][]*fakeSub{}, rv: 100}
}

func (f *fakeSource) List(ns string, typ message.ResourceType) ([]store.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Object
	for k, o := range f.objs {
		if k.Type == typ && (ns == "" || k.Namespace == ns) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b store.Object) int {
		return cmp.Or(strings.Compare(a.Key.Namespace, b.Key.Namespace), strings.Compare(a.Key.Name, b.Key.Name))
	})
	return out, nil
}

func (f *fakeSource) Get(key message.Resource) (store.Object, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[key]
	return o, ok, nil
}

func (f *fakeSource) Watch(typ message.ResourceType, buffer int) (<-chan metamanager.Event, func()) {
	sub := &fakeSub{ch: make(chan metamanager.Event, buffer)}
	f.mu.Lock()
	f.subs[typ] = append(f.subs[typ], sub)
	f.mu.Unlock()
	return sub.ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.removeLocked(typ, sub)
	}
}

func (f *fakeSource) removeLocked(typ message.ResourceType, sub *fakeSub) {
	i := slices.Index(f.subs[typ], sub)
	if i < 0 {
		return // already closed
	}
	f.subs[typ] = slices.Delete(f.subs[typ], i, i+1)
	close(sub.ch)
}

func (f *fakeSource) publishLocked(ev metamanager.Event) {
	typ := ev.Object.Key.Type
	for _, sub := range slices.Clone(f.subs[typ]) {
		select {
		case sub.ch <- ev:
		default:
			f.removeLocked(typ, sub) // behind: closed
		}
	}
}

// watchers is the number of open watches.
func (f *fakeSource) watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.subs {
		n += len(s)
	}
	return n
}

// closeWatches ends every watch of a type, as an overflow does.
func (f *fakeSource) closeWatches(typ message.ResourceType) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sub := range slices.Clone(f.subs[typ]) {
		f.removeLocked(typ, sub)
	}
}

// put stores obj (a Kubernetes object without TypeMeta, as the cloud sends
// it) with the next resourceVersion and announces it unless quiet. It
// returns the resourceVersion.
func (f *fakeSource) put(typ message.ResourceType, obj metav1.Object, quiet bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	obj.SetResourceVersion(strconv.FormatUint(f.rv, 10))
	if obj.GetUID() == "" {
		obj.SetUID(types.UID("uid-" + obj.GetName()))
	}
	data, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = "null"
	}
	key := message.Resource{Namespace: ns, Type: typ, Name: obj.GetName()}
	o, err := store.NewObject(key, data)
	if err != nil {
		panic(err)
	}
	_, existed := f.objs[key]
	f.objs[key] = o
	if !quiet {
		op := message.OpInsert
		if existed {
			op = message.OpUpdate
		}
		f.publishLocked(metamanager.Event{Op: op, Object: o})
	}
	return o.ResourceVersion
}

func (f *fakeSource) del(key message.Resource, quiet bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[key]
	if !ok {
		return
	}
	delete(f.objs, key)
	if !quiet {
		f.publishLocked(metamanager.Event{Op: message.OpDelete, Object: o})
	}
}

func pod(ns, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs1"}}},
		Spec: corev1.PodSpec{NodeName: "edge-1", Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
}

// start runs a server on a free port until the test ends.
func start(t testing.TB, cfg Config, src Source) (*Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := New(cfg, src, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return s, "http://" + s.Addr().String()
}

func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

type listResult struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Metadata   struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	} `json:"items"`
}

func (l listResult) names() []string {
	var out []string
	for _, it := range l.Items {
		if it.Metadata.Namespace != "" {
			out = append(out, it.Metadata.Namespace+"/"+it.Metadata.Name)
		} else {
			out = append(out, it.Metadata.Name)
		}
	}
	return out
}

func seed() (*fakeSource, string) {
	f := newFakeSource()
	f.put(message.ResPod, pod("default", "web-1", map[string]string{"app": "web", "tier": "front"}), true)
	f.put(message.ResPod, pod("default", "db-1", map[string]string{"app": "db"}), true)
	f.put(message.ResPod, pod("kube-system", "proxy", nil), true)
	f.put(message.ResConfigMap, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}}, true)
	f.put(message.ResSecret, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}}, true)
	f.put(message.ResService, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"}}, true)
	f.put(message.ResEndpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"}}, true)
	// The same node under two placeholder namespaces (registration and a
	// dynamic-controller event): served once, the newer copy.
	f.put(message.ResNode, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Labels: map[string]string{"v": "old"}}}, true)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Labels: map[string]string{"v": "new"}}}
	n.ResourceVersion = "200"
	data, _ := json.Marshal(n)
	o, _ := store.NewObject(message.Resource{Namespace: "default", Type: message.ResNode, Name: "edge-1"}, data)
	f.objs[o.Key] = o
	dev := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "thermo", Namespace: "default"}}
	f.put(message.ResDevice, dev, true)
	// Already typed, as a dynamic-controller object may be.
	typed := pod("default", "typed", nil)
	typed.APIVersion, typed.Kind = "v1", "Pod"
	return f, f.put(message.ResPod, typed, true)
}

func TestReadAPI(t *testing.T) {
	f, lastPodRV := seed()
	_, base := start(t, Config{}, f)

	t.Run("lists", func(t *testing.T) {
		for _, tc := range []struct {
			path, kind, apiVersion, rv string
			want                       []string
		}{
			{"/api/v1/pods", "PodList", "v1", lastPodRV, []string{"default/db-1", "default/typed", "default/web-1", "kube-system/proxy"}},
			{"/api/v1/namespaces/default/pods", "PodList", "v1", lastPodRV, []string{"default/db-1", "default/typed", "default/web-1"}},
			{"/api/v1/namespaces/nowhere/pods", "PodList", "v1", "0", nil},
			{"/api/v1/pods?labelSelector=app%3Dweb", "PodList", "v1", lastPodRV, []string{"default/web-1"}},
			{"/api/v1/pods?labelSelector=app+in+(web,db),tier!%3Dfront", "PodList", "v1", lastPodRV, []string{"default/db-1"}},
			{"/api/v1/pods?labelSelector=!app", "PodList", "v1", lastPodRV, []string{"default/typed", "kube-system/proxy"}},
			{"/api/v1/pods?fieldSelector=metadata.name%3Dproxy", "PodList", "v1", lastPodRV, []string{"kube-system/proxy"}},
			{"/api/v1/pods?fieldSelector=metadata.namespace!%3Ddefault", "PodList", "v1", lastPodRV, []string{"kube-system/proxy"}},
			{"/api/v1/configmaps", "ConfigMapList", "v1", "104", []string{"default/cfg"}},
			{"/api/v1/namespaces/default/secrets", "SecretList", "v1", "105", []string{"default/s"}},
			{"/api/v1/services", "ServiceList", "v1", "106", []string{"default/svc"}},
			{"/api/v1/namespaces/default/endpoints", "EndpointsList", "v1", "107", []string{"default/svc"}},
			{"/api/v1/nodes", "NodeList", "v1", "200", []string{"edge-1"}},
			{"/api/v1/nodes?fieldSelector=metadata.name%3Dedge-2", "NodeList", "v1", "200", nil},
			{"/apis/devices.kubeedge.io/v1alpha2/devices", "DeviceList", "devices.kubeedge.io/v1alpha2", "109", []string{"default/thermo"}},
			{"/apis/devices.kubeedge.io/v1alpha2/namespaces/default/devicemodels", "DeviceModelList", "devices.kubeedge.io/v1alpha2", "0", nil},
		} {
			t.Run(tc.path, func(t *testing.T) {
				code, body := get(t, base+tc.path)
				if code != http.StatusOK {
					t.Fatalf("%d %s", code, body)
				}
				var l listResult
				if err := json.Unmarshal(body, &l); err != nil {
					t.Fatal(err)
				}
				if l.Kind != tc.kind || l.APIVersion != tc.apiVersion || l.Metadata.ResourceVersion != tc.rv {
					t.Errorf("list head %s %s rv %s, want %s %s rv %s", l.Kind, l.APIVersion, l.Metadata.ResourceVersion, tc.kind, tc.apiVersion, tc.rv)
				}
				if got := l.names(); !slices.Equal(got, tc.want) {
					t.Errorf("items %v, want %v", got, tc.want)
				}
				for _, it := range l.Items {
					if it.Kind != strings.TrimSuffix(tc.kind, "List") || it.APIVersion != tc.apiVersion {
						t.Errorf("item %s typed %s %s", it.Metadata.Name, it.APIVersion, it.Kind)
					}
				}
			})
		}
	})

	t.Run("get", func(t *testing.T) {
		code, body := get(t, base+"/api/v1/namespaces/default/pods/web-1")
		var p corev1.Pod
		if code != http.StatusOK || json.Unmarshal(body, &p) != nil || p.Kind != "Pod" || p.APIVersion != "v1" || p.Name != "web-1" ||
			len(p.OwnerReferences) != 1 || p.OwnerReferences[0].Kind != "ReplicaSet" {
			t.Fatalf("%d %s", code, body)
		}
		code, body = get(t, base+"/api/v1/nodes/edge-1")
		var n corev1.Node
		if code != http.StatusOK || json.Unmarshal(body, &n) != nil || n.Kind != "Node" || n.Labels["v"] != "new" {
			t.Fatalf("%d %s", code, body)
		}
		code, body = get(t, base+"/apis/devices.kubeedge.io/v1alpha2/namespaces/default/devices/thermo")
		if code != http.StatusOK || !strings.HasPrefix(string(body), `{"apiVersion":"devices.kubeedge.io/v1alpha2","kind":"Device","metadata":`) {
			t.Fatalf("%d %s", code, body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			code   int
			reason metav1.StatusReason
			name   string
		}{
			{"/api/v1/namespaces/default/pods/missing", 404, metav1.StatusReasonNotFound, "missing"},
			{"/api/v1/namespaces/other/pods/web-1", 404, metav1.StatusReasonNotFound, "web-1"},
			{"/api/v1/nodes/edge-2", 404, metav1.StatusReasonNotFound, "edge-2"},
			{"/apis/devices.kubeedge.io/v1alpha2/namespaces/default/devices/none", 404, metav1.StatusReasonNotFound, "none"},
			{"/api/v1/widgets", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v1/namespaces/default/widgets", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v1/namespaces/default/pods/web-1/log", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v1/pods/web-1", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v1/namespaces/default/nodes", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v2/pods", 404, metav1.StatusReasonNotFound, ""},
			{"/apis/apps/v1/deployments", 404, metav1.StatusReasonNotFound, ""},
			{"/nothing", 404, metav1.StatusReasonNotFound, ""},
			{"/api/v1/pods?labelSelector=app%3D%3D%3D", 400, metav1.StatusReasonBadRequest, ""},
			{"/api/v1/pods?fieldSelector=spec.nodeName%3Dedge-1", 400, metav1.StatusReasonBadRequest, ""},
			{"/api/v1/nodes?fieldSelector=metadata.namespace%3Ddefault", 400, metav1.StatusReasonBadRequest, ""},
			{"/api/v1/pods?watch=true&resourceVersion=abc", 400, metav1.StatusReasonBadRequest, ""},
		} {
			t.Run(tc.path, func(t *testing.T) {
				code, body := get(t, base+tc.path)
				var st metav1.Status
				if err := json.Unmarshal(body, &st); err != nil {
					t.Fatalf("%d %s: %v", code, body, err)
				}
				if code != tc.code || st.Kind != "Status" || st.Code != int32(tc.code) || st.Reason != tc.reason || st.Status != metav1.StatusFailure {
					t.Fatalf("%d %s", code, body)
				}
				if tc.name != "" && (st.Details == nil || st.Details.Name != tc.name) {
					t.Fatalf("details %s", body)
				}
			})
		}
	})

	t.Run("health and version", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/livez"} {
			if code, body := get(t, base+p); code != 200 || string(body) != "ok" {
				t.Errorf("%s: %d %s", p, code, body)
			}
		}
		code, body := get(t, base+"/version")
		var v struct{ GitVersion, GoVersion, Platform string }
		if code != 200 || json.Unmarshal(body, &v) != nil || v.GitVersion == "" || v.GoVersion != runtime.Version() {
			t.Errorf("/version: %d %s", code, body)
		}
	})
}

// client-go's discovery client understands the discovery documents.
func TestDiscoveryWithClientGo(t *testing.T) {
	f, _ := seed()
	_, base := start(t, Config{}, f)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: base})
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil || v.GitVersion == "" {
		t.Fatalf("version %+v %v", v, err)
	}
	groups, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	var gnames []string
	for _, g := range groups {
		gnames = append(gnames, g.Name)
	}
	if !slices.Equal(gnames, []string{"", "devices.kubeedge.io"}) {
		t.Errorf("groups %v", gnames)
	}
	got := map[string][]string{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			got[l.GroupVersion] = append(got[l.GroupVersion], r.Name)
			if !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
				t.Errorf("%s verbs %v", r.Name, r.Verbs)
			}
			if r.Namespaced == (r.Name == "nodes") {
				t.Errorf("%s namespaced %v", r.Name, r.Namespaced)
			}
		}
	}
	if !slices.Equal(got["v1"], []string{"configmaps", "endpoints", "nodes", "pods", "secrets", "services"}) ||
		!slices.Equal(got["devices.kubeedge.io/v1alpha2"], []string{"devices", "devicemodels"}) {
		t.Errorf("resources %v", got)
	}
}

func TestWriteVerbsAreRefused(t *testing.T) {
	f, _ := seed()
	_, base := start(t, Config{}, f)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, path := range []string{"/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/pods/web-1",
			"/api/v1/nodes/edge-1", "/apis/devices.kubeedge.io/v1alpha2/namespaces/default/devices/thermo", "/api/v1/widgets"} {
			t.Run(method+" "+path, func(t *testing.T) {
				req, _ := http.NewRequest(method, base+path, strings.NewReader(`{}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var st metav1.Status
				if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 405 || st.Code != 405 || st.Reason != metav1.StatusReasonMethodNotAllowed ||
					!strings.Contains(st.Message, "read-only") || resp.Header.Get("Allow") != "GET, HEAD" {
					t.Fatalf("%d %+v", resp.StatusCode, st)
				}
			})
		}
	}
	if !f.getOK(message.Resource{Namespace: "default", Type: message.ResPod, Name: "web-1"}) {
		t.Fatal("the pod is gone")
	}
}

func (f *fakeSource) getOK(key message.Resource) bool { _, ok, _ := f.Get(key); return ok }

// watchStream is one raw watch response.
type watchStream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e rawEvent) meta(t testing.TB) metav1.ObjectMeta {
	var o struct {
		Kind     string            `json:"kind"`
		Metadata metav1.ObjectMeta `json:"metadata"`
		Code     int               `json:"code"`
	}
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata
}

func openWatch(t testing.TB, url string) *watchStream {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("watch %s: %d %s", url, resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	return &watchStream{resp: resp, sc: sc}
}

// next reads one event, failing after a while.
func (w *watchStream) next(t testing.TB) (rawEvent, bool) {
	t.Helper()
	type res struct {
		ev rawEvent
		ok bool
	}
	c := make(chan res, 1)
	go func() {
		if !w.sc.Scan() {
			c <- res{}
			return
		}
		var ev rawEvent
		if err := json.Unmarshal(w.sc.Bytes(), &ev); err != nil {
			panic(fmt.Sprintf("event %q: %v", w.sc.Bytes(), err))
		}
		c <- res{ev, true}
	}()
	select {
	case r := <-c:
		return r.ev, r.ok
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
		return rawEvent{}, false
	}
}

// expect reads events and compares "TYPE name" strings.
func (w *watchStream) expect(t testing.TB, want ...string) {
	t.Helper()
	for _, wnt := range want {
		ev, ok := w.next(t)
		if !ok {
			t.Fatalf("stream ended, want %s", wnt)
		}
		got := ev.Type + " " + ev.meta(t).Name
		if got != wnt {
			t.Fatalf("event %s, want %s (%s)", got, wnt, ev.Object)
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	t.Run("from now", func(t *testing.T) {
		f, _ := seed()
		s, base := start(t, Config{}, f)
		for _, rv := range []string{"", "0"} {
			w := openWatch(t, base+"/api/v1/namespaces/default/pods?watch=true&resourceVersion="+rv)
			waitFor(t, "the watch", func() bool { return f.watchers() == 1 })
			f.put(message.ResPod, pod("other", "elsewhere", nil), false) // filtered out by namespace
			p := pod("default", "new-"+rv, nil)
			f.put(message.ResPod, p, false)
			p.Labels = map[string]string{"x": "y"}
			f.put(message.ResPod, p, false)
			f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: p.Name}, false)
			w.expect(t, "ADDED new-"+rv, "MODIFIED new-"+rv, "DELETED new-"+rv)
			w.resp.Body.Close()
			waitFor(t, "the watch to end", func() bool { return f.watchers() == 0 && s.watches.Load() == 0 })
		}
	})

	t.Run("from a resourceVersion", func(t *testing.T) {
		f, _ := seed()
		_, base := start(t, Config{}, f)
		code, body := get(t, base+"/api/v1/namespaces/default/pods")
		var l listResult
		if code != 200 || json.Unmarshal(body, &l) != nil {
			t.Fatalf("%d %s", code, body)
		}
		// Changes between the list and the watch are not missed.
		gap := pod("default", "gap", nil)
		f.put(message.ResPod, gap, false)
		w := openWatch(t, base+"/api/v1/namespaces/default/pods?watch=1&resourceVersion="+l.Metadata.ResourceVersion)
		w.expect(t, "MODIFIED gap")
		// An event not newer than what was sent is a duplicate.
		f.mu.Lock()
		o := f.objs[message.Resource{Namespace: "default", Type: message.ResPod, Name: "gap"}]
		f.publishLocked(metamanager.Event{Op: message.OpUpdate, Object: o})
		f.mu.Unlock()
		f.put(message.ResPod, gap, false)
		ev, _ := w.next(t)
		if m := ev.meta(t); ev.Type != "MODIFIED" || m.Name != "gap" || m.ResourceVersion == o.ResourceVersion {
			t.Fatalf("event %s %s", ev.Type, ev.Object)
		}
		// Older than the client's resourceVersion: not sent.
		old := pod("default", "old", nil)
		old.ResourceVersion = "1"
		data, _ := json.Marshal(old)
		oo, _ := store.NewObject(message.Resource{Namespace: "default", Type: message.ResPod, Name: "old"}, data)
		f.mu.Lock()
		f.publishLocked(metamanager.Event{Op: message.OpUpdate, Object: oo})
		f.mu.Unlock()
		f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: "web-1"}, false)
		w.expect(t, "DELETED web-1")
		// A burst that ends with a skipped event is still flushed.
		f.mu.Lock()
		f.rv++
		gap.ResourceVersion = strconv.FormatUint(f.rv, 10)
		data, _ = json.Marshal(gap)
		g, _ := store.NewObject(message.Resource{Namespace: "default", Type: message.ResPod, Name: "gap"}, data)
		f.objs[g.Key] = g
		f.publishLocked(metamanager.Event{Op: message.OpUpdate, Object: g})
		f.publishLocked(metamanager.Event{Op: message.OpUpdate, Object: oo})
		f.mu.Unlock()
		w.expect(t, "MODIFIED gap")
	})

	t.Run("initial events and bookmark", func(t *testing.T) {
		f, lastRV := seed()
		_, base := start(t, Config{}, f)
		w := openWatch(t, base+"/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
		w.expect(t, "ADDED db-1", "ADDED typed", "ADDED web-1")
		ev, _ := w.next(t)
		if m := ev.meta(t); ev.Type != "BOOKMARK" || m.ResourceVersion != lastRV || m.Annotations[initialEventsEnd] != "true" {
			t.Fatalf("bookmark %s %s", ev.Type, ev.Object)
		}
		f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: "db-1"}, false)
		w.expect(t, "DELETED db-1")
	})

	t.Run("label selector membership", func(t *testing.T) {
		f, _ := seed()
		s, base := start(t, Config{}, f)
		started := make(chan struct{}, 1)
		s.watchStarted = func() { started <- struct{}{} }
		w := openWatch(t, base+"/api/v1/pods?watch=true&labelSelector=app%3Dweb")
		<-started // the watch has read which pods the selection holds
		p := pod("default", "web-1", map[string]string{"app": "web", "v": "2"})
		f.put(message.ResPod, p, false)
		p.Labels = map[string]string{"app": "other"}
		f.put(message.ResPod, p, false) // leaves the selection
		p.Labels = map[string]string{"app": "web"}
		f.put(message.ResPod, p, false) // comes back
		f.put(message.ResPod, pod("default", "db-1", map[string]string{"app": "db", "v": "2"}), false)
		f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: "db-1"}, false)
		f.del(message.Resource{Namespace: "default", Type: message.ResPod, Name: "web-1"}, false)
		w.expect(t, "MODIFIED web-1", "DELETED web-1", "ADDED web-1", "DELETED web-1")
	})

	t.Run("nodes by name", func(t *testing.T) {
		f, _ := seed()
		_, base := start(t, Config{}, f)
		w := openWatch(t, base+"/api/v1/nodes?watch=true&fieldSelector=metadata.name%3Dedge-1")
		waitFor(t, "the watch", func() bool { return f.watchers() == 1 })
		f.put(message.ResNode, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-2"}}, false)
		f.put(message.ResNode, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1"}}, false)
		w.expect(t, "MODIFIED edge-1")
	})

	t.Run("timeout", func(t *testing.T) {
		f, _ := seed()
		_, base := start(t, Config{}, f)
		w := openWatch(t, base+"/api/v1/pods?watch=true&timeoutSeconds=1")
		if ev, ok := w.next(t); ok {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("behind: expired", func(t *testing.T) {
		f, _ := seed()
		s, base := start(t, Config{}, f)
		w := openWatch(t, base+"/api/v1/pods?watch=true")
		waitFor(t, "the watch", func() bool { return f.watchers() == 1 })
		f.closeWatches(message.ResPod)
		ev, ok := w.next(t)
		var st metav1.Status
		if !ok || ev.Type != "ERROR" || json.Unmarshal(ev.Object, &st) != nil || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
			t.Fatalf("event %+v", ev)
		}
		if ev, ok := w.next(t); ok {
			t.Fatalf("stream goes on: %+v", ev)
		}
		waitFor(t, "the watch to end", func() bool { return s.watches.Load() == 0 })
	})
}

// A watcher that stops reading is ended: MetaManager closes its channel and
// the server drops the connection, so neither memory nor goroutines grow.
func TestSlowWatcherIsDropped(t *testing.T) {
	f, _ := seed()
	s, base := start(t, Config{WatchBuffer: 4}, f)
	s.writeTimeout = 300 * time.Millisecond
	http.DefaultClient.CloseIdleConnections()
	baselineConns := goroutinesIn("net/http.(*conn).serve")

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watch", func() bool { return f.watchers() == 1 })
	// Never read; send more than socket buffers hold.
	p := pod("default", "big", nil)
	p.Annotations = map[string]string{"blob": strings.Repeat("x", 256<<10)}
	for i := 0; i < 400 && f.watchers() > 0; i++ {
		f.put(message.ResPod, p, false)
	}
	if f.watchers() != 0 {
		t.Fatal("the slow watch was not closed by its source")
	}
	waitFor(t, "the server to drop the watch", func() bool { return s.watches.Load() == 0 })
	// No goroutine is left writing to the client: neither the watch handler
	// nor the connection (counted by their frames, so that goroutines of
	// other tests winding down do not matter).
	deadline := time.Now().Add(5 * time.Second)
	for goroutinesIn("serveWatch") > 0 || goroutinesIn("net/http.(*conn).serve") > baselineConns {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines left:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goroutinesIn counts the goroutines with a frame matching fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

func TestMaxWatches(t *testing.T) {
	f, _ := seed()
	s, base := start(t, Config{MaxWatches: 2}, f)
	w1 := openWatch(t, base+"/api/v1/pods?watch=true")
	openWatch(t, base+"/api/v1/configmaps?watch=true")
	resp, err := http.Get(base + "/api/v1/pods?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	var st metav1.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 429 || st.Code != 429 || st.Reason != metav1.StatusReasonTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %+v %v", resp.StatusCode, st, err)
	}
	// Lists are not watches.
	if code, _ := get(t, base+"/api/v1/pods"); code != 200 {
		t.Fatalf("list: %d", code)
	}
	w1.resp.Body.Close()
	waitFor(t, "a free watch", func() bool { return s.watches.Load() == 1 })
	openWatch(t, base+"/api/v1/pods?watch=true")
}

func TestHandleAndPortInUse(t *testing.T) {
	f, _ := seed()
	s := New(Config{Addr: "127.0.0.1:0"}, f, logr.Discard())
	s.Handle("/devicetwin/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("twin")) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	if code, body := get(t, "http://"+s.Addr().String()+"/devicetwin/x"); code != 200 || string(body) != "twin" {
		t.Fatalf("%d %s", code, body)
	}

	other := New(Config{Addr: s.Addr().String()}, f, logr.Discard())
	err := other.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), s.Addr().String()) || !strings.Contains(err.Error(), "modules.metaManager.metaServer.server") {
		t.Fatalf("second server on the same port: %v", err)
	}
	if other.Name() != "metaserver" {
		t.Fatal(other.Name())
	}

	// Shutdown ends open watches.
	w := openWatch(t, "http://"+s.Addr().String()+"/api/v1/pods?watch=true")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return with a watch open")
	}
	if _, ok := w.next(t); ok {
		t.Fatal("watch still streaming")
	}
}

func BenchmarkList1000Pods(b *testing.B) {
	f := newFakeSource()
	for i := range 1000 {
		p := pod(fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("pod-%04d", i), map[string]string{"app": fmt.Sprintf("app-%d", i%7)})
		p.Status.Phase = corev1.PodRunning
		f.put(message.ResPod, p, true)
	}
	s := New(Config{}, f, logr.Discard())
	for _, path := range []string{"/api/v1/pods", "/api/v1/pods?labelSelector=app%3Dapp-3"} {
		b.Run(path, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				s.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatal(w.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
