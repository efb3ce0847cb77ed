package eventbus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-logr/logr"
)

// External broker settings: upstream publishes and subscribes with QoS 1,
// never retained.
const (
	externalQoS            = 1
	externalConnectRetry   = time.Second
	externalConnectTimeout = 5 * time.Second // also bounds the wait for CONNACK
	externalMaxReconnect   = 10 * time.Second
	externalPublishTimeout = 5 * time.Second
	externalQuiesce        = 250 // milliseconds
	// externalWatchdog is how often a client that paho has given up on is
	// restarted (see watch).
	externalWatchdog = 2 * time.Second
)

// errTimeout is returned when the external broker does not answer in time.
var errTimeout = errors.New("no answer from the external broker")

// externalClients are the two paho clients of mqttMode 1 and 2: one
// publishes, one subscribes. Both reconnect forever; the subscriber
// subscribes to every topic of the bus again after each connect.
type externalClients struct {
	pub, sub paho.Client
	log      logr.Logger
	stop     context.CancelFunc
	done     chan struct{}
	// subscribed is set once the subscriber has subscribed after its
	// latest connect.
	subscribed atomic.Bool
}

// startExternal creates the clients and starts connecting in the background.
// topics returns the current topic filters; received gets every message.
func startExternal(cfg Config, log logr.Logger, topics func() []string, received func(topic string, payload []byte)) *externalClients {
	e := &externalClients{log: log, done: make(chan struct{})}
	base := func(id string) *paho.ClientOptions {
		o := paho.NewClientOptions().
			AddBroker(cfg.ExternalServer).
			SetClientID(id).
			SetCleanSession(true).
			SetAutoReconnect(true).
			SetConnectRetry(true).
			SetConnectRetryInterval(externalConnectRetry).
			SetConnectTimeout(externalConnectTimeout).
			SetMaxReconnectInterval(externalMaxReconnect).
			SetConnectionLostHandler(func(_ paho.Client, err error) {
				log.Info("Lost the external MQTT broker; reconnecting", "client", id, "broker", cfg.ExternalServer, "err", err)
			})
		if cfg.Username != "" {
			o.SetUsername(cfg.Username).SetPassword(cfg.Password)
		}
		return o
	}
	e.pub = paho.NewClient(base(cfg.PubClientID).SetOnConnectHandler(func(paho.Client) {
		log.Info("Connected to the external MQTT broker", "client", cfg.PubClientID, "broker", cfg.ExternalServer)
	}))
	subOpts := base(cfg.SubClientID).
		// Called before each reconnect attempt, in order with OnConnect.
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { e.subscribed.Store(false) }).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { received(m.Topic(), m.Payload()) }).
		SetOnConnectHandler(func(c paho.Client) {
			log.Info("Connected to the external MQTT broker", "client", cfg.SubClientID, "broker", cfg.ExternalServer)
			filters := map[string]byte{}
			for _, t := range topics() {
				filters[t] = externalQoS
			}
			if len(filters) > 0 {
				if err := wait(context.Background(), c.SubscribeMultiple(filters, nil)); err != nil {
					// The subscriber stays connected but deaf: drop the
					// connection so that the next connect tries again.
					log.Error(err, "Subscribe on the external MQTT broker; reconnecting", "topics", len(filters))
					c.Disconnect(0)
					return
				}
			}
			e.subscribed.Store(true)
		})
	e.sub = paho.NewClient(subOpts)
	// With ConnectRetry the tokens complete only once connected; the
	// clients keep trying in the background until close.
	e.pub.Connect()
	e.sub.Connect()
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	go e.watch(ctx)
	return e
}

// watch restarts a client that is neither connected nor reconnecting. paho
// v1.5.1 gives up for good when a connection drops in the moment between the
// CONNACK and the switch to "connected" (logged as "BUG BUG BUG reconnection
// function is nil"); seen when a broker restarts.
func (e *externalClients) watch(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(externalWatchdog)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range []paho.Client{e.pub, e.sub} {
			if !c.IsConnected() {
				e.log.Info("Restarting a stopped external MQTT client")
				if c == e.sub {
					e.subscribed.Store(false)
				}
				c.Connect()
			}
		}
	}
}

// connected reports whether both clients are connected now and the
// subscriber has subscribed.
func (e *externalClients) connected() bool {
	return e.pub.IsConnectionOpen() && e.sub.IsConnectionOpen() && e.subscribed.Load()
}

func (e *externalClients) publish(topic string, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), externalPublishTimeout)
	defer cancel()
	if err := wait(ctx, e.pub.Publish(topic, externalQoS, false, payload)); err != nil {
		return fmt.Errorf("publish %q to external broker: %w", topic, err)
	}
	return nil
}

// subscribe subscribes now if connected; otherwise the next connect does.
func (e *externalClients) subscribe(ctx context.Context, topic string) error {
	if !e.sub.IsConnectionOpen() {
		return nil
	}
	if err := wait(ctx, e.sub.Subscribe(topic, externalQoS, nil)); err != nil {
		return fmt.Errorf("subscribe %q on external broker: %w", topic, err)
	}
	return nil
}

func (e *externalClients) unsubscribe(ctx context.Context, topic string) error {
	if !e.sub.IsConnectionOpen() {
		return nil
	}
	if err := wait(ctx, e.sub.Unsubscribe(topic)); err != nil {
		return fmt.Errorf("unsubscribe %q on external broker: %w", topic, err)
	}
	return nil
}

func (e *externalClients) close() {
	e.stop()
	<-e.done
	e.pub.Disconnect(externalQuiesce)
	e.sub.Disconnect(externalQuiesce)
}

// wait waits for a paho token, the context or, without a context deadline,
// externalPublishTimeout.
func wait(ctx context.Context, tok paho.Token) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, externalPublishTimeout)
		defer cancel()
	}
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errTimeout, ctx.Err())
	}
}
