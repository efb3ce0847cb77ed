// Package devicetwin is the edge's DeviceTwin module: it keeps every device
// of the node and its twin (expected and actual property values, with
// versions) in meta.db, talks to mappers over MQTT with upstream KubeEdge
// v1.12's $hw/events/... topics and payloads, applies the cloud's membership
// and desired-value changes, and reports actual values and device state to
// the cloud through a reliable outbox.
//
// All changes happen in one goroutine (Run) that takes typed jobs from a
// bounded queue; the Handle* entry points only classify their input and
// enqueue it. Each change is committed to meta.db in one transaction before
// anything is published or sent, so a restart loses nothing: reads (twin/get,
// membership/get, Device, the HTTP handler) are answered from meta.db and
// work while the cloud is away.
package devicetwin

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"

	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// ModuleName is the module's name.
const ModuleName = "devicetwin"

// Defaults of Config.
const (
	DefaultQueueSize     = 1024
	DefaultRetryInterval = 10 * time.Second
)

// MaxPayload bounds an MQTT payload the module accepts; larger ones are
// answered with a 400 result.
const MaxPayload = 1 << 20

// SourceEdgeMgr is the other source upstream's DeviceTwin accepts cloud twin
// messages from, besides devicecontroller.
const SourceEdgeMgr message.Source = "edgemgr"

// Publisher publishes to the MQTT broker (EventBus).
type Publisher interface {
	Publish(topic string, payload []byte) error
}

// Upstream hands a message to the meta.db outbox, which delivers it to the
// cloud when the link is up, across restarts. A queued message with the same
// non-empty coalesceKey is replaced.
type Upstream interface {
	SendReliable(m message.Message, coalesceKey string) error
}

// Config of the module.
type Config struct {
	// NodeName names the node in the membership topics.
	NodeName string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// QueueSize bounds the job queue; 0 means DefaultQueueSize.
	QueueSize int
	// RetryInterval is how often reports that Upstream refused are tried
	// again; 0 means DefaultRetryInterval.
	RetryInterval time.Duration
}

// DeviceTwin is the module.
type DeviceTwin struct {
	cfg     Config
	db      *store.DB
	pub     Publisher
	up      Upstream
	log     logr.Logger
	now     func() time.Time
	newID   func() string
	factory message.Factory

	queue   chan job
	dropped atomic.Uint64

	// devices is owned by the Run goroutine; it mirrors meta.db.
	devices map[string]*record

	// mu guards index, the namespace of each stored device, for readers
	// outside Run; loaded is set once Run has read meta.db.
	mu     sync.RWMutex
	loaded bool
	index  map[string]string
}

// New builds the module over an open meta.db.
func New(cfg Config, db *store.DB, pub Publisher, up Upstream, log logr.Logger) *DeviceTwin {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	newID := func() string { return uuid.NewString() }
	return &DeviceTwin{
		cfg: cfg, db: db, pub: pub, up: up, log: log,
		now: cfg.Now, newID: newID,
		factory: message.Factory{Now: cfg.Now, NewID: newID},
		queue:   make(chan job, cfg.QueueSize),
		devices: map[string]*record{},
		index:   map[string]string{},
	}
}

// Name is the module name.
func (t *DeviceTwin) Name() string { return ModuleName }

// Dropped counts the inputs dropped because the queue was full.
func (t *DeviceTwin) Dropped() uint64 { return t.dropped.Load() }

// Run loads the twin state from meta.db, hands reports that were not yet
// sent to Upstream, then processes the queue until ctx ends. It must run at
// most once at a time.
func (t *DeviceTwin) Run(ctx context.Context) error {
	if err := t.load(); err != nil {
		return fmt.Errorf("devicetwin: %w", err)
	}
	t.flushAll()
	retry := time.NewTicker(t.cfg.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-t.queue:
			t.process(j)
		case <-retry.C:
			t.flushAll()
		}
	}
}

// load reads every twin document into memory and the index.
func (t *DeviceTwin) load() error {
	objs, err := t.db.ListType(ResourceType)
	if err != nil {
		return fmt.Errorf("load twin state from meta.db: %w", err)
	}
	devices := make(map[string]*record, len(objs))
	index := make(map[string]string, len(objs))
	for _, obj := range objs {
		rec, err := decodeRecord(obj)
		if err != nil {
			// One damaged document must not take every device down.
			t.log.Error(err, "skipping an unreadable twin document", "key", obj.Key.String())
			continue
		}
		if other, dup := devices[rec.ID]; dup {
			t.log.Info("device id stored in two namespaces; keeping one", "device", rec.ID,
				"kept", rec.Namespace, "ignored", other.Namespace)
		}
		devices[rec.ID] = rec
		index[rec.ID] = rec.Namespace
	}
	t.devices = devices
	t.mu.Lock()
	t.index, t.loaded = index, true
	t.mu.Unlock()
	t.log.V(1).Info("twin state loaded", "devices", len(devices))
	return nil
}

// jobKind says what a job carries.
type jobKind int

const (
	jobMembership jobKind = iota + 1
	jobCloudUpdated
	jobDeviceEvent
	jobTwinUpdate
	jobTwinGet
	jobStateUpdate
	jobMembershipGet
	jobBarrier
)

func (k jobKind) String() string {
	switch k {
	case jobMembership:
		return "membership"
	case jobCloudUpdated:
		return "cloud_updated"
	case jobDeviceEvent:
		return "device event"
	case jobTwinUpdate:
		return "twin/update"
	case jobTwinGet:
		return "twin/get"
	case jobStateUpdate:
		return "state/update"
	case jobMembershipGet:
		return "membership/get"
	case jobBarrier:
		return "barrier"
	}
	return "unknown"
}

// job is one unit of work for the Run goroutine.
type job struct {
	kind jobKind
	// deviceID is the device of a cloud_updated message or an MQTT topic.
	deviceID string
	// payload is an MQTT payload.
	payload []byte
	// msg is a cloud message.
	msg message.Message
	// event is a MetaManager event.
	event metamanager.Event
	// done is closed when a barrier job is reached.
	done chan struct{}
}

// enqueue never blocks: when the queue is full the job is dropped, counted
// and logged. Mappers resend periodically and the cloud resends objects.
func (t *DeviceTwin) enqueue(j job) bool {
	select {
	case t.queue <- j:
		return true
	default:
		n := t.dropped.Add(1)
		if n == 1 || n%100 == 0 {
			t.log.Info("devicetwin queue full; input dropped", "kind", j.kind.String(), "device", j.deviceID, "dropped", n)
		}
		return false
	}
}

func (t *DeviceTwin) process(j job) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error(fmt.Errorf("panic: %v", r), "devicetwin job failed", "kind", j.kind.String(),
				"device", j.deviceID, "stack", string(debug.Stack()))
		}
	}()
	switch j.kind {
	case jobMembership:
		t.membership(j.msg)
	case jobCloudUpdated:
		t.cloudUpdated(j.deviceID, j.msg)
	case jobDeviceEvent:
		t.deviceEvent(j.event)
	case jobTwinUpdate:
		t.twinUpdate(j.deviceID, j.payload)
	case jobTwinGet:
		t.twinGet(j.deviceID, j.payload)
	case jobStateUpdate:
		t.stateUpdate(j.deviceID, j.payload)
	case jobMembershipGet:
		t.membershipGet(j.payload)
	case jobBarrier:
		close(j.done)
	}
}

// HandleCloudMessage takes a cloud message of group "twin": membership
// updates, device/<id>/twin/cloud_updated, and the cloud's "OK"
// confirmations (ignored). It returns false for messages of other groups.
// Twin messages from sources other than devicecontroller and edgemgr are
// consumed and ignored, as upstream does.
func (t *DeviceTwin) HandleCloudMessage(m message.Message) bool {
	if m.Route.Group != message.GroupTwin {
		return false
	}
	if m.Route.Source != message.SourceDeviceController && m.Route.Source != SourceEdgeMgr {
		t.log.V(1).Info("ignoring a twin message from an unexpected source", "source", m.Route.Source,
			"resource", m.Route.Resource, "operation", m.Route.Operation)
		return true
	}
	switch {
	case m.Route.Resource == message.ResourceMembership && m.Route.Operation == message.OpUpdate:
		t.enqueue(job{kind: jobMembership, msg: m})
	case m.Route.Resource == message.ResourceTwin && m.Route.Operation == message.OpResponse:
		// The cloud's confirmation of an edge_updated report; the outbox
		// already considers the report delivered.
	case m.Route.Operation == message.OpUpdate:
		res, err := message.ParseDeviceResource(m.Route.Resource)
		if err != nil || res.Event != message.DeviceTwinCloudUpdated {
			t.log.V(1).Info("ignoring an unknown twin message", "resource", m.Route.Resource, "operation", m.Route.Operation)
			return true
		}
		t.enqueue(job{kind: jobCloudUpdated, deviceID: res.DeviceID, msg: m})
	default:
		t.log.V(1).Info("ignoring an unknown twin message", "resource", m.Route.Resource, "operation", m.Route.Operation)
	}
	return true
}

// HandleDeviceEvent takes a Device object MetaManager stored or deleted.
// Other types are ignored.
func (t *DeviceTwin) HandleDeviceEvent(ev metamanager.Event) {
	if ev.Object.Key.Type != message.ResDevice || ev.Object.Key.Name == "" {
		return
	}
	t.enqueue(job{kind: jobDeviceEvent, deviceID: ev.Object.Key.Name, event: ev})
}

// HandleMQTT takes a message a mapper or an application published on one of
// the twin topics (see IsTwinTopic); other topics are ignored. The payload
// is copied.
func (t *DeviceTwin) HandleMQTT(topic string, payload []byte) {
	tp, ok := parseTopic(topic)
	if !ok {
		return
	}
	// Keep at most one byte more than accepted: enough to refuse it.
	if len(payload) > MaxPayload+1 {
		payload = payload[:MaxPayload+1]
	}
	j := job{deviceID: tp.id, payload: append([]byte(nil), payload...)}
	switch tp.kind {
	case topicTwinUpdate:
		j.kind = jobTwinUpdate
	case topicTwinGet:
		j.kind = jobTwinGet
	case topicStateUpdate:
		j.kind = jobStateUpdate
	case topicMembershipGet:
		if tp.id != t.cfg.NodeName {
			t.log.V(1).Info("ignoring membership/get for another node", "node", tp.id)
			return
		}
		j.kind, j.deviceID = jobMembershipGet, ""
	}
	t.enqueue(j)
}

// IsTwinTopic reports whether HandleMQTT handles topic: the topics EventBus
// must route to DeviceTwin rather than upload to the cloud.
func IsTwinTopic(topic string) bool {
	_, ok := parseTopic(topic)
	return ok
}

// barrier waits until every job queued before it is processed (tests).
func (t *DeviceTwin) barrier(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case t.queue <- job{kind: jobBarrier, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
