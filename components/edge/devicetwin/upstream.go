package devicetwin

import (
	"encoding/json"
	"fmt"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/message"
)

// CoalesceKeyTwin is the outbox coalescing key of a property's report: while
// the cloud is away only the latest value of each property is kept.
func CoalesceKeyTwin(deviceID, prop string) string { return "twin/" + deviceID + "/" + prop }

// CoalesceKeyState is the outbox coalescing key of a device's state report.
// Device ids have no "/", so it cannot clash with a property's key.
func CoalesceKeyState(deviceID string) string { return "devicestate/" + deviceID }

// flush hands the record's unsent reports to Upstream, one edge_updated
// message per property, built from the current state. What Upstream accepts
// is cleared in memory only: the next write of the device persists that,
// and after a crash in between a report is sent twice, which is harmless
// (same value; the outbox keeps one per key).
func (t *DeviceTwin) flush(rec *record) {
	for _, prop := range append([]string(nil), rec.UnsentTwin...) {
		tw := rec.Twin[prop]
		if tw == nil || tw.Actual == nil || tw.Actual.Value == nil {
			rec.removeUnsent(prop)
			continue
		}
		m, err := t.edgeUpdated(rec.ID, prop, tw)
		if err == nil {
			err = t.up.SendReliable(m, CoalesceKeyTwin(rec.ID, prop))
		}
		if err != nil {
			t.log.Info("twin report not queued for the cloud; retrying later", "device", rec.ID, "property", prop, "err", err)
			continue
		}
		rec.removeUnsent(prop)
	}
	if rec.UnsentState {
		m, err := t.stateMessage(rec)
		if err == nil {
			err = t.up.SendReliable(m, CoalesceKeyState(rec.ID))
		}
		if err != nil {
			t.log.Info("device state not queued for the cloud; retrying later", "device", rec.ID, "err", err)
			return
		}
		rec.UnsentState = false
	}
}

// flushAll retries every unsent report.
func (t *DeviceTwin) flushAll() {
	for _, id := range sortedKeys(t.devices) {
		if rec := t.devices[id]; len(rec.UnsentTwin) > 0 || rec.UnsentState {
			t.flush(rec)
		}
	}
}

// edgeUpdated builds the report of one property: source twin, group
// resource, op update, resource device/<id>/twin/edge_updated.
func (t *DeviceTwin) edgeUpdated(id, prop string, tw *twin.MsgTwin) (message.Message, error) {
	content := twin.DeviceTwinUpdate{
		BaseMessage: t.base(""),
		Twin: map[string]*twin.MsgTwin{prop: {
			Actual:        cloneValue(tw.Actual),
			Metadata:      cloneTypeMeta(tw.Metadata),
			ActualVersion: cloneVersion(tw.ActualVersion),
		}},
	}
	return t.factory.New(message.Route{
		Source: message.SourceTwin, Group: message.GroupResource, Operation: message.OpUpdate,
		Resource: message.DeviceResource{DeviceID: id, Event: message.DeviceTwinEdgeUpdated}.String(),
	}, content)
}

// stateMessage builds the device state report; its content is the result
// JSON as a string, as upstream sends it.
func (t *DeviceTwin) stateMessage(rec *record) (message.Message, error) {
	body, err := json.Marshal(t.stateResult(rec, ""))
	if err != nil {
		return message.Message{}, fmt.Errorf("encode state of %s: %w", rec.ID, err)
	}
	return t.factory.New(message.Route{
		Source: message.SourceTwin, Group: message.GroupResource, Operation: message.OpUpdate,
		Resource: message.DeviceResource{DeviceID: rec.ID, Event: message.DeviceStateUpdate}.String(),
	}, string(body))
}

// MembershipDetail builds the request upstream's DeviceTwin sends when the
// link to the cloud comes up (source twin, group resource, op get, resource
// membership/detail, content a JSON string). The v1.12 cloud ignores it;
// it is there for compatibility.
func (t *DeviceTwin) MembershipDetail() (message.Message, error) {
	body, err := json.Marshal(struct {
		EventType string `json:"event_type"`
		EventID   string `json:"event_id"`
		GroupID   string `json:"group_id"`
		Operation string `json:"operation"`
		Timestamp int64  `json:"timestamp"`
	}{"group_membership_event", t.newID(), t.cfg.NodeName, "detail", t.now().UnixMilli()})
	if err != nil {
		return message.Message{}, fmt.Errorf("encode membership detail: %w", err)
	}
	return t.factory.New(message.Route{
		Source: message.SourceTwin, Group: message.GroupResource, Operation: message.OpGet,
		Resource: message.ResourceMembershipDetail,
	}, string(body))
}
