// Package eventbus is edgecore's MQTT bridge (upstream's EventBus module).
//
// Depending on modules.eventBus.mqttMode it runs an embedded broker
// (internal, mode 0), connects to an external broker such as mosquitto
// (mode 2, the default), or both (mode 1). Every message a client publishes
// on a subscribed topic, on either broker, is handed to the Handler in the
// order received, through a bounded queue: when the Handler falls behind,
// messages are dropped and counted (Stats), never buffered without limit and
// never blocking a broker. Publish sends to every active broker.
//
// The subscribed topics are DefaultTopics plus those the cloud adds at run
// time (Subscribe, Unsubscribe), which an optional TopicStore keeps across
// restarts. IsTwinTopic and UploadMessage help the caller route a received
// message to DeviceTwin or to the cloud; HandleCloudMessage runs the cloud's
// EventBus operations (subscribe, unsubscribe, publish, message).
package eventbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Handler receives the messages of subscribed topics. Calls are made one at
// a time, in the order the messages arrived; a slow handler makes the bus
// drop messages rather than block a broker.
type Handler interface {
	HandleMQTT(topic string, payload []byte)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(topic string, payload []byte)

// HandleMQTT calls f.
func (f HandlerFunc) HandleMQTT(topic string, payload []byte) { f(topic, payload) }

// Option customises a Bus.
type Option func(*Bus)

// WithTopicStore persists the topics subscribed at run time.
func WithTopicStore(s TopicStore) Option { return func(b *Bus) { b.store = s } }

// Errors of the Bus.
var (
	ErrNotRunning     = errors.New("eventbus is not running")
	ErrAlreadyRunning = errors.New("eventbus is already running")
)

// dropLogInterval rate-limits the log line about dropped messages.
const dropLogInterval = 10 * time.Second

// Stats are counters for diagnostics and metrics.
type Stats struct {
	// Received counts messages on subscribed topics.
	Received uint64
	// Dropped counts the received messages lost because the Handler queue
	// was full.
	Dropped uint64
	// Handled counts messages the Handler has returned from.
	Handled uint64
	// Published counts successful Publish calls.
	Published uint64
	// Queued is the number of messages waiting for the Handler.
	Queued int
	// Listening is true while the internal broker accepts connections.
	Listening bool
	// ExternalConnected is true while both external clients are connected.
	ExternalConnected bool
}

// Bus is the EventBus module. Create it with New.
type Bus struct {
	cfg   Config
	h     Handler
	log   logr.Logger
	store TopicStore
	queue chan delivery

	// topics is the sorted list of subscribed filters, replaced on change
	// so that the brokers' goroutines read it without locking.
	topics  atomic.Pointer[[]string]
	topicMu sync.Mutex // serialises changes of topics

	mu       sync.Mutex
	running  bool
	ready    chan struct{}
	internal *internalBroker
	external *externalClients

	received, dropped, handled, published atomic.Uint64
	lastDropLog                           atomic.Int64
}

type delivery struct {
	topic   string
	payload []byte
}

// New validates cfg and returns a Bus that starts with Run.
func New(cfg Config, h Handler, log logr.Logger, opts ...Option) (*Bus, error) {
	if h == nil {
		return nil, errors.New("eventbus: nil Handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("eventbus config: %w", err)
	}
	b := &Bus{
		cfg:   cfg,
		h:     h,
		log:   log.WithName("eventbus"),
		queue: make(chan delivery, cfg.HandlerQueueSize),
		ready: make(chan struct{}),
	}
	for _, o := range opts {
		o(b)
	}
	t := slices.Clone(DefaultTopics)
	slices.Sort(t)
	b.topics.Store(&t)
	return b, nil
}

// Name is the module name.
func (b *Bus) Name() string { return "eventbus" }

// Ready is closed once the internal broker listens (modes 0 and 1) and the
// external clients have been started (modes 1 and 2). The external clients
// connect in the background and reconnect forever; see
// Stats.ExternalConnected.
func (b *Bus) Ready() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready
}

// Run starts the brokers and delivers messages to the Handler until ctx
// ends. It fails if the internal broker cannot listen or the TopicStore
// cannot be read. Run may be called again after it returned.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return ErrAlreadyRunning
	}
	b.running = true
	ready := b.ready
	b.mu.Unlock()

	var ib *internalBroker
	var ec *externalClients
	defer func() {
		b.mu.Lock()
		b.running, b.internal, b.external = false, nil, nil
		select {
		case <-b.ready: // the next Run starts not ready
			b.ready = make(chan struct{})
		default:
		}
		b.mu.Unlock()
		if ec != nil {
			ec.close()
		}
		if ib != nil {
			ib.close()
		}
	}()

	if b.store != nil {
		saved, err := b.store.List()
		if err != nil {
			return fmt.Errorf("eventbus: read subscribed topics: %w", err)
		}
		for _, t := range saved {
			if err := validFilter(t); err != nil {
				b.log.Info("Ignoring an invalid stored topic", "topic", t, "err", err)
				continue
			}
			b.addTopic(t)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { b.deliver(ctx) })

	if b.cfg.usesInternal() {
		var err error
		ib, err = startInternal(b.cfg, b.log, func(topic string, payload []byte) { b.dispatch(topic, payload, true) })
		if err != nil {
			return fmt.Errorf("eventbus: %w", err)
		}
		b.log.Info("Internal MQTT broker listening", "address", ib.addr)
	}
	if b.cfg.usesExternal() {
		ec = startExternal(b.cfg, b.log, b.Topics, func(topic string, payload []byte) { b.dispatch(topic, payload, false) })
	}
	b.mu.Lock()
	b.internal, b.external = ib, ec
	b.mu.Unlock()
	close(ready)

	<-ctx.Done()
	return nil
}

// Publish sends a message to every active broker: the internal one with the
// configured QoS and retain flag, the external one with QoS 1, not retained.
// What the bus publishes is not dispatched back to the Handler by the
// internal broker; the external broker sends it back if a subscribed topic
// matches (as upstream).
func (b *Bus) Publish(topic string, payload []byte) error {
	if topic == "" || containsWildcard(topic) {
		return fmt.Errorf("publish: %w: %q is not a topic name", ErrInvalidTopic, topic)
	}
	b.mu.Lock()
	ib, ec := b.internal, b.external
	b.mu.Unlock()
	if ib == nil && ec == nil {
		return fmt.Errorf("publish %q: %w", topic, ErrNotRunning)
	}
	var errs []error
	if ib != nil {
		errs = append(errs, ib.publish(topic, payload))
	}
	if ec != nil {
		errs = append(errs, ec.publish(topic, payload))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.published.Add(1)
	return nil
}

// Subscribe adds a topic filter, persists it in the TopicStore and, if
// connected, subscribes on the external broker. Subscribing twice is a no-op.
func (b *Bus) Subscribe(ctx context.Context, topic string) error {
	if err := validFilter(topic); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if slices.Contains(b.Topics(), topic) {
		return nil
	}
	if b.store != nil {
		if err := b.store.Add(topic); err != nil {
			return fmt.Errorf("subscribe %q: store: %w", topic, err)
		}
	}
	b.addTopic(topic)
	if ec := b.externalClients(); ec != nil {
		return ec.subscribe(ctx, topic)
	}
	return nil
}

// Unsubscribe removes a topic filter (a default one too, as upstream),
// removes it from the TopicStore and from the external subscription.
func (b *Bus) Unsubscribe(ctx context.Context, topic string) error {
	if err := validFilter(topic); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	if b.store != nil {
		if err := b.store.Remove(topic); err != nil {
			return fmt.Errorf("unsubscribe %q: store: %w", topic, err)
		}
	}
	b.topicMu.Lock()
	t := slices.DeleteFunc(slices.Clone(*b.topics.Load()), func(s string) bool { return s == topic })
	b.topics.Store(&t)
	b.topicMu.Unlock()
	if ec := b.externalClients(); ec != nil {
		return ec.unsubscribe(ctx, topic)
	}
	return nil
}

// Topics returns the subscribed topic filters, sorted.
func (b *Bus) Topics() []string { return slices.Clone(*b.topics.Load()) }

// Stats returns the counters.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	ib, ec := b.internal, b.external
	b.mu.Unlock()
	return Stats{
		Received:          b.received.Load(),
		Dropped:           b.dropped.Load(),
		Handled:           b.handled.Load(),
		Published:         b.published.Load(),
		Queued:            len(b.queue),
		Listening:         ib != nil,
		ExternalConnected: ec != nil && ec.connected(),
	}
}

func (b *Bus) externalClients() *externalClients {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.external
}

func (b *Bus) addTopic(topic string) {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	cur := *b.topics.Load()
	i, found := slices.BinarySearch(cur, topic)
	if found {
		return
	}
	t := slices.Insert(slices.Clone(cur), i, topic)
	b.topics.Store(&t)
}

// dispatch queues a received message for the Handler if a subscribed filter
// matches its topic, or drops it when the queue is full.
func (b *Bus) dispatch(topic string, payload []byte, copyPayload bool) {
	if !b.subscribed(topic) {
		return
	}
	if copyPayload {
		payload = append([]byte(nil), payload...)
	}
	b.received.Add(1)
	select {
	case b.queue <- delivery{topic: topic, payload: payload}:
	default:
		n := b.dropped.Add(1)
		now := time.Now().UnixNano()
		last := b.lastDropLog.Load()
		if now-last >= int64(dropLogInterval) && b.lastDropLog.CompareAndSwap(last, now) {
			b.log.Info("Handler queue full; dropping MQTT messages", "topic", topic, "queueSize", cap(b.queue), "droppedTotal", n)
		}
	}
}

func (b *Bus) subscribed(topic string) bool {
	for _, f := range *b.topics.Load() {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// deliver hands queued messages to the Handler until ctx ends. A panicking
// Handler is logged and does not stop delivery.
func (b *Bus) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-b.queue:
			b.call(d)
		}
	}
}

func (b *Bus) call(d delivery) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error(fmt.Errorf("panic: %v", r), "MQTT handler panicked", "topic", d.topic)
		}
		b.handled.Add(1)
	}()
	b.h.HandleMQTT(d.topic, d.payload)
}

func containsWildcard(topic string) bool {
	for _, r := range topic {
		if r == '+' || r == '#' || r == 0 {
			return true
		}
	}
	return false
}
