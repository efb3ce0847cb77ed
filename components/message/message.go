// Package message is the cloud↔edge envelope of upstream KubeEdge (beehive's
// model.Message) and its JSON codec.
//
// The envelope is untyped on the wire: route fields are strings and content is
// whatever JSON the sender put there. This package is the one place that knows
// that shape. Everything past the hubs works with the typed values defined here:
// Source, Group, Operation, ResourceType, Resource and the content decoders.
package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Message is one frame between CloudHub and EdgeHub. JSON keys follow upstream
// exactly: "header", "route" (not "router") and "content".
type Message struct {
	Header Header `json:"header"`
	Route  Route  `json:"route"`
	// Content is the raw JSON of the payload, kept as sent. Use the Decode*
	// methods to read it into a typed value, and New / WithContent to set it.
	Content json.RawMessage `json:"content"`
}

// Header carries identity, correlation and reliable-sync data.
type Header struct {
	// ID is a UUID v4 in text form; always present on the wire.
	ID string `json:"msg_id"`
	// ParentID is set on responses and ACKs to the ID of the message answered.
	ParentID string `json:"parent_msg_id,omitempty"`
	// Timestamp is milliseconds since the Unix epoch.
	Timestamp int64 `json:"timestamp"`
	// ResourceVersion is the Kubernetes resourceVersion of the object in Content.
	ResourceVersion string `json:"resourceversion,omitempty"`
	// Sync is upstream's in-process "caller waits" flag. It is always false on
	// the websocket; it is kept only so that a decoded frame re-encodes as sent.
	Sync bool `json:"sync,omitempty"`
	// Type is upstream's in-process context type; normally absent on the wire.
	Type string `json:"type,omitempty"`
}

// Route says who sent a message, which module group handles it, what to do and
// to which resource.
type Route struct {
	Source      Source    `json:"source,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Group       Group     `json:"group,omitempty"`
	Operation   Operation `json:"operation,omitempty"`
	// Resource is the resource path as a string; parse it with ParseResource,
	// ParseNodeResource or ParseDeviceResource, never by splitting it by hand.
	Resource string `json:"resource,omitempty"`
}

// Clock returns the current time; tests inject a fixed one.
type Clock func() time.Time

// IDSource returns a new message ID; tests inject a deterministic one.
type IDSource func() string

// Factory makes new messages with IDs and timestamps from injectable sources.
type Factory struct {
	Now   Clock
	NewID IDSource
}

// DefaultFactory uses the wall clock and random UUIDs.
var DefaultFactory = Factory{Now: time.Now, NewID: func() string { return uuid.NewString() }}

// New builds a message with a fresh header, the given route and content
// marshalled to JSON. A nil content is encoded as JSON null, as upstream does.
func (f Factory) New(route Route, content any) (Message, error) {
	raw, err := marshalContent(content)
	if err != nil {
		return Message{}, fmt.Errorf("message %s %s: %w", route.Operation, route.Resource, err)
	}
	return Message{
		Header:  Header{ID: f.NewID(), Timestamp: f.Now().UnixMilli()},
		Route:   route,
		Content: raw,
	}, nil
}

// Response builds the reply to req: same source, group and resource as the
// request unless route overrides them, operation "response", and ParentID set
// to the request's ID. Upstream pairs requests and replies only by ParentID.
func (f Factory) Response(req Message, source Source, content any) (Message, error) {
	route := req.Route
	route.Operation = OpResponse
	if source != "" {
		route.Source = source
	}
	m, err := f.New(route, content)
	if err != nil {
		return Message{}, err
	}
	m.Header.ParentID = req.Header.ID
	return m, nil
}

// Ack builds the edge's acknowledgement of a cloud message: operation
// "response", content "OK", same source, group and resource as the message
// acknowledged (upstream copies them), ParentID = its ID.
func (f Factory) Ack(of Message) Message {
	m, _ := f.Response(of, "", AckContent) // a string always marshals
	return m
}

// New builds a message with DefaultFactory.
func New(route Route, content any) (Message, error) { return DefaultFactory.New(route, content) }

// AckContent is the content of an acknowledgement and of plain success replies.
const AckContent = "OK"

// IsAck reports whether m is an acknowledgement: a response whose content is
// the JSON string "OK".
func (m Message) IsAck() bool {
	if m.Route.Operation != OpResponse || m.Header.ParentID == "" {
		return false
	}
	s, err := m.DecodeString()
	return err == nil && s == AckContent
}

// IsResponse reports whether m answers another message.
func (m Message) IsResponse() bool { return m.Header.ParentID != "" }

// Time returns the header timestamp as a time.
func (m Message) Time() time.Time { return time.UnixMilli(m.Header.Timestamp) }

// WithContent returns a copy of m with content replaced by v marshalled to JSON.
func (m Message) WithContent(v any) (Message, error) {
	raw, err := marshalContent(v)
	if err != nil {
		return Message{}, err
	}
	m.Content = raw
	return m, nil
}

func marshalContent(v any) (json.RawMessage, error) {
	switch c := v.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if !json.Valid(c) {
			return nil, ErrInvalidContent
		}
		return append(json.RawMessage(nil), c...), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode content: %w", err)
	}
	return b, nil
}

// ErrInvalidContent is returned for content that is not valid JSON.
var ErrInvalidContent = errors.New("content is not valid JSON")
