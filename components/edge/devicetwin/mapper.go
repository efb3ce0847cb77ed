package devicetwin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
)

// Limits of upstream's twin validation: names shorter than 128 bytes,
// values shorter than 512 bytes.
const (
	maxKeyLen   = 128
	maxValueLen = 512
)

// Twin value types a twin may declare (upstream's list, plus DeviceModel's
// bytes, which carries any string).
const (
	typeInt     = "int"
	typeFloat   = "float"
	typeDouble  = "double"
	typeBoolean = "boolean"
	typeBytes   = "bytes"
)

// lastOnlineLayout is upstream's format of last_online.
const lastOnlineLayout = "2006-01-02 15:04:05"

// stateOnline is the state that moves last_online.
const stateOnline = "online"

// requestError is a refused MQTT request and its result code.
type requestError struct {
	code   int
	reason string
}

func (e *requestError) Error() string { return strconv.Itoa(e.code) + ": " + e.reason }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, reason: fmt.Sprintf(format, args...)}
}

func notFound(id string) *requestError {
	return &requestError{code: http.StatusNotFound, reason: fmt.Sprintf("device %q does not exist", id)}
}

func shorten(s string) string {
	const n = 32
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// validateKey checks a twin property name: letters, digits and -_.,:/@#,
// shorter than 128 bytes.
func validateKey(k string) error {
	if k == "" {
		return badRequest("a twin property name is empty")
	}
	if len(k) >= maxKeyLen {
		return badRequest("twin property name %q is %d bytes long; it must be shorter than %d", shorten(k), len(k), maxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ',', c == ':', c == '/', c == '@', c == '#':
		default:
			return badRequest("twin property name %q contains %q; only letters, digits and -_.,:/@# are allowed", shorten(k), string(rune(c)))
		}
	}
	return nil
}

// validateValue checks a value against a twin type.
func validateValue(prop, typ, v string) error {
	if len(v) >= maxValueLen {
		return badRequest("value of %q is %d bytes long; it must be shorter than %d", prop, len(v), maxValueLen)
	}
	var err error
	switch typ {
	case twin.TypeString, typeBytes:
	case typeInt:
		_, err = strconv.ParseInt(v, 10, 64)
	case typeFloat:
		_, err = strconv.ParseFloat(v, 32)
	case typeDouble:
		_, err = strconv.ParseFloat(v, 64)
	case typeBoolean:
		if v != "true" && v != "false" {
			err = strconv.ErrSyntax
		}
	default:
		return badRequest("twin %q has type %q, which is not supported", prop, typ)
	}
	if err != nil {
		return badRequest("value %q of %q is not a valid %s", shorten(v), prop, typ)
	}
	return nil
}

// updateType is the type a mapper's value of prop is checked against: the
// stored twin's type, or for a new twin the type the mapper names (default
// string).
func updateType(stored, in *twin.MsgTwin) string {
	if typ := twinType(stored); typ != "" {
		return typ
	}
	if typ := twinType(in); typ != "" {
		return typ
	}
	return twin.TypeString
}

// validateUpdate checks one property of a mapper's twin update.
func validateUpdate(stored *twin.MsgTwin, prop string, in *twin.MsgTwin) error {
	if err := validateKey(prop); err != nil {
		return err
	}
	if in == nil {
		return badRequest("twin %q is null; the edge cannot delete twins", prop)
	}
	if isDeleted(in) {
		return badRequest("twin %q: type %q is reserved to the cloud", prop, twin.TypeDeleted)
	}
	typ := updateType(stored, in)
	n := 0
	for _, v := range []*twin.TwinValue{in.Actual, in.Expected} {
		if v == nil {
			continue
		}
		if v.Value == nil {
			return badRequest("twin %q has no value", prop)
		}
		if err := validateValue(prop, typ, *v.Value); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return badRequest("twin %q has neither an actual nor an expected value", prop)
	}
	return nil
}

// eventIDOf reads the event_id of a payload that may not parse as a whole.
func eventIDOf(payload []byte) string {
	var head struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(payload, &head)
	return head.EventID
}

func (t *DeviceTwin) publishError(topic, eventID string, err error) {
	rerr, ok := err.(*requestError)
	if !ok {
		rerr = &requestError{code: http.StatusInternalServerError, reason: err.Error()}
	}
	t.log.V(1).Info("request refused", "topic", topic, "code", rerr.code, "reason", rerr.reason)
	t.publish(topic, twin.ErrorResult{BaseMessage: t.base(eventID), Code: rerr.code, Reason: rerr.reason})
}

// decodeRequest unmarshals the payload of a get request; an empty payload
// is a request without an event id.
func decodeRequest(payload []byte, v any) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil
	}
	return decodePayload(payload, v)
}

// decodePayload unmarshals an MQTT payload, bounding its size.
func decodePayload(payload []byte, v any) error {
	if len(payload) > MaxPayload {
		return badRequest("payload is %d bytes; at most %d are accepted", len(payload), MaxPayload)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return badRequest("payload is not valid: %v", err)
	}
	return nil
}

// twinUpdate handles $hw/events/device/<id>/twin/update: a mapper reports
// actual values (and may set expected ones). The whole update is checked
// first; a refused update changes nothing.
func (t *DeviceTwin) twinUpdate(id string, payload []byte) {
	resultTopic := deviceTopic(id, actionTwinUpdateResult)
	var req twin.DeviceTwinUpdate
	if err := decodePayload(payload, &req); err != nil {
		t.publishError(resultTopic, eventIDOf(payload), err)
		return
	}
	old, ok := t.devices[id]
	if !ok {
		t.publishError(resultTopic, req.EventID, notFound(id))
		return
	}
	if len(req.Twin) == 0 {
		t.publishError(resultTopic, req.EventID, badRequest("the update has no twin"))
		return
	}
	props := sortedKeys(req.Twin)
	for _, prop := range props {
		if err := validateUpdate(old.Twin[prop], prop, req.Twin[prop]); err != nil {
			t.publishError(resultTopic, req.EventID, err)
			return
		}
	}

	now := t.now().UnixMilli()
	next := old.clone()
	docs := twinDocs{}
	var reported []string
	for _, prop := range props {
		in := req.Twin[prop]
		last := old.Twin[prop]
		cur := cloneTwin(last)
		if cur == nil {
			cur = &twin.MsgTwin{Metadata: &twin.TypeMetadata{Type: updateType(nil, in)}, Optional: cloneBool(in.Optional)}
		}
		changed := last == nil
		if v, ok := valueOf(in.Actual); ok {
			if prev, had := valueOf(cur.Actual); !had || prev != v {
				cur.Actual = &twin.TwinValue{Value: twin.StringPtr(v), Metadata: &twin.ValueMetadata{Timestamp: now}}
				cur.ActualVersion = bumpEdge(cur.ActualVersion)
				reported = append(reported, prop)
				changed = true
			}
		}
		if v, ok := valueOf(in.Expected); ok {
			if prev, had := valueOf(cur.Expected); !had || prev != v {
				cur.Expected = &twin.TwinValue{Value: twin.StringPtr(v), Metadata: &twin.ValueMetadata{Timestamp: now}}
				cur.ExpectedVersion = bumpEdge(cur.ExpectedVersion)
				changed = true
			}
		}
		if changed {
			next.Twin[prop] = cur
			docs.add(prop, last, cur)
		}
	}
	if len(docs) > 0 {
		next.addUnsent(reported...)
		var c change
		c.put(next)
		if err := t.commit(c); err != nil {
			t.log.Error(err, "twin update not stored", "device", id)
			t.publishError(resultTopic, req.EventID, err)
			return
		}
	} else {
		next = old // a report of unchanged values: nothing to write or send
	}

	result := make(map[string]*twin.MsgTwin, len(props))
	for _, prop := range props {
		result[prop] = cloneTwin(next.Twin[prop])
	}
	t.publish(resultTopic, twin.DeviceTwinUpdate{BaseMessage: t.base(req.EventID), Twin: result})
	if len(docs) > 0 {
		t.publishDocument(id, req.EventID, docs)
	}
	t.publishDelta(next, req.EventID)
	t.flush(next)
}

func bumpEdge(v *twin.TwinVersion) *twin.TwinVersion {
	if v == nil {
		return &twin.TwinVersion{EdgeVersion: 1}
	}
	return &twin.TwinVersion{CloudVersion: v.CloudVersion, EdgeVersion: v.EdgeVersion + 1}
}

// twinGet handles $hw/events/device/<id>/twin/get from meta.db.
func (t *DeviceTwin) twinGet(id string, payload []byte) {
	resultTopic := deviceTopic(id, actionTwinGetResult)
	var req twin.BaseMessage
	if err := decodeRequest(payload, &req); err != nil {
		t.publishError(resultTopic, eventIDOf(payload), err)
		return
	}
	rec, found, err := t.stored(id)
	switch {
	case err != nil:
		t.log.Error(err, "twin get", "device", id)
		t.publishError(resultTopic, req.EventID, err)
		return
	case !found:
		t.publishError(resultTopic, req.EventID, notFound(id))
		return
	}
	twins := map[string]*twin.MsgTwin{}
	for k, v := range rec.Twin {
		if !isDeleted(v) {
			twins[k] = v
		}
	}
	t.publish(resultTopic, twin.DeviceTwinUpdate{BaseMessage: t.base(req.EventID), Twin: twins})
}

// stateUpdate handles $hw/events/device/<id>/state/update: the mapper's
// view of the device's connection state.
func (t *DeviceTwin) stateUpdate(id string, payload []byte) {
	resultTopic := deviceTopic(id, actionStateUpdateResult)
	var req twin.DeviceUpdate
	if err := decodePayload(payload, &req); err != nil {
		t.publishError(resultTopic, eventIDOf(payload), err)
		return
	}
	old, ok := t.devices[id]
	if !ok {
		t.publishError(resultTopic, req.EventID, notFound(id))
		return
	}
	if err := validateState(req.State); err != nil {
		t.publishError(resultTopic, req.EventID, err)
		return
	}
	next := old.clone()
	next.State = req.State
	if req.State == stateOnline {
		next.LastOnline = t.now().Format(lastOnlineLayout)
	}
	next.UnsentState = true
	var c change
	c.put(next)
	if err := t.commit(c); err != nil {
		t.log.Error(err, "device state not stored", "device", id)
		t.publishError(resultTopic, req.EventID, err)
		return
	}
	t.publish(resultTopic, t.stateResult(next, req.EventID))
	t.flush(next)
}

func validateState(s string) error {
	if s == "" {
		return badRequest("state is empty")
	}
	if len(s) >= maxKeyLen {
		return badRequest("state is %d bytes long; it must be shorter than %d", len(s), maxKeyLen)
	}
	return nil
}

func (t *DeviceTwin) stateResult(rec *record, eventID string) twin.DeviceStateResult {
	return twin.DeviceStateResult{
		BaseMessage: t.base(eventID),
		Device:      twin.DeviceState{Name: rec.Name, State: rec.State, LastOnline: rec.LastOnline},
	}
}

// membershipGet handles $hw/events/node/<node>/membership/get from meta.db.
func (t *DeviceTwin) membershipGet(payload []byte) {
	resultTopic := nodeTopic(t.cfg.NodeName, actionMembershipGetResult)
	var req twin.BaseMessage
	if err := decodeRequest(payload, &req); err != nil {
		t.publishError(resultTopic, eventIDOf(payload), err)
		return
	}
	recs, err := t.storedAll()
	if err != nil {
		t.log.Error(err, "membership get")
		t.publishError(resultTopic, req.EventID, err)
		return
	}
	devices := make([]twin.Device, 0, len(recs))
	for _, r := range recs {
		devices = append(devices, r.device(false))
	}
	t.publish(resultTopic, twin.MembershipGetResult{BaseMessage: t.base(req.EventID), Devices: devices})
}
