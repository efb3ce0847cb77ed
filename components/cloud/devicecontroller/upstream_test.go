package devicecontroller

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

// edgeUpdate builds the edge's device/<id>/twin/edge_updated message.
func edgeUpdate(t *testing.T, id string, asString bool, values map[string]string) message.Message {
	t.Helper()
	u := twin.DeviceTwinUpdate{BaseMessage: twin.BaseMessage{EventID: "e1", Timestamp: 1}, Twin: map[string]*twin.MsgTwin{}}
	for k, v := range values {
		u.Twin[k] = &twin.MsgTwin{Actual: &twin.TwinValue{Value: twin.StringPtr(v), Metadata: &twin.ValueMetadata{Timestamp: 1700000000123}},
			Metadata: &twin.TypeMetadata{Type: "string"}}
	}
	var content any = u
	if asString {
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		content = string(b)
	}
	m, err := message.New(message.Route{Source: message.SourceTwin, Group: message.GroupResource, Operation: message.OpUpdate,
		Resource: message.DeviceResource{DeviceID: id, Event: message.DeviceTwinEdgeUpdated}.String()}, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) patches() int {
	n := 0
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "devices" {
			n++
		}
	}
	return n
}

func (e *env) get(t *testing.T, name string) *v1alpha2.Device {
	t.Helper()
	u, err := e.client.Resource(DevicesResource).Namespace("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := convert[v1alpha2.Device](u)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkReply checks the twin reply to req and returns its content.
func checkReply(t *testing.T, s sent, node string, req message.Message) message.Message {
	t.Helper()
	checkRoute(t, s, node, message.GroupTwin, message.OpResponse, "twin")
	if s.msg.Header.ParentID != req.Header.ID {
		t.Fatalf("reply parent %q, want %q", s.msg.Header.ParentID, req.Header.ID)
	}
	return s.msg
}

func TestEdgeUpdatedWritesReported(t *testing.T) {
	for _, asString := range []bool{false, true} {
		name := "object"
		if asString {
			name = "string"
		}
		t.Run(name, func(t *testing.T) {
			e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
			e.rec.next(t, 3)

			req := edgeUpdate(t, "dev1", asString, map[string]string{"power": "on", "unknown": "x"})
			if !e.c.HandleMessage("edge-1", req) {
				t.Fatal("edge_updated not taken as a device message")
			}
			reply := checkReply(t, e.rec.next(t, 1)[0], "edge-1", req)
			if !reply.IsAck() {
				t.Fatalf("reply content %s, want \"OK\"", reply.Content)
			}
			d := e.get(t, "dev1")
			want := []v1alpha2.Twin{
				{PropertyName: "power", Desired: v1alpha2.TwinProperty{Value: "on"},
					Reported: v1alpha2.TwinProperty{Value: "on", Metadata: map[string]string{"timestamp": "1700000000123", "type": "string"}}},
				{PropertyName: "temp", Desired: v1alpha2.TwinProperty{Value: "20", Metadata: map[string]string{"type": "int"}}},
			}
			gotJSON, _ := json.Marshal(d.Status.Twins)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("twins:\n got %s\nwant %s", gotJSON, wantJSON)
			}
			if n := e.patches(); n != 1 {
				t.Fatalf("%d patches, want 1", n)
			}
			// The patch is a merge patch of the full list, conditional on the version read.
			for _, a := range e.client.Actions() {
				if p, ok := a.(k8stesting.PatchAction); ok {
					var body statusPatch
					if err := json.Unmarshal(p.GetPatch(), &body); err != nil || body.Metadata.ResourceVersion != "10" || len(body.Status.Twins) != 2 {
						t.Fatalf("patch %s (%s): want resourceVersion 10 and both twins", p.GetPatch(), p.GetPatchType())
					}
				}
			}
			// The edge's own report is not echoed back.
			e.rec.none(t)

			// The same value again, once the cache has it: no second write.
			waitFor(t, "cache to see the reported value", func() bool {
				d := e.c.devicesBy(indexName, "dev1")
				return len(d) == 1 && d[0].Status.Twins[0].Reported.Value == "on"
			})
			req2 := edgeUpdate(t, "dev1", asString, map[string]string{"power": "on"})
			e.c.HandleMessage("edge-1", req2)
			if reply := checkReply(t, e.rec.next(t, 1)[0], "edge-1", req2); !reply.IsAck() {
				t.Fatalf("reply content %s, want \"OK\"", reply.Content)
			}
			if n := e.patches(); n != 1 {
				t.Fatalf("%d patches after a repeat, want 1", n)
			}
		})
	}
}

func TestEdgeUpdatedRefused(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
	e.rec.next(t, 3)

	for _, tc := range []struct {
		name, node, device string
		code               int32
	}{
		{"another node's device", "edge-2", "dev1", http.StatusForbidden},
		{"unknown device", "edge-1", "nope", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := edgeUpdate(t, tc.device, false, map[string]string{"power": "hacked"})
			e.c.HandleMessage(tc.node, req)
			reply := checkReply(t, e.rec.next(t, 1)[0], tc.node, req)
			var r message.ObjectResponse
			if err := reply.DecodeContent(&r); err != nil {
				t.Fatal(err)
			}
			var status apierrors.APIStatus
			if err := r.Error(); err == nil || !asStatus(err, &status) || status.Status().Code != tc.code {
				t.Fatalf("reply %s, want code %d", reply.Content, tc.code)
			}
			if n := e.patches(); n != 0 {
				t.Fatalf("%d patches, want none", n)
			}
		})
	}
}

func asStatus(err error, out *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	*out = s
	return ok
}

func TestEdgeUpdatedRetriesOnConflict(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
	e.rec.next(t, 3)
	var calls atomic.Int32
	e.client.PrependReactor("patch", "devices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(v1alpha2.Resource("devices"), "dev1", nil)
		}
		return false, nil, nil
	})

	req := edgeUpdate(t, "dev1", false, map[string]string{"temp": "21"})
	e.c.HandleMessage("edge-1", req)
	if reply := checkReply(t, e.rec.next(t, 1)[0], "edge-1", req); !reply.IsAck() {
		t.Fatalf("reply content %s, want \"OK\"", reply.Content)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d patch attempts, want 2", calls.Load())
	}
	if got := e.get(t, "dev1").Status.Twins[1].Reported.Value; got != "21" {
		t.Fatalf("reported temp %q, want 21", got)
	}
}

func TestMembershipDetail(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"), device("other", "edge-2", "lamp", "11"))
	e.rec.next(t, 6)

	req, err := message.New(message.Route{Source: message.SourceTwin, Group: message.GroupResource, Operation: message.OpGet,
		Resource: message.ResourceMembershipDetail},
		`{"event_type":"group_membership_event","event_id":"x","group_id":"edge-1","operation":"detail","timestamp":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if !e.c.HandleMessage("edge-1", req) {
		t.Fatal("membership/detail not taken as a device message")
	}
	s := e.rec.next(t, 1)[0]
	checkRoute(t, s, "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, s, `{"event_id":"evt","timestamp":1700000000000,"added_devices":[`+dev1At10+`],"removed_devices":null}`)
	if s.msg.Header.ParentID != req.Header.ID {
		t.Fatalf("parent %q, want %q", s.msg.Header.ParentID, req.Header.ID)
	}

	// A node without devices gets an empty answer.
	req.Header.ID = "req-2"
	e.c.HandleMessage("edge-9", req)
	s = e.rec.next(t, 1)[0]
	checkRoute(t, s, "edge-9", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, s, `{"event_id":"evt","timestamp":1700000000000,"added_devices":null,"removed_devices":null}`)
}

func TestHandleMessageClassifies(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		resource string
		op       message.Operation
		device   bool
	}{
		{"device/dev1/state/update", message.OpUpdate, true},
		{"node/edge-1/device/dev1/state/update", message.OpUpdate, true},
		{"membership/detail", message.OpResponse, true},
		{"default/device/dev1", message.OpResponse, true},
		{"default/devicemodel/lamp", message.OpResponse, true},
		{"default/pod/nginx", message.OpResponse, false},
		{"device/pod/nginx", message.OpResponse, false}, // a pod in namespace "device"
		{"default/nodepatch/edge-1", message.OpPatch, false},
		{"node", message.OpKeepalive, false},
	} {
		m, err := message.New(message.Route{Source: message.SourceTwin, Group: message.GroupResource, Operation: tc.op, Resource: tc.resource}, "{}")
		if err != nil {
			t.Fatal(err)
		}
		if got := e.c.HandleMessage("edge-1", m); got != tc.device {
			t.Errorf("%s %s: device message = %v, want %v", tc.op, tc.resource, got, tc.device)
		}
	}
	// Accepted device messages other than edge_updated and membership/detail
	// need no answer and write nothing.
	e.rec.none(t)
	if n := e.patches(); n != 0 {
		t.Fatalf("%d patches, want none", n)
	}
}
