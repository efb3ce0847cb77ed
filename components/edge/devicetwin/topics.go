package devicetwin

import (
	"encoding/json"
	"strings"
)

// MQTT topic prefixes of upstream v1.12.
const (
	deviceTopicPrefix = "$hw/events/device/"
	nodeTopicPrefix   = "$hw/events/node/"
)

// Actions after $hw/events/device/<id>/.
const (
	actionTwinUpdate         = "twin/update"
	actionTwinUpdateResult   = "twin/update/result"
	actionTwinUpdateDelta    = "twin/update/delta"
	actionTwinUpdateDocument = "twin/update/document"
	actionTwinGet            = "twin/get"
	actionTwinGetResult      = "twin/get/result"
	actionStateUpdate        = "state/update"
	actionStateUpdateResult  = "state/update/result"
)

// Actions after $hw/events/node/<node>/.
const (
	actionMembershipGet       = "membership/get"
	actionMembershipGetResult = "membership/get/result"
	actionMembershipUpdated   = "membership/updated"
)

type topicKind int

const (
	topicTwinUpdate topicKind = iota + 1
	topicTwinGet
	topicStateUpdate
	topicMembershipGet
)

// topic is a parsed inbound topic; id is the device id, or the node name
// for membership/get.
type topic struct {
	kind topicKind
	id   string
}

// parseTopic classifies an inbound topic. Device ids and node names are one
// topic level: non-empty, without "/" or MQTT wildcards.
func parseTopic(s string) (topic, bool) {
	if rest, ok := strings.CutPrefix(s, deviceTopicPrefix); ok {
		id, action, ok := strings.Cut(rest, "/")
		if !ok || !validLevel(id) {
			return topic{}, false
		}
		switch action {
		case actionTwinUpdate:
			return topic{kind: topicTwinUpdate, id: id}, true
		case actionTwinGet:
			return topic{kind: topicTwinGet, id: id}, true
		case actionStateUpdate:
			return topic{kind: topicStateUpdate, id: id}, true
		}
		return topic{}, false
	}
	if rest, ok := strings.CutPrefix(s, nodeTopicPrefix); ok {
		node, action, ok := strings.Cut(rest, "/")
		if ok && validLevel(node) && action == actionMembershipGet {
			return topic{kind: topicMembershipGet, id: node}, true
		}
	}
	return topic{}, false
}

func validLevel(s string) bool { return s != "" && !strings.ContainsAny(s, "/+#\x00") }

func deviceTopic(id, action string) string { return deviceTopicPrefix + id + "/" + action }

func nodeTopic(node, action string) string { return nodeTopicPrefix + node + "/" + action }

// publish marshals v and publishes it; failures are logged (MQTT results are
// best effort, as upstream).
func (t *DeviceTwin) publish(topic string, v any) {
	payload, err := json.Marshal(v)
	if err != nil {
		t.log.Error(err, "encode MQTT payload", "topic", topic)
		return
	}
	if err := t.pub.Publish(topic, payload); err != nil {
		t.log.Info("publish failed", "topic", topic, "err", err)
	}
}
