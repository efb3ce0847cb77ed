// Package twin holds the JSON payloads of upstream KubeEdge v1.12's device
// twin flows: what DeviceController and DeviceTwin exchange over the
// websocket (membership, twin cloud_updated / edge_updated) and what
// DeviceTwin and mappers exchange over MQTT ($hw/events/device/...). The
// shapes and keys follow upstream so that existing mappers work unchanged.
// Values are always strings on the wire.
package twin

// Twin metadata types. TypeDeleted marks a twin the cloud removed.
const (
	TypeDeleted = "deleted"
	TypeString  = "string"
)

// BaseMessage starts every twin payload.
type BaseMessage struct {
	EventID   string `json:"event_id"`
	Timestamp int64  `json:"timestamp"`
}

// ValueMetadata is a twin value's metadata (milliseconds since the epoch).
type ValueMetadata struct {
	Timestamp int64 `json:"timestamp,omitempty"`
}

// TypeMetadata names a twin's or attribute's type (int, string, ... or
// "deleted").
type TypeMetadata struct {
	Type string `json:"type,omitempty"`
}

// TwinValue is an expected (desired) or actual (reported) value.
type TwinValue struct {
	Value    *string        `json:"value,omitempty"`
	Metadata *ValueMetadata `json:"metadata,omitempty"`
}

// TwinVersion counts the changes made by each side.
type TwinVersion struct {
	CloudVersion int64 `json:"cloud"`
	EdgeVersion  int64 `json:"edge"`
}

// MsgTwin is one property's twin.
type MsgTwin struct {
	Expected        *TwinValue    `json:"expected,omitempty"`
	Actual          *TwinValue    `json:"actual,omitempty"`
	Optional        *bool         `json:"optional,omitempty"`
	Metadata        *TypeMetadata `json:"metadata,omitempty"`
	ExpectedVersion *TwinVersion  `json:"expected_version,omitempty"`
	ActualVersion   *TwinVersion  `json:"actual_version,omitempty"`
}

// MsgAttr is a device attribute.
type MsgAttr struct {
	Value    string        `json:"value"`
	Optional *bool         `json:"optional,omitempty"`
	Metadata *TypeMetadata `json:"metadata,omitempty"`
}

// Device is a device as the twin flows carry it (membership, get results).
type Device struct {
	ID          string              `json:"id,omitempty"`
	Name        string              `json:"name,omitempty"`
	Description string              `json:"description,omitempty"`
	State       string              `json:"state,omitempty"`
	LastOnline  string              `json:"last_online,omitempty"`
	Attributes  map[string]*MsgAttr `json:"attributes,omitempty"`
	Twin        map[string]*MsgTwin `json:"twin,omitempty"`
}

// MembershipUpdate is the cloud's (group twin, resource membership) and the
// edge's ($hw/events/node/<node>/membership/updated) membership change.
type MembershipUpdate struct {
	BaseMessage
	AddDevices    []Device `json:"added_devices"`
	RemoveDevices []Device `json:"removed_devices"`
}

// MembershipGetResult answers $hw/events/node/<node>/membership/get.
type MembershipGetResult struct {
	BaseMessage
	Devices []Device `json:"devices"`
}

// DeviceTwinUpdate carries twin changes: cloud_updated from the cloud,
// edge_updated to the cloud, twin/update from mappers, and the results.
type DeviceTwinUpdate struct {
	BaseMessage
	Twin map[string]*MsgTwin `json:"twin"`
}

// DeviceTwinDelta is published on .../twin/update/delta: the properties
// whose expected value differs from the actual one.
type DeviceTwinDelta struct {
	BaseMessage
	Twin  map[string]*MsgTwin `json:"twin"`
	Delta map[string]string   `json:"delta"`
}

// TwinDoc is one property's before and after.
type TwinDoc struct {
	LastState    *MsgTwin `json:"last"`
	CurrentState *MsgTwin `json:"current"`
}

// DeviceTwinDocument is published on .../twin/update/document.
type DeviceTwinDocument struct {
	BaseMessage
	Twin map[string]*TwinDoc `json:"twin"`
}

// DeviceUpdate is a mapper's $hw/events/device/<id>/state/update and the
// attribute changes on .../updated.
type DeviceUpdate struct {
	BaseMessage
	State      string              `json:"state,omitempty"`
	Attributes map[string]*MsgAttr `json:"attributes,omitempty"`
}

// DeviceState is the device in a state result and in the edge's
// device/<id>/state/update message to the cloud.
type DeviceState struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	LastOnline string `json:"last_online"`
}

// DeviceStateResult is published on .../state/update/result and sent to the
// cloud on device/<id>/state/update.
type DeviceStateResult struct {
	BaseMessage
	Device DeviceState `json:"device"`
}

// ErrorResult is a failed request's result: code 400 (bad payload), 404
// (unknown device), 409 (version conflict) or 500.
type ErrorResult struct {
	BaseMessage
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// StringPtr returns a pointer to s, for building twin values.
func StringPtr(s string) *string { return &s }
