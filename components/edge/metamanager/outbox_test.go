package metamanager

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// cloud is a Requester that records what reaches it and answers with
// whatever answer returns (an error means no answer: the link broke).
type cloud struct {
	sink
	mu2      sync.Mutex
	received []message.Message
	answer   func(m message.Message) (message.ObjectResponse, error)
}

func (c *cloud) Request(ctx context.Context, m message.Message) (message.Message, error) {
	c.mu2.Lock()
	answer := c.answer
	c.mu2.Unlock()
	resp := message.ObjectResponse{}
	if answer != nil {
		var err error
		if resp, err = answer(m); err != nil {
			return message.Message{}, err
		}
	}
	c.mu2.Lock()
	c.received = append(c.received, m)
	c.mu2.Unlock()
	return message.DefaultFactory.Response(m, message.SourceEdgeController, resp)
}

func (c *cloud) got() []string {
	c.mu2.Lock()
	defer c.mu2.Unlock()
	var out []string
	for _, m := range c.received {
		s, _ := m.DecodeString()
		out = append(out, m.Route.Resource+"="+s)
	}
	return out
}

func patch(t *testing.T, pod, content string) message.Message {
	t.Helper()
	m, err := message.DefaultFactory.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta,
		Operation: message.OpPatch, Resource: "default/podpatch/" + pod}, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runMeta(t *testing.T, mm *MetaManager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mm.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Reports made while offline wait in meta.db, coalesced to the latest per
// object, survive a restart, and go out in order once connected.
func TestOutboxOfflineRestartThenFlushInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &cloud{}
	mm := New(db, c, logr.Discard())
	s := ReliableSender{mm}
	for _, p := range []struct{ pod, st string }{{"a", "1"}, {"b", "1"}, {"a", "2"}, {"c", "1"}, {"a", "3"}} {
		if err := s.Send(patch(t, p.pod, p.st)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := db.OutboxLen(); n != 3 {
		t.Fatalf("outbox holds %d entries, want 3 (coalesced)", n)
	}
	db.Close() // edgecore restarts while offline

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mm = New(db, c, logr.Discard())
	runMeta(t, mm)
	time.Sleep(50 * time.Millisecond)
	if len(c.got()) != 0 {
		t.Fatal("sent while disconnected")
	}
	mm.SetConnected(true)
	waitFor(t, "flush", func() bool { n, _ := db.OutboxLen(); return n == 0 })
	want := []string{"default/podpatch/b=1", "default/podpatch/c=1", "default/podpatch/a=3"}
	if got := c.got(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("cloud received %v, want %v", got, want)
	}
}

// An entry whose answer never came (the link broke in flight) is sent again
// after the reconnect; a passing API server failure is retried; a final
// refusal is dropped.
func TestOutboxRetriesWhatWasNotAnswered(t *testing.T) {
	mm, _, _ := open(t)
	c := &cloud{}
	mm.requester = c
	var mu sync.Mutex
	fails := 2
	c.answer = func(m message.Message) (message.ObjectResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			if fails == 1 {
				return message.ObjectResponse{}, errors.New("link broke")
			}
			return message.NewObjectResponse(nil, apierrors.NewServiceUnavailable("apiserver restarting"))
		}
		if m.Route.Resource == "default/podpatch/gone" {
			return message.NewObjectResponse(nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "gone", errors.New("not yours")))
		}
		return message.ObjectResponse{}, nil
	}
	runMeta(t, mm)
	mm.SetConnected(true)
	if err := mm.SendReliable(patch(t, "gone", "x"), ""); err != nil {
		t.Fatal(err)
	}
	if err := mm.SendReliable(patch(t, "a", "1"), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "flush", func() bool { n, _ := mm.db.OutboxLen(); return n == 0 })
	got := c.got()
	// "gone" was answered twice (503 then 403): both recorded; "a" once.
	if len(got) != 3 || got[0] != "default/podpatch/gone=x" || got[1] != "default/podpatch/gone=x" || got[2] != "default/podpatch/a=1" {
		t.Fatalf("cloud received %v", got)
	}
}

func TestOutboxLimit(t *testing.T) {
	mm, _, _ := open(t)
	err := mm.db.Batch(func(tx store.Tx) error {
		for i := range OutboxLimit {
			if _, err := tx.Enqueue(store.OutboxEntry{Message: []byte{'x', byte(i)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mm.SendReliable(patch(t, "a", "1"), ""); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("err %v, want ErrOutboxFull", err)
	}
}

// Device state reports are not answered by any cloud: they must not hold up
// the queue behind them.
func TestOutboxDoesNotWaitForUnansweredKinds(t *testing.T) {
	mm, s, _ := open(t)
	c := &cloud{}
	mm.requester = c
	runMeta(t, mm)
	mm.SetConnected(true)
	state, _ := message.DefaultFactory.New(message.Route{Source: message.SourceTwin, Group: message.GroupResource,
		Operation: message.OpUpdate, Resource: "device/d1/state/update"}, `{"device":{"state":"online"}}`)
	twinMsg, _ := message.DefaultFactory.New(message.Route{Source: message.SourceTwin, Group: message.GroupResource,
		Operation: message.OpUpdate, Resource: "device/d1/twin/edge_updated"}, map[string]any{"twin": map[string]any{}})
	for _, m := range []message.Message{state, twinMsg} {
		if err := mm.SendReliable(m, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "flush", func() bool { n, _ := mm.db.OutboxLen(); return n == 0 })
	if got := c.got(); len(got) != 1 || got[0] != "device/d1/twin/edge_updated=" {
		t.Fatalf("requests %v", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) != 1 || s.sent[0].Route.Resource != "device/d1/state/update" {
		t.Fatalf("sent %+v", s.sent)
	}
}
