package edgecontroller

import (
	"context"
	"fmt"
	"slices"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cleanedge/kubeedge/components/cloud/synccontroller"
	"github.com/cleanedge/kubeedge/components/message"
)

// refKey names a configmap or secret a pod uses.
type refKey struct {
	typ       message.ResourceType
	namespace string
	name      string
}

// downstream sends pods bound to edge nodes, and the configmaps and secrets
// they use, to those nodes (upstream's resources and operations).
type downstream struct {
	c *Controller

	mu sync.Mutex
	// edge is the set of nodes labelled node-role.kubernetes.io/edge.
	edge map[string]bool
	// refs counts, per configmap/secret, the pods on each node that use it.
	refs map[refKey]map[string]int
	// podRefs remembers what each pod used, to undo it on update/delete.
	podRefs map[types.UID][]refKey
	podNode map[types.UID]string

	pods       corelisters.PodLister
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	synced     []cache.InformerSynced
}

func newDownstream(c *Controller) *downstream {
	return &downstream{c: c, edge: map[string]bool{}, refs: map[refKey]map[string]int{},
		podRefs: map[types.UID][]refKey{}, podNode: map[types.UID]string{}}
}

// start wires the informers; it returns once their caches have synced.
func (d *downstream) start(ctx context.Context) error {
	f := informers.NewSharedInformerFactory(d.c.client, 0)
	nodes := f.Core().V1().Nodes().Informer()
	pods := f.Core().V1().Pods().Informer()
	cms := f.Core().V1().ConfigMaps().Informer()
	secrets := f.Core().V1().Secrets().Informer()
	d.pods = f.Core().V1().Pods().Lister()
	d.configMaps = f.Core().V1().ConfigMaps().Lister()
	d.secrets = f.Core().V1().Secrets().Lister()

	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.nodeChanged(o) },
		UpdateFunc: func(_, o any) { d.nodeChanged(o) },
		DeleteFunc: func(o any) {
			if n, ok := tombstone[*corev1.Node](o); ok {
				d.mu.Lock()
				delete(d.edge, n.Name)
				d.mu.Unlock()
			}
		},
	})
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { d.podEvent(message.OpInsert, o) },
		UpdateFunc: func(old, o any) {
			// Status is the edge's own report: echoing it back is waste.
			if op, np, ok := pods2(old, o); ok && onlyStatusChanged(op, np) {
				return
			}
			d.podEvent(message.OpUpdate, o)
		},
		DeleteFunc: func(o any) { d.podEvent(message.OpDelete, o) },
	})
	_, _ = cms.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.refEvent(message.ResConfigMap, message.OpInsert, o) },
		UpdateFunc: func(_, o any) { d.refEvent(message.ResConfigMap, message.OpUpdate, o) },
		DeleteFunc: func(o any) { d.refEvent(message.ResConfigMap, message.OpDelete, o) },
	})
	_, _ = secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		// Upstream sends "update" for both a new and a modified secret.
		AddFunc:    func(o any) { d.refEvent(message.ResSecret, message.OpUpdate, o) },
		UpdateFunc: func(_, o any) { d.refEvent(message.ResSecret, message.OpUpdate, o) },
		DeleteFunc: func(o any) { d.refEvent(message.ResSecret, message.OpDelete, o) },
	})
	d.synced = []cache.InformerSynced{nodes.HasSynced, pods.HasSynced, cms.HasSynced, secrets.HasSynced}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), d.synced...) {
		return fmt.Errorf("edgecontroller: informer caches did not sync: %w", ctx.Err())
	}
	return nil
}

func pods2(a, b any) (*corev1.Pod, *corev1.Pod, bool) {
	pa, ok1 := a.(*corev1.Pod)
	pb, ok2 := b.(*corev1.Pod)
	return pa, pb, ok1 && ok2
}

// onlyStatusChanged reports whether two versions of a pod differ only in
// status (and bookkeeping such as resourceVersion and managedFields).
func onlyStatusChanged(a, b *corev1.Pod) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec) &&
		equality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		equality.Semantic.DeepEqual(a.Annotations, b.Annotations) &&
		equality.Semantic.DeepEqual(a.DeletionTimestamp, b.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(a.DeletionGracePeriodSeconds, b.DeletionGracePeriodSeconds) &&
		equality.Semantic.DeepEqual(a.Finalizers, b.Finalizers) &&
		equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences)
}

func tombstone[T any](o any) (T, bool) {
	if t, ok := o.(T); ok {
		return t, true
	}
	if ts, ok := o.(cache.DeletedFinalStateUnknown); ok {
		t, ok := ts.Obj.(T)
		return t, ok
	}
	var zero T
	return zero, false
}

func (d *downstream) nodeChanged(o any) {
	n, ok := o.(*corev1.Node)
	if !ok {
		return
	}
	_, isEdge := n.Labels[LabelEdge]
	d.mu.Lock()
	was := d.edge[n.Name]
	if isEdge {
		d.edge[n.Name] = true
	} else {
		delete(d.edge, n.Name)
	}
	d.mu.Unlock()
	if isEdge && !was && d.pods != nil {
		// Pods may have been bound before the node was labelled.
		d.syncNode(n.Name)
	}
}

func (d *downstream) isEdge(node string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.edge[node]
}

// usedRefs lists the configmaps and secrets a pod needs on its node.
func usedRefs(p *corev1.Pod) []refKey {
	seen := map[refKey]bool{}
	var out []refKey
	add := func(t message.ResourceType, name string) {
		k := refKey{typ: t, namespace: p.Namespace, name: name}
		if name != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add(message.ResConfigMap, v.ConfigMap.Name)
		case v.Secret != nil:
			add(message.ResSecret, v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(message.ResConfigMap, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add(message.ResSecret, s.Secret.Name)
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(message.ResConfigMap, e.ValueFrom.ConfigMapKeyRef.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(message.ResSecret, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add(message.ResConfigMap, e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				add(message.ResSecret, e.SecretRef.Name)
			}
		}
	}
	for _, s := range p.Spec.ImagePullSecrets {
		add(message.ResSecret, s.Name)
	}
	return out
}

func (d *downstream) podEvent(op message.Operation, o any) {
	p, ok := tombstone[*corev1.Pod](o)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	node := p.Spec.NodeName
	if !d.isEdge(node) {
		return
	}
	var newRefs []refKey
	d.mu.Lock()
	old := d.podRefs[p.UID]
	if op == message.OpDelete {
		d.untrackLocked(old, node)
		delete(d.podRefs, p.UID)
		delete(d.podNode, p.UID)
	} else {
		refs := usedRefs(p)
		for _, r := range refs {
			if d.refs[r] == nil || d.refs[r][node] == 0 {
				newRefs = append(newRefs, r)
			}
		}
		d.trackLocked(refs, node)
		d.untrackLocked(old, node)
		d.podRefs[p.UID] = refs
		d.podNode[p.UID] = node
	}
	d.mu.Unlock()
	// A node gets a configmap or secret before the first pod that needs it.
	for _, r := range newRefs {
		d.sendRef(r, node)
	}
	d.send(node, message.ResPod, op, p.Namespace, p.Name, p.ResourceVersion, p)
}

func (d *downstream) trackLocked(refs []refKey, node string) {
	for _, r := range refs {
		if d.refs[r] == nil {
			d.refs[r] = map[string]int{}
		}
		d.refs[r][node]++
	}
}

func (d *downstream) untrackLocked(refs []refKey, node string) {
	for _, r := range refs {
		if m := d.refs[r]; m != nil {
			if m[node]--; m[node] <= 0 {
				delete(m, node)
			}
			if len(m) == 0 {
				delete(d.refs, r)
			}
		}
	}
}

// refEvent forwards a configmap or secret change to every node whose pods use it.
func (d *downstream) refEvent(typ message.ResourceType, op message.Operation, o any) {
	var meta metav1.Object
	switch typ {
	case message.ResConfigMap:
		cm, ok := tombstone[*corev1.ConfigMap](o)
		if !ok {
			return
		}
		meta = cm
	default:
		s, ok := tombstone[*corev1.Secret](o)
		if !ok {
			return
		}
		meta = s
	}
	k := refKey{typ: typ, namespace: meta.GetNamespace(), name: meta.GetName()}
	d.mu.Lock()
	var nodes []string
	for n := range d.refs[k] {
		nodes = append(nodes, n)
	}
	d.mu.Unlock()
	// A deleted object also leaves the nodes that hold it although no pod
	// there uses it any more.
	if h, ok := d.c.sender.(interface{ Holders(key string) []string }); ok && op == message.OpDelete {
		key := message.Resource{Namespace: k.namespace, Type: typ, Name: k.name}.String()
		for _, n := range h.Holders(key) {
			if !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
	}
	for _, n := range nodes {
		d.send(n, typ, op, k.namespace, k.name, meta.GetResourceVersion(), o)
	}
}

func (d *downstream) sendRef(r refKey, node string) {
	var obj metav1.Object
	switch r.typ {
	case message.ResConfigMap:
		cm, err := d.configMaps.ConfigMaps(r.namespace).Get(r.name)
		if err != nil {
			return // not there (yet): its add event will deliver it
		}
		obj = cm
	default:
		s, err := d.secrets.Secrets(r.namespace).Get(r.name)
		if err != nil {
			return
		}
		obj = s
	}
	op := message.OpInsert
	if r.typ == message.ResSecret {
		op = message.OpUpdate
	}
	d.send(node, r.typ, op, r.namespace, r.name, obj.GetResourceVersion(), obj)
}

// send builds an upstream cloud→edge message with the object's
// resourceVersion in the header, and queues it for the node.
func (d *downstream) send(node string, typ message.ResourceType, op message.Operation, ns, name, rv string, obj any) {
	if d.c.sender == nil {
		return
	}
	if ts, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = ts.Obj
	}
	m, err := d.c.factory.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource, Operation: op,
		Resource: message.Resource{Namespace: ns, Type: typ, Name: name}.String()}, withKind(obj))
	if err != nil {
		d.c.log.Error(err, "build message", "node", node)
		return
	}
	m.Header.ResourceVersion = rv
	if err := d.c.sender.Send(node, m); err != nil {
		d.c.log.V(1).Info("not sent; the node gets it when it reconnects", "node", node, "resource", m.Route.Resource, "err", err)
	}
}

func withKindOrNil(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return withKind(p)
}

// withKind sets apiVersion/kind, which informer objects lack, as upstream's
// frames carry them.
func withKind(obj any) any {
	switch o := obj.(type) {
	case *corev1.Pod:
		c := o.DeepCopy()
		c.APIVersion, c.Kind = "v1", "Pod"
		return c
	case *corev1.ConfigMap:
		c := o.DeepCopy()
		c.APIVersion, c.Kind = "v1", "ConfigMap"
		return c
	case *corev1.Secret:
		c := o.DeepCopy()
		c.APIVersion, c.Kind = "v1", "Secret"
		return c
	}
	return obj
}

// Syncer is the reliable dispatcher's node sync (synccontroller): it sends
// the objects and deletes whatever the node acknowledged earlier that is no
// longer among them.
type Syncer interface {
	Sync(node string, types []message.ResourceType, want []synccontroller.Object)
}

// syncTypes are the types this controller keeps in step on the nodes.
var syncTypes = []message.ResourceType{message.ResPod, message.ResConfigMap, message.ResSecret}

// syncNode sends a node everything it should have: its pods and what they
// use. It runs when a node (re)connects; the edge ignores what it already
// has. Through a Syncer, what the node holds but should not (deleted while
// it was away) is deleted there.
func (d *downstream) syncNode(node string) {
	if d.pods == nil || !d.isEdge(node) {
		return
	}
	pods, err := d.pods.List(labels.Everything())
	if err != nil {
		return
	}
	syncer, ok := d.c.sender.(Syncer)
	if !ok {
		for _, p := range pods {
			if p.Spec.NodeName == node {
				for _, r := range usedRefs(p) {
					d.sendRef(r, node)
				}
				d.send(node, message.ResPod, message.OpInsert, p.Namespace, p.Name, p.ResourceVersion, p)
			}
		}
		return
	}
	var want []synccontroller.Object
	seen := map[refKey]bool{}
	for _, p := range pods {
		if p.Spec.NodeName != node {
			continue
		}
		for _, r := range usedRefs(p) {
			if seen[r] {
				continue
			}
			seen[r] = true
			if o, ok := d.refObject(r); ok {
				want = append(want, o)
			}
		}
		want = append(want, syncObject(message.ResPod, message.OpInsert, p))
	}
	syncer.Sync(node, syncTypes, want)
}

func (d *downstream) refObject(r refKey) (synccontroller.Object, bool) {
	switch r.typ {
	case message.ResConfigMap:
		cm, err := d.configMaps.ConfigMaps(r.namespace).Get(r.name)
		if err != nil {
			return synccontroller.Object{}, false
		}
		return syncObject(r.typ, message.OpInsert, cm), true
	default:
		s, err := d.secrets.Secrets(r.namespace).Get(r.name)
		if err != nil {
			return synccontroller.Object{}, false
		}
		return syncObject(r.typ, message.OpUpdate, s), true // upstream sends secrets as update
	}
}

func syncObject(typ message.ResourceType, op message.Operation, obj metav1.Object) synccontroller.Object {
	return synccontroller.Object{
		Ref:             synccontroller.Ref{Type: typ, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		ResourceVersion: obj.GetResourceVersion(), Operation: op, Source: message.SourceEdgeController,
		Content: withKind(obj),
	}
}

// handlePodMessage serves what an edge node sends about pods, configmaps,
// secrets and service-account tokens. A node may act only on its own pods.
func (c *Controller) handlePodMessage(ctx context.Context, node string, r message.Resource, m message.Message) bool {
	switch {
	case r.Type == message.ResPodPatch && m.Route.Operation == message.OpPatch:
		c.reply(node, m, c.patchPodStatus(ctx, node, r, m))
	case r.Type == message.ResPod && m.Route.Operation == message.OpDelete:
		c.reply(node, m, c.deletePod(ctx, node, r, m))
	case (r.Type == message.ResConfigMap || r.Type == message.ResSecret) && m.Route.Operation == message.OpQuery:
		obj, err := c.queryRef(ctx, node, r)
		if err != nil {
			c.log.Info("query not answered", "node", node, "resource", m.Route.Resource, "err", err)
			return true // upstream sends no reply either; the edge times out
		}
		c.replyContent(node, m, withKind(obj))
	case r.Type == message.ResPod && m.Route.Operation == message.OpQuery:
		// Our edge asks after each pod it holds when it reconnects: a pod
		// deleted (or moved) while it was away answers 404 (or 403).
		p, err := c.ownPod(ctx, node, r)
		c.reply(node, m, objectResponse(withKindOrNil(p), err))
	case r.Type == message.ResServiceAccountToken && m.Route.Operation == message.OpQuery:
		c.serviceAccountToken(ctx, node, r, m)
	default:
		return false
	}
	return true
}

func (c *Controller) ownPod(ctx context.Context, node string, r message.Resource) (*corev1.Pod, error) {
	p, err := c.client.CoreV1().Pods(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if p.Spec.NodeName != node {
		return nil, apierrors.NewForbidden(corev1.Resource("pods"), r.Name, fmt.Errorf("pod is not bound to node %q", node))
	}
	return p, nil
}

func (c *Controller) patchPodStatus(ctx context.Context, node string, r message.Resource, m message.Message) message.ObjectResponse {
	if _, err := c.ownPod(ctx, node, r); err != nil {
		return objectResponse(nil, err)
	}
	patch, err := m.DecodeString()
	if err != nil {
		patch = string(m.Content)
	}
	p, err := c.client.CoreV1().Pods(r.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	return objectResponse(p, err)
}

// deletePod finishes a graceful deletion once the edge says the pod's
// containers have stopped.
func (c *Controller) deletePod(ctx context.Context, node string, r message.Resource, m message.Message) message.ObjectResponse {
	p, err := c.ownPod(ctx, node, r)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return objectResponse(nil, nil)
		}
		return objectResponse(nil, err)
	}
	err = c.client.CoreV1().Pods(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &p.UID},
	})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	return objectResponse(nil, err)
}

// queryRef answers a node's query for a configmap or secret that one of its
// pods uses; anything else is refused.
func (c *Controller) queryRef(ctx context.Context, node string, r message.Resource) (any, error) {
	k := refKey{typ: r.Type, namespace: r.Namespace, name: r.Name}
	c.down.mu.Lock()
	used := c.down.refs[k][node] > 0
	c.down.mu.Unlock()
	if !used {
		return nil, fmt.Errorf("no pod on node %s uses %s %s/%s", node, r.Type, r.Namespace, r.Name)
	}
	if r.Type == message.ResConfigMap {
		return c.client.CoreV1().ConfigMaps(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	}
	return c.client.CoreV1().Secrets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
}

// serviceAccountToken issues a bound token for a pod on this node.
func (c *Controller) serviceAccountToken(ctx context.Context, node string, r message.Resource, m message.Message) {
	var tr authenticationv1.TokenRequest
	if err := m.DecodeContent(&tr); err != nil {
		c.log.Info("bad token request", "node", node, "err", err)
		return
	}
	if ref := tr.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" {
		c.log.Info("token request not bound to a pod refused", "node", node)
		return
	} else if _, err := c.ownPod(ctx, node, message.Resource{Namespace: r.Namespace, Type: message.ResPod, Name: ref.Name}); err != nil {
		c.log.Info("token request refused", "node", node, "err", err)
		return
	}
	out, err := c.client.CoreV1().ServiceAccounts(r.Namespace).CreateToken(ctx, r.Name, &tr, metav1.CreateOptions{})
	if err != nil {
		c.log.Info("token request failed", "node", node, "err", err)
		return
	}
	c.replyContent(node, m, out)
}
