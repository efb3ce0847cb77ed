package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDeltaThenReport(t *testing.T) {
	th := &thermometer{temp: 20, target: 20}
	if !th.apply(desiredFrom([]byte(`{"event_id":"","timestamp":1,"twin":{},"delta":{"switch":"on","temperature":"30"}}`))) {
		t.Fatal("delta not applied")
	}
	if th.apply(map[string]string{"switch": "on"}) {
		t.Fatal("same value reported as a change")
	}
	th.step()
	r := th.report(time.UnixMilli(5), nil)
	if *r.Twin["switch"].Actual.Value != "on" || *r.Twin["temperature"].Actual.Value != "21.0" ||
		r.Twin["temperature"].Metadata.Type != "float" || r.Twin["switch"].Actual.Metadata.Timestamp != 5 {
		t.Fatalf("report %+v %+v", *r.Twin["switch"].Actual.Value, *r.Twin["temperature"].Actual.Value)
	}
	// A get result carries expected values, not a delta.
	d := desiredFrom([]byte(`{"twin":{"switch":{"expected":{"value":"off"}},"temperature":{"actual":{"value":"3"}}}}`))
	if len(d) != 1 || d["switch"] != "off" {
		t.Fatalf("desired from get result %v", d)
	}
	if desiredFrom([]byte("not json")) != nil {
		t.Fatal("garbage gave desired values")
	}
}

// A delta for the switch changes the next report at once; PROPERTIES limits
// what is reported.
func TestSwitchDeltaAndProperties(t *testing.T) {
	th := &thermometer{temp: 21.5, target: 21.5}
	if !th.apply(desiredFrom([]byte(`{"delta":{"switch":"on"}}`))) {
		t.Fatal("switch delta not applied")
	}
	if th.apply(desiredFrom([]byte(`{"delta":{"switch":"maybe"}}`))) {
		t.Fatal("invalid switch value applied")
	}
	r := th.report(time.UnixMilli(7), []string{"switch"})
	if len(r.Twin) != 1 || *r.Twin["switch"].Actual.Value != "on" || r.Twin["switch"].Metadata.Type != "string" {
		t.Fatalf("report %+v", r.Twin)
	}
	b, err := json.Marshal(th.report(time.UnixMilli(7), []string{"temperature"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_id":"","timestamp":7,"twin":{"temperature":{"actual":{"value":"21.5","metadata":{"timestamp":7}},"metadata":{"type":"float"}}}}`
	if string(b) != want {
		t.Fatalf("payload\n%s\nwant\n%s", b, want)
	}
}
