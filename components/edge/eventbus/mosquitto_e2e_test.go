//go:build e2e

package eventbus

import (
	"context"
	"testing"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/e2e/framework"
)

// Mode 2 against Debian's mosquitto: messages both ways, a runtime
// subscription, and all subscriptions restored after mosquitto restarts.
func TestExternalMosquitto(t *testing.T) {
	if _, err := framework.FindMosquitto(); err != nil {
		t.Fatalf("install mosquitto: make deps (%v)", err)
	}
	m := framework.MosquittoForTest(t)
	rec := newRecorder()
	b := newBus(t, Config{Mode: v1alpha2.MqttModeExternal, ExternalServer: m.URL}, rec)
	runBus(t, b)
	eventually(t, "connected to mosquitto", func() bool { return b.Stats().ExternalConnected })
	testExternal(t, b, rec, m.URL)

	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disconnect seen", func() bool { return !b.Stats().ExternalConnected })
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 3*externalConnectTimeout, "reconnected to mosquitto", func() bool { return b.Stats().ExternalConnected })
	c := connect(t, m.URL)
	c.publish(t, "runtime/topic", "again")
	rec.expect(t, "runtime/topic", "again")
	c.publish(t, "$hw/events/node/edge-1/membership/get", "{}")
	rec.expect(t, "$hw/events/node/edge-1/membership/get", "{}")
}
