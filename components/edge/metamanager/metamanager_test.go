package metamanager

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

type sink struct {
	mu   sync.Mutex
	sent []message.Message
}

func (s *sink) Send(m message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

func open(t *testing.T) (*MetaManager, *sink, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &sink{}
	return New(db, s, logr.Discard()), s, path
}

// The recorded upstream pod insert is persisted, acked as upstream does, and announced.
func TestPersistThenAckThenAnnounce(t *testing.T) {
	mm, s, _ := open(t)
	events := mm.Subscribe(message.ResPod, 8)
	raw, err := os.ReadFile("../../message/testdata/captures/cloud-to-edge_insert_pod.json")
	if err != nil {
		t.Fatal(err)
	}
	var capture struct{ Frame json.RawMessage }
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	msg, err := message.Decode(capture.Frame)
	if err != nil {
		t.Fatal(err)
	}
	if !mm.HandleCloudMessage(msg) {
		t.Fatal("pod insert not handled")
	}
	pods, err := mm.Pods()
	if err != nil || len(pods) != 1 || pods[0].Name != "cap1" {
		t.Fatalf("stored pods %v %v", pods, err)
	}
	if len(s.sent) != 1 || !s.sent[0].IsAck() || s.sent[0].Header.ParentID != msg.Header.ID ||
		s.sent[0].Route.Resource != msg.Route.Resource || s.sent[0].Route.Source != msg.Route.Source {
		t.Fatalf("ack %+v", s.sent)
	}
	ev := <-events
	if ev.Op != message.OpInsert || ev.Object.Key.Name != "cap1" {
		t.Fatalf("event %+v", ev)
	}

	// A duplicate is acked again but changes and announces nothing.
	if !mm.HandleCloudMessage(msg) || len(s.sent) != 2 {
		t.Fatal("duplicate not acked")
	}
	select {
	case ev := <-events:
		t.Fatalf("duplicate announced: %+v", ev)
	default:
	}

	// Delete removes it and announces the last stored version.
	del := msg
	del.Header.ID = "del-1"
	del.Route.Operation = message.OpDelete
	if !mm.HandleCloudMessage(del) {
		t.Fatal("delete not handled")
	}
	if pods, _ := mm.Pods(); len(pods) != 0 {
		t.Fatalf("pod left after delete: %v", pods)
	}
	if ev := <-events; ev.Op != message.OpDelete || ev.Object.Key.Name != "cap1" {
		t.Fatalf("delete event %+v", ev)
	}
}

func TestStaleVersionIgnored(t *testing.T) {
	mm, _, _ := open(t)
	put := func(rv, data string) {
		cm := &corev1.ConfigMap{}
		cm.APIVersion, cm.Kind = "v1", "ConfigMap"
		cm.Name, cm.Namespace, cm.UID, cm.ResourceVersion = "cfg", "default", "u1", rv
		cm.Data = map[string]string{"msg": data}
		m, err := message.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
			Operation: message.OpUpdate, Resource: "default/configmap/cfg"}, cm)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.ResourceVersion = rv
		mm.HandleCloudMessage(m)
	}
	put("10", "new")
	put("9", "old")
	cm, found, err := mm.ConfigMap("default", "cfg")
	if err != nil || !found || cm.Data["msg"] != "new" {
		t.Fatalf("configmap after a stale update: %+v %v %v", cm.Data, found, err)
	}
}

func TestIgnoresWhatItDoesNotKeep(t *testing.T) {
	mm, s, _ := open(t)
	for _, m := range []message.Message{
		{Header: message.Header{ID: "1"}, Route: message.KeepaliveRoute, Content: json.RawMessage(`"ping"`)},
		{Header: message.Header{ID: "2", ParentID: "x"}, Route: message.Route{Operation: message.OpResponse, Resource: "default/pod/a"}, Content: json.RawMessage(`"OK"`)},
		{Header: message.Header{ID: "3"}, Route: message.Route{Operation: message.OpUpdate, Resource: "membership"}, Content: json.RawMessage(`{}`)},
	} {
		if mm.HandleCloudMessage(m) {
			t.Errorf("handled %+v", m.Route)
		}
	}
	if len(s.sent) != 0 {
		t.Errorf("sent %v", s.sent)
	}
}

// The cloud's answer to an edge request about a pod shares the pod's resource
// path; it is not the pod and must not be stored as one.
func TestObjectResponseIsNotStored(t *testing.T) {
	mm, s, _ := open(t)
	m := message.Message{Header: message.Header{ID: "r1", ParentID: "req-1"},
		Route:   message.Route{Source: message.SourceEdgeController, Group: message.GroupResource, Operation: message.OpResponse, Resource: "default/pod/web"},
		Content: json.RawMessage(`{"Object":null,"Err":null}`)}
	if mm.HandleCloudMessage(m) {
		t.Fatal("an ObjectResponse was handled as an object")
	}
	if pods, _ := mm.Pods(); len(pods) != 0 || len(s.sent) != 0 {
		t.Fatalf("stored %v, sent %v", pods, s.sent)
	}
}

type answerer map[string]error // pod name → error the cloud answers (nil: the pod)

func (a answerer) Request(_ context.Context, m message.Message) (message.Message, error) {
	r, _ := message.ParseResource(m.Route.Resource)
	err, ok := a[r.Name]
	if !ok {
		return message.Message{}, context.DeadlineExceeded // an upstream cloud: no answer
	}
	resp, _ := message.NewObjectResponse(nil, err)
	return message.DefaultFactory.Response(m, message.SourceEdgeController, resp)
}

func TestReconcileRemovesPodsDeletedWhileAway(t *testing.T) {
	mm, _, _ := open(t)
	events := mm.Subscribe(message.ResPod, 8)
	for _, name := range []string{"kept", "gone", "moved", "silent"} {
		p := &corev1.Pod{}
		p.APIVersion, p.Kind = "v1", "Pod"
		p.Name, p.Namespace, p.UID, p.ResourceVersion = name, "default", types.UID("uid-"+name), "1"
		m, _ := message.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
			Operation: message.OpInsert, Resource: "default/pod/" + name}, p)
		mm.HandleCloudMessage(m)
		<-events
	}
	gr := schema.GroupResource{Resource: "pods"}
	mm.Reconcile(context.Background(), answerer{
		"kept":  nil,
		"gone":  apierrors.NewNotFound(gr, "gone"),
		"moved": apierrors.NewForbidden(gr, "moved", errors.New("bound to another node")),
	})
	pods, _ := mm.Pods()
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "kept,silent" {
		t.Fatalf("pods after reconcile: %v", names)
	}
	for range 2 {
		if ev := <-events; ev.Op != message.OpDelete {
			t.Fatalf("event %+v", ev)
		}
	}
}
