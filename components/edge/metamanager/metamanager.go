// Package metamanager is the edge's memory: every object the cloud sends is
// written to meta.db before any other module sees it, then acknowledged, then
// announced to the modules that care (Edged, DeviceTwin) as typed events.
// While the cloud is away, everything is served from meta.db.
package metamanager

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// Sender delivers messages to the cloud (EdgeHub).
type Sender interface {
	Send(m message.Message) error
}

// Event tells a module that a stored object changed.
type Event struct {
	// Op is insert, update or delete.
	Op     message.Operation
	Object store.Object
}

// Stored resource types: what the cloud sends that the edge keeps.
var storedTypes = map[message.ResourceType]bool{
	message.ResPod: true, message.ResConfigMap: true, message.ResSecret: true,
	message.ResService: true, message.ResEndpoints: true, message.ResNode: true,
	message.ResDevice: true, message.ResDeviceModel: true,
}

// MetaManager is the module.
type MetaManager struct {
	db      *store.DB
	sender  Sender
	log     logr.Logger
	factory message.Factory

	// requester sends outbox entries and waits for the answers; the sender
	// when it can (EdgeHub).
	requester Requester
	wake      chan struct{}

	mu        sync.Mutex
	subs      map[message.ResourceType][]*subscriber
	connected bool
}

// subscriber is one Subscribe or Watch channel. A watch that falls behind is
// closed rather than silently missing events, so its reader knows to relist.
type subscriber struct {
	ch     chan Event
	watch  bool
	closed bool
}

// New builds the module over an open store.
func New(db *store.DB, sender Sender, log logr.Logger) *MetaManager {
	m := &MetaManager{db: db, sender: sender, log: log, factory: message.DefaultFactory,
		subs: map[message.ResourceType][]*subscriber{}, wake: make(chan struct{}, 1)}
	m.requester, _ = sender.(Requester)
	return m
}

// Name is the module name.
func (m *MetaManager) Name() string { return "metamanager" }

// Run sends the outbox while the link is up; the rest of the work arrives
// through HandleCloudMessage.
func (m *MetaManager) Run(ctx context.Context) error {
	m.runOutbox(ctx)
	return nil
}

// Subscribe returns a channel of events for one resource type. The channel
// is buffered; a subscriber that falls behind misses events and must resync
// from the store (List), which is always the truth.
func (m *MetaManager) Subscribe(typ message.ResourceType, buffer int) <-chan Event {
	ch := make(chan Event, buffer)
	m.mu.Lock()
	m.subs[typ] = append(m.subs[typ], &subscriber{ch: ch})
	m.mu.Unlock()
	return ch
}

// Watch is Subscribe for subscribers that come and go, such as metaServer
// watches: cancel removes and closes the channel, and a watch whose buffer
// is full when an event comes is closed at once (memory stays bounded; the
// reader sees the close, lists again and watches anew).
func (m *MetaManager) Watch(typ message.ResourceType, buffer int) (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, buffer), watch: true}
	m.mu.Lock()
	m.subs[typ] = append(m.subs[typ], sub)
	m.mu.Unlock()
	return sub.ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.removeLocked(typ, sub)
	}
}

func (m *MetaManager) removeLocked(typ message.ResourceType, sub *subscriber) {
	subs := m.subs[typ]
	for i, s := range subs {
		if s == sub {
			m.subs[typ] = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}

// Store is the meta.db the module writes; readers may list and get from it.
func (m *MetaManager) Store() *store.DB { return m.db }

func (m *MetaManager) publish(ev Event) {
	// Sending under the lock keeps a cancelled watch from being closed while
	// an event is sent to it; sends never block.
	m.mu.Lock()
	defer m.mu.Unlock()
	typ := ev.Object.Key.Type
	for _, sub := range append([]*subscriber(nil), m.subs[typ]...) {
		select {
		case sub.ch <- ev:
		default:
			if sub.watch {
				m.log.V(1).Info("watch behind; closing it so its client lists again", "type", typ)
				m.removeLocked(typ, sub)
				continue
			}
			m.log.V(1).Info("subscriber behind; it resyncs from the store", "type", typ)
		}
	}
}

// HandleCloudMessage persists an object from the cloud, acknowledges it, and
// announces it. Messages it does not keep are ignored (false).
func (m *MetaManager) HandleCloudMessage(msg message.Message) bool {
	key, err := message.ParseResource(msg.Route.Resource)
	if err != nil || key.Name == "" || !storedTypes[key.Type] {
		return false
	}
	var ev Event
	switch msg.Route.Operation {
	case message.OpInsert, message.OpUpdate, message.OpResponse:
		if msg.IsAck() || msg.IsNull() {
			return false
		}
		data := msg.ContentBytes()
		if !namesObject(data, key) {
			// Not the object itself: e.g. the cloud's ObjectResponse to a
			// request of edged's (a pod delete), which shares the resource path.
			return false
		}
		obj, err := store.NewObject(key, data)
		if err != nil {
			m.log.Info("dropped an object that is not valid JSON", "resource", msg.Route.Resource, "err", err)
			return true
		}
		if obj.ResourceVersion == "" {
			obj.ResourceVersion = msg.Header.ResourceVersion
		}
		stored, found, err := m.db.Get(key)
		if err != nil {
			m.log.Error(err, "read meta.db", "resource", key.String())
			return true // not acknowledged: the cloud resends
		}
		applied, err := m.db.PutIfNewer(obj)
		if err != nil {
			m.log.Error(err, "write meta.db", "resource", key.String())
			return true
		}
		if applied {
			op := message.OpUpdate
			if !found || stored.UID != obj.UID {
				op = message.OpInsert
			}
			ev = Event{Op: op, Object: obj}
		}
	case message.OpDelete:
		stored, found, err := m.db.Get(key)
		if err != nil {
			m.log.Error(err, "read meta.db", "resource", key.String())
			return true
		}
		if found {
			if err := m.db.Delete(key); err != nil {
				m.log.Error(err, "delete from meta.db", "resource", key.String())
				return true
			}
			ev = Event{Op: message.OpDelete, Object: stored}
		}
	default:
		return false
	}
	// Persisted (or recognised as a duplicate): now the cloud may forget it.
	// Upstream acks every push and every reply to its queries the same way.
	if err := m.sender.Send(m.factory.Ack(msg)); err != nil {
		m.log.V(1).Info("ack not sent; the cloud resends and the store ignores the duplicate", "resource", key.String(), "err", err)
	}
	if ev.Op != "" {
		m.publish(ev)
	}
	return true
}

// namesObject reports whether data is a Kubernetes object named as key says.
func namesObject(data []byte, key message.Resource) bool {
	var head struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	return json.Unmarshal(data, &head) == nil && head.Metadata.Name == key.Name
}

// Requester sends a message to the cloud and waits for its reply (EdgeHub).
type Requester interface {
	Request(ctx context.Context, m message.Message) (message.Message, error)
}

// Reconcile asks the cloud, after a reconnect, about every pod meta.db holds:
// a pod deleted in the cloud (404) or bound to another node (403) while the
// link was down is removed here and announced, so Edged stops it. A pod
// that still exists comes back through the cloud's resend on connect. No
// answer (an upstream cloudcore, a timeout) changes nothing.
func (m *MetaManager) Reconcile(ctx context.Context, req Requester) {
	objs, err := m.db.ListType(message.ResPod)
	if err != nil {
		m.log.Error(err, "reconcile: list pods")
		return
	}
	for _, o := range objs {
		q, err := m.factory.New(message.Route{Source: message.SourceMetaManager, Group: message.GroupMeta,
			Operation: message.OpQuery, Resource: o.Key.String()}, nil)
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		reply, err := req.Request(rctx, q)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		var resp message.ObjectResponse
		if reply.DecodeContent(&resp) != nil {
			continue
		}
		if err := resp.Error(); apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			if err := m.db.Delete(o.Key); err != nil {
				m.log.Error(err, "reconcile: delete", "pod", o.Key.String())
				continue
			}
			m.log.Info("pod deleted in the cloud while the link was down; removing it", "pod", o.Key.String())
			m.publish(Event{Op: message.OpDelete, Object: o})
		}
	}
}

// Pods returns the pods stored for this node.
func (m *MetaManager) Pods() ([]*corev1.Pod, error) {
	objs, err := m.db.ListType(message.ResPod)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		var p corev1.Pod
		if err := json.Unmarshal(o.Data, &p); err != nil {
			return nil, fmt.Errorf("stored pod %s: %w", o.Key, err)
		}
		out = append(out, &p)
	}
	return out, nil
}

// ConfigMap returns a stored configmap.
func (m *MetaManager) ConfigMap(namespace, name string) (*corev1.ConfigMap, bool, error) {
	var cm corev1.ConfigMap
	found, err := m.get(message.Resource{Namespace: namespace, Type: message.ResConfigMap, Name: name}, &cm)
	return &cm, found, err
}

// Secret returns a stored secret.
func (m *MetaManager) Secret(namespace, name string) (*corev1.Secret, bool, error) {
	var s corev1.Secret
	found, err := m.get(message.Resource{Namespace: namespace, Type: message.ResSecret, Name: name}, &s)
	return &s, found, err
}

func (m *MetaManager) get(key message.Resource, into any) (bool, error) {
	o, found, err := m.db.Get(key)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal(o.Data, into); err != nil {
		return false, fmt.Errorf("stored %s: %w", key, err)
	}
	return true, nil
}

// List returns the stored objects of a type, in one namespace or all ("").
func (m *MetaManager) List(ns string, typ message.ResourceType) ([]store.Object, error) {
	return m.db.List(ns, typ)
}

// Get returns one stored object.
func (m *MetaManager) Get(key message.Resource) (store.Object, bool, error) { return m.db.Get(key) }
