// Command mapper is the sample device mapper of the e2e tests and the
// README's demo: a virtual thermometer with a settable switch. It speaks
// upstream KubeEdge's device topics over MQTT, so it works with any
// KubeEdge-compatible edge:
//
//   - on start it asks for its twin ($hw/events/device/<id>/twin/get) and
//     applies the desired values it gets back;
//   - it applies desired values from .../twin/update/delta (switch: "on" or
//     "off"; temperature: the target the simulated reading drifts to);
//   - every REPORT_INTERVAL, and at once after a change, it reports the actual
//     values on .../twin/update and "online" on .../state/update.
//
// Environment: MQTT_BROKER (default tcp://127.0.0.1:1883), DEVICE_ID
// (required), NODE_NAME (logged), REPORT_INTERVAL (default 5s), PROPERTIES
// (the properties reported, default "temperature,switch"). It reconnects
// forever and stops cleanly on SIGTERM.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
)

// thermometer is the simulated device.
type thermometer struct {
	mu     sync.Mutex
	on     bool
	temp   float64
	target float64
}

// apply takes desired values; it reports whether anything changed.
func (th *thermometer) apply(desired map[string]string) bool {
	th.mu.Lock()
	defer th.mu.Unlock()
	changed := false
	if v, ok := desired["switch"]; ok && (v == "on" || v == "off") && (v == "on") != th.on {
		th.on, changed = v == "on", true
	}
	if v, ok := desired["temperature"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f != th.target {
			th.target, changed = f, true
		}
	}
	return changed
}

// step moves the reading a tenth of the way to the target.
func (th *thermometer) step() {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.temp += (th.target - th.temp) / 10
}

// report is the twin update a mapper publishes, with the actual values of
// props (both when props is empty).
func (th *thermometer) report(now time.Time, props []string) twin.DeviceTwinUpdate {
	th.mu.Lock()
	defer th.mu.Unlock()
	ms := now.UnixMilli()
	sw := "off"
	if th.on {
		sw = "on"
	}
	value := func(v, typ string) *twin.MsgTwin {
		return &twin.MsgTwin{Actual: &twin.TwinValue{Value: twin.StringPtr(v), Metadata: &twin.ValueMetadata{Timestamp: ms}},
			Metadata: &twin.TypeMetadata{Type: typ}}
	}
	all := map[string]*twin.MsgTwin{
		"temperature": value(strconv.FormatFloat(th.temp, 'f', 1, 64), "float"),
		"switch":      value(sw, "string"),
	}
	if len(props) == 0 {
		return twin.DeviceTwinUpdate{BaseMessage: twin.BaseMessage{Timestamp: ms}, Twin: all}
	}
	out := map[string]*twin.MsgTwin{}
	for _, p := range props {
		if v, ok := all[p]; ok {
			out[p] = v
		}
	}
	return twin.DeviceTwinUpdate{BaseMessage: twin.BaseMessage{Timestamp: ms}, Twin: out}
}

// desiredFrom reads the expected values of a get result or a delta.
func desiredFrom(payload []byte) map[string]string {
	var msg struct {
		Twin  map[string]*twin.MsgTwin `json:"twin"`
		Delta map[string]string        `json:"delta"`
	}
	if json.Unmarshal(payload, &msg) != nil {
		return nil
	}
	if msg.Delta != nil {
		return msg.Delta
	}
	out := map[string]string{}
	for k, t := range msg.Twin {
		if t != nil && t.Expected != nil && t.Expected.Value != nil && *t.Expected.Value != "" {
			out[k] = *t.Expected.Value
		}
	}
	return out
}

func main() {
	broker := envOr("MQTT_BROKER", "tcp://127.0.0.1:1883")
	id := os.Getenv("DEVICE_ID")
	if id == "" {
		log.Fatal("DEVICE_ID is required")
	}
	interval, err := time.ParseDuration(envOr("REPORT_INTERVAL", "5s"))
	if err != nil || interval <= 0 {
		log.Fatalf("REPORT_INTERVAL %q: want a duration such as 5s", os.Getenv("REPORT_INTERVAL"))
	}
	var props []string
	for _, p := range strings.Split(envOr("PROPERTIES", "temperature,switch"), ",") {
		if p = strings.TrimSpace(p); p == "temperature" || p == "switch" {
			props = append(props, p)
		} else if p != "" {
			log.Printf("property %q is not simulated; ignored", p)
		}
	}
	log.Printf("device %s on node %q, broker %s, reporting %v every %s", id, os.Getenv("NODE_NAME"), broker, props, interval)
	prefix := "$hw/events/device/" + id + "/"
	th := &thermometer{temp: 20, target: 21.5}
	changed := make(chan struct{}, 1)
	onDesired := func(_ mqtt.Client, m mqtt.Message) {
		d := desiredFrom(m.Payload())
		log.Printf("received %s: desired %v", m.Topic(), d)
		if th.apply(d) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("mapper-%s-%d", id, os.Getpid())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetOnConnectHandler(func(c mqtt.Client) {
			log.Printf("connected to %s", broker)
			c.Subscribe(prefix+"twin/update/delta", 1, onDesired)
			c.Subscribe(prefix+"twin/get/result", 1, onDesired)
			get, _ := json.Marshal(twin.BaseMessage{Timestamp: time.Now().UnixMilli()})
			c.Publish(prefix+"twin/get", 1, false, get)
		})
	c := mqtt.NewClient(opts)
	c.Connect()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			c.Disconnect(500)
			return
		case <-tick.C:
			th.step()
			if !c.IsConnected() {
				// paho v1.5.1 can give up reconnecting when a connection
				// drops right after CONNACK; start it again.
				log.Printf("not connected to %s; connecting again", broker)
				c.Connect()
			}
		case <-changed:
		}
		if !c.IsConnectionOpen() {
			continue
		}
		now := time.Now()
		upd, _ := json.Marshal(th.report(now, props))
		c.Publish(prefix+"twin/update", 1, false, upd)
		state, _ := json.Marshal(twin.DeviceUpdate{BaseMessage: twin.BaseMessage{Timestamp: now.UnixMilli()}, State: "online"})
		c.Publish(prefix+"state/update", 1, false, state)
		log.Printf("reported %s", upd)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
