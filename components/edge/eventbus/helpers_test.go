package eventbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

const waitLong = 10 * time.Second

// freeURL returns tcp://127.0.0.1:<a free port>.
func freeURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

// recorder is a Handler that keeps what it receives.
type recorder struct {
	ch chan delivery
}

func newRecorder() *recorder { return &recorder{ch: make(chan delivery, 1000)} }

func (r *recorder) HandleMQTT(topic string, payload []byte) {
	r.ch <- delivery{topic: topic, payload: payload}
}

// next returns the next message or fails after waitLong.
func (r *recorder) next(t testing.TB) delivery {
	t.Helper()
	select {
	case d := <-r.ch:
		return d
	case <-time.After(waitLong):
		t.Fatal("no message reached the handler")
		return delivery{}
	}
}

// expect fails unless the next message is topic with payload.
func (r *recorder) expect(t testing.TB, topic, payload string) {
	t.Helper()
	d := r.next(t)
	if d.topic != topic || string(d.payload) != payload {
		t.Fatalf("handler got %q %q, want %q %q", d.topic, d.payload, topic, payload)
	}
}

// runBus starts b.Run and waits until it is ready; the cleanup stops it and
// checks that Run returned nil.
func runBus(t testing.TB, b *Bus) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := b.Ready()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(waitLong):
		cancel()
		t.Fatal("bus not ready")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitLong):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newBus(t testing.TB, cfg Config, h Handler, opts ...Option) *Bus {
	t.Helper()
	b, err := New(cfg, h, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client is a plain MQTT client of a test.
type client struct {
	paho.Client
	msgs chan paho.Message
}

func connect(t testing.TB, url string) *client {
	t.Helper()
	c := &client{msgs: make(chan paho.Message, 1000)}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m })
	c.Client = paho.NewClient(opts)
	if err := wait(context.Background(), c.Connect()); err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func (c *client) publish(t testing.TB, topic, payload string) {
	t.Helper()
	if err := wait(context.Background(), c.Publish(topic, 1, false, payload)); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func (c *client) subscribe(t testing.TB, topic string) {
	t.Helper()
	if err := wait(context.Background(), c.Subscribe(topic, 1, nil)); err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
}

// expect fails unless the next message the client receives is topic with
// payload.
func (c *client) expect(t testing.TB, topic, payload string) {
	t.Helper()
	select {
	case m := <-c.msgs:
		if m.Topic() != topic || string(m.Payload()) != payload {
			t.Fatalf("client got %q %q, want %q %q", m.Topic(), m.Payload(), topic, payload)
		}
	case <-time.After(waitLong):
		t.Fatalf("client did not receive %s", topic)
	}
}

// eventually polls cond until it holds or fails after waitLong.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, waitLong, what, cond)
}

func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memStore is an in-memory TopicStore.
type memStore struct {
	mu     sync.Mutex
	topics []string
	fail   error
}

func (s *memStore) List() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.topics), s.fail
}

func (s *memStore) Add(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if !slices.Contains(s.topics, topic) {
		s.topics = append(s.topics, topic)
	}
	return nil
}

func (s *memStore) Remove(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.topics = slices.DeleteFunc(s.topics, func(x string) bool { return x == topic })
	return nil
}

var errStore = errors.New("disk full")

func discard() logr.Logger { return logr.Discard() }

// testLogger logs to t until the test's cleanup; paho runs its handlers in
// goroutines that may log after the test, which t.Log does not allow.
func testLogger(t testing.TB) logr.Logger {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Log(prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}
