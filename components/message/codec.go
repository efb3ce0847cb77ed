package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DecodeError reports a frame that is not a valid message.
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Err != nil {
		return "decode message: " + e.Reason + ": " + e.Err.Error()
	}
	return "decode message: " + e.Reason
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode parses one websocket frame into a message and validates it.
func Decode(frame []byte) (Message, error) {
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Message{}, &DecodeError{Reason: "frame is not a JSON object"}
	}
	var m Message
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return Message{}, &DecodeError{Reason: "invalid JSON", Err: err}
	}
	if err := m.Validate(); err != nil {
		return Message{}, &DecodeError{Reason: "invalid envelope", Err: err}
	}
	return m, nil
}

// Encode renders a message as one websocket frame, with keys and escaping as
// upstream's encoding/json produces them.
func Encode(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if m.Content == nil {
		m.Content = json.RawMessage("null")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.Header.ID, err)
	}
	return b, nil
}

// Validate checks the fields every upstream frame carries.
func (m Message) Validate() error {
	var errs []error
	if m.Header.ID == "" {
		errs = append(errs, errors.New("header.msg_id is empty"))
	}
	if m.Header.Timestamp < 0 {
		errs = append(errs, fmt.Errorf("header.timestamp %d is negative", m.Header.Timestamp))
	}
	if m.Route.Operation == "" {
		errs = append(errs, errors.New("route.operation is empty"))
	}
	if m.Content != nil && !json.Valid(m.Content) {
		errs = append(errs, ErrInvalidContent)
	}
	return errors.Join(errs...)
}

// IsNull reports whether the content is absent or JSON null.
func (m Message) IsNull() bool {
	c := bytes.TrimSpace(m.Content)
	return len(c) == 0 || string(c) == "null"
}

// DecodeString reads content that is a JSON string ("OK", "ping", a patch).
func (m Message) DecodeString() (string, error) {
	var s string
	if err := json.Unmarshal(m.Content, &s); err != nil {
		return "", fmt.Errorf("content of %s %s is not a string: %w", m.Route.Operation, m.Route.Resource, err)
	}
	return s, nil
}

// DecodeContent reads the content into v. Several upstream flows (twin,
// membership, servicebus, node and pod patches) send an object either as JSON
// or as a JSON string that holds JSON; both are accepted.
func (m Message) DecodeContent(v any) error {
	if m.IsNull() {
		return fmt.Errorf("content of %s %s is empty", m.Route.Operation, m.Route.Resource)
	}
	data := m.Content
	if data[0] == '"' {
		s, err := m.DecodeString()
		if err != nil {
			return err
		}
		data = []byte(s)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("content of %s %s: %w", m.Route.Operation, m.Route.Resource, err)
	}
	return nil
}

// ContentBytes returns the payload as bytes the way upstream's GetContentData
// does: the text of a JSON string, otherwise the raw JSON.
func (m Message) ContentBytes() []byte {
	if len(m.Content) > 0 && m.Content[0] == '"' {
		if s, err := m.DecodeString(); err == nil {
			return []byte(s)
		}
	}
	return append([]byte(nil), m.Content...)
}

// ObjectResponse is the reply content of cloud create/patch requests from the
// edge. The keys are capitalised on the wire ("Object", "Err") because upstream's
// struct has no JSON tags.
type ObjectResponse struct {
	Object json.RawMessage `json:"Object"`
	Err    *StatusError    `json:"Err"`
}

// StatusError is a Kubernetes StatusError as encoding/json renders it.
type StatusError struct {
	ErrStatus metav1.Status `json:"ErrStatus"`
}

// Error returns the API error carried by the response, or nil on success.
// A null Err, and upstream's "{}" for a non-status error, read as success, as
// upstream's edge reads them.
func (r ObjectResponse) Error() error {
	if r.Err == nil || r.Err.ErrStatus.Status == "" || r.Err.ErrStatus.Status == metav1.StatusSuccess {
		return nil
	}
	return &apierrors.StatusError{ErrStatus: r.Err.ErrStatus}
}

// NewObjectResponse builds the reply content for an object and an error from
// the API server. A non-status error becomes an InternalError status so that
// the edge sees a failure (upstream sends "{}", which reads as success).
func NewObjectResponse(obj any, err error) (ObjectResponse, error) {
	var r ObjectResponse
	if obj != nil {
		raw, merr := json.Marshal(obj)
		if merr != nil {
			return ObjectResponse{}, fmt.Errorf("encode object response: %w", merr)
		}
		r.Object = raw
	}
	if err != nil {
		var se apierrors.APIStatus
		if errors.As(err, &se) {
			r.Err = &StatusError{ErrStatus: se.Status()}
		} else {
			r.Err = &StatusError{ErrStatus: apierrors.NewInternalError(err).ErrStatus}
		}
	}
	return r, nil
}
