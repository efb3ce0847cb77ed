package eventbus

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/message"
)

func internalConfig(t testing.TB) Config {
	return Config{Mode: v1alpha2.MqttModeInternal, InternalServer: freeURL(t)}
}

// A client's publish on a subscribed topic reaches the handler; Bus.Publish
// reaches subscribed clients and is not dispatched back to the handler.
func TestInternalBrokerEndToEnd(t *testing.T) {
	rec := newRecorder()
	cfg := internalConfig(t)
	b := newBus(t, cfg, rec)
	runBus(t, b)
	if st := b.Stats(); !st.Listening || st.ExternalConnected {
		t.Fatalf("stats %+v: want listening, no external", st)
	}

	mapper := connect(t, cfg.InternalServer)
	mapper.publish(t, "not/subscribed", "ignored")
	mapper.publish(t, "$hw/events/device/dev1/twin/update", `{"twin":{}}`)
	rec.expect(t, "$hw/events/device/dev1/twin/update", `{"twin":{}}`)
	mapper.publish(t, "$hw/events/upload/x/y", "up")
	rec.expect(t, "$hw/events/upload/x/y", "up")
	mapper.publish(t, "app/user/data", "u")
	rec.expect(t, "app/user/data", "u")

	mapper.subscribe(t, "$hw/events/device/dev1/twin/update/delta")
	if err := b.Publish("$hw/events/device/dev1/twin/update/delta", []byte(`{"delta":{}}`)); err != nil {
		t.Fatal(err)
	}
	mapper.expect(t, "$hw/events/device/dev1/twin/update/delta", `{"delta":{}}`)

	// Our own publish on a subscribed topic is not dispatched back: the next
	// handler message is the client's.
	mapper.subscribe(t, "cloud/user/echo")
	if err := b.Publish("cloud/user/echo", []byte("from cloud")); err != nil {
		t.Fatal(err)
	}
	mapper.expect(t, "cloud/user/echo", "from cloud")
	mapper.publish(t, "SYS/dis/upload_records", "rec")
	rec.expect(t, "SYS/dis/upload_records", "rec")

	if st := b.Stats(); st.Received != 4 || st.Dropped != 0 || st.Published != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRuntimeSubscribe(t *testing.T) {
	rec := newRecorder()
	cfg := internalConfig(t)
	store := &memStore{topics: []string{"stored/topic", "bad/#/filter"}}
	b := newBus(t, cfg, rec, WithTopicStore(store))
	runBus(t, b)
	if !slices.Contains(b.Topics(), "stored/topic") || slices.Contains(b.Topics(), "bad/#/filter") {
		t.Fatalf("topics %v: want the valid stored topic only", b.Topics())
	}
	ctx := context.Background()
	c := connect(t, cfg.InternalServer)

	c.publish(t, "stored/topic", "s")
	rec.expect(t, "stored/topic", "s")

	c.publish(t, "custom/a", "before")
	// The broker acknowledges before it dispatches: a marker on a subscribed
	// topic makes sure "before" was seen (and ignored) first.
	c.publish(t, "stored/topic", "marker")
	rec.expect(t, "stored/topic", "marker")
	if err := b.Subscribe(ctx, "custom/+"); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "custom/+"); err != nil {
		t.Fatalf("second subscribe: %v", err)
	}
	c.publish(t, "custom/a", "after")
	rec.expect(t, "custom/a", "after")
	if !slices.Contains(store.topics, "custom/+") {
		t.Fatalf("store %v: want custom/+", store.topics)
	}

	if err := b.Unsubscribe(ctx, "custom/+"); err != nil {
		t.Fatal(err)
	}
	c.publish(t, "custom/a", "gone")
	c.publish(t, "stored/topic", "marker")
	rec.expect(t, "stored/topic", "marker")
	if slices.Contains(store.topics, "custom/+") {
		t.Fatalf("store %v: custom/+ not removed", store.topics)
	}

	if err := b.Subscribe(ctx, "a/#/b"); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("invalid filter: got %v", err)
	}
	store.fail = errStore
	if err := b.Subscribe(ctx, "new/topic"); !errors.Is(err, errStore) {
		t.Fatalf("store failure: got %v", err)
	}
	if slices.Contains(b.Topics(), "new/topic") {
		t.Fatal("topic added although the store failed")
	}
}

func TestStoreListErrorFailsRun(t *testing.T) {
	b := newBus(t, internalConfig(t), newRecorder(), WithTopicStore(&memStore{fail: errStore}))
	err := b.Run(context.Background())
	if !errors.Is(err, errStore) {
		t.Fatalf("Run: %v, want the store error", err)
	}
}

func TestInternalListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := Config{Mode: v1alpha2.MqttModeBoth, InternalServer: "tcp://" + l.Addr().String(), ExternalServer: freeURL(t)}
	b := newBus(t, cfg, newRecorder())
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	err = b.Run(ctx)
	if err == nil {
		t.Fatal("Run succeeded on a port in use")
	}
	for _, want := range []string{l.Addr().String(), "modules.eventBus.mqttServerInternal", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	select {
	case <-b.Ready():
		t.Fatal("ready after a failed Run")
	default:
	}
}

// Run can be called again after it returned (the host restarts modules);
// Ready is reset in between.
func TestRunAgain(t *testing.T) {
	rec := newRecorder()
	cfg := internalConfig(t)
	b := newBus(t, cfg, rec)
	stop := runBus(t, b)
	stop()
	select {
	case <-b.Ready():
		t.Fatal("still ready after Run returned")
	default:
	}
	if err := b.Publish("a/b", nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("publish while stopped: %v", err)
	}
	runBus(t, b)
	connect(t, cfg.InternalServer).publish(t, "$hw/events/upload/again", "x")
	rec.expect(t, "$hw/events/upload/again", "x")
}

func TestAlreadyRunning(t *testing.T) {
	b := newBus(t, internalConfig(t), newRecorder())
	runBus(t, b)
	if err := b.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

// blockingHandler blocks on every message until released.
type blockingHandler struct {
	release chan struct{}
	got     atomic.Int64
}

func (h *blockingHandler) HandleMQTT(string, []byte) {
	<-h.release
	h.got.Add(1)
}

func TestQueueOverflowCounted(t *testing.T) {
	cfg := internalConfig(t)
	cfg.HandlerQueueSize = 1
	h := &blockingHandler{release: make(chan struct{})}
	b := newBus(t, cfg, h)
	runBus(t, b)
	c := connect(t, cfg.InternalServer)
	const n = 5
	for range n {
		c.publish(t, "$hw/events/upload/flood", "x")
	}
	eventually(t, "all messages counted", func() bool {
		st := b.Stats()
		return st.Received == n
	})
	// One message is in the handler, at most one waits in the queue.
	if st := b.Stats(); st.Dropped < n-2 || st.Queued > 1 {
		t.Fatalf("stats %+v: want at least %d dropped", st, n-2)
	}
	close(h.release)
	eventually(t, "queued messages handled", func() bool {
		st := b.Stats()
		return st.Handled == st.Received-st.Dropped && int64(st.Handled) == h.got.Load()
	})
}

// A panicking handler does not stop delivery.
func TestHandlerPanic(t *testing.T) {
	cfg := internalConfig(t)
	rec := newRecorder()
	b := newBus(t, cfg, HandlerFunc(func(topic string, p []byte) {
		if topic == "$hw/events/upload/panic" {
			panic("boom")
		}
		rec.HandleMQTT(topic, p)
	}))
	runBus(t, b)
	c := connect(t, cfg.InternalServer)
	c.publish(t, "$hw/events/upload/panic", "x")
	c.publish(t, "$hw/events/upload/ok", "y")
	rec.expect(t, "$hw/events/upload/ok", "y")
}

func TestPublishInvalidTopic(t *testing.T) {
	b := newBus(t, internalConfig(t), newRecorder())
	for _, topic := range []string{"", "a/+", "a/#"} {
		if err := b.Publish(topic, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Publish(%q): %v", topic, err)
		}
	}
}

func cloudMessage(t *testing.T, op message.Operation, resource string, content any) message.Message {
	t.Helper()
	m, err := message.New(message.Route{Source: message.SourceRouterEventBus, Group: message.GroupUser, Operation: op, Resource: resource}, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHandleCloudMessage(t *testing.T) {
	rec := newRecorder()
	cfg := internalConfig(t)
	cfg.NodeName = "edge-1"
	store := &memStore{}
	b := newBus(t, cfg, rec, WithTopicStore(store))
	runBus(t, b)
	c := connect(t, cfg.InternalServer)
	c.subscribe(t, "#")
	c.subscribe(t, "$hw/#")

	publishes := []struct {
		name        string
		m           message.Message
		topic, want string
	}{
		{"publish string", cloudMessage(t, message.OpPublish, "dev/cmd", "switch on"), "dev/cmd", "switch on"},
		{"publish object", cloudMessage(t, message.OpPublish, "dev/cmd", map[string]int{"x": 1}), "dev/cmd", `{"x":1}`},
		{"message object", cloudMessage(t, message.OpMessage, "", map[string]any{"message": map[string]any{"topic": "a/b", "payload": "p", "n": 1}}), "a/b", `{"n":1,"payload":"p","topic":"a/b"}`},
		{"message string", cloudMessage(t, message.OpMessage, "", `{"message":{"topic":"a/c","z":true}}`), "a/c", `{"topic":"a/c","z":true}`},
		{"auth info", cloudMessage(t, message.OpGetResult, "auth_info", map[string]string{"token": "t"}), "$hw/events/node/edge-1/authInfo/get/result", `{"token":"t"}`},
	}
	for _, tc := range publishes {
		t.Run(tc.name, func(t *testing.T) {
			handled, err := b.handleCloud(context.Background(), tc.m)
			if !handled || err != nil {
				t.Fatalf("handled %v, err %v", handled, err)
			}
			c.expect(t, tc.topic, tc.want)
		})
	}

	t.Run("subscribe and unsubscribe", func(t *testing.T) {
		if !b.HandleCloudMessage(cloudMessage(t, message.OpSubscribe, "rule/topic", nil)) {
			t.Fatal("subscribe not handled")
		}
		if !slices.Contains(b.Topics(), "rule/topic") || !slices.Contains(store.topics, "rule/topic") {
			t.Fatalf("topics %v, store %v", b.Topics(), store.topics)
		}
		connect(t, cfg.InternalServer).publish(t, "rule/topic", "r")
		rec.expect(t, "rule/topic", "r")
		if !b.HandleCloudMessage(cloudMessage(t, message.OpUnsubscribe, "rule/topic", nil)) {
			t.Fatal("unsubscribe not handled")
		}
		if slices.Contains(b.Topics(), "rule/topic") || len(store.topics) != 0 {
			t.Fatalf("topics %v, store %v", b.Topics(), store.topics)
		}
	})

	notOurs := []struct {
		name string
		m    message.Message
	}{
		{"other source", func() message.Message {
			m := cloudMessage(t, message.OpPublish, "x", "y")
			m.Route.Source = message.SourceRouterServiceBus
			return m
		}()},
		{"other group", func() message.Message {
			m := cloudMessage(t, message.OpPublish, "x", "y")
			m.Route.Group = message.GroupResource
			return m
		}()},
		{"unknown operation", cloudMessage(t, message.OpInsert, "x", "y")},
		{"get_result of another resource", cloudMessage(t, message.OpGetResult, "other", "y")},
	}
	for _, tc := range notOurs {
		t.Run(tc.name, func(t *testing.T) {
			if handled, err := b.handleCloud(context.Background(), tc.m); handled || err != nil {
				t.Fatalf("handled %v, err %v; want not handled", handled, err)
			}
		})
	}

	bad := []struct {
		name string
		m    message.Message
	}{
		{"message without topic", cloudMessage(t, message.OpMessage, "", map[string]any{"message": map[string]any{"payload": "p"}})},
		{"message not an object", cloudMessage(t, message.OpMessage, "", 42)},
		{"publish to a wildcard", cloudMessage(t, message.OpPublish, "a/#", "p")},
		{"subscribe to an invalid filter", cloudMessage(t, message.OpSubscribe, "a/b#", nil)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			handled, err := b.handleCloud(context.Background(), tc.m)
			if !handled || err == nil {
				t.Fatalf("handled %v, err %v; want handled with an error", handled, err)
			}
		})
	}
}

// Mode 2 against an embedded broker (another bus's internal one): the paho
// clients receive, publish, subscribe at run time and subscribe again after
// the broker restarts.
func TestExternalModeReconnects(t *testing.T) {
	brokerCfg := internalConfig(t)
	broker := newBus(t, brokerCfg, newRecorder())
	stopBroker := runBus(t, broker)

	rec := newRecorder()
	b := newBus(t, Config{Mode: v1alpha2.MqttModeExternal, ExternalServer: brokerCfg.InternalServer}, rec)
	runBus(t, b)
	eventually(t, "external clients connected", func() bool { return b.Stats().ExternalConnected })
	if b.Stats().Listening {
		t.Fatal("mode external runs an internal broker")
	}
	testExternal(t, b, rec, brokerCfg.InternalServer)

	stopBroker()
	eventually(t, "disconnect seen", func() bool { return !b.Stats().ExternalConnected })
	runBus(t, broker)
	// paho may wait for a CONNACK from the stopped broker for
	// externalConnectTimeout before it retries.
	eventuallyWithin(t, 3*externalConnectTimeout, "reconnected", func() bool { return b.Stats().ExternalConnected })
	// Subscriptions, including the runtime one, are restored: retry until
	// the subscriber has subscribed again after connecting.
	c := connect(t, brokerCfg.InternalServer)
	eventually(t, "runtime topic delivered after reconnect", func() bool {
		c.publish(t, "runtime/topic", "again")
		select {
		case d := <-rec.ch:
			return d.topic == "runtime/topic" && string(d.payload) == "again"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
}

// testExternal checks a bus connected to the external broker at url.
func testExternal(t *testing.T, b *Bus, rec *recorder, url string) {
	t.Helper()
	c := connect(t, url)
	c.publish(t, "$hw/events/device/d/state/update", `{"state":"online"}`)
	rec.expect(t, "$hw/events/device/d/state/update", `{"state":"online"}`)

	c.subscribe(t, "$hw/events/device/d/twin/get/result")
	if err := b.Publish("$hw/events/device/d/twin/get/result", []byte("r")); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "$hw/events/device/d/twin/get/result", "r")

	if err := b.Subscribe(context.Background(), "runtime/topic"); err != nil {
		t.Fatal(err)
	}
	c.publish(t, "runtime/topic", "rt")
	rec.expect(t, "runtime/topic", "rt")
}

// Mode 1 publishes to both brokers and receives from both.
func TestModeBoth(t *testing.T) {
	extCfg := internalConfig(t)
	ext := newBus(t, extCfg, newRecorder())
	runBus(t, ext)

	rec := newRecorder()
	cfg := Config{Mode: v1alpha2.MqttModeBoth, InternalServer: freeURL(t), ExternalServer: extCfg.InternalServer}
	b := newBus(t, cfg, rec)
	runBus(t, b)
	eventually(t, "external clients connected", func() bool { return b.Stats().ExternalConnected })

	in, out := connect(t, cfg.InternalServer), connect(t, extCfg.InternalServer)
	in.subscribe(t, "both/x")
	out.subscribe(t, "both/x")
	if err := b.Publish("both/x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	in.expect(t, "both/x", "1")
	out.expect(t, "both/x", "1")

	in.publish(t, "$hw/events/upload/in", "i")
	rec.expect(t, "$hw/events/upload/in", "i")
	out.publish(t, "$hw/events/upload/out", "o")
	rec.expect(t, "$hw/events/upload/out", "o")
}
