package nodestatus

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cleanedge/kubeedge/components/message"
)

var nodesResource = schema.GroupResource{Resource: "nodes"}

// answer is a fake reply: an API error in an ObjectResponse, or a link error.
type answer struct {
	apiErr  error
	linkErr error
	raw     any // content sent instead of an ObjectResponse
}

// fakeLink answers Requests from a table keyed by operation and resource
// type; each key holds a queue of answers, the last one repeating.
type fakeLink struct {
	mu       sync.Mutex
	answers  map[string][]answer
	requests []message.Message
}

func key(op message.Operation, typ message.ResourceType) string {
	return string(op) + " " + string(typ)
}

func (f *fakeLink) Request(_ context.Context, m message.Message) (message.Message, error) {
	r, err := message.ParseResource(m.Route.Resource)
	if err != nil {
		return message.Message{}, err
	}
	f.mu.Lock()
	f.requests = append(f.requests, m)
	k := key(m.Route.Operation, r.Type)
	queue := f.answers[k]
	var a answer
	if len(queue) > 0 {
		a = queue[0]
		if len(queue) > 1 {
			f.answers[k] = queue[1:]
		}
	}
	f.mu.Unlock()
	if a.linkErr != nil {
		return message.Message{}, a.linkErr
	}
	content := a.raw
	if content == nil {
		resp, err := message.NewObjectResponse(map[string]string{"kind": "Node"}, a.apiErr)
		if err != nil {
			return message.Message{}, err
		}
		content = resp
	}
	return message.DefaultFactory.Response(m, "edgecontroller", content)
}

func (f *fakeLink) sent() []message.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]message.Message(nil), f.requests...)
}

// ops lists the requests as "operation type" strings.
func (f *fakeLink) ops() []string {
	var out []string
	for _, m := range f.sent() {
		r, _ := message.ParseResource(m.Route.Resource)
		out = append(out, key(m.Route.Operation, r.Type))
	}
	return out
}

func newReporter(link Link) *Reporter {
	return New(Config{NodeName: "edge-1", NodeIP: "192.0.2.10", Labels: map[string]string{"site": "lab"}, RuntimeVersion: func() string { return "containerd://1.7.0" }},
		link, logr.Discard())
}

func TestRegister(t *testing.T) {
	t.Parallel()
	link := &fakeLink{}
	r := newReporter(link)
	if err := r.register(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := link.sent()
	if len(sent) != 1 {
		t.Fatalf("%d requests, want 1", len(sent))
	}
	m := sent[0]
	want := message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpInsert, Resource: "default/node/edge-1"}
	if m.Route != want {
		t.Errorf("route %+v, want %+v", m.Route, want)
	}
	var node corev1.Node
	if err := json.Unmarshal(m.Content, &node); err != nil {
		t.Fatalf("content is not a Node object: %v (%s)", err, m.Content)
	}
	if node.Name != "edge-1" || node.Kind != "Node" || node.APIVersion != "v1" {
		t.Errorf("node %s %s/%s", node.Name, node.APIVersion, node.Kind)
	}
	for k, v := range map[string]string{
		"node-role.kubernetes.io/edge":  "",
		"node-role.kubernetes.io/agent": "",
		"kubernetes.io/hostname":        "edge-1",
		"kubernetes.io/os":              runtime.GOOS,
		"kubernetes.io/arch":            runtime.GOARCH,
		"site":                          "lab",
	} {
		if got, ok := node.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	checkStatus(t, node.Status)
}

func checkStatus(t *testing.T, s corev1.NodeStatus) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		q, ok := s.Capacity[res]
		if !ok || q.Sign() <= 0 {
			t.Errorf("capacity %s = %v, want > 0", res, q.String())
		}
		if a := s.Allocatable[res]; a.Cmp(q) != 0 {
			t.Errorf("allocatable %s = %s, capacity %s", res, a.String(), q.String())
		}
	}
	if pods := s.Capacity[corev1.ResourcePods]; pods.Value() != 110 {
		t.Errorf("pods capacity %d, want the default 110", pods.Value())
	}
	ready := false
	for _, c := range s.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
		if c.LastHeartbeatTime.IsZero() {
			t.Errorf("condition %s has no heartbeat time", c.Type)
		}
	}
	if !ready {
		t.Errorf("no Ready=True condition in %+v", s.Conditions)
	}
	addrs := map[corev1.NodeAddressType]string{}
	for _, a := range s.Addresses {
		addrs[a.Type] = a.Address
	}
	if addrs[corev1.NodeInternalIP] != "192.0.2.10" || addrs[corev1.NodeHostName] != "edge-1" {
		t.Errorf("addresses %+v", s.Addresses)
	}
	if s.NodeInfo.ContainerRuntimeVersion != "containerd://1.7.0" || s.NodeInfo.OperatingSystem != runtime.GOOS ||
		!strings.HasPrefix(s.NodeInfo.KubeletVersion, "v1.22.17-kubeedge-") {
		t.Errorf("nodeInfo %+v", s.NodeInfo)
	}
}

func TestRegisterAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer answer
		check  func(error) bool // nil: success wanted
	}{
		{"created", answer{}, nil},
		{"already exists is success", answer{apiErr: apierrors.NewAlreadyExists(nodesResource, "edge-1")}, nil},
		{"forbidden", answer{apiErr: apierrors.NewForbidden(nodesResource, "edge-1", errors.New("no"))}, apierrors.IsForbidden},
		{"link down", answer{linkErr: context.DeadlineExceeded}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"reply not an object response", answer{raw: "OK"}, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := &fakeLink{answers: map[string][]answer{key(message.OpInsert, message.ResNode): {tt.answer}}}
			err := newReporter(link).register(context.Background())
			switch {
			case tt.check == nil && err != nil:
				t.Errorf("register: %v", err)
			case tt.check != nil && (err == nil || !tt.check(err)):
				t.Errorf("register: %v", err)
			case err != nil && !strings.Contains(err.Error(), "register node edge-1"):
				t.Errorf("error %q does not name the node", err)
			}
		})
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	link := &fakeLink{}
	r := newReporter(link)
	if err := r.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := link.sent()[0]
	want := message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpPatch, Resource: "default/nodepatch/edge-1"}
	if m.Route != want {
		t.Errorf("route %+v, want %+v", m.Route, want)
	}
	// Upstream sends the patch as a JSON string holding the JSON patch.
	patch, err := m.DecodeString()
	if err != nil {
		t.Fatalf("content %s is not a JSON string: %v", m.Content, err)
	}
	var p struct {
		Status *corev1.NodeStatus `json:"status"`
	}
	dec := json.NewDecoder(strings.NewReader(patch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Status == nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	if !strings.Contains(patch, `"conditions":[`) {
		t.Errorf("patch has no status.conditions: %s", patch)
	}
	checkStatus(t, *p.Status)

	link = &fakeLink{answers: map[string][]answer{key(message.OpPatch, message.ResNodePatch): {{apiErr: apierrors.NewNotFound(nodesResource, "edge-1")}}}}
	if err := newReporter(link).report(context.Background()); !apierrors.IsNotFound(err) {
		t.Errorf("report on a deleted node: %v, want NotFound", err)
	}
}

func TestNamespace(t *testing.T) {
	t.Parallel()
	link := &fakeLink{}
	r := New(Config{NodeName: "edge-1", NodeIP: "192.0.2.10", Namespace: "edge-ns"}, link, logr.Discard())
	if err := r.register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range link.sent() {
		if !strings.HasPrefix(m.Route.Resource, "edge-ns/") {
			t.Errorf("resource %q not in the configured namespace", m.Route.Resource)
		}
	}
}

func waitOps(t *testing.T, link *fakeLink, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(link.sent()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %v after 10s", link.ops())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return link.ops()[:n]
}

func runReporter(t *testing.T, r *Reporter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
}

func TestRunReports(t *testing.T) {
	t.Parallel()
	link := &fakeLink{answers: map[string][]answer{key(message.OpInsert, message.ResNode): {{apiErr: apierrors.NewAlreadyExists(nodesResource, "edge-1")}}}}
	r := newReporter(link)
	r.cfg.UpdateFrequency = 5 * time.Millisecond
	runReporter(t, r)
	got := strings.Join(waitOps(t, link, 4), ", ")
	if want := "insert node, patch nodepatch, patch nodepatch, patch nodepatch"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

// A NotFound answer to the status patch means the Node was deleted: the
// reporter registers it again.
func TestRunReregistersAfterNotFound(t *testing.T) {
	t.Parallel()
	link := &fakeLink{answers: map[string][]answer{
		key(message.OpPatch, message.ResNodePatch): {{apiErr: apierrors.NewNotFound(nodesResource, "edge-1")}, {}},
	}}
	r := newReporter(link)
	r.cfg.UpdateFrequency = 5 * time.Millisecond
	r.retry = 5 * time.Millisecond
	runReporter(t, r)
	got := strings.Join(waitOps(t, link, 5), ", ")
	if want := "insert node, patch nodepatch, insert node, patch nodepatch, patch nodepatch"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

// A failed registration is retried, and no status is sent before it succeeds.
func TestRunRetriesRegistration(t *testing.T) {
	t.Parallel()
	link := &fakeLink{answers: map[string][]answer{
		key(message.OpInsert, message.ResNode): {{linkErr: errors.New("not connected")}, {apiErr: apierrors.NewInternalError(errors.New("etcd"))}, {}},
	}}
	r := newReporter(link)
	r.cfg.UpdateFrequency = time.Hour
	r.retry = 5 * time.Millisecond
	runReporter(t, r)
	got := strings.Join(waitOps(t, link, 4), ", ")
	if want := "insert node, insert node, insert node, patch nodepatch"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	link := &fakeLink{answers: map[string][]answer{key(message.OpInsert, message.ResNode): {{linkErr: errors.New("not connected")}}}}
	r := newReporter(link)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitOps(t, link, 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if got := link.ops(); len(got) != 1 {
		t.Errorf("requests %v; a failed registration must not be followed by a status patch", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	r := New(Config{NodeName: "edge-1"}, &fakeLink{}, logr.Discard())
	if r.cfg.Namespace != "default" || r.cfg.UpdateFrequency != 10*time.Second || r.cfg.MaxPods != 110 || r.retry != time.Second || r.Name() != "nodestatus" {
		t.Errorf("defaults %+v", r.cfg)
	}
}
