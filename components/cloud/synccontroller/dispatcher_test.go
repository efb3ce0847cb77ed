package synccontroller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	rsv1 "github.com/cleanedge/kubeedge/components/apis/reliablesyncs/v1alpha1"
	"github.com/cleanedge/kubeedge/components/message"
)

type wire struct {
	mu   sync.Mutex
	sent []message.Message
}

func (w *wire) Send(node string, m message.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, m)
	return nil
}

func (w *wire) take() []message.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.sent
	w.sent = nil
	return out
}

type memStore struct {
	mu    sync.Mutex
	acks  map[string]map[string]Ack
	saves int
}

func (s *memStore) Load(context.Context) (map[string][]Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]Ack{}
	for n, m := range s.acks {
		for _, a := range m {
			out[n] = append(out[n], a)
		}
	}
	return out, nil
}

func (s *memStore) Save(node string, a Ack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acks == nil {
		s.acks = map[string]map[string]Ack{}
	}
	if s.acks[node] == nil {
		s.acks[node] = map[string]Ack{}
	}
	s.acks[node][string(a.UID)] = a
	s.saves++
}

func (s *memStore) Forget(node string, r Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.acks[node], string(r.UID))
}

func podMsg(t *testing.T, op message.Operation, name, uid, rv string) message.Message {
	t.Helper()
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("u-" + uid), ResourceVersion: rv}}
	m, err := message.DefaultFactory.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
		Operation: op, Resource: "default/pod/" + name}, p)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.ResourceVersion = rv
	return m
}

func ack(m message.Message) message.Message {
	return message.DefaultFactory.Ack(m)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newDispatcher(st Store) (*Dispatcher, *wire, *clock) {
	w := &wire{}
	c := &clock{t: time.Unix(1000, 0)}
	d := New(Config{RetryAfter: 5 * time.Second}, w, st, logr.Discard())
	d.now = c.now
	return d, w, c
}

// An object message is resent until acknowledged; the ack is recorded.
func TestResendUntilAcked(t *testing.T) {
	st := &memStore{}
	d, w, c := newDispatcher(st)
	d.NodeConnected("n1")
	m := podMsg(t, message.OpInsert, "p", "1", "10")
	if err := d.Send("n1", m); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); len(got) != 1 {
		t.Fatalf("sent %d", len(got))
	}
	c.t = c.t.Add(4 * time.Second)
	d.retry()
	if got := w.take(); len(got) != 0 {
		t.Fatal("resent too early")
	}
	c.t = c.t.Add(time.Second)
	d.retry()
	got := w.take()
	if len(got) != 1 || got[0].Header.ID != m.Header.ID {
		t.Fatalf("resend %+v", got)
	}
	if !d.HandleAck("n1", ack(m)) {
		t.Fatal("ack not taken")
	}
	if a, ok := d.Acked("n1", "default/pod/p"); !ok || a.ResourceVersion != "10" || a.UID != "u-1" {
		t.Fatalf("acked %+v %v", a, ok)
	}
	if st.saves != 1 {
		t.Fatalf("saves %d", st.saves)
	}
	c.t = c.t.Add(time.Minute)
	d.retry()
	if got := w.take(); len(got) != 0 {
		t.Fatal("resent after ack")
	}
	if s := d.Stats(); s.Pending != 0 || s.Acked != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A newer message replaces an unacknowledged older one: the older one's late
// ack records nothing, the newer one's records its version.
func TestNewerReplacesPending(t *testing.T) {
	d, w, c := newDispatcher(&memStore{})
	d.NodeConnected("n1")
	m1 := podMsg(t, message.OpInsert, "p", "1", "10")
	m2 := podMsg(t, message.OpUpdate, "p", "1", "11")
	_ = d.Send("n1", m1)
	_ = d.Send("n1", m2)
	w.take()
	d.HandleAck("n1", ack(m1))
	if _, ok := d.Acked("n1", "default/pod/p"); ok {
		t.Fatal("stale ack recorded")
	}
	c.t = c.t.Add(5 * time.Second)
	d.retry()
	if got := w.take(); len(got) != 1 || got[0].Header.ID != m2.Header.ID {
		t.Fatalf("resent %+v", got)
	}
	d.HandleAck("n1", ack(m2))
	if a, _ := d.Acked("n1", "default/pod/p"); a.ResourceVersion != "11" {
		t.Fatalf("acked %+v", a)
	}
}

// While a node is away nothing is kept pending or resent; after a cloudcore
// restart (a new dispatcher over the same store) the sync on connect sends
// every wanted object (none skipped) and a delete for what went away.
func TestSyncAfterRestartSendsDeletesForWhatWentAway(t *testing.T) {
	st := &memStore{}
	d, w, _ := newDispatcher(st)
	d.NodeConnected("n1")
	keep := podMsg(t, message.OpInsert, "keep", "1", "10")
	gone := podMsg(t, message.OpInsert, "gone", "2", "12")
	for _, m := range []message.Message{keep, gone} {
		_ = d.Send("n1", m)
		d.HandleAck("n1", ack(m))
	}
	w.take()
	d.NodeDisconnected("n1")
	_ = d.Send("n1", podMsg(t, message.OpUpdate, "keep", "1", "13"))
	w.take()
	if s := d.Stats(); s.Pending != 1 {
		t.Fatalf("pending %+v", s)
	}
	d.NodeDisconnected("n1")
	if s := d.Stats(); s.Pending != 0 {
		t.Fatalf("pending after disconnect %+v", s)
	}

	// cloudcore restarts.
	d2, w2, _ := newDispatcher(st)
	if err := d2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	d2.NodeConnected("n1")
	keepPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "keep", Namespace: "default", UID: "u-1", ResourceVersion: "13"}}
	d2.Sync("n1", []message.ResourceType{message.ResPod}, []Object{{
		Ref: Ref{Type: message.ResPod, Namespace: "default", Name: "keep", UID: "u-1"}, ResourceVersion: "13",
		Operation: message.OpInsert, Source: message.SourceEdgeController, Content: keepPod,
	}})
	got := w2.take()
	if len(got) != 2 {
		t.Fatalf("sync sent %d messages", len(got))
	}
	var del, ins message.Message
	for _, m := range got {
		switch m.Route.Operation {
		case message.OpDelete:
			del = m
		case message.OpInsert:
			ins = m
		}
	}
	if del.Route.Resource != "default/pod/gone" || ins.Route.Resource != "default/pod/keep" || ins.Header.ResourceVersion != "13" {
		t.Fatalf("sync %+v", got)
	}
	if contentUID(del) != "u-2" {
		t.Fatalf("delete names uid %q", contentUID(del))
	}
	d2.HandleAck("n1", ack(del))
	if _, ok := d2.Acked("n1", "default/pod/gone"); ok {
		t.Fatal("deleted object still recorded")
	}
	if _, ok := st.acks["n1"]["u-2"]; ok {
		t.Fatal("store still holds the deleted object's sync")
	}
	// Types outside the sync are left alone.
	d2.Sync("n1", []message.ResourceType{message.ResConfigMap}, nil)
	if got := w2.take(); len(got) != 0 {
		t.Fatalf("configmap sync touched pods: %+v", got)
	}
}

// Untracked messages (replies, node messages) pass straight through.
func TestUntrackedPassThrough(t *testing.T) {
	d, w, _ := newDispatcher(nil)
	m, _ := message.DefaultFactory.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
		Operation: message.OpResponse, Resource: "default/node/n1"}, "OK")
	_ = d.Send("n1", m)
	if len(w.take()) != 1 || d.Stats().Pending != 0 {
		t.Fatal("response tracked")
	}
}

func TestObjectSyncStore(t *testing.T) {
	scheme := runtime.NewScheme()
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{rsv1.ObjectSyncs: "ObjectSyncList"})
	s := &ObjectSyncStore{Client: client, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	s.Save("edge.a", Ack{Ref: Ref{Type: message.ResPod, Namespace: "default", Name: "p", UID: "u1"}, ResourceVersion: "5"})
	s.Save("edge.a", Ack{Ref: Ref{Type: message.ResPod, Namespace: "default", Name: "p", UID: "u1"}, ResourceVersion: "6"})
	s.Save("edge.a", Ack{Ref: Ref{Type: message.ResSecret, Namespace: "ns", Name: "s", UID: "u2"}, ResourceVersion: "7"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		acks, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(acks["edge.a"]) == 2 {
			ok := true
			for _, a := range acks["edge.a"] {
				if a.Name == "p" && (a.ResourceVersion != "6" || a.Type != message.ResPod || a.UID != "u1") {
					ok = false
				}
			}
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("objectsyncs %+v", acks)
		}
		time.Sleep(10 * time.Millisecond)
	}
	u, err := client.Resource(rsv1.ObjectSyncs).Namespace("default").Get(ctx, "edge.a.u1", metav1.GetOptions{})
	if err != nil || u.Object["spec"].(map[string]any)["objectKind"] != "Pod" {
		t.Fatalf("objectsync %v %v", u, err)
	}
	s.Forget("edge.a", Ref{Type: message.ResPod, Namespace: "default", Name: "p", UID: "u1"})
	for {
		acks, _ := s.Load(ctx)
		if len(acks["edge.a"]) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not forgotten: %+v", acks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Holders names the nodes that acknowledged an object, so that its delete
// reaches them even when nothing there uses it any more.
func TestHolders(t *testing.T) {
	d, _, _ := newDispatcher(nil)
	for _, n := range []string{"n1", "n2"} {
		d.NodeConnected(n)
		m := podMsg(t, message.OpInsert, "p", "1", "10")
		_ = d.Send(n, m)
		if n == "n1" {
			d.HandleAck(n, ack(m))
		}
	}
	if h := d.Holders("default/pod/p"); len(h) != 1 || h[0] != "n1" {
		t.Fatalf("holders %v", h)
	}
}
