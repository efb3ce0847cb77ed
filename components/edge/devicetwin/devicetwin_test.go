package devicetwin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

var (
	updatedTopic = nodeTopic(testNode, actionMembershipUpdated)
	deltaTopic   = deviceTopic("dev1", actionTwinUpdateDelta)
	docTopic     = deviceTopic("dev1", actionTwinUpdateDocument)
	resultTopic  = deviceTopic("dev1", actionTwinUpdateResult)
	updateTopic  = deviceTopic("dev1", actionTwinUpdate)
)

func TestMembershipAdd(t *testing.T) {
	tests := []struct {
		name      string
		twins     map[string]*twin.MsgTwin
		wantDelta map[string]string // nil: no delta published
	}{
		{"expected value differs from (missing) actual", map[string]*twin.MsgTwin{"temp": cloudTwin("25", "int", 5)},
			map[string]string{"temp": "25"}},
		{"empty expected value", map[string]*twin.MsgTwin{"temp": cloudTwin("", "int", 5)}, nil},
		{"no twins", nil, nil},
		{"deleted twin is not stored", map[string]*twin.MsgTwin{"gone": {Metadata: &twin.TypeMetadata{Type: twin.TypeDeleted}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cloud(membershipAdd("ev-1", twin.Device{ID: "dev1", Name: "dev1", Twin: tc.twins}))

			upd := f.rec.on(updatedTopic)
			if len(upd) != 1 {
				t.Fatalf("membership/updated published %d times; topics %v", len(upd), f.rec.topics())
			}
			mu := decode[twin.MembershipUpdate](t, upd[0])
			if mu.EventID != "ev-1" || len(mu.AddDevices) != 1 || mu.AddDevices[0].ID != "dev1" || len(mu.RemoveDevices) != 0 {
				t.Errorf("membership/updated %s", upd[0])
			}
			deltas := f.rec.on(deltaTopic)
			if tc.wantDelta == nil {
				if len(deltas) != 0 {
					t.Errorf("unexpected delta %s", deltas[0])
				}
			} else {
				if len(deltas) != 1 {
					t.Fatalf("delta published %d times", len(deltas))
				}
				d := decode[twin.DeviceTwinDelta](t, deltas[0])
				if len(d.Delta) != len(tc.wantDelta) || d.Delta["temp"] != tc.wantDelta["temp"] {
					t.Errorf("delta %v, want %v", d.Delta, tc.wantDelta)
				}
			}
			dev := f.device("dev1")
			if _, ok := dev.Twin["gone"]; ok {
				t.Error("a deleted twin was stored")
			}
			if f.storedDoc(DefaultNamespace, "dev1") == "" {
				t.Error("no twin document in meta.db under the default namespace")
			}
		})
	}
}

// The golden delta: keys as upstream's mappers read them.
func TestGoldenDelta(t *testing.T) {
	f := newFixture(t)
	f.cloud(membershipAdd("ev-1", twin.Device{ID: "dev1", Name: "dev1",
		Twin: map[string]*twin.MsgTwin{"temp": cloudTwin("25", "int", 5)}}))
	deltas := f.rec.on(deltaTopic)
	if len(deltas) != 1 {
		t.Fatalf("deltas %d", len(deltas))
	}
	golden(t, "delta.json", deltas[0])
}

// A re-add after a reconnect is a sync: actual values stay, desired values
// change only with a newer cloud version, nothing is announced as added.
func TestMembershipReAddIsSync(t *testing.T) {
	tests := []struct {
		name         string
		readd        *twin.MsgTwin
		wantExpected string
		wantDelta    bool
	}{
		{"same version", cloudTwin("25", "int", 5), "25", false},
		{"same version, other content, is not newer", cloudTwin("30", "int", 5), "25", false},
		{"older version", cloudTwin("10", "int", 4), "25", false},
		{"newer version", cloudTwin("30", "int", 6), "30", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addThermometer("dev1")
			f.mqtt(updateTopic, `{"event_id":"m1","twin":{"temp":{"actual":{"value":"21"}}}}`)
			f.rec.reset()

			dev := thermometer("dev1")
			dev.Twin["temp"] = tc.readd
			f.cloud(membershipAdd("ev-2", dev))

			got := f.device("dev1").Twin["temp"]
			if value(got.Actual) != "21" {
				t.Errorf("actual value lost: %s", value(got.Actual))
			}
			if value(got.Expected) != tc.wantExpected {
				t.Errorf("expected %s, want %s", value(got.Expected), tc.wantExpected)
			}
			if n := len(f.rec.on(updatedTopic)); n != 0 {
				t.Errorf("a re-add published membership/updated %d times", n)
			}
			if got := len(f.rec.on(deltaTopic)) > 0; got != tc.wantDelta {
				t.Errorf("delta published %v, want %v", got, tc.wantDelta)
			}
		})
	}
}

func TestMembershipRemove(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.addThermometer("dev2")
	f.cloud(membershipRemove("ev-3", "dev1", "unknown"))
	if f.storedDoc(DefaultNamespace, "dev1") != "" {
		t.Error("dev1 still stored")
	}
	if _, found, _ := f.dt.Device("dev2"); !found {
		t.Error("dev2 lost")
	}
	upd := f.rec.on(updatedTopic)
	if len(upd) != 1 {
		t.Fatalf("membership/updated %d", len(upd))
	}
	mu := decode[twin.MembershipUpdate](t, upd[0])
	if len(mu.RemoveDevices) != 1 || mu.RemoveDevices[0].ID != "dev1" || len(mu.AddDevices) != 0 {
		t.Errorf("membership/updated %s", upd[0])
	}
}

func TestCloudUpdated(t *testing.T) {
	tests := []struct {
		name         string
		twins        map[string]*twin.MsgTwin
		wantExpected string // of temp; "<nil>" when the twin is gone
		wantVersion  int64
		wantDoc      bool
		wantDelta    bool
	}{
		{"newer version applied", map[string]*twin.MsgTwin{"temp": cloudTwin("30", "int", 7)}, "30", 7, true, true},
		{"stale version ignored", map[string]*twin.MsgTwin{"temp": cloudTwin("30", "int", 4)}, "25", 5, false, false},
		{"resend of the same version is published again", map[string]*twin.MsgTwin{"temp": cloudTwin("25", "int", 5)}, "25", 5, true, true},
		{"deleted removes the twin", map[string]*twin.MsgTwin{"temp": {Metadata: &twin.TypeMetadata{Type: twin.TypeDeleted},
			ExpectedVersion: &twin.TwinVersion{CloudVersion: 7}}}, "<nil>", 0, true, false},
		{"stale deletion ignored", map[string]*twin.MsgTwin{"temp": {Metadata: &twin.TypeMetadata{Type: twin.TypeDeleted},
			ExpectedVersion: &twin.TwinVersion{CloudVersion: 3}}}, "25", 5, false, false},
		{"new twin added", map[string]*twin.MsgTwin{"hum": cloudTwin("40", "int", 7)}, "25", 5, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addThermometer("dev1")
			f.mqtt(updateTopic, `{"event_id":"m1","twin":{"temp":{"actual":{"value":"21"}}}}`)
			f.rec.reset()
			before := f.storedDoc(DefaultNamespace, "dev1")

			f.cloud(cloudUpdate("dev1", "ev-cu", tc.twins))

			dev := f.device("dev1")
			tw := dev.Twin["temp"]
			if tc.wantExpected == "<nil>" {
				if tw != nil {
					t.Fatalf("twin not deleted: %+v", tw)
				}
			} else {
				if value(tw.Expected) != tc.wantExpected || tw.ExpectedVersion.CloudVersion != tc.wantVersion {
					t.Errorf("expected %s@%d, want %s@%d", value(tw.Expected), tw.ExpectedVersion.CloudVersion, tc.wantExpected, tc.wantVersion)
				}
				if value(tw.Actual) != "21" {
					t.Errorf("actual value changed to %s", value(tw.Actual))
				}
			}
			if !tc.wantDoc && f.storedDoc(DefaultNamespace, "dev1") != before {
				t.Error("an ignored update changed meta.db")
			}
			if got := len(f.rec.on(docTopic)) == 1; got != tc.wantDoc {
				t.Errorf("document published %v, want %v", got, tc.wantDoc)
			}
			if got := len(f.rec.on(deltaTopic)) == 1; got != tc.wantDelta {
				t.Errorf("delta published %v, want %v (%v)", got, tc.wantDelta, f.rec.topics())
			}
			for _, d := range f.rec.on(deltaTopic) {
				for prop := range decode[twin.DeviceTwinDelta](t, d).Delta {
					if v := dev.Twin[prop]; v == nil || value(v.Expected) == "" || value(v.Expected) == value(v.Actual) {
						t.Errorf("delta lists %q whose expected matches actual or is empty", prop)
					}
				}
			}
		})
	}
}

func TestCloudUpdatedDocument(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.cloud(cloudUpdate("dev1", "ev-cu", map[string]*twin.MsgTwin{"temp": cloudTwin("30", "int", 7)}))
	docs := f.rec.on(docTopic)
	if len(docs) != 1 {
		t.Fatalf("documents %d", len(docs))
	}
	doc := decode[twin.DeviceTwinDocument](t, docs[0])
	d := doc.Twin["temp"]
	if doc.EventID != "ev-cu" || d == nil || value(d.LastState.Expected) != "25" || value(d.CurrentState.Expected) != "30" {
		t.Errorf("document %s", docs[0])
	}
}

func TestMapperUpdateValid(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.mqtt(updateTopic, `{"event_id":"m1","timestamp":5,"twin":{
		"temp":{"actual":{"value":"21","metadata":{"timestamp":123}},"metadata":{"type":"int"}},
		"ratio":{"actual":{"value":"0.5"}},
		"switch":{"actual":{"value":"true"}},
		"label":{"actual":{"value":"kitchen"}}}}`)

	dev := f.device("dev1")
	for prop, want := range map[string]string{"temp": "21", "ratio": "0.5", "switch": "true", "label": "kitchen"} {
		tw := dev.Twin[prop]
		if value(tw.Actual) != want || tw.ActualVersion == nil || tw.ActualVersion.EdgeVersion != 1 {
			t.Errorf("%s stored as %+v", prop, tw)
		}
	}
	results := f.rec.on(resultTopic)
	if len(results) != 1 {
		t.Fatalf("results %d", len(results))
	}
	res := decode[twin.DeviceTwinUpdate](t, results[0])
	if res.EventID != "m1" || value(res.Twin["temp"].Actual) != "21" {
		t.Errorf("result %s", results[0])
	}
	if len(f.rec.on(docTopic)) != 1 {
		t.Error("no document")
	}
	// temp: expected 25, actual 21.
	deltas := f.rec.on(deltaTopic)
	if len(deltas) != 1 || decode[twin.DeviceTwinDelta](t, deltas[0]).Delta["temp"] != "25" {
		t.Errorf("deltas %q", deltas)
	}

	sentMsgs := f.rec.sentMessages()
	if len(sentMsgs) != 4 {
		t.Fatalf("sent %d messages, want one per property", len(sentMsgs))
	}
	keys := map[string]bool{}
	for _, s := range sentMsgs {
		keys[s.key] = true
		r := s.msg.Route
		if r.Source != message.SourceTwin || r.Group != message.GroupResource || r.Operation != message.OpUpdate ||
			r.Resource != "device/dev1/twin/edge_updated" {
			t.Errorf("route %+v", r)
		}
		var c twin.DeviceTwinUpdate
		if err := s.msg.DecodeContent(&c); err != nil || len(c.Twin) != 1 {
			t.Fatalf("content %s: %v", s.msg.Content, err)
		}
		for prop, tw := range c.Twin {
			if s.key != CoalesceKeyTwin("dev1", prop) {
				t.Errorf("coalesce key %q for %q", s.key, prop)
			}
			if tw.Actual == nil || tw.Metadata == nil || tw.Expected != nil {
				t.Errorf("edge_updated twin %+v", tw)
			}
		}
	}
	if !keys["twin/dev1/temp"] {
		t.Errorf("keys %v", keys)
	}

	// The same report again changes nothing and sends nothing.
	f.rec.reset()
	before := f.storedDoc(DefaultNamespace, "dev1")
	f.mqtt(updateTopic, `{"event_id":"m2","twin":{"temp":{"actual":{"value":"21"}}}}`)
	if f.storedDoc(DefaultNamespace, "dev1") != before || len(f.rec.sentMessages()) != 0 || len(f.rec.on(resultTopic)) != 1 {
		t.Errorf("unchanged report: sent %d, results %d", len(f.rec.sentMessages()), len(f.rec.on(resultTopic)))
	}
}

// The golden update result and edge_updated content.
func TestGoldenUpdateResult(t *testing.T) {
	f := newFixture(t)
	f.cloud(membershipAdd("ev-1", twin.Device{ID: "dev1", Name: "dev1",
		Twin: map[string]*twin.MsgTwin{"temp": cloudTwin("25", "int", 5)}}))
	f.rec.reset()
	f.mqtt(updateTopic, `{"event_id":"m1","timestamp":5,"twin":{"temp":{"actual":{"value":"21","metadata":{"timestamp":123}},"metadata":{"type":"int"}}}}`)
	results := f.rec.on(resultTopic)
	if len(results) != 1 {
		t.Fatalf("results %d", len(results))
	}
	golden(t, "update_result.json", results[0])
	sentMsgs := f.rec.sentMessages()
	if len(sentMsgs) != 1 {
		t.Fatalf("sent %d", len(sentMsgs))
	}
	frame, err := message.Encode(sentMsgs[0].msg)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "edge_updated_message.json", frame)
}

func TestMapperUpdateRefused(t *testing.T) {
	long := strings.Repeat("k", 128)
	tests := []struct {
		name     string
		topic    string
		payload  string
		wantCode int
	}{
		{"malformed JSON", updateTopic, `{"event_id":"e1","twin":{`, 400},
		{"not an object", updateTopic, `[1,2]`, 400},
		{"unknown device", deviceTopic("nope", actionTwinUpdate), `{"event_id":"e1","twin":{"temp":{"actual":{"value":"1"}}}}`, 404},
		{"no twin", updateTopic, `{"event_id":"e1"}`, 400},
		{"wrong type for int", updateTopic, `{"event_id":"e1","twin":{"temp":{"actual":{"value":"warm"}}}}`, 400},
		{"float for int", updateTopic, `{"event_id":"e1","twin":{"temp":{"actual":{"value":"2.5"}}}}`, 400},
		{"wrong type for float", updateTopic, `{"event_id":"e1","twin":{"ratio":{"actual":{"value":"half"}}}}`, 400},
		{"wrong boolean", updateTopic, `{"event_id":"e1","twin":{"switch":{"actual":{"value":"yes"}}}}`, 400},
		{"type in message does not override the twin's", updateTopic, `{"event_id":"e1","twin":{"temp":{"actual":{"value":"warm"},"metadata":{"type":"string"}}}}`, 400},
		{"too-long key", updateTopic, `{"event_id":"e1","twin":{"` + long + `":{"actual":{"value":"1"}}}}`, 400},
		{"forbidden character in key", updateTopic, `{"event_id":"e1","twin":{"te mp":{"actual":{"value":"1"}}}}`, 400},
		{"too-long value", updateTopic, `{"event_id":"e1","twin":{"label":{"actual":{"value":"` + strings.Repeat("v", 512) + `"}}}}`, 400},
		{"null twin", updateTopic, `{"event_id":"e1","twin":{"temp":null}}`, 400},
		{"no value", updateTopic, `{"event_id":"e1","twin":{"temp":{"actual":{}}}}`, 400},
		{"neither actual nor expected", updateTopic, `{"event_id":"e1","twin":{"temp":{"metadata":{"type":"int"}}}}`, 400},
		{"deletion from the edge", updateTopic, `{"event_id":"e1","twin":{"temp":{"actual":{"value":"1"},"metadata":{"type":"deleted"}}}}`, 400},
		{"new twin of an unknown type", updateTopic, `{"event_id":"e1","twin":{"x":{"actual":{"value":"1"},"metadata":{"type":"complex"}}}}`, 400},
		{"oversized payload", updateTopic, `{"event_id":"e1","x":"` + strings.Repeat("a", MaxPayload) + `"}`, 400},
		{"one bad property refuses the whole update", updateTopic, `{"event_id":"e1","twin":{"label":{"actual":{"value":"ok"}},"temp":{"actual":{"value":"x"}}}}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addThermometer("dev1")
			before := f.storedDoc(DefaultNamespace, "dev1")

			f.mqtt(tc.topic, tc.payload)

			results := f.rec.on(strings.TrimSuffix(tc.topic, "/twin/update") + "/twin/update/result")
			if len(results) != 1 {
				t.Fatalf("results %d; topics %v", len(results), f.rec.topics())
			}
			var res map[string]any
			if err := json.Unmarshal(results[0], &res); err != nil {
				t.Fatal(err)
			}
			if code, _ := res["code"].(float64); int(code) != tc.wantCode {
				t.Errorf("code %v, want %d: %s", res["code"], tc.wantCode, results[0])
			}
			for _, k := range []string{"event_id", "timestamp", "code", "reason"} {
				if _, ok := res[k]; !ok {
					t.Errorf("error result lacks %q: %s", k, results[0])
				}
			}
			if res["reason"] == "" {
				t.Error("empty reason")
			}
			if f.storedDoc(DefaultNamespace, "dev1") != before {
				t.Error("a refused update changed meta.db")
			}
			if n := len(f.rec.sentMessages()); n != 0 {
				t.Errorf("a refused update sent %d messages", n)
			}
			if len(f.rec.topics()) != 1 {
				t.Errorf("published more than the result: %v", f.rec.topics())
			}
		})
	}
}

func TestMapperAddsTwinAndSetsExpected(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.mqtt(updateTopic, `{"event_id":"e1","twin":{"hum":{"actual":{"value":"40"},"metadata":{"type":"int"}},"label":{"expected":{"value":"x"}}}}`)
	dev := f.device("dev1")
	if hum := dev.Twin["hum"]; hum == nil || value(hum.Actual) != "40" || twinType(hum) != "int" {
		t.Errorf("hum %+v", hum)
	}
	if l := dev.Twin["label"]; value(l.Expected) != "x" || l.ExpectedVersion.EdgeVersion != 1 || l.ExpectedVersion.CloudVersion != 5 {
		t.Errorf("label %+v", l)
	}
	if n := len(f.rec.sentMessages()); n != 1 {
		t.Errorf("sent %d, want 1 (only actual values go to the cloud)", n)
	}
}

// twin/get is answered from meta.db after a restart, through Run.
func TestTwinGetAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	f := openFixture(t, path)
	f.addThermometer("dev1")
	f.mqtt(updateTopic, `{"event_id":"m1","twin":{"temp":{"actual":{"value":"21"}}}}`)
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	rec := &recorder{}
	dt := newModule(db, rec, 16)
	ctx, stop := runModule(t, dt)
	defer stop()
	dt.HandleMQTT(deviceTopic("dev1", actionTwinGet), []byte(`{"event_id":"g1","timestamp":1}`))
	dt.HandleMQTT(deviceTopic("nope", actionTwinGet), []byte(`{"event_id":"g2"}`))
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dt.barrier(waitCtx); err != nil {
		t.Fatal(err)
	}
	got := rec.on(deviceTopic("dev1", actionTwinGetResult))
	if len(got) != 1 {
		t.Fatalf("get results %d", len(got))
	}
	res := decode[twin.DeviceTwinUpdate](t, got[0])
	if res.EventID != "g1" || value(res.Twin["temp"].Actual) != "21" || value(res.Twin["temp"].Expected) != "25" || len(res.Twin) != 4 {
		t.Errorf("get result %s", got[0])
	}
	miss := rec.on(deviceTopic("nope", actionTwinGetResult))
	if len(miss) != 1 || decode[twin.ErrorResult](t, miss[0]).Code != 404 {
		t.Errorf("unknown device get %q", miss)
	}
}

// A report Upstream could not take is sent after a restart.
func TestUnsentReportSentAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	f := openFixture(t, path)
	f.addThermometer("dev1")
	f.rec.failSend = true
	f.mqtt(updateTopic, `{"event_id":"m1","twin":{"temp":{"actual":{"value":"21"}}}}`)
	f.mqtt(deviceTopic("dev1", actionStateUpdate), `{"event_id":"s1","state":"online"}`)
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}

	db := openDB(t, path)
	rec := &recorder{}
	dt := newModule(db, rec, 16)
	ctx, stop := runModule(t, dt)
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dt.barrier(waitCtx); err != nil {
		t.Fatal(err)
	}
	stop()
	keys := map[string]bool{}
	for _, s := range rec.sentMessages() {
		keys[s.key] = true
	}
	if !keys[CoalesceKeyTwin("dev1", "temp")] || !keys[CoalesceKeyState("dev1")] || len(keys) != 2 {
		t.Errorf("sent after restart: %v", keys)
	}
}

func TestStateUpdate(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.mqtt(deviceTopic("dev1", actionStateUpdate), `{"event_id":"s1","timestamp":1,"state":"online"}`)

	wantLast := time.UnixMilli(testNow).Format(lastOnlineLayout)
	dev := f.device("dev1")
	if dev.State != "online" || dev.LastOnline != wantLast {
		t.Errorf("stored state %q last_online %q", dev.State, dev.LastOnline)
	}
	results := f.rec.on(deviceTopic("dev1", actionStateUpdateResult))
	if len(results) != 1 {
		t.Fatalf("results %d", len(results))
	}
	want := `{"event_id":"s1","timestamp":1700000000000,"device":{"name":"dev1","state":"online","last_online":"` + wantLast + `"}}`
	if string(results[0]) != want {
		t.Errorf("result\n got %s\nwant %s", results[0], want)
	}
	sentMsgs := f.rec.sentMessages()
	if len(sentMsgs) != 1 {
		t.Fatalf("sent %d", len(sentMsgs))
	}
	s := sentMsgs[0]
	if s.key != CoalesceKeyState("dev1") || s.msg.Route.Resource != "device/dev1/state/update" ||
		s.msg.Route.Source != message.SourceTwin || s.msg.Route.Group != message.GroupResource || s.msg.Route.Operation != message.OpUpdate {
		t.Errorf("sent %+v key %q", s.msg.Route, s.key)
	}
	str, err := s.msg.DecodeString()
	if err != nil {
		t.Fatalf("state content is not a JSON string: %s", s.msg.Content)
	}
	if r := decode[twin.DeviceStateResult](t, []byte(str)); r.Device.State != "online" || r.Device.Name != "dev1" {
		t.Errorf("state content %s", str)
	}

	// Offline keeps last_online; errors are answered.
	f.rec.reset()
	f.mqtt(deviceTopic("dev1", actionStateUpdate), `{"event_id":"s2","state":"offline"}`)
	if dev := f.device("dev1"); dev.State != "offline" || dev.LastOnline != wantLast {
		t.Errorf("after offline: %+v", dev)
	}
	for payload, code := range map[string]int{`{"state":""}`: 400, `nope`: 400} {
		f.rec.reset()
		f.mqtt(deviceTopic("dev1", actionStateUpdate), payload)
		res := f.rec.on(deviceTopic("dev1", actionStateUpdateResult))
		if len(res) != 1 || decode[twin.ErrorResult](t, res[0]).Code != code {
			t.Errorf("%s: results %q", payload, res)
		}
	}
	f.rec.reset()
	f.mqtt(deviceTopic("nope", actionStateUpdate), `{"state":"online"}`)
	if res := f.rec.on(deviceTopic("nope", actionStateUpdateResult)); len(res) != 1 || decode[twin.ErrorResult](t, res[0]).Code != 404 {
		t.Errorf("unknown device: %q", res)
	}
}

func TestTwinGetEmptyPayload(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1")
	f.mqtt(deviceTopic("dev1", actionTwinGet), "")
	got := f.rec.on(deviceTopic("dev1", actionTwinGetResult))
	if len(got) != 1 || len(decode[twin.DeviceTwinUpdate](t, got[0]).Twin) != 4 {
		t.Errorf("get result %q", got)
	}
	f.rec.reset()
	f.mqtt(deviceTopic("dev1", actionTwinGet), "{")
	if got := f.rec.on(deviceTopic("dev1", actionTwinGetResult)); len(got) != 1 || decode[twin.ErrorResult](t, got[0]).Code != 400 {
		t.Errorf("malformed get %q", got)
	}
}

func TestMembershipGet(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev2")
	f.addThermometer("dev1")
	f.mqtt(nodeTopic(testNode, actionMembershipGet), `{"event_id":"g1"}`)
	f.mqtt(nodeTopic("other-node", actionMembershipGet), `{"event_id":"g2"}`)
	got := f.rec.on(nodeTopic(testNode, actionMembershipGetResult))
	if len(got) != 1 {
		t.Fatalf("results %d (%v)", len(got), f.rec.topics())
	}
	res := decode[twin.MembershipGetResult](t, got[0])
	if res.EventID != "g1" || len(res.Devices) != 2 || res.Devices[0].ID != "dev1" || res.Devices[1].ID != "dev2" ||
		res.Devices[0].Twin != nil || res.Devices[0].Description != "thermometer" {
		t.Errorf("membership/get/result %s", got[0])
	}
	if len(f.rec.topics()) != 1 {
		t.Errorf("answered another node's request: %v", f.rec.topics())
	}
}

func deviceObject(t *testing.T, ns, name, rv string, twins ...[2]string) store.Object {
	t.Helper()
	type desired struct {
		Value    string            `json:"value"`
		Metadata map[string]string `json:"metadata,omitempty"`
	}
	type tw struct {
		PropertyName string  `json:"propertyName"`
		Desired      desired `json:"desired"`
		Reported     desired `json:"reported"`
	}
	var list []tw
	for _, p := range twins {
		list = append(list, tw{PropertyName: p[0], Desired: desired{Value: p[1], Metadata: map[string]string{"type": "int"}}})
	}
	obj := map[string]any{
		"apiVersion": "devices.kubeedge.io/v1alpha2", "kind": "Device",
		"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": rv, "uid": "u-" + name,
			"labels": map[string]string{"description": "from object"}},
		"spec":   map[string]any{"deviceModelRef": map[string]string{"name": "model"}},
		"status": map[string]any{"twins": list},
	}
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	o, err := store.NewObject(message.Resource{Namespace: ns, Type: message.ResDevice, Name: name}, data)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDeviceEvents(t *testing.T) {
	f := newFixture(t)
	f.addThermometer("dev1") // via membership: default namespace, temp expected 25 @5

	// The Device object (same version) moves the twin to its namespace and
	// changes no desired value.
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpInsert, Object: deviceObject(t, "factory", "dev1", "5",
		[2]string{"temp", "25"}, [2]string{"ratio", ""}, [2]string{"switch", ""}, [2]string{"label", ""})})
	f.drain()
	if f.storedDoc(DefaultNamespace, "dev1") != "" || f.storedDoc("factory", "dev1") == "" {
		t.Fatal("twin not moved to the device's namespace")
	}
	if n := len(f.rec.on(deltaTopic)) + len(f.rec.on(docTopic)); n != 0 {
		t.Errorf("same version published %d twin messages", n)
	}

	// An older object changes nothing; a newer one takes desired values and
	// drops cloud twins it no longer lists.
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpUpdate, Object: deviceObject(t, "factory", "dev1", "4", [2]string{"temp", "1"})})
	f.drain()
	if v := value(f.device("dev1").Twin["temp"].Expected); v != "25" {
		t.Errorf("older object applied: %s", v)
	}
	f.mqtt(updateTopic, `{"event_id":"m1","twin":{"hum":{"actual":{"value":"3"},"metadata":{"type":"int"}}}}`)
	f.rec.reset()
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpUpdate, Object: deviceObject(t, "factory", "dev1", "9", [2]string{"temp", "30"})})
	f.drain()
	dev := f.device("dev1")
	if tw := dev.Twin["temp"]; value(tw.Expected) != "30" || tw.ExpectedVersion.CloudVersion != 9 {
		t.Errorf("temp %+v", tw)
	}
	if _, ok := dev.Twin["ratio"]; ok {
		t.Error("a cloud twin the object no longer lists was kept")
	}
	if _, ok := dev.Twin["hum"]; !ok {
		t.Error("a twin the mapper created was dropped")
	}
	if len(f.rec.on(deltaTopic)) != 1 || len(f.rec.on(docTopic)) != 1 {
		t.Errorf("topics %v", f.rec.topics())
	}

	// Delete removes the state and announces it.
	f.rec.reset()
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpDelete, Object: deviceObject(t, "factory", "dev1", "9")})
	f.drain()
	if f.storedDoc("factory", "dev1") != "" {
		t.Error("twin state left after delete")
	}
	if _, found, _ := f.dt.Device("dev1"); found {
		t.Error("Device still finds it")
	}
	upd := f.rec.on(updatedTopic)
	if len(upd) != 1 {
		t.Fatalf("membership/updated %d", len(upd))
	}
	if mu := decode[twin.MembershipUpdate](t, upd[0]); len(mu.RemoveDevices) != 1 || mu.RemoveDevices[0].ID != "dev1" {
		t.Errorf("membership/updated %s", upd[0])
	}

	// An object for a device never seen adds it.
	f.rec.reset()
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpInsert, Object: deviceObject(t, "factory", "dev3", "11", [2]string{"temp", "7"})})
	f.dt.HandleDeviceEvent(metamanager.Event{Op: message.OpInsert, Object: store.Object{
		Key: message.Resource{Namespace: "factory", Type: message.ResDeviceModel, Name: "model"}, Data: json.RawMessage(`{}`)}})
	f.drain()
	if d := f.device("dev3"); value(d.Twin["temp"].Expected) != "7" || d.Description != "from object" {
		t.Errorf("dev3 %+v", d)
	}
	if len(f.rec.on(updatedTopic)) != 1 || len(f.rec.on(deviceTopic("dev3", actionTwinUpdateDelta))) != 1 {
		t.Errorf("topics %v", f.rec.topics())
	}
}

func TestHandleCloudMessageRouting(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		msg  message.Message
		want bool
	}{
		{"resource group", twinMsg(message.GroupResource, message.SourceDeviceController, "default/device/d", message.OpInsert, map[string]any{}), false},
		{"twin OK", twinMsg(message.GroupTwin, message.SourceDeviceController, message.ResourceTwin, message.OpResponse, "OK"), true},
		{"foreign source", twinMsg(message.GroupTwin, message.SourceEdgeController, message.ResourceMembership, message.OpUpdate,
			twin.MembershipUpdate{AddDevices: []twin.Device{{ID: "x"}}}), true},
		{"unknown twin resource", twinMsg(message.GroupTwin, message.SourceDeviceController, "device/x/other", message.OpUpdate, map[string]any{}), true},
		{"edgemgr membership", twinMsg(message.GroupTwin, SourceEdgeMgr, message.ResourceMembership, message.OpUpdate,
			`{"event_id":"e","added_devices":[{"id":"y","name":"y"}]}`), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.dt.HandleCloudMessage(tc.msg); got != tc.want {
				t.Errorf("handled %v, want %v", got, tc.want)
			}
			f.drain()
		})
	}
	if _, found, _ := f.dt.Device("x"); found {
		t.Error("a foreign source added a device")
	}
	if _, found, _ := f.dt.Device("y"); !found {
		t.Error("a membership as a JSON string from edgemgr was not applied")
	}
}

func TestHTTPHandler(t *testing.T) {
	f := newFixture(t)
	h := f.dt.HTTPHandler()
	get := func(method, path string) (int, string) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(method, path, nil))
		return rr.Code, rr.Body.String()
	}
	if code, body := get("GET", "/devicetwin/devices"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("empty list: %d %s", code, body)
	}
	f.addThermometer("dev1")
	f.addThermometer("dev2")
	tests := []struct {
		name, method, path string
		wantCode           int
		check              func(t *testing.T, body string)
	}{
		{"list", "GET", "/devicetwin/devices", 200, func(t *testing.T, body string) {
			devs := decode[[]twin.Device](t, []byte(body))
			if len(devs) != 2 || devs[0].ID != "dev1" || devs[1].ID != "dev2" || devs[0].Twin["temp"] == nil {
				t.Errorf("list %s", body)
			}
		}},
		{"get", "GET", "/devicetwin/devices/dev1", 200, func(t *testing.T, body string) {
			d := decode[twin.Device](t, []byte(body))
			if d.ID != "dev1" || value(d.Twin["temp"].Expected) != "25" {
				t.Errorf("get %s", body)
			}
		}},
		{"unknown device", "GET", "/devicetwin/devices/nope", 404, func(t *testing.T, body string) {
			if e := decode[httpError](t, []byte(body)); e.Code != 404 || !strings.Contains(e.Reason, "nope") {
				t.Errorf("404 body %s", body)
			}
		}},
		{"unknown path", "GET", "/devicetwin/other", 404, nil},
		{"wrong method", "POST", "/devicetwin/devices", 405, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.method, tc.path)
			if code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", code, tc.wantCode, body)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("body is not JSON: %s", body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

// Device works before Run has loaded the index (it scans meta.db).
func TestDeviceBeforeLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	f := openFixture(t, path)
	f.addThermometer("dev1")
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	dt := newModule(openDB(t, path), &recorder{}, 4)
	if d, found, err := dt.Device("dev1"); err != nil || !found || d.ID != "dev1" {
		t.Errorf("Device before load: %+v %v %v", d, found, err)
	}
	if _, found, err := dt.Device("nope"); err != nil || found {
		t.Errorf("unknown device found=%v err=%v", found, err)
	}
}

func TestQueueFullDrops(t *testing.T) {
	f := newFixture(t)
	dt := newModule(f.db, f.rec, 1)
	for range 3 {
		dt.HandleMQTT(updateTopic, []byte(`{}`))
	}
	if dt.Dropped() != 2 {
		t.Errorf("dropped %d, want 2", dt.Dropped())
	}
}

func TestIsTwinTopic(t *testing.T) {
	tests := map[string]bool{
		"$hw/events/device/d1/twin/update":            true,
		"$hw/events/device/d1/twin/get":               true,
		"$hw/events/device/d1/state/update":           true,
		"$hw/events/node/n1/membership/get":           true,
		"$hw/events/device/d1/twin/update/result":     false,
		"$hw/events/device/d1/twin/update/delta":      false,
		"$hw/events/device//twin/update":              false,
		"$hw/events/device/+/twin/update":             false,
		"$hw/events/node/n1/membership/updated":       false,
		"$hw/events/upload/x":                         false,
		"SYS/dis/upload_records":                      false,
		"$hw/events/device/d1/twin/cloud_updated":     false,
		"$hw/events/device/d1/twin/update/../../x/up": false,
		"app/user/x":                        false,
		"$hw/events/devices/d/twin/update":  false,
		"x/$hw/events/device/d/twin/update": false,
	}
	for topic, want := range tests {
		if got := IsTwinTopic(topic); got != want {
			t.Errorf("IsTwinTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestMembershipDetail(t *testing.T) {
	f := newFixture(t)
	m, err := f.dt.MembershipDetail()
	if err != nil {
		t.Fatal(err)
	}
	if m.Route.Source != message.SourceTwin || m.Route.Group != message.GroupResource || m.Route.Operation != message.OpGet ||
		m.Route.Resource != "membership/detail" {
		t.Errorf("route %+v", m.Route)
	}
	s, err := m.DecodeString()
	if err != nil || !strings.Contains(s, `"group_id":"edge-1"`) || !strings.Contains(s, `"event_type":"group_membership_event"`) {
		t.Errorf("content %s %v", m.Content, err)
	}
}

// FuzzHandleMQTT feeds arbitrary payloads to the update topic: no panic, and
// what is stored always passes validation.
func FuzzHandleMQTT(f *testing.F) {
	for _, seed := range []string{
		`{"event_id":"e","twin":{"temp":{"actual":{"value":"21"}}}}`,
		`{"twin":{"ratio":{"actual":{"value":"1e39"}},"switch":{"expected":{"value":"true"}}}}`,
		`{"twin":{"new":{"actual":{"value":"x"},"metadata":{"type":"int"}}}}`,
		`{"twin":{"temp":null}}`,
		`{"twin":{"a/b@c#d":{"actual":{"value":""}}}}`,
		`{"twin":{}}`, `[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	fx := newFixture(f)
	fx.addThermometer("dev1")
	f.Fuzz(func(t *testing.T, payload string) {
		fx.rec.reset()
		fx.dt.HandleMQTT(updateTopic, []byte(payload))
		fx.drain()
		if n := len(fx.rec.on(resultTopic)); n != 1 {
			t.Fatalf("%d results for one update", n)
		}
		dev, found, err := fx.dt.Device("dev1")
		if err != nil || !found {
			t.Fatalf("device lost: %v", err)
		}
		for prop, tw := range dev.Twin {
			if err := validateKey(prop); err != nil {
				t.Fatalf("stored key %q: %v", prop, err)
			}
			typ := twinType(tw)
			for _, v := range []*twin.TwinValue{tw.Actual} {
				if s, ok := valueOf(v); ok {
					if err := validateValue(prop, typ, s); err != nil {
						t.Fatalf("stored invalid value %q for %q (%s): %v", s, prop, typ, err)
					}
				}
			}
		}
	})
}
