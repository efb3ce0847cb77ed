package devicecontroller

import (
	"context"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

// Kinds as they go to the edge.
const (
	kindDevice      = "Device"
	kindDeviceModel = "DeviceModel"
)

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

func (c *Controller) deviceAdded(obj any) {
	d, ok := obj.(*v1alpha2.Device)
	if !ok {
		return
	}
	if node := nodeOf(d); node != "" {
		c.enqueue(node, jobDown, func(context.Context) { c.sendAdd(node, d) })
	}
}

func (c *Controller) deviceDeleted(obj any) {
	d, ok := tombstone[*v1alpha2.Device](obj)
	if !ok {
		return
	}
	if node := nodeOf(d); node != "" {
		c.enqueue(node, jobDown, func(context.Context) { c.sendRemove(node, d) })
	}
}

func (c *Controller) deviceUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1alpha2.Device)
	cur, ok2 := newObj.(*v1alpha2.Device)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return // not typed, or a periodic resync
	}
	oldNode, node := nodeOf(old), nodeOf(cur)
	if oldNode != node {
		if oldNode != "" {
			c.enqueue(oldNode, jobDown, func(context.Context) { c.sendRemove(oldNode, old) })
		}
		if node != "" {
			c.enqueue(node, jobDown, func(context.Context) { c.sendAdd(node, cur) })
		}
		return
	}
	if node == "" {
		return
	}
	changed, removed := desiredChanges(old, cur)
	twinsChanged := len(changed)+len(removed) > 0
	objChanged := !equality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!maps.Equal(old.Labels, cur.Labels) || !maps.Equal(old.Annotations, cur.Annotations)
	if !twinsChanged && !objChanged {
		return // reported values only: the edge's own report, not echoed
	}
	descChanged := old.Labels[LabelDescription] != cur.Labels[LabelDescription]
	oldModel, model := modelOf(old), modelOf(cur)
	c.enqueue(node, jobDown, func(context.Context) {
		if descChanged {
			// The edge treats a re-add as a sync of the device's membership data.
			c.sendMembership(node, []*v1alpha2.Device{cur}, nil)
		}
		if twinsChanged {
			c.sendCloudUpdated(node, cur, changed, removed)
		}
		if model != oldModel {
			if model != "" {
				c.sendModel(node, message.OpInsert, cur.Namespace, model)
			}
			if oldModel != "" && !c.modelUsedOn(node, cur.Namespace, oldModel, "") {
				c.sendModel(node, message.OpDelete, cur.Namespace, oldModel)
			}
		}
		c.sendObject(node, message.OpUpdate, message.ResDevice, cur.Namespace, cur.Name, cur.ResourceVersion, withDeviceKind(cur))
	})
}

func (c *Controller) modelAdded(obj any, initial bool) {
	if initial {
		return // the initial device adds carry their models
	}
	if m, ok := obj.(*v1alpha2.DeviceModel); ok {
		c.modelEvent(message.OpInsert, m)
	}
}

func (c *Controller) modelUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1alpha2.DeviceModel)
	cur, ok2 := newObj.(*v1alpha2.DeviceModel)
	if ok1 && ok2 && old.ResourceVersion != cur.ResourceVersion {
		c.modelEvent(message.OpUpdate, cur)
	}
}

func (c *Controller) modelDeleted(obj any) {
	if m, ok := tombstone[*v1alpha2.DeviceModel](obj); ok {
		c.modelEvent(message.OpDelete, m)
	}
}

// modelEvent sends a model change to every node with a device using it.
func (c *Controller) modelEvent(op message.Operation, m *v1alpha2.DeviceModel) {
	nodes := map[string]bool{}
	for _, d := range c.devicesBy(indexModel, modelKey(m.Namespace, m.Name)) {
		if n := nodeOf(d); n != "" {
			nodes[n] = true
		}
	}
	for _, node := range slices.Sorted(maps.Keys(nodes)) {
		c.enqueue(node, jobDown, func(context.Context) {
			c.sendObject(node, op, message.ResDeviceModel, m.Namespace, m.Name, m.ResourceVersion, withModelKind(m))
		})
	}
}

// devicesBy returns the typed devices of an index value, sorted by
// namespace and name.
func (c *Controller) devicesBy(index, value string) []*v1alpha2.Device {
	objs, err := c.devices.ByIndex(index, value)
	if err != nil {
		c.log.Error(err, "device cache index", "index", index)
		return nil
	}
	out := make([]*v1alpha2.Device, 0, len(objs))
	for _, o := range objs {
		if d, ok := o.(*v1alpha2.Device); ok {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *v1alpha2.Device) int {
		if r := strings.Compare(a.Namespace, b.Namespace); r != 0 {
			return r
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// modelUsedOn reports whether a device bound to node, other than the device
// named except, uses the model.
func (c *Controller) modelUsedOn(node, namespace, model, except string) bool {
	for _, d := range c.devicesBy(indexNode, node) {
		if d.Namespace == namespace && modelOf(d) == model && d.Name != except {
			return true
		}
	}
	return false
}

// sendAdd tells node about a device bound to it: membership, model, device.
func (c *Controller) sendAdd(node string, d *v1alpha2.Device) {
	c.sendMembership(node, []*v1alpha2.Device{d}, nil)
	if model := modelOf(d); model != "" {
		c.sendModel(node, message.OpInsert, d.Namespace, model)
	}
	c.sendObject(node, message.OpInsert, message.ResDevice, d.Namespace, d.Name, d.ResourceVersion, withDeviceKind(d))
}

// sendRemove takes a device off node: membership, device, and its model when
// no other device on the node uses it.
func (c *Controller) sendRemove(node string, d *v1alpha2.Device) {
	c.sendMembership(node, nil, []*v1alpha2.Device{d})
	c.sendObject(node, message.OpDelete, message.ResDevice, d.Namespace, d.Name, d.ResourceVersion, withDeviceKind(d))
	if model := modelOf(d); model != "" && !c.modelUsedOn(node, d.Namespace, model, d.Name) {
		c.sendModel(node, message.OpDelete, d.Namespace, model)
	}
}

// sendModel sends a model from the cache; a delete of a model no longer in
// the cache carries just its name.
func (c *Controller) sendModel(node string, op message.Operation, namespace, name string) {
	obj, exists, err := c.models.GetByKey(modelKey(namespace, name))
	m, typed := obj.(*v1alpha2.DeviceModel)
	switch {
	case err == nil && exists && typed:
		c.sendObject(node, op, message.ResDeviceModel, namespace, name, m.ResourceVersion, withModelKind(m))
	case op == message.OpDelete:
		stub := &v1alpha2.DeviceModel{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		c.sendObject(node, op, message.ResDeviceModel, namespace, name, "", withModelKind(stub))
	default:
		c.log.Info("device model not found; the device is sent without it", "node", node, "namespace", namespace, "model", name)
	}
}

// sendObject sends a Device or DeviceModel as a resource message with the
// object's resourceVersion in the header.
func (c *Controller) sendObject(node string, op message.Operation, typ message.ResourceType, namespace, name, rv string, obj any) {
	m, err := c.factory.New(message.Route{Source: message.SourceDeviceController, Group: message.GroupResource, Operation: op,
		Resource: message.Resource{Namespace: namespace, Type: typ, Name: name}.String()}, obj)
	if err != nil {
		c.log.Error(err, "build message", "node", node)
		return
	}
	m.Header.ResourceVersion = rv
	c.send(node, m)
}

func (c *Controller) base() twin.BaseMessage {
	return twin.BaseMessage{EventID: c.factory.NewID(), Timestamp: c.factory.Now().UnixMilli()}
}

// membership builds the twin membership update adding and removing devices.
func (c *Controller) membership(added []*v1alpha2.Device, removed []twin.Device) (message.Message, error) {
	u := twin.MembershipUpdate{BaseMessage: c.base(), RemoveDevices: removed}
	for _, d := range added {
		u.AddDevices = append(u.AddDevices, edgeDevice(d, u.Timestamp))
	}
	return c.factory.New(message.Route{Source: message.SourceDeviceController, Group: message.GroupTwin,
		Operation: message.OpUpdate, Resource: message.ResourceMembership}, u)
}

// sendMembership sends a membership update and records what the node has.
func (c *Controller) sendMembership(node string, added, removed []*v1alpha2.Device) {
	var gone []twin.Device
	for _, d := range removed {
		gone = append(gone, edgeDevice(d, c.factory.Now().UnixMilli()))
	}
	m, err := c.membership(added, gone)
	if err != nil {
		c.log.Error(err, "build membership", "node", node)
		return
	}
	if !c.send(node, m) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.delivered[node]
	if set == nil {
		set = map[types.NamespacedName]bool{}
		c.delivered[node] = set
	}
	for _, d := range added {
		set[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}] = true
	}
	for _, d := range removed {
		delete(set, types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
	}
	if len(set) == 0 {
		delete(c.delivered, node)
	}
}

// sendCloudUpdated sends desired twin changes.
func (c *Controller) sendCloudUpdated(node string, d *v1alpha2.Device, changed, removed []v1alpha2.Twin) {
	content := cloudUpdate(d, changed, removed, c.base())
	m, err := c.factory.New(message.Route{Source: message.SourceDeviceController, Group: message.GroupTwin, Operation: message.OpUpdate,
		Resource: message.DeviceResource{DeviceID: d.Name, Event: message.DeviceTwinCloudUpdated}.String()}, content)
	if err != nil {
		c.log.Error(err, "build twin update", "node", node)
		return
	}
	c.send(node, m)
}

// syncNode sends node its full state: the membership of all devices bound to
// it (and the removal of those it was sent that are no longer bound), then
// each model and device object.
func (c *Controller) syncNode(_ context.Context, node string) {
	devs, stale := c.sendFullMembership(node, "")
	for _, k := range stale {
		stub := &v1alpha2.Device{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
		c.sendObject(node, message.OpDelete, message.ResDevice, k.Namespace, k.Name, "", withDeviceKind(stub))
	}
	sentModels := map[string]bool{}
	for _, d := range devs {
		if model := modelOf(d); model != "" && !sentModels[modelKey(d.Namespace, model)] {
			sentModels[modelKey(d.Namespace, model)] = true
			c.sendModel(node, message.OpUpdate, d.Namespace, model)
		}
		c.sendObject(node, message.OpUpdate, message.ResDevice, d.Namespace, d.Name, d.ResourceVersion, withDeviceKind(d))
	}
}

// heldLister is the reliable dispatcher's record of what a node holds.
type heldLister interface {
	Held(node string, typ message.ResourceType) []types.NamespacedName
}

// sendFullMembership sends node one membership update adding every device
// bound to it and removing the devices it was sent that are no longer bound
// (stale). parentID, when set, makes it the answer to that request. Nothing
// is sent when there is nothing to add or remove, unless it answers a request.
func (c *Controller) sendFullMembership(node, parentID string) (devs []*v1alpha2.Device, stale []types.NamespacedName) {
	devs = c.devicesBy(indexNode, node)
	names := map[string]bool{}
	current := map[types.NamespacedName]bool{}
	for _, d := range devs {
		names[d.Name] = true
		current[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}] = true
	}
	c.mu.Lock()
	held := maps.Clone(c.delivered[node])
	c.mu.Unlock()
	// What the node acknowledged, as the reliable dispatcher recorded it in
	// ObjectSync: after a cloudcore restart this is the only memory of the
	// devices deleted while it was down.
	if h, ok := c.sender.(heldLister); ok {
		if held == nil {
			held = map[types.NamespacedName]bool{}
		}
		for _, k := range h.Held(node, message.ResDevice) {
			held[k] = true
		}
	}
	for k := range held {
		// The edge knows devices by name only: never remove a name still bound.
		if !current[k] && !names[k.Name] {
			stale = append(stale, k)
		}
	}
	if len(devs) == 0 && len(stale) == 0 && parentID == "" {
		return nil, nil
	}
	slices.SortFunc(stale, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
	var removed []twin.Device
	for _, k := range stale {
		removed = append(removed, twin.Device{ID: k.Name, Name: k.Name})
	}
	m, err := c.membership(devs, removed)
	if err != nil {
		c.log.Error(err, "build membership", "node", node)
		return devs, stale
	}
	m.Header.ParentID = parentID
	if c.send(node, m) {
		c.mu.Lock()
		if len(current) > 0 {
			c.delivered[node] = current
		} else {
			delete(c.delivered, node)
		}
		c.mu.Unlock()
	}
	return devs, stale
}

// withDeviceKind returns a copy with apiVersion and kind set, which informer
// objects lack and upstream frames carry.
func withDeviceKind(d *v1alpha2.Device) *v1alpha2.Device {
	out := d.DeepCopy()
	out.APIVersion, out.Kind = v1alpha2.SchemeGroupVersion.String(), kindDevice
	return out
}

func withModelKind(m *v1alpha2.DeviceModel) *v1alpha2.DeviceModel {
	out := m.DeepCopy()
	out.APIVersion, out.Kind = v1alpha2.SchemeGroupVersion.String(), kindDeviceModel
	return out
}
