package devicecontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

// upstreamKind classifies what an edge node sent.
type upstreamKind int

const (
	notDevice upstreamKind = iota
	// ignored: a device message the cloud accepts and does nothing with
	// (ACKs of device objects, state updates, unknown device events).
	ignored
	edgeUpdated
	membershipDetail
)

// classify tells device messages from others. resource is the edge's view
// (no node prefix).
func classify(resource string, op message.Operation) (upstreamKind, message.DeviceResource) {
	switch resource {
	case message.ResourceMembershipDetail:
		if op == message.OpGet {
			return membershipDetail, message.DeviceResource{}
		}
		return ignored, message.DeviceResource{}
	case message.ResourceMembership, message.ResourceTwin:
		return ignored, message.DeviceResource{}
	}
	if dr, err := message.ParseDeviceResource(resource); err == nil && strings.Contains(string(dr.Event), "/") {
		// A device event always has two segments; "device/pod/nginx" is a pod
		// in a namespace named "device".
		if dr.Event == message.DeviceTwinEdgeUpdated && op == message.OpUpdate {
			return edgeUpdated, dr
		}
		return ignored, dr
	}
	if r, err := message.ParseResource(resource); err == nil && (r.Type == message.ResDevice || r.Type == message.ResDeviceModel) {
		return ignored, message.DeviceResource{} // the edge's ACKs of device objects
	}
	return notDevice, message.DeviceResource{}
}

// HandleMessage takes a message from node, the identity of the sender's
// client certificate. It returns false when the message is not a device
// message; device messages are handled on the node's queue.
func (c *Controller) HandleMessage(node string, m message.Message) bool {
	resource := m.Route.Resource
	if nr, err := message.ParseNodeResource(resource); err == nil {
		resource = nr.Resource
	}
	kind, dr := classify(resource, m.Route.Operation)
	switch kind {
	case notDevice:
		return false
	case edgeUpdated:
		c.enqueue(node, jobUp, func(ctx context.Context) { c.handleEdgeUpdated(ctx, node, dr.DeviceID, m) })
	case membershipDetail:
		c.enqueue(node, jobUp, func(context.Context) { c.sendFullMembership(node, m.Header.ID) })
	default:
		// device/<id>/state/update is accepted and not recorded, as in v1.12.
		c.log.V(1).Info("device message accepted, nothing to do", "node", node,
			"operation", m.Route.Operation, "resource", m.Route.Resource)
	}
	return true
}

// statusPatch is the merge patch writing a device's twins. A merge patch
// replaces a list whole, so it carries the full list, and the
// resourceVersion makes it conditional on the version it was built from.
type statusPatch struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Status struct {
		Twins []v1alpha2.Twin `json:"twins"`
	} `json:"status"`
}

// handleEdgeUpdated writes the reported values of device/<id>/twin/edge_updated
// into the device's status and confirms with "OK".
func (c *Controller) handleEdgeUpdated(ctx context.Context, node, id string, m message.Message) {
	var upd twin.DeviceTwinUpdate
	if err := m.DecodeContent(&upd); err != nil {
		c.replyTwin(node, m, errorResponse(apierrors.NewBadRequest(err.Error())))
		return
	}
	d, err := c.deviceFor(node, id)
	if err != nil {
		c.log.Info("twin update refused", "node", node, "device", id, "err", err)
		c.replyTwin(node, m, errorResponse(err))
		return
	}
	if err := c.writeReported(ctx, node, d, upd.Twin); err != nil {
		c.log.Info("write reported twins failed", "node", node, "namespace", d.Namespace, "device", id, "err", err)
		c.replyTwin(node, m, errorResponse(err))
		return
	}
	c.replyTwin(node, m, message.AckContent)
}

// deviceFor finds the device with the edge's id (a name, in any namespace)
// bound to node. A device that exists only on other nodes is Forbidden: a
// node never acts for another.
func (c *Controller) deviceFor(node, id string) (*v1alpha2.Device, error) {
	all := c.devicesBy(indexName, id)
	if len(all) == 0 {
		return nil, apierrors.NewNotFound(v1alpha2.Resource("devices"), id)
	}
	var mine []*v1alpha2.Device
	for _, d := range all {
		if nodeOf(d) == node {
			mine = append(mine, d)
		}
	}
	if len(mine) == 0 {
		return nil, apierrors.NewForbidden(v1alpha2.Resource("devices"), id,
			fmt.Errorf("device is not bound to node %q", node))
	}
	if len(mine) > 1 {
		c.log.Info("several namespaces have a device of this name bound to the node; using the first",
			"node", node, "device", id, "namespace", mine[0].Namespace)
	}
	return mine[0], nil
}

// writeReported patches the reported values in, starting from the cached
// device and re-reading it after a conflict. Nothing is written when the
// values are already there.
func (c *Controller) writeReported(ctx context.Context, node string, d *v1alpha2.Device, upd map[string]*twin.MsgTwin) error {
	api := c.client.Resource(DevicesResource).Namespace(d.Namespace)
	cur := d
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if cur == nil {
			u, err := api.Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get device %s/%s: %w", d.Namespace, d.Name, err)
			}
			if cur, err = convert[v1alpha2.Device](u); err != nil {
				return fmt.Errorf("device %s/%s: %w", d.Namespace, d.Name, err)
			}
			if nodeOf(cur) != node {
				return apierrors.NewForbidden(v1alpha2.Resource("devices"), d.Name,
					fmt.Errorf("device is not bound to node %q", node))
			}
		}
		twins, changed := applyReported(cur.Status.Twins, upd, c.factory.Now().UnixMilli())
		if !changed {
			return nil
		}
		var p statusPatch
		p.Metadata.ResourceVersion = cur.ResourceVersion
		p.Status.Twins = twins
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode status patch: %w", err)
		}
		cur = nil // re-read after a conflict
		if _, err := api.Patch(ctx, d.Name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("patch device %s/%s status: %w", d.Namespace, d.Name, err)
		}
		return nil
	})
}

// errorResponse is the reply content of a refused or failed request.
func errorResponse(err error) message.ObjectResponse {
	// A nil object cannot fail to encode; a non-API error becomes a 500.
	r, _ := message.NewObjectResponse(nil, err)
	return r
}

// replyTwin answers an edge twin message: group twin, resource twin,
// operation response, parent = the request.
func (c *Controller) replyTwin(node string, req message.Message, content any) {
	reply, err := c.factory.Response(req, message.SourceDeviceController, content)
	if err != nil {
		c.log.Error(err, "build reply", "node", node)
		return
	}
	reply.Route.Group, reply.Route.Resource = message.GroupTwin, message.ResourceTwin
	c.send(node, reply)
}
