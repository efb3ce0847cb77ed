package devicecontroller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

const nowMS = 1700000000000

type sent struct {
	node string
	msg  message.Message
}

// recorder is a Sender that records what it is given. Nodes in fail get an
// error; nodes in block wait until unblock is closed.
type recorder struct {
	mu      sync.Mutex
	ch      chan sent
	fail    map[string]bool
	block   map[string]bool
	unblock chan struct{}
}

func newRecorder() *recorder {
	return &recorder{ch: make(chan sent, 1000), fail: map[string]bool{}, block: map[string]bool{}, unblock: make(chan struct{})}
}

func (r *recorder) Send(node string, m message.Message) error {
	r.mu.Lock()
	fail, block := r.fail[node], r.block[node]
	r.mu.Unlock()
	if block {
		<-r.unblock
	}
	if fail {
		return errors.New("node not connected")
	}
	r.ch <- sent{node, m}
	return nil
}

func (r *recorder) setFail(node string, v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[node] = v
}

// next returns the next n messages.
func (r *recorder) next(t *testing.T, n int) []sent {
	t.Helper()
	var out []sent
	for len(out) < n {
		select {
		case s := <-r.ch:
			out = append(out, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d messages, want %d: %s", len(out), n, describe(out))
		}
	}
	return out
}

// none checks that nothing more is sent for a while.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-r.ch:
		t.Fatalf("unexpected message to %s: %s %s %s", s.node, s.msg.Route.Operation, s.msg.Route.Resource, s.msg.Content)
	case <-time.After(200 * time.Millisecond):
	}
}

func describe(ss []sent) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s: %s %s %s", s.node, s.msg.Route.Group, s.msg.Route.Operation, s.msg.Route.Resource)
	}
	return b.String()
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

type env struct {
	c      *Controller
	client *dynamicfake.FakeDynamicClient
	rec    *recorder
}

func start(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	e := setup(t, objs...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = e.c.Run(ctx) }()
	select {
	case <-e.c.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	return e
}

func setup(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	var us []runtime.Object
	for _, o := range objs {
		us = append(us, toUnstructured(t, o))
	}
	client := dynamicfake.NewSimpleDynamicClient(testScheme(t), us...)
	rec := newRecorder()
	c := New(Config{}, client, rec, logr.Discard())
	c.factory = message.Factory{Now: func() time.Time { return time.UnixMilli(nowMS) }, NewID: func() string { return "evt" }}
	return &env{c: c, client: client, rec: rec}
}

func twinOf(prop, desired, typ string) v1alpha2.Twin {
	t := v1alpha2.Twin{PropertyName: prop, Desired: v1alpha2.TwinProperty{Value: desired}}
	if typ != "" {
		t.Desired.Metadata = map[string]string{"type": typ}
	}
	return t
}

func device(name, node, model, rv string, twins ...v1alpha2.Twin) *v1alpha2.Device {
	d := &v1alpha2.Device{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha2.SchemeGroupVersion.String(), Kind: "Device"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, ResourceVersion: rv, Labels: map[string]string{"description": "a lamp"}},
		Spec:       v1alpha2.DeviceSpec{DeviceModelRef: &corev1.LocalObjectReference{Name: model}},
		Status:     v1alpha2.DeviceStatus{Twins: twins},
	}
	if node != "" {
		d.Spec.NodeSelector = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}
	}
	return d
}

func model(name, rv string) *v1alpha2.DeviceModel {
	return &v1alpha2.DeviceModel{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha2.SchemeGroupVersion.String(), Kind: "DeviceModel"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, ResourceVersion: rv},
		Spec:       v1alpha2.DeviceModelSpec{Protocol: "modbus"},
	}
}

func (e *env) update(t *testing.T, gvr schema.GroupVersionResource, obj runtime.Object) {
	t.Helper()
	if _, err := e.client.Resource(gvr).Namespace("default").Update(context.Background(), toUnstructured(t, obj), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) create(t *testing.T, gvr schema.GroupVersionResource, obj runtime.Object) {
	t.Helper()
	if _, err := e.client.Resource(gvr).Namespace("default").Create(context.Background(), toUnstructured(t, obj), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// checkRoute compares a message's node and route.
func checkRoute(t *testing.T, s sent, node string, group message.Group, op message.Operation, resource string) {
	t.Helper()
	r := s.msg.Route
	if s.node != node || r.Source != message.SourceDeviceController || r.Group != group || r.Operation != op || r.Resource != resource {
		t.Fatalf("got %s: %s/%s %s %s %s, want %s: %s/%s %s %s", s.node, r.Source, r.Group, r.Operation, r.Resource, s.msg.Content,
			node, message.SourceDeviceController, group, op, resource)
	}
}

// checkJSON compares a message's content with the expected JSON.
func checkJSON(t *testing.T, s sent, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(s.msg.Content, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("content of %s:\n got %s\nwant %s", s.msg.Route.Resource, s.msg.Content, want)
	}
}

// checkObject checks an object message: kind, name and resourceVersion.
func checkObject(t *testing.T, s sent, kind, name, rv string) {
	t.Helper()
	var o metav1.PartialObjectMetadata
	if err := json.Unmarshal(s.msg.Content, &o); err != nil {
		t.Fatal(err)
	}
	if o.APIVersion != "devices.kubeedge.io/v1alpha2" || o.Kind != kind || o.Name != name || o.ResourceVersion != rv || s.msg.Header.ResourceVersion != rv {
		t.Fatalf("object %s %s: got %s %s rv %s header rv %s, want %s rv %s", s.msg.Route.Resource, s.msg.Route.Operation,
			o.Kind, o.Name, o.ResourceVersion, s.msg.Header.ResourceVersion, kind, rv)
	}
}

const (
	// Membership twin entries of device(…, twinOf("power","on",""), twinOf("temp","20","int")) at rv 10.
	powerTwin10 = `"power":{"expected":{"value":"on","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"string"},"expected_version":{"cloud":10,"edge":0}}`
	tempTwin10  = `"temp":{"expected":{"value":"20","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"int"},"expected_version":{"cloud":10,"edge":0}}`
	dev1At10    = `{"id":"dev1","name":"dev1","description":"a lamp","twin":{` + powerTwin10 + `,` + tempTwin10 + `}}`
)

func dev1(node, rv string) *v1alpha2.Device {
	return device("dev1", node, "lamp", rv, twinOf("power", "on", ""), twinOf("temp", "20", "int"))
}

func TestDeviceAdded(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"), device("unbound", "", "lamp", "11"))
	got := e.rec.next(t, 3)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":[`+dev1At10+`],"removed_devices":null}`)
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpInsert, "default/devicemodel/lamp")
	checkObject(t, got[1], "DeviceModel", "lamp", "5")
	checkRoute(t, got[2], "edge-1", message.GroupResource, message.OpInsert, "default/device/dev1")
	checkObject(t, got[2], "Device", "dev1", "10")
	e.rec.none(t)

	// A device created later goes the same way.
	e.create(t, DevicesResource, device("dev2", "edge-2", "lamp", "12"))
	got = e.rec.next(t, 3)
	checkRoute(t, got[0], "edge-2", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":[{"id":"dev2","name":"dev2","description":"a lamp"}],"removed_devices":null}`)
	checkRoute(t, got[1], "edge-2", message.GroupResource, message.OpInsert, "default/devicemodel/lamp")
	checkRoute(t, got[2], "edge-2", message.GroupResource, message.OpInsert, "default/device/dev2")
	checkObject(t, got[2], "Device", "dev2", "12")
}

func TestTwinDesiredChanged(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
	e.rec.next(t, 3)

	// power changes, temp is removed, mode is new.
	d := device("dev1", "edge-1", "lamp", "20", twinOf("power", "off", ""), twinOf("mode", "eco", "string"))
	e.update(t, DevicesResource, d)
	got := e.rec.next(t, 2)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "device/dev1/twin/cloud_updated")
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,"twin":{
		"power":{"expected":{"value":"off","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"string"},"expected_version":{"cloud":20,"edge":0}},
		"mode":{"expected":{"value":"eco","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"string"},"expected_version":{"cloud":20,"edge":0}},
		"temp":{"expected":{"value":"20","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"deleted"},"expected_version":{"cloud":20,"edge":0}}}}`)
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpUpdate, "default/device/dev1")
	checkObject(t, got[1], "Device", "dev1", "20")
	e.rec.none(t)

	// Reported values only (the edge's own report): nothing is echoed.
	d.ResourceVersion = "21"
	d.Status.Twins[0].Reported = v1alpha2.TwinProperty{Value: "off", Metadata: map[string]string{"timestamp": "1"}}
	e.update(t, DevicesResource, d)
	e.rec.none(t)

	// A spec change alone updates the object, no twin message.
	d.ResourceVersion = "22"
	d.Spec.Data.DataTopic = "t"
	e.update(t, DevicesResource, d)
	got = e.rec.next(t, 1)
	checkRoute(t, got[0], "edge-1", message.GroupResource, message.OpUpdate, "default/device/dev1")
	checkObject(t, got[0], "Device", "dev1", "22")
	e.rec.none(t)
}

func TestDeviceMoved(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
	e.rec.next(t, 3)

	e.update(t, DevicesResource, dev1("edge-2", "30"))
	got := e.rec.next(t, 6)
	var old, cur []sent
	for _, s := range got {
		if s.node == "edge-1" {
			old = append(old, s)
		} else {
			cur = append(cur, s)
		}
	}
	if len(old) != 3 || len(cur) != 3 {
		t.Fatalf("old node got %d, new node %d messages: %s", len(old), len(cur), describe(got))
	}
	checkRoute(t, old[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, old[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":null,"removed_devices":[`+dev1At10+`]}`)
	checkRoute(t, old[1], "edge-1", message.GroupResource, message.OpDelete, "default/device/dev1")
	checkObject(t, old[1], "Device", "dev1", "10")
	checkRoute(t, old[2], "edge-1", message.GroupResource, message.OpDelete, "default/devicemodel/lamp")
	checkRoute(t, cur[0], "edge-2", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, cur[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":[`+strings.ReplaceAll(dev1At10, `"cloud":10`, `"cloud":30`)+`],"removed_devices":null}`)
	checkRoute(t, cur[1], "edge-2", message.GroupResource, message.OpInsert, "default/devicemodel/lamp")
	checkRoute(t, cur[2], "edge-2", message.GroupResource, message.OpInsert, "default/device/dev1")
	checkObject(t, cur[2], "Device", "dev1", "30")
}

func TestDeviceDeleted(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"), device("dev2", "edge-1", "lamp", "11"))
	e.rec.next(t, 6)
	ctx := context.Background()

	// dev2 goes; dev1 still uses the model, which stays on the node.
	if err := e.client.Resource(DevicesResource).Namespace("default").Delete(ctx, "dev2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.rec.next(t, 2)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":null,"removed_devices":[{"id":"dev2","name":"dev2","description":"a lamp"}]}`)
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpDelete, "default/device/dev2")
	checkObject(t, got[1], "Device", "dev2", "11")
	e.rec.none(t)

	// dev1 was the last user of the model.
	if err := e.client.Resource(DevicesResource).Namespace("default").Delete(ctx, "dev1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got = e.rec.next(t, 3)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,"added_devices":null,"removed_devices":[`+dev1At10+`]}`)
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpDelete, "default/device/dev1")
	checkRoute(t, got[2], "edge-1", message.GroupResource, message.OpDelete, "default/devicemodel/lamp")
	checkObject(t, got[2], "DeviceModel", "lamp", "5")
}

func TestModelUpdated(t *testing.T) {
	other := model("fan", "6")
	e := start(t, model("lamp", "5"), other, dev1("edge-1", "10"), device("dev2", "edge-2", "lamp", "11"), device("dev3", "edge-3", "fan", "12"))
	e.rec.next(t, 9)

	m := model("lamp", "40")
	m.Spec.Protocol = "opcua"
	e.update(t, DeviceModelsResource, m)
	got := e.rec.next(t, 2)
	nodes := map[string]bool{}
	for _, s := range got {
		nodes[s.node] = true
		checkRoute(t, s, s.node, message.GroupResource, message.OpUpdate, "default/devicemodel/lamp")
		checkObject(t, s, "DeviceModel", "lamp", "40")
	}
	if !nodes["edge-1"] || !nodes["edge-2"] {
		t.Fatalf("model update went to %v, want edge-1 and edge-2", nodes)
	}
	e.rec.none(t)
}

func TestNodeConnectedResends(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"), device("dev2", "edge-1", "lamp", "11"))
	e.rec.next(t, 6)
	ctx := context.Background()

	// While edge-1 is away: dev2 is deleted and dev1's desired value changes.
	e.rec.setFail("edge-1", true)
	if err := e.client.Resource(DevicesResource).Namespace("default").Delete(ctx, "dev2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.update(t, DevicesResource, device("dev1", "edge-1", "lamp", "50", twinOf("power", "off", ""), twinOf("temp", "20", "int")))
	waitFor(t, "cache to see dev1 at 50", func() bool {
		d := e.c.devicesBy(indexName, "dev1")
		return len(d) == 1 && d[0].ResourceVersion == "50"
	})
	time.Sleep(100 * time.Millisecond) // let the failed sends happen
	e.rec.setFail("edge-1", false)

	e.c.NodeConnected("edge-1")
	got := e.rec.next(t, 4)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	power50 := `"power":{"expected":{"value":"off","metadata":{"timestamp":1700000000000}},"optional":false,"metadata":{"type":"string"},"expected_version":{"cloud":50,"edge":0}}`
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,
		"added_devices":[{"id":"dev1","name":"dev1","description":"a lamp","twin":{`+power50+`,`+strings.ReplaceAll(tempTwin10, `"cloud":10`, `"cloud":50`)+`}}],
		"removed_devices":[{"id":"dev2","name":"dev2"}]}`)
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpDelete, "default/device/dev2")
	checkRoute(t, got[2], "edge-1", message.GroupResource, message.OpUpdate, "default/devicemodel/lamp")
	checkObject(t, got[2], "DeviceModel", "lamp", "5")
	checkRoute(t, got[3], "edge-1", message.GroupResource, message.OpUpdate, "default/device/dev1")
	checkObject(t, got[3], "Device", "dev1", "50")
	e.rec.none(t)

	// The removal was delivered: the next resync does not repeat it.
	e.c.NodeConnected("edge-1")
	got = e.rec.next(t, 3)
	checkJSON(t, got[0], `{"event_id":"evt","timestamp":1700000000000,
		"added_devices":[{"id":"dev1","name":"dev1","description":"a lamp","twin":{`+power50+`,`+strings.ReplaceAll(tempTwin10, `"cloud":10`, `"cloud":50`)+`}}],
		"removed_devices":null}`)

	// A node without devices gets nothing.
	e.c.NodeConnected("edge-9")
	e.rec.none(t)
}

func TestSlowNodeDoesNotBlockOthers(t *testing.T) {
	e := setup(t, model("lamp", "5"))
	e.rec.block["slow"] = true
	e.c.cfg.QueueLen = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.c.Run(ctx) }()
	<-e.c.Ready()

	for i := range 5 {
		e.create(t, DevicesResource, device(fmt.Sprintf("s%d", i), "slow", "lamp", fmt.Sprint(100+i)))
	}
	e.create(t, DevicesResource, device("f1", "fast", "lamp", "200"))
	got := e.rec.next(t, 3)
	for _, s := range got {
		if s.node != "fast" {
			t.Fatalf("message to %s before the fast node's", s.node)
		}
	}
	// Unblocked, the slow node catches up; what overflowed became a resync
	// that carries every device.
	close(e.rec.unblock)
	seen := map[string]bool{}
	waitFor(t, "slow node membership of all devices", func() bool {
		select {
		case s := <-e.rec.ch:
			var u struct {
				Added []struct {
					ID string `json:"id"`
				} `json:"added_devices"`
			}
			if s.msg.Route.Resource == "membership" && json.Unmarshal(s.msg.Content, &u) == nil {
				for _, d := range u.Added {
					seen[d.ID] = true
				}
			}
		case <-time.After(50 * time.Millisecond):
		}
		return len(seen) == 5
	})
}

func TestMissingCRD(t *testing.T) {
	for _, res := range []string{"devices", "devicemodels"} {
		t.Run(res, func(t *testing.T) {
			e := setup(t)
			e.client.PrependReactor("list", res, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewNotFound(schema.GroupResource{}, "")
			})
			err := e.c.Run(context.Background())
			var missing *MissingCRDError
			if !errors.As(err, &missing) {
				t.Fatalf("Run: %v, want a MissingCRDError", err)
			}
			want := res + ".devices.kubeedge.io"
			if missing.CRD != want || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "keadm init installs it") {
				t.Fatalf("error %q: want the CRD %s and a hint", err, want)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldRecorder also answers what the reliable dispatcher recorded as held.
type heldRecorder struct {
	*recorder
	held []types.NamespacedName
}

func (h heldRecorder) Held(string, message.ResourceType) []types.NamespacedName { return h.held }

// After a cloudcore restart the controller's own memory is empty: a device
// deleted meanwhile is known only from the dispatcher's ObjectSync record,
// and the resync removes it from the node.
func TestResyncRemovesDevicesHeldPerObjectSync(t *testing.T) {
	e := start(t, model("lamp", "5"), dev1("edge-1", "10"))
	e.rec.next(t, 3)
	e.c.sender = heldRecorder{recorder: e.rec, held: []types.NamespacedName{
		{Namespace: "default", Name: "dev1"}, {Namespace: "default", Name: "ghost"}}}
	e.c.NodeConnected("edge-1")
	got := e.rec.next(t, 4)
	checkRoute(t, got[0], "edge-1", message.GroupTwin, message.OpUpdate, "membership")
	if !strings.Contains(string(got[0].msg.Content), `"removed_devices":[{"id":"ghost","name":"ghost"}]`) {
		t.Fatalf("membership %s", got[0].msg.Content)
	}
	checkRoute(t, got[1], "edge-1", message.GroupResource, message.OpDelete, "default/device/ghost")
	e.rec.none(t)
}
