package edgecontroller

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/cleanedge/kubeedge/components/message"
)

type sentMsg struct {
	node string
	msg  message.Message
}

type recorder struct {
	mu   sync.Mutex
	sent []sentMsg
	ch   chan sentMsg
}

func (r *recorder) Send(node string, m message.Message) error {
	r.mu.Lock()
	r.sent = append(r.sent, sentMsg{node, m})
	r.mu.Unlock()
	r.ch <- sentMsg{node, m}
	return nil
}

func start(t *testing.T) (*Controller, *fake.Clientset, *recorder, *clocktesting.FakeClock) {
	t.Helper()
	client := fake.NewClientset()
	rec := &recorder{ch: make(chan sentMsg, 16)}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	c := New(Config{Grace: 40 * time.Second, Workers: 2}, client, rec, logr.Discard(), clk)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = c.Run(ctx) }()
	<-c.Ready()
	return c, client, rec, clk
}

func request(t *testing.T, op message.Operation, typ message.ResourceType, node string, content any) message.Message {
	t.Helper()
	m, err := message.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: op,
		Resource: message.Resource{Namespace: "default", Type: typ, Name: node}.String()}, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func reply(t *testing.T, rec *recorder, req message.Message) message.ObjectResponse {
	t.Helper()
	select {
	case s := <-rec.ch:
		if s.msg.Header.ParentID != req.Header.ID || s.msg.Route.Operation != message.OpResponse {
			t.Fatalf("unexpected message %+v", s.msg)
		}
		var r message.ObjectResponse
		if err := s.msg.DecodeContent(&r); err != nil {
			t.Fatal(err)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	return message.ObjectResponse{}
}

func TestRegisterAdoptAndStatus(t *testing.T) {
	c, client, rec, _ := start(t)
	ctx := context.Background()

	req := request(t, message.OpInsert, message.ResNode, "edge-1", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Labels: map[string]string{"site": "a"}}})
	c.HandleMessage("edge-1", req)
	if r := reply(t, rec, req); r.Error() != nil {
		t.Fatalf("register: %v", r.Error())
	}
	n, err := client.CoreV1().Nodes().Get(ctx, "edge-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Labels[LabelEdge]; !ok || n.Labels["site"] != "a" {
		t.Errorf("labels = %v", n.Labels)
	}

	// A second registration answers 409, as upstream, so an upstream edge queries next.
	again := request(t, message.OpInsert, message.ResNode, "edge-1", &corev1.Node{})
	c.HandleMessage("edge-1", again)
	if r := reply(t, rec, again); !apierrors.IsAlreadyExists(r.Error()) {
		t.Errorf("second register: %v", r.Error())
	}

	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "EdgeReady"}}}})
	p := request(t, message.OpPatch, message.ResNodePatch, "edge-1", string(patch))
	c.HandleMessage("edge-1", p)
	if r := reply(t, rec, p); r.Error() != nil {
		t.Fatalf("patch: %v", r.Error())
	}
}

func TestNotReadyAfterGrace(t *testing.T) {
	c, client, rec, clk := start(t)
	ctx := context.Background()
	req := request(t, message.OpInsert, message.ResNode, "edge-1", &corev1.Node{})
	c.NodeConnected("edge-1")
	c.HandleMessage("edge-1", req)
	reply(t, rec, req)

	readyReason := func() string {
		n, _ := client.CoreV1().Nodes().Get(ctx, "edge-1", metav1.GetOptions{})
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Reason
			}
		}
		return ""
	}

	// A reconnect within the grace period changes nothing.
	c.NodeDisconnected("edge-1")
	clk.Step(20 * time.Second)
	c.NodeConnected("edge-1")
	clk.Step(30 * time.Second)
	time.Sleep(100 * time.Millisecond)
	if got := readyReason(); got == ReasonDisconnected {
		t.Fatal("marked NotReady although the node came back within the grace period")
	}

	c.NodeDisconnected("edge-1")
	clk.Step(41 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for readyReason() != ReasonDisconnected {
		if time.Now().After(deadline) {
			t.Fatalf("Ready reason = %q, want %q", readyReason(), ReasonDisconnected)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
