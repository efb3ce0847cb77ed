// Package synccontroller makes cloud → edge delivery reliable. Every object
// message (pods, configmaps, secrets, devices, device models) goes through
// the Dispatcher, which keeps the latest unacknowledged message per object
// and node, resends it until the edge acknowledges it (after persisting it
// to meta.db), and records what each node acknowledged in ObjectSync objects
// (reliablesyncs.kubeedge.io, upstream's CRD), so that after a reconnect or a
// cloudcore restart a node gets everything it should have and a delete for
// everything removed while it was away.
package synccontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/message"
)

// Sender delivers messages to nodes (CloudHub).
type Sender interface {
	Send(node string, m message.Message) error
}

// Ref names an object a node holds.
type Ref struct {
	Type      message.ResourceType
	Namespace string
	Name      string
	UID       types.UID
}

// Key is the object's resource path, as on the wire.
func (r Ref) Key() string {
	return message.Resource{Namespace: r.Namespace, Type: r.Type, Name: r.Name}.String()
}

// Ack is what a node acknowledged of an object.
type Ack struct {
	Ref
	ResourceVersion string
}

// Store keeps acknowledgements across cloudcore restarts.
type Store interface {
	// Load returns every recorded acknowledgement, by node.
	Load(ctx context.Context) (map[string][]Ack, error)
	// Save and Forget record a change; they must not block for long.
	Save(node string, a Ack)
	Forget(node string, r Ref)
}

// Config tunes the dispatcher.
type Config struct {
	// RetryAfter is how long an unacknowledged message waits before it is
	// sent again (upstream: 5 s).
	RetryAfter time.Duration
	// MaxPending bounds the unacknowledged messages kept per node; older
	// ones are dropped beyond it (the next reconnect's sync covers them).
	MaxPending int
}

// Dispatcher is the reliable path to the nodes.
type Dispatcher struct {
	cfg     Config
	sender  Sender
	store   Store
	log     logr.Logger
	factory message.Factory
	now     func() time.Time

	ready chan struct{}

	mu    sync.Mutex
	nodes map[string]*nodeState
}

type nodeState struct {
	connected bool
	// acked holds, by resource key, what the node acknowledged.
	acked map[string]Ack
	// pending holds, by resource key, the latest message not yet acknowledged.
	pending map[string]*pending
}

type pending struct {
	msg    message.Message
	ref    Ref
	sentAt time.Time
	tries  int
}

// New builds a dispatcher; Run loads the store and resends.
func New(cfg Config, sender Sender, store Store, log logr.Logger) *Dispatcher {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	return &Dispatcher{cfg: cfg, sender: sender, store: store, log: log, factory: message.DefaultFactory,
		now: time.Now, nodes: map[string]*nodeState{}, ready: make(chan struct{})}
}

// Ready closes once the recorded acknowledgements are loaded.
func (d *Dispatcher) Ready() <-chan struct{} { return d.ready }

// Name is the module name.
func (d *Dispatcher) Name() string { return "synccontroller" }

// Load reads the recorded acknowledgements; call it before nodes connect.
func (d *Dispatcher) Load(ctx context.Context) error {
	if d.store == nil {
		return nil
	}
	all, err := d.store.Load(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for node, acks := range all {
		st := d.stateLocked(node)
		for _, a := range acks {
			st.acked[a.Key()] = a
			n++
		}
	}
	d.log.Info("loaded acknowledged object versions", "nodes", len(all), "objects", n)
	return nil
}

// Run loads the recorded acknowledgements, then resends unacknowledged
// messages until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	select {
	case <-d.ready:
	default:
		if err := d.Load(ctx); err != nil {
			return err
		}
		close(d.ready)
	}
	t := time.NewTicker(d.cfg.RetryAfter / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.retry()
		}
	}
}

func (d *Dispatcher) stateLocked(node string) *nodeState {
	st := d.nodes[node]
	if st == nil {
		st = &nodeState{acked: map[string]Ack{}, pending: map[string]*pending{}}
		d.nodes[node] = st
	}
	return st
}

// ackedTypes are the resource types whose delivery is tracked, as upstream's
// ACK queue (answers to queries and status echoes are not).
var ackedTypes = map[message.ResourceType]bool{
	message.ResPod: true, message.ResConfigMap: true, message.ResSecret: true,
	message.ResDevice: true, message.ResDeviceModel: true,
}

func tracked(m message.Message) (message.Resource, bool) {
	switch m.Route.Operation {
	case message.OpInsert, message.OpUpdate, message.OpDelete:
	default:
		return message.Resource{}, false
	}
	if m.Route.Group != message.GroupResource {
		return message.Resource{}, false
	}
	r, err := message.ParseResource(m.Route.Resource)
	if err != nil || r.Name == "" || !ackedTypes[r.Type] {
		return message.Resource{}, false
	}
	return r, true
}

// Send sends m to node. Object messages are tracked until acknowledged; a
// newer message for the same object replaces an unacknowledged older one.
func (d *Dispatcher) Send(node string, m message.Message) error {
	r, ok := tracked(m)
	if !ok {
		return d.sender.Send(node, m)
	}
	ref := Ref{Type: r.Type, Namespace: r.Namespace, Name: r.Name, UID: contentUID(m)}
	d.mu.Lock()
	st := d.stateLocked(node)
	p := &pending{msg: m, ref: ref, sentAt: d.now(), tries: 1}
	st.pending[ref.Key()] = p
	if len(st.pending) > d.cfg.MaxPending {
		d.dropOldestLocked(node, st)
	}
	d.mu.Unlock()
	return d.sender.Send(node, m)
}

func (d *Dispatcher) dropOldestLocked(node string, st *nodeState) {
	var oldest string
	var at time.Time
	for k, p := range st.pending {
		if oldest == "" || p.sentAt.Before(at) {
			oldest, at = k, p.sentAt
		}
	}
	delete(st.pending, oldest)
	d.log.Info("too many unacknowledged messages for a node; the oldest waits for the next sync", "node", node,
		"resource", oldest, "limit", d.cfg.MaxPending)
}

// contentUID reads metadata.uid of an object message's content.
func contentUID(m message.Message) types.UID {
	var head struct {
		Metadata struct {
			UID types.UID `json:"uid"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(m.ContentBytes(), &head)
	return head.Metadata.UID
}

// HandleAck takes an edge's acknowledgement (a response "OK" whose parent
// is a tracked message). It reports false for anything else.
func (d *Dispatcher) HandleAck(node string, m message.Message) bool {
	if m.Route.Operation != message.OpResponse || m.Header.ParentID == "" {
		return false
	}
	d.mu.Lock()
	st := d.nodes[node]
	if st == nil {
		d.mu.Unlock()
		return false
	}
	var p *pending
	var key string
	// The ack names the object; its parent must be the latest message for it.
	if cand := st.pending[m.Route.Resource]; cand != nil && cand.msg.Header.ID == m.Header.ParentID {
		p, key = cand, m.Route.Resource
	}
	if p == nil {
		d.mu.Unlock()
		// An ack for a superseded or already acknowledged message: nothing to do.
		return m.IsAck()
	}
	delete(st.pending, key)
	old, had := st.acked[key]
	var save *Ack
	var forget *Ref
	if p.msg.Route.Operation == message.OpDelete {
		if had {
			delete(st.acked, key)
			forget = &old.Ref
		}
	} else {
		a := Ack{Ref: p.ref, ResourceVersion: p.msg.Header.ResourceVersion}
		if had && old.UID != "" && old.UID != a.UID {
			forget = &old.Ref // the object was replaced under the same name
		}
		if !had || old != a {
			st.acked[key] = a
			save = &a
		}
	}
	d.mu.Unlock()
	if d.store != nil {
		if forget != nil {
			d.store.Forget(node, *forget)
		}
		if save != nil {
			d.store.Save(node, *save)
		}
	}
	return true
}

// NodeConnected marks node connected.
func (d *Dispatcher) NodeConnected(node string) {
	d.mu.Lock()
	d.stateLocked(node).connected = true
	d.mu.Unlock()
}

// NodeDisconnected drops what was pending for node: the sync that follows
// its next connection sends everything it should have.
func (d *Dispatcher) NodeDisconnected(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.nodes[node]; st != nil {
		st.connected = false
		clear(st.pending)
	}
}

// Object is one object a node should hold, for Sync.
type Object struct {
	Ref
	ResourceVersion string
	// Operation is how it is sent (insert; secrets use update as upstream).
	Operation message.Operation
	Source    message.Source
	// Content is the object with apiVersion and kind.
	Content any
}

// Sync sends node every object it should hold among the given types, and a
// delete for each object of those types it acknowledged earlier that it
// should no longer hold (deleted, moved or no longer used while the node
// was away, or while cloudcore was down). The edge ignores what it already
// has; nothing is skipped on the strength of a recorded version, so a node
// whose meta.db was lost is made whole again.
func (d *Dispatcher) Sync(node string, types []message.ResourceType, want []Object) {
	inSet := map[message.ResourceType]bool{}
	for _, t := range types {
		inSet[t] = true
	}
	keep := map[string]bool{}
	for _, o := range want {
		keep[o.Key()] = true
	}
	d.mu.Lock()
	var gone []Ack
	if st := d.nodes[node]; st != nil {
		for k, a := range st.acked {
			if inSet[a.Type] && !keep[k] {
				gone = append(gone, a)
			}
		}
	}
	d.mu.Unlock()
	for _, a := range gone {
		d.log.Info("object removed while the node was away; deleting it there", "node", node, "resource", a.Key())
		content := map[string]any{"metadata": metav1.ObjectMeta{Name: a.Name, Namespace: a.Namespace, UID: a.UID}}
		m, err := d.factory.New(message.Route{Source: sourceFor(a.Type), Group: message.GroupResource,
			Operation: message.OpDelete, Resource: a.Key()}, content)
		if err != nil {
			continue
		}
		m.Header.ResourceVersion = a.ResourceVersion
		if err := d.Send(node, m); err != nil {
			d.log.V(1).Info("delete not sent", "node", node, "resource", a.Key(), "err", err)
		}
	}
	for _, o := range want {
		m, err := d.factory.New(message.Route{Source: o.Source, Group: message.GroupResource,
			Operation: o.Operation, Resource: o.Key()}, o.Content)
		if err != nil {
			d.log.Error(err, "build sync message", "node", node, "resource", o.Key())
			continue
		}
		m.Header.ResourceVersion = o.ResourceVersion
		if err := d.Send(node, m); err != nil {
			d.log.V(1).Info("sync not sent", "node", node, "resource", o.Key(), "err", err)
			return
		}
	}
}

func sourceFor(t message.ResourceType) message.Source {
	if t == message.ResDevice || t == message.ResDeviceModel {
		return message.SourceDeviceController
	}
	return message.SourceEdgeController
}

// retry resends what connected nodes have not acknowledged in time.
func (d *Dispatcher) retry() {
	type out struct {
		node string
		msg  message.Message
	}
	var resend []out
	now := d.now()
	d.mu.Lock()
	for node, st := range d.nodes {
		if !st.connected {
			continue
		}
		for _, p := range st.pending {
			wait := d.cfg.RetryAfter << min(p.tries-1, 4) // 5 s, 10 s, ... 80 s
			if now.Sub(p.sentAt) >= wait {
				p.sentAt, p.tries = now, p.tries+1
				resend = append(resend, out{node, p.msg})
			}
		}
	}
	d.mu.Unlock()
	for _, o := range resend {
		if err := d.sender.Send(o.node, o.msg); err != nil {
			d.log.V(1).Info("resend failed", "node", o.node, "resource", o.msg.Route.Resource, "err", err)
		}
	}
}

// Stats reports the dispatcher's bookkeeping, for tests and benchmarks.
type Stats struct {
	Nodes, Acked, Pending int
}

// Stats counts tracked nodes, acknowledged objects and pending messages.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{Nodes: len(d.nodes)}
	for _, st := range d.nodes {
		s.Acked += len(st.acked)
		s.Pending += len(st.pending)
	}
	return s
}

// Acked returns what node acknowledged of key, for tests and diagnostics.
func (d *Dispatcher) Acked(node, key string) (Ack, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.nodes[node]
	if st == nil {
		return Ack{}, false
	}
	a, ok := st.acked[key]
	return a, ok
}

// Held returns the objects of type typ that node acknowledged (recorded in
// ObjectSync, so it survives a cloudcore restart).
func (d *Dispatcher) Held(node string, typ message.ResourceType) []types.NamespacedName {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []types.NamespacedName
	if st := d.nodes[node]; st != nil {
		for _, a := range st.acked {
			if a.Type == typ {
				out = append(out, types.NamespacedName{Namespace: a.Namespace, Name: a.Name})
			}
		}
	}
	return out
}

// Holders returns the nodes that acknowledged the object at key.
func (d *Dispatcher) Holders(key string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for node, st := range d.nodes {
		if _, ok := st.acked[key]; ok {
			out = append(out, node)
		}
	}
	return out
}

// String helps logs.
func (a Ack) String() string { return fmt.Sprintf("%s@%s", a.Key(), a.ResourceVersion) }
