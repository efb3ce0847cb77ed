package eventbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cleanedge/kubeedge/components/message"
)

// cloudOpTimeout bounds a cloud subscribe or unsubscribe on the external
// broker.
const cloudOpTimeout = 10 * time.Second

// resourceAuthInfo is the resource of the get_result the bus republishes on
// $hw/events/node/<node>/authInfo/get/result.
const resourceAuthInfo = "auth_info"

// HandleCloudMessage runs an EventBus message from the cloud (source
// router_eventbus, group user):
//
//   - subscribe / unsubscribe: resource is the topic filter;
//   - publish: resource is the topic, content the payload (a JSON string is
//     published as its text, anything else as its JSON);
//   - message: content {"message":{"topic":…,…}} (an object or a string
//     holding it); the whole "message" object is published as JSON on its
//     topic;
//   - get_result of resource auth_info: the content is published as JSON on
//     $hw/events/node/<node>/authInfo/get/result.
//
// It returns false when m is not for EventBus (other source or group, or an
// operation it does not know); failures of a known operation are logged.
func (b *Bus) HandleCloudMessage(m message.Message) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cloudOpTimeout)
	defer cancel()
	handled, err := b.handleCloud(ctx, m)
	if err != nil {
		b.log.Error(err, "Cloud EventBus message failed", "msgID", m.Header.ID, "operation", m.Route.Operation, "resource", m.Route.Resource)
	}
	return handled
}

func (b *Bus) handleCloud(ctx context.Context, m message.Message) (bool, error) {
	if m.Route.Source != message.SourceRouterEventBus || m.Route.Group != message.GroupUser {
		return false, nil
	}
	r := m.Route.Resource
	switch m.Route.Operation {
	case message.OpSubscribe:
		return true, b.Subscribe(ctx, r)
	case message.OpUnsubscribe:
		return true, b.Unsubscribe(ctx, r)
	case message.OpPublish:
		return true, b.Publish(r, m.ContentBytes())
	case message.OpMessage:
		topic, payload, err := messagePayload(m)
		if err != nil {
			return true, err
		}
		return true, b.Publish(topic, payload)
	case message.OpGetResult:
		if r != resourceAuthInfo {
			return false, nil
		}
		if b.cfg.NodeName == "" {
			return true, errors.New("auth_info result: the node name is not configured")
		}
		var payload bytes.Buffer
		if err := json.Compact(&payload, m.Content); err != nil {
			return true, fmt.Errorf("auth_info result: %w", err)
		}
		return true, b.Publish("$hw/events/node/"+b.cfg.NodeName+"/authInfo/get/result", payload.Bytes())
	}
	return false, nil
}

// messagePayload reads the content of a "message" operation: the topic and
// the "message" object re-encoded as JSON (keys sorted, values compacted).
func messagePayload(m message.Message) (string, []byte, error) {
	var body struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := m.DecodeContent(&body); err != nil {
		return "", nil, fmt.Errorf("eventbus message: %w", err)
	}
	raw, ok := body.Message["topic"]
	if !ok {
		return "", nil, errors.New(`eventbus message: content has no "message" object with a "topic"`)
	}
	var topic string
	if err := json.Unmarshal(raw, &topic); err != nil || topic == "" {
		return "", nil, fmt.Errorf("eventbus message: topic %s is not a non-empty string", raw)
	}
	payload, err := json.Marshal(body.Message)
	if err != nil {
		return "", nil, fmt.Errorf("eventbus message: %w", err)
	}
	return topic, payload, nil
}
