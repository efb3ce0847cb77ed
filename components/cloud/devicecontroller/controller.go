// Package devicecontroller is cloudcore's DeviceController: it sends the
// devices.kubeedge.io/v1alpha2 Devices and DeviceModels bound to an edge node
// to that node (twin membership, desired twins, the objects themselves), and
// writes the twin values the node reports back into the Device's status.
//
// This file holds the module (construction, Run, readiness) and the per-node
// work queues; downstream.go the cloud → edge part; upstream.go the
// edge → cloud part; twins.go the conversions between the API objects and the
// twin payloads of components/apis/devices/twin.
//
// Not done: v1.12's per-node ConfigMap device-profile-config-<node>
// (deviceProfile.json for old-style mappers) is not maintained.
package devicecontroller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

// The resources this controller watches.
var (
	DevicesResource      = v1alpha2.SchemeGroupVersion.WithResource("devices")
	DeviceModelsResource = v1alpha2.SchemeGroupVersion.WithResource("devicemodels")
)

// Sender delivers messages to nodes (CloudHub).
type Sender interface {
	Send(node string, m message.Message) error
}

// Config of the controller.
type Config struct {
	// Resync is the informers' resync period; 0 disables periodic resyncs.
	Resync time.Duration
	// QueueLen bounds the work pending for one node. When a node falls this
	// far behind, its pending cloud → edge work is replaced by one full
	// resync of the node. Default 256.
	QueueLen int
}

// MissingCRDError reports that a CRD the controller needs is not served by
// the API server.
type MissingCRDError struct {
	// CRD is the CRD's name, e.g. "devices.devices.kubeedge.io".
	CRD string
	Err error
}

func (e *MissingCRDError) Error() string {
	return fmt.Sprintf("devicecontroller: CRD %s (%s) is not installed; keadm init installs it: %v",
		e.CRD, v1alpha2.SchemeGroupVersion, e.Err)
}

func (e *MissingCRDError) Unwrap() error { return e.Err }

// Controller is the DeviceController.
type Controller struct {
	cfg     Config
	client  dynamic.Interface
	sender  Sender
	log     logr.Logger
	factory message.Factory

	devices cache.Indexer
	models  cache.Indexer

	mu      sync.Mutex
	ctx     context.Context
	started bool
	queues  map[string]*nodeQueue
	// delivered is, per node, the devices whose membership the node has been
	// sent (and not sent the removal of). A resync removes from the node what
	// is in here but no longer bound to it.
	delivered map[string]map[types.NamespacedName]bool
	ready     chan struct{}
}

// New builds the controller; Run starts it.
func New(cfg Config, client dynamic.Interface, sender Sender, log logr.Logger) *Controller {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 256
	}
	return &Controller{cfg: cfg, client: client, sender: sender, log: log, factory: message.DefaultFactory,
		queues: map[string]*nodeQueue{}, delivered: map[string]map[types.NamespacedName]bool{},
		ready: make(chan struct{})}
}

// Name is the module name.
func (c *Controller) Name() string { return "devicecontroller" }

// Ready closes once the informer caches have synced and the initial devices
// have been queued for their nodes.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Run watches Devices and DeviceModels and processes node work until ctx
// ends. A missing CRD is reported as a *MissingCRDError.
func (c *Controller) Run(ctx context.Context) error {
	for _, gvr := range []schema.GroupVersionResource{DevicesResource, DeviceModelsResource} {
		if err := c.checkServed(ctx, gvr); err != nil {
			return err
		}
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(c.client, c.cfg.Resync)
	devInf := f.ForResource(DevicesResource).Informer()
	modelInf := f.ForResource(DeviceModelsResource).Informer()
	if err := devInf.SetTransform(typedTransform[v1alpha2.Device](c.log)); err != nil {
		return fmt.Errorf("devicecontroller: device informer: %w", err)
	}
	if err := modelInf.SetTransform(typedTransform[v1alpha2.DeviceModel](c.log)); err != nil {
		return fmt.Errorf("devicecontroller: devicemodel informer: %w", err)
	}
	if err := devInf.AddIndexers(cache.Indexers{indexNode: indexByNode, indexName: indexByName, indexModel: indexByModel}); err != nil {
		return fmt.Errorf("devicecontroller: device indexers: %w", err)
	}
	c.devices, c.models = devInf.GetIndexer(), modelInf.GetIndexer()

	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), devInf.HasSynced, modelInf.HasSynced) {
		return fmt.Errorf("devicecontroller: informer caches did not sync: %w", ctx.Err())
	}
	// Handlers are added after the sync so that the initial device adds find
	// their models in the cache.
	modelReg, err := modelInf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    c.modelAdded,
		UpdateFunc: c.modelUpdated,
		DeleteFunc: c.modelDeleted,
	})
	if err != nil {
		return fmt.Errorf("devicecontroller: devicemodel handler: %w", err)
	}
	devReg, err := devInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.deviceAdded,
		UpdateFunc: c.deviceUpdated,
		DeleteFunc: c.deviceDeleted,
	})
	if err != nil {
		return fmt.Errorf("devicecontroller: device handler: %w", err)
	}
	if !cache.WaitForCacheSync(ctx.Done(), modelReg.HasSynced, devReg.HasSynced) {
		return fmt.Errorf("devicecontroller: initial events not delivered: %w", ctx.Err())
	}

	c.mu.Lock()
	c.ctx, c.started = ctx, true
	for node, q := range c.queues {
		c.kickLocked(node, q)
	}
	c.mu.Unlock()
	close(c.ready)
	<-ctx.Done()
	return nil
}

// checkServed lists one object to tell a missing CRD from other failures.
func (c *Controller) checkServed(ctx context.Context, gvr schema.GroupVersionResource) error {
	_, err := c.client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return &MissingCRDError{CRD: gvr.GroupResource().String(), Err: err}
	default:
		return fmt.Errorf("devicecontroller: list %s: %w", gvr.GroupResource(), err)
	}
}

// NodeConnected resends the node everything it should have: the membership
// of all its devices with their current desired twins, each model and device
// object, and the removal of devices it was sent but that are no longer
// bound to it. Pending cloud → edge work for the node is superseded.
func (c *Controller) NodeConnected(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resyncLocked(node)
}

// NodeDisconnected is part of CloudHub's handler; nothing is done: messages
// sent while a node is away fail and NodeConnected resends the state.
func (c *Controller) NodeDisconnected(string) {}

// jobKind tells how a queued job may be dropped.
type jobKind int

const (
	// jobDown sends cloud → edge messages computed from an event; a resync
	// supersedes it.
	jobDown jobKind = iota
	// jobUp handles a message from the edge; it is never superseded.
	jobUp
	// jobResync sends the node's full state.
	jobResync
)

type job struct {
	kind jobKind
	fn   func(ctx context.Context)
}

// nodeQueue is one node's pending work, run in order by at most one
// goroutine, so that a slow or absent node delays only itself.
type nodeQueue struct {
	jobs    []job
	running bool
}

func (c *Controller) queueLocked(node string) *nodeQueue {
	q := c.queues[node]
	if q == nil {
		q = &nodeQueue{}
		c.queues[node] = q
	}
	return q
}

// enqueue adds work for node. Cloud → edge work beyond QueueLen turns into a
// resync of the node; edge → cloud work beyond it is dropped (the edge
// retries what the cloud does not confirm).
func (c *Controller) enqueue(node string, kind jobKind, fn func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queueLocked(node)
	if len(q.jobs) >= c.cfg.QueueLen {
		if kind == jobUp {
			c.log.Info("devicecontroller node queue full; dropped a message from the edge", "node", node)
			return
		}
		c.log.Info("devicecontroller node queue full; resyncing the node instead", "node", node)
		c.resyncLocked(node)
		return
	}
	q.jobs = append(q.jobs, job{kind: kind, fn: fn})
	c.kickLocked(node, q)
}

// resyncLocked drops the node's pending cloud → edge work and queues one
// full resync in its place (once).
func (c *Controller) resyncLocked(node string) {
	q := c.queueLocked(node)
	kept := q.jobs[:0]
	for _, j := range q.jobs {
		if j.kind == jobUp {
			kept = append(kept, j)
		}
	}
	clear(q.jobs[len(kept):])
	q.jobs = append(kept, job{kind: jobResync, fn: func(ctx context.Context) { c.syncNode(ctx, node) }})
	c.kickLocked(node, q)
}

func (c *Controller) kickLocked(node string, q *nodeQueue) {
	if !c.started || q.running || len(q.jobs) == 0 {
		return
	}
	q.running = true
	go c.drain(c.ctx, node, q)
}

func (c *Controller) drain(ctx context.Context, node string, q *nodeQueue) {
	for {
		c.mu.Lock()
		if len(q.jobs) == 0 || ctx.Err() != nil {
			q.running = false
			q.jobs = nil
			if c.queues[node] == q {
				delete(c.queues, node)
			}
			c.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = job{}
		q.jobs = q.jobs[1:]
		c.mu.Unlock()
		j.fn(ctx)
	}
}

// send delivers m to node, logging a failure (the node gets the state again
// when it reconnects). It reports whether the message was handed over.
func (c *Controller) send(node string, m message.Message) bool {
	if c.sender == nil {
		return false
	}
	if err := c.sender.Send(node, m); err != nil {
		c.log.V(1).Info("not sent; the node gets it when it reconnects", "node", node,
			"operation", m.Route.Operation, "resource", m.Route.Resource, "err", err)
		return false
	}
	return true
}
