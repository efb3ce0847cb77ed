package devicetwin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	testNode = "edge-1"
	testNow  = int64(1700000000000)
)

// recorder is the Publisher and the Upstream of the tests.
type recorder struct {
	mu        sync.Mutex
	published []published
	sent      []sent
	// failSend makes SendReliable fail (a closed outbox).
	failSend bool
}

type published struct {
	topic   string
	payload []byte
}

type sent struct {
	msg message.Message
	key string
}

func (r *recorder) Publish(topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, published{topic, append([]byte(nil), payload...)})
	return nil
}

func (r *recorder) SendReliable(m message.Message, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failSend {
		return errors.New("outbox closed")
	}
	r.sent = append(r.sent, sent{m, key})
	return nil
}

// on returns the payloads published on topic.
func (r *recorder) on(topic string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, p := range r.published {
		if p.topic == topic {
			out = append(out, p.payload)
		}
	}
	return out
}

func (r *recorder) topics() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.published {
		out = append(out, p.topic)
	}
	return out
}

func (r *recorder) sentMessages() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published, r.sent = nil, nil
}

// fixture is a module over a real meta.db, driven synchronously.
type fixture struct {
	t    testing.TB
	path string
	db   *store.DB
	rec  *recorder
	dt   *DeviceTwin
}

func openDB(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open meta.db: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newModule(db *store.DB, rec *recorder, queue int) *DeviceTwin {
	clock := func() time.Time { return time.UnixMilli(testNow) }
	dt := New(Config{NodeName: testNode, Now: clock, QueueSize: queue}, db, rec, rec, logr.Discard())
	n := 0
	dt.newID = func() string { n++; return "id-" + strconv.Itoa(n) }
	dt.factory.NewID = dt.newID
	return dt
}

// newFixture opens a store on a temp dir and loads the module, without Run:
// tests call drain to process what the handlers queued.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lib", "meta.db")
	return openFixture(t, path)
}

func openFixture(t testing.TB, path string) *fixture {
	t.Helper()
	db := openDB(t, path)
	rec := &recorder{}
	dt := newModule(db, rec, 64)
	if err := dt.load(); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, path: path, db: db, rec: rec, dt: dt}
}

// drain processes every queued job, as Run would.
func (f *fixture) drain() {
	for {
		select {
		case j := <-f.dt.queue:
			f.dt.process(j)
		default:
			return
		}
	}
}

func (f *fixture) cloud(m message.Message) {
	f.t.Helper()
	if !f.dt.HandleCloudMessage(m) {
		f.t.Fatalf("cloud message not handled: %+v", m.Route)
	}
	f.drain()
}

func (f *fixture) mqtt(topic, payload string) {
	f.dt.HandleMQTT(topic, []byte(payload))
	f.drain()
}

// stored returns the stored twin document of a device (raw JSON), "" if none.
func (f *fixture) storedDoc(ns, id string) string {
	f.t.Helper()
	obj, found, err := f.db.Get(message.Resource{Namespace: ns, Type: ResourceType, Name: id})
	if err != nil {
		f.t.Fatal(err)
	}
	if !found {
		return ""
	}
	return string(obj.Data)
}

func (f *fixture) device(id string) twin.Device {
	f.t.Helper()
	d, found, err := f.dt.Device(id)
	if err != nil || !found {
		f.t.Fatalf("device %s: found=%v err=%v", id, found, err)
	}
	return d
}

func twinMsg(group message.Group, source message.Source, resource string, op message.Operation, content any) message.Message {
	m, err := message.Factory{Now: func() time.Time { return time.UnixMilli(testNow) }, NewID: func() string { return "cloud-msg" }}.
		New(message.Route{Source: source, Group: group, Operation: op, Resource: resource}, content)
	if err != nil {
		panic(err)
	}
	return m
}

// cloudTwin is a twin as DeviceController sends it.
func cloudTwin(value, typ string, version int64) *twin.MsgTwin {
	f := false
	return &twin.MsgTwin{
		Expected:        &twin.TwinValue{Value: twin.StringPtr(value), Metadata: &twin.ValueMetadata{Timestamp: 1699999999000}},
		Optional:        &f,
		Metadata:        &twin.TypeMetadata{Type: typ},
		ExpectedVersion: &twin.TwinVersion{CloudVersion: version},
	}
}

func membershipAdd(eventID string, devs ...twin.Device) message.Message {
	return twinMsg(message.GroupTwin, message.SourceDeviceController, message.ResourceMembership, message.OpUpdate,
		twin.MembershipUpdate{BaseMessage: twin.BaseMessage{EventID: eventID, Timestamp: testNow}, AddDevices: devs})
}

func membershipRemove(eventID string, ids ...string) message.Message {
	var devs []twin.Device
	for _, id := range ids {
		devs = append(devs, twin.Device{ID: id, Name: id})
	}
	return twinMsg(message.GroupTwin, message.SourceDeviceController, message.ResourceMembership, message.OpUpdate,
		twin.MembershipUpdate{BaseMessage: twin.BaseMessage{EventID: eventID, Timestamp: testNow}, RemoveDevices: devs})
}

func cloudUpdate(id, eventID string, twins map[string]*twin.MsgTwin) message.Message {
	return twinMsg(message.GroupTwin, message.SourceDeviceController,
		message.DeviceResource{DeviceID: id, Event: message.DeviceTwinCloudUpdated}.String(), message.OpUpdate,
		twin.DeviceTwinUpdate{BaseMessage: twin.BaseMessage{EventID: eventID, Timestamp: testNow}, Twin: twins})
}

// thermometer is a device with typed twins, expected values at version 5.
func thermometer(id string) twin.Device {
	return twin.Device{ID: id, Name: id, Description: "thermometer", Twin: map[string]*twin.MsgTwin{
		"temp":   cloudTwin("25", "int", 5),
		"ratio":  cloudTwin("", "float", 5),
		"switch": cloudTwin("", "boolean", 5),
		"label":  cloudTwin("", "string", 5),
	}}
}

// addThermometer stores a thermometer and forgets what that published.
func (f *fixture) addThermometer(id string) {
	f.t.Helper()
	f.cloud(membershipAdd("ev-add", thermometer(id)))
	f.rec.reset()
}

func decode[T any](t testing.TB, payload []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatalf("decode %s: %v", payload, err)
	}
	return v
}

func value(v *twin.TwinValue) string {
	if v == nil || v.Value == nil {
		return "<nil>"
	}
	return *v.Value
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: %v: %s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(buf.Bytes())) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", name, buf.String(), want)
	}
}

func runModule(t *testing.T, dt *DeviceTwin) (context.Context, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dt.Run(ctx) }()
	return ctx, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}
