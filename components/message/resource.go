package message

import (
	"fmt"
	"strings"
)

// ResourceError reports a resource string that does not have the expected form.
type ResourceError struct {
	Resource string
	Want     string
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("resource %q: want the form %s", e.Resource, e.Want)
}

// Resource is the typed form of an object resource path: "<namespace>/<type>/<name>"
// for one object, or "<namespace>/<type>" for a whole type (podlist, podstatus).
// Cluster-scoped objects carry a placeholder namespace upstream ("null" for
// dynamic-controller events, "namespace" for node deletion); it is kept as is.
type Resource struct {
	Namespace string
	Type      ResourceType
	Name      string
}

// String renders the resource path as it goes on the wire.
func (r Resource) String() string {
	if r.Name == "" {
		return r.Namespace + "/" + string(r.Type)
	}
	return r.Namespace + "/" + string(r.Type) + "/" + r.Name
}

const resourceForm = `"<namespace>/<type>/<name>" or "<namespace>/<type>"`

// ParseResource parses an object resource path as seen by the edge (no node prefix).
func ParseResource(s string) (Resource, error) {
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" {
			return Resource{}, &ResourceError{Resource: s, Want: resourceForm}
		}
	}
	switch len(parts) {
	case 2:
		return Resource{Namespace: parts[0], Type: ResourceType(parts[1])}, nil
	case 3:
		return Resource{Namespace: parts[0], Type: ResourceType(parts[1]), Name: parts[2]}, nil
	default:
		return Resource{}, &ResourceError{Resource: s, Want: resourceForm}
	}
}

// NodeResource is a resource path inside cloudcore, where every resource
// toward or from a node carries the prefix "node/<nodeName>/". CloudHub adds the
// prefix to what it receives and strips it from what it sends.
type NodeResource struct {
	Node string
	// Resource is the rest of the path, as the edge sees it.
	Resource string
}

const nodePrefix = "node/"

// String renders "node/<node>/<resource>".
func (r NodeResource) String() string { return nodePrefix + r.Node + "/" + r.Resource }

// ParseNodeResource parses a node-prefixed resource path.
func ParseNodeResource(s string) (NodeResource, error) {
	const want = `"node/<nodeName>/<resource>"`
	rest, ok := strings.CutPrefix(s, nodePrefix)
	if !ok {
		return NodeResource{}, &ResourceError{Resource: s, Want: want}
	}
	node, res, ok := strings.Cut(rest, "/")
	if !ok || node == "" || res == "" {
		return NodeResource{}, &ResourceError{Resource: s, Want: want}
	}
	return NodeResource{Node: node, Resource: res}, nil
}

// DeviceEvent is the tail of a device resource path, after "device/<id>/".
type DeviceEvent string

// Device events of upstream v1.12.
const (
	DeviceTwinEdgeUpdated  DeviceEvent = "twin/edge_updated"
	DeviceTwinCloudUpdated DeviceEvent = "twin/cloud_updated"
	DeviceStateUpdate      DeviceEvent = "state/update"
)

// Twin and membership resources of the device flows.
const (
	ResourceMembership       = "membership"
	ResourceMembershipDetail = "membership/detail"
	ResourceTwin             = "twin"
)

// DeviceResource is "device/<deviceID>/<event>".
type DeviceResource struct {
	DeviceID string
	Event    DeviceEvent
}

const devicePrefix = "device/"

// String renders the device resource path.
func (r DeviceResource) String() string { return devicePrefix + r.DeviceID + "/" + string(r.Event) }

// ParseDeviceResource parses "device/<deviceID>/<event>".
func ParseDeviceResource(s string) (DeviceResource, error) {
	const want = `"device/<deviceID>/<event>"`
	rest, ok := strings.CutPrefix(s, devicePrefix)
	if !ok {
		return DeviceResource{}, &ResourceError{Resource: s, Want: want}
	}
	id, ev, ok := strings.Cut(rest, "/")
	if !ok || id == "" || ev == "" {
		return DeviceResource{}, &ResourceError{Resource: s, Want: want}
	}
	return DeviceResource{DeviceID: id, Event: DeviceEvent(ev)}, nil
}
