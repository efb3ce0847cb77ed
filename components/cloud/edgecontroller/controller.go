// Package edgecontroller moves objects and status between the API server and
// edge nodes. This file holds the node part (registration, node status,
// leases, NotReady after a lost link); pods.go the pod part (pods bound to
// edge nodes and the configmaps and secrets they use, pod status, graceful
// deletion, queries).
package edgecontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/cleanedge/kubeedge/components/message"
)

// Labels every edge node carries; cloud controllers treat a node as an edge
// node only with LabelEdge.
const (
	LabelEdge  = "node-role.kubernetes.io/edge"
	LabelAgent = "node-role.kubernetes.io/agent"
)

// ReasonDisconnected is the Ready condition's reason once a node's link has
// been gone longer than the grace period.
const ReasonDisconnected = "EdgeNodeDisconnected"

// Sender delivers messages to nodes (CloudHub).
type Sender interface {
	Send(node string, m message.Message) error
}

// Config of the node part.
type Config struct {
	// Grace is how long a node may be disconnected before it is marked NotReady.
	Grace time.Duration
	// LeaseDuration is the node Lease's duration; the lease is renewed on
	// keepalives at most every LeaseDuration/4.
	LeaseDuration time.Duration
	// Workers handle messages concurrently (per-node order is kept).
	Workers int
}

// Controller is the EdgeController.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	sender  Sender
	log     logr.Logger
	clock   clock.WithDelayedExecution
	factory message.Factory

	queues []chan work
	mu     sync.Mutex
	links  map[string]*link
	ctx    context.Context
	ready  chan struct{}
	down   *downstream
}

type work struct {
	node string
	msg  message.Message
	fn   func(ctx context.Context)
}

type link struct {
	connected bool
	// registered: the node registered or reported status in this process, so
	// its lease is ours to renew.
	registered     bool
	since          time.Time
	lastLeaseRenew time.Time
	timer          clock.Timer
}

// New builds the controller.
func New(cfg Config, client kubernetes.Interface, sender Sender, log logr.Logger, clk clock.WithDelayedExecution) *Controller {
	if cfg.Grace <= 0 {
		cfg.Grace = 40 * time.Second
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 40 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	c := &Controller{cfg: cfg, client: client, sender: sender, log: log, clock: clk, factory: message.DefaultFactory,
		links: map[string]*link{}, ready: make(chan struct{})}
	c.down = newDownstream(c)
	for range cfg.Workers {
		c.queues = append(c.queues, make(chan work, 1024))
	}
	return c
}

// Name is the module name.
func (c *Controller) Name() string { return "edgecontroller" }

// Ready closes when the workers run.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Run watches pods, configmaps and secrets for edge nodes and processes
// messages until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	if err := c.down.start(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, q := range c.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case w := <-q:
					w.fn(ctx)
				}
			}
		}()
	}
	close(c.ready)
	wg.Wait()
	return nil
}

// enqueue runs fn on the worker that owns node, keeping per-node order.
func (c *Controller) enqueue(node string, fn func(ctx context.Context)) {
	var h uint32
	for i := 0; i < len(node); i++ {
		h = h*31 + uint32(node[i])
	}
	select {
	case c.queues[int(h)%len(c.queues)] <- work{node: node, fn: fn}:
	default:
		c.log.Info("edgecontroller queue full; dropped work", "node", node)
	}
}

// HandleMessage implements cloudhub.Handler.
func (c *Controller) HandleMessage(node string, m message.Message) {
	c.enqueue(node, func(ctx context.Context) { c.handle(ctx, node, m) })
}

// NodeConnected implements cloudhub.Handler.
func (c *Controller) NodeConnected(node string) {
	c.mu.Lock()
	l := c.linkLocked(node)
	l.connected, l.since = true, c.clock.Now()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	c.mu.Unlock()
	c.NodeAlive(node)
	// Send the node what it should have; it ignores what it already has.
	c.enqueue(node, func(context.Context) { c.down.syncNode(node) })
}

// NodeDisconnected implements cloudhub.Handler: after the grace period the
// node is marked NotReady, unless it came back.
func (c *Controller) NodeDisconnected(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.linkLocked(node)
	l.connected, l.since = false, c.clock.Now()
	since := l.since
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = c.clock.AfterFunc(c.cfg.Grace, func() {
		c.mu.Lock()
		still := !l.connected && l.since.Equal(since)
		c.mu.Unlock()
		if still {
			c.enqueue(node, func(ctx context.Context) { c.markDisconnected(ctx, node, since) })
		}
	})
}

// NodeAlive implements cloudhub.Handler: keepalives renew the node's Lease.
func (c *Controller) NodeAlive(node string) {
	c.mu.Lock()
	l := c.linkLocked(node)
	due := l.registered && c.clock.Since(l.lastLeaseRenew) >= c.cfg.LeaseDuration/4
	c.mu.Unlock()
	if due {
		c.enqueue(node, func(ctx context.Context) {
			renewed, err := c.renewLease(ctx, node)
			if err != nil {
				c.log.Info("renew node lease failed", "node", node, "err", err)
			}
			if renewed {
				c.mu.Lock()
				l.lastLeaseRenew = c.clock.Now()
				c.mu.Unlock()
			}
		})
	}
}

// markRegistered notes that the node exists in the API server and renews its
// lease at once if it is due.
func (c *Controller) markRegistered(node string) {
	c.mu.Lock()
	l := c.linkLocked(node)
	was := l.registered
	l.registered = true
	c.mu.Unlock()
	if !was {
		c.NodeAlive(node)
	}
}

func (c *Controller) linkLocked(node string) *link {
	l := c.links[node]
	if l == nil {
		l = &link{}
		c.links[node] = l
	}
	return l
}

func (c *Controller) handle(ctx context.Context, node string, m message.Message) {
	if m.Route.Operation == message.OpResponse {
		return // ACKs: reliable delivery is tracked elsewhere
	}
	r, err := message.ParseResource(m.Route.Resource)
	if err != nil {
		c.log.V(1).Info("ignored a message with a non-object resource", "node", node, "operation", m.Route.Operation, "resource", m.Route.Resource)
		return
	}
	if c.handlePodMessage(ctx, node, r, m) {
		return
	}
	switch {
	case r.Type == message.ResNode && m.Route.Operation == message.OpInsert:
		resp := c.registerNode(ctx, node, m)
		c.reply(node, m, resp)
		if err := resp.Error(); err == nil || apierrors.IsAlreadyExists(err) {
			c.markRegistered(node)
		}
	case r.Type == message.ResNode && m.Route.Operation == message.OpQuery:
		n, err := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			c.log.Info("query node failed", "node", node, "err", err)
			return // upstream sends no reply either; the edge times out
		}
		c.replyContent(node, m, n)
	case r.Type == message.ResNodePatch && m.Route.Operation == message.OpPatch:
		resp := c.patchNodeStatus(ctx, node, m)
		c.reply(node, m, resp)
		if resp.Error() == nil {
			c.markRegistered(node)
		}
	case r.Type == message.ResLease:
		c.reply(node, m, c.handleLease(ctx, node, m))
	default:
		c.log.V(1).Info("unhandled message", "node", node, "operation", m.Route.Operation, "resource", m.Route.Resource)
	}
}

func (c *Controller) reply(node string, req message.Message, resp message.ObjectResponse) {
	c.replyContent(node, req, resp)
}

func (c *Controller) replyContent(node string, req message.Message, content any) {
	reply, err := c.factory.Response(req, message.SourceEdgeController, content)
	if err != nil {
		c.log.Error(err, "build reply", "node", node)
		return
	}
	reply.Route.Group = message.GroupResource
	if err := c.sender.Send(node, reply); err != nil {
		c.log.Info("reply not sent", "node", node, "err", err)
	}
}

func objectResponse(obj any, err error) message.ObjectResponse {
	r, merr := message.NewObjectResponse(obj, err)
	if merr != nil {
		r, _ = message.NewObjectResponse(nil, merr)
	}
	return r
}

// registerNode creates the Node (or adopts an existing one), making sure it
// carries the edge labels. An existing node answers 409 as upstream does, so
// that an upstream edgecore goes on to query it.
func (c *Controller) registerNode(ctx context.Context, node string, m message.Message) message.ObjectResponse {
	var n corev1.Node
	if err := m.DecodeContent(&n); err != nil {
		return objectResponse(nil, apierrors.NewBadRequest(err.Error()))
	}
	n.Name = node
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[LabelEdge] = ""
	n.Labels[LabelAgent] = ""
	n.ResourceVersion = ""
	created, err := c.client.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{})
	if err == nil {
		c.log.Info("registered edge node", "node", node)
		return objectResponse(created, nil)
	}
	if apierrors.IsAlreadyExists(err) {
		if aerr := c.adopt(ctx, node); aerr != nil {
			c.log.Info("adopt existing node failed", "node", node, "err", aerr)
		}
		return objectResponse(&corev1.Node{}, err)
	}
	return objectResponse(nil, err)
}

func (c *Controller) adopt(ctx context.Context, node string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{LabelEdge: "", LabelAgent: ""}}})
	_, err := c.client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c *Controller) patchNodeStatus(ctx context.Context, node string, m message.Message) message.ObjectResponse {
	patch, err := m.DecodeString()
	if err != nil {
		// Our edge and upstream's both send the patch as a JSON string; accept an object too.
		patch = string(m.Content)
	}
	n, err := c.client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil {
		c.log.Info("patch node status failed", "node", node, "err", err)
		return objectResponse(nil, err)
	}
	return objectResponse(n, nil)
}

func (c *Controller) handleLease(ctx context.Context, node string, m message.Message) message.ObjectResponse {
	leases := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	switch m.Route.Operation {
	case message.OpQuery:
		l, err := leases.Get(ctx, node, metav1.GetOptions{})
		return objectResponse(l, err)
	case message.OpInsert, message.OpUpdate:
		var l coordinationv1.Lease
		if err := m.DecodeContent(&l); err != nil {
			return objectResponse(nil, apierrors.NewBadRequest(err.Error()))
		}
		l.Name, l.Namespace = node, corev1.NamespaceNodeLease
		var out *coordinationv1.Lease
		var err error
		if m.Route.Operation == message.OpInsert {
			out, err = leases.Create(ctx, &l, metav1.CreateOptions{})
		} else {
			out, err = leases.Update(ctx, &l, metav1.UpdateOptions{})
		}
		return objectResponse(out, err)
	}
	return objectResponse(nil, apierrors.NewMethodNotSupported(coordinationv1.Resource("leases"), string(m.Route.Operation)))
}

// renewLease creates or renews the node's Lease in kube-node-lease, so that a
// stock kube-controller-manager sees the node alive while its link is up.
func (c *Controller) renewLease(ctx context.Context, node string) (bool, error) {
	leases := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(c.clock.Now())
	l, err := leases.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, nerr := c.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if nerr != nil {
			return false, nil // not registered yet: the lease follows registration
		}
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: n.UID}}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node),
				LeaseDurationSeconds: ptr.To(int32(c.cfg.LeaseDuration / time.Second)), RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err == nil, err
}

// markDisconnected sets the node's Ready condition to Unknown with a reason.
func (c *Controller) markDisconnected(ctx context.Context, node string, since time.Time) {
	now := metav1.NewTime(c.clock.Now())
	msg := fmt.Sprintf("edgecore has been disconnected from cloudcore since %s", since.UTC().Format(time.RFC3339))
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: ReasonDisconnected, Message: msg,
		LastTransitionTime: now, LastHeartbeatTime: metav1.NewTime(since),
	}}}})
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		if !apierrors.IsNotFound(err) {
			c.log.Info("mark node NotReady failed", "node", node, "err", err)
		}
		return
	}
	c.log.Info("edge node NotReady: link lost longer than the grace period", "node", node, "grace", c.cfg.Grace)
}
