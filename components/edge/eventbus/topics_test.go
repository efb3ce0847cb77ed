package eventbus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/host"
	"github.com/cleanedge/kubeedge/components/message"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "b/c", false},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/user/#", "app/user/x", true},
		{"+/user/#", "app/user", true},
		{"+/user/#", "$hw/user/x", false},
		{"$hw/events/upload/#", "$hw/events/upload/a/b", true},
		{"$hw/events/device/+/twin/+", "$hw/events/device/d/twin/update", true},
		{"$hw/events/device/+/twin/+", "$hw/events/device/d/twin/update/result", false},
		{"$hw/events/device/+/state/update", "$hw/events/device/d/state/update", true},
		{"$hw/events/node/+/membership/get", "$hw/events/node/n/membership/get", true},
		{"SYS/dis/upload_records", "SYS/dis/upload_records", true},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
	}
	for _, tc := range tests {
		if got := matchTopic(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for _, f := range append([]string{"a", "a/+/b", "#", "a/#", "+", "/"}, DefaultTopics...) {
		if err := validFilter(f); err != nil {
			t.Errorf("validFilter(%q): %v", f, err)
		}
	}
	for _, f := range []string{"", "a/#/b", "a#", "a/b+", "a/+b", "a\x00b"} {
		if err := validFilter(f); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("validFilter(%q) = %v, want ErrInvalidTopic", f, err)
		}
	}
}

func TestUploadMessage(t *testing.T) {
	f := message.Factory{Now: func() time.Time { return time.UnixMilli(1669180000000) }, NewID: func() string { return "id-1" }}
	m, err := UploadMessage(f, "$hw/events/upload/a", []byte(`{"temp":"21"}`))
	if err != nil {
		t.Fatal(err)
	}
	frame, err := message.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"header":{"msg_id":"id-1","timestamp":1669180000000},"route":{"source":"bus","group":"user","operation":"upload","resource":"$hw/events/upload/a"},"content":"{\"temp\":\"21\"}"}`
	if string(frame) != want {
		t.Fatalf("frame\n%s\nwant\n%s", frame, want)
	}
}

func TestConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c := FromEdgeCore(v1alpha2.EventBus{MqttMode: v1alpha2.MqttModeExternal}, "n1").withDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.InternalServer != DefaultInternalServer || c.ExternalServer != DefaultExternalServer ||
			c.SessionQueueSize != DefaultSessionQueueSize || c.HandlerQueueSize != DefaultHandlerQueueSize || c.NodeName != "n1" {
			t.Fatalf("defaults not applied: %+v", c)
		}
		if !strings.HasPrefix(c.PubClientID, "eventbus-pub-") || !strings.HasPrefix(c.SubClientID, "eventbus-sub-") {
			t.Fatalf("client ids %q %q", c.PubClientID, c.SubClientID)
		}
	})
	t.Run("from edgecore", func(t *testing.T) {
		c := FromEdgeCore(v1alpha2.EventBus{MqttQOS: 1, MqttRetain: true, MqttSessionQueueSize: 7, MqttServerInternal: "tcp://0.0.0.0:1", MqttServerExternal: "tcp://h:2",
			MqttSubClientID: "s", MqttPubClientID: "p", MqttUsername: "u", MqttPassword: "pw", MqttMode: v1alpha2.MqttModeBoth}, "n")
		want := Config{Mode: v1alpha2.MqttModeBoth, InternalServer: "tcp://0.0.0.0:1", ExternalServer: "tcp://h:2", QoS: 1, Retain: true,
			SessionQueueSize: 7, PubClientID: "p", SubClientID: "s", Username: "u", Password: "pw", NodeName: "n"}
		if c != want {
			t.Fatalf("got %+v\nwant %+v", c, want)
		}
	})
	invalid := []struct {
		name string
		cfg  Config
		want string
	}{
		{"mode", Config{Mode: 3}, "modules.eventBus.mqttMode"},
		{"qos", Config{QoS: 3}, "modules.eventBus.mqttQOS"},
		{"internal url", Config{Mode: v1alpha2.MqttModeInternal, InternalServer: "tcp://nohost"}, "modules.eventBus.mqttServerInternal"},
		{"external tls", Config{Mode: v1alpha2.MqttModeExternal, ExternalServer: "ssl://h:8883"}, "modules.eventBus.mqttServerExternal"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, newRecorder(), discard())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	t.Run("external url not checked in internal mode", func(t *testing.T) {
		if _, err := New(Config{Mode: v1alpha2.MqttModeInternal, ExternalServer: "bad"}, newRecorder(), discard()); err != nil {
			t.Fatal(err)
		}
	})
}

// The bus is a host module with readiness.
var (
	_ host.Module  = (*Bus)(nil)
	_ host.Readier = (*Bus)(nil)
)
