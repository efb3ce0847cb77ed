package eventbus

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cleanedge/kubeedge/components/message"
)

// DefaultTopics are the topic filters EventBus always listens to: device and
// node events for DeviceTwin, uploads for the cloud.
var DefaultTopics = []string{
	"$hw/events/upload/#",
	"$hw/events/device/+/state/update",
	"$hw/events/device/+/twin/+",
	"$hw/events/node/+/membership/get",
	"SYS/dis/upload_records",
	"+/user/#",
}

// TopicStore persists the topics the cloud subscribes at runtime (upstream's
// sub_topics table). The bus lists it when it starts and adds or removes a
// topic on every Subscribe or Unsubscribe.
type TopicStore interface {
	List() ([]string, error)
	Add(topic string) error
	Remove(topic string) error
}

// ErrInvalidTopic is returned for a topic filter that is not valid MQTT.
var ErrInvalidTopic = errors.New("invalid MQTT topic filter")

// UploadMessage builds the edge→cloud message for an MQTT message of a
// non-twin topic: route bus/user/upload, resource the topic, content the
// payload as a JSON string (invalid UTF-8 becomes U+FFFD, as upstream).
func UploadMessage(f message.Factory, topic string, payload []byte) (message.Message, error) {
	route := message.Route{
		Source:    message.SourceBus,
		Group:     message.GroupUser,
		Operation: message.OpUpload,
		Resource:  topic,
	}
	m, err := f.New(route, string(payload))
	if err != nil {
		return message.Message{}, fmt.Errorf("upload message for topic %q: %w", topic, err)
	}
	return m, nil
}

// validFilter checks an MQTT topic filter: not empty, no NUL, '#' only as the
// last level, '+' and '#' only as whole levels.
func validFilter(filter string) error {
	if filter == "" || strings.ContainsRune(filter, 0) || len(filter) > 65535 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, filter)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%w: %q: '#' must be the whole last level", ErrInvalidTopic, filter)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%w: %q: '+' must be a whole level", ErrInvalidTopic, filter)
		}
	}
	return nil
}

// matchTopic reports whether topic matches filter per MQTT 3.1.1 §4.7,
// including the rule that a wildcard never matches the first level of a
// topic starting with '$'.
func matchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a".
			return fmore == tmore || (!tmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
