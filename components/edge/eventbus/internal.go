package eventbus

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"

	"github.com/go-logr/logr"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// internalSessionExpiry bounds how long the internal broker keeps the session
// of a disconnected client that asked for a persistent one (seconds).
const internalSessionExpiry = 3600

// internalBroker is edgecore's embedded MQTT broker (mqttMode 0 and 1): in
// memory, no authentication.
type internalBroker struct {
	srv  *mqtt.Server
	addr string
	qos  byte
	keep bool
}

// startInternal listens on cfg.InternalServer and starts serving. Every
// message a client publishes is passed to received (from the publishing
// client's goroutine; payload is shared with the broker and must be copied
// to be kept); messages published through the broker itself are not.
func startInternal(cfg Config, log logr.Logger, received func(topic string, payload []byte)) (*internalBroker, error) {
	addr, err := listenAddress(cfg.InternalServer)
	if err != nil {
		return nil, fmt.Errorf("modules.eventBus.mqttServerInternal: %w", err)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(min(cfg.SessionQueueSize, math.MaxInt32))
	caps.MaximumInflight = uint16(min(cfg.SessionQueueSize, math.MaxUint16))
	caps.MaximumSessionExpiryInterval = internalSessionExpiry
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       slog.New(quietHandler{logr.ToSlogHandler(log.WithName("broker").V(2))}),
	})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("internal MQTT broker: %w", err)
	}
	if err := srv.AddHook(&publishHook{received: received}, nil); err != nil {
		return nil, fmt.Errorf("internal MQTT broker: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("internal MQTT broker cannot listen on %s (modules.eventBus.mqttServerInternal %q): %w", addr, cfg.InternalServer, err)
	}
	if err := srv.AddListener(&tcpListener{ln: ln, conns: map[net.Conn]struct{}{}}); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("internal MQTT broker on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("internal MQTT broker on %s: %w", addr, err)
	}
	return &internalBroker{srv: srv, addr: ln.Addr().String(), qos: byte(cfg.QoS), keep: cfg.Retain}, nil
}

// publish injects a message into the broker with the configured QoS and
// retain flag.
func (b *internalBroker) publish(topic string, payload []byte) error {
	if err := b.srv.Publish(topic, payload, b.keep, b.qos); err != nil {
		return fmt.Errorf("publish %q to internal broker: %w", topic, err)
	}
	return nil
}

func (b *internalBroker) close() { _ = b.srv.Close() }

// tcpListener is the broker's listener. Unlike mochi's TCP listener, its
// Close closes the client connections itself: mochi v2.7.9's own path
// (Clients.GetByListener) takes a read lock twice and deadlocks when a
// client disconnects at the same moment.
type tcpListener struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *tcpListener) Init(*slog.Logger) error { return nil } // listening since startInternal
func (l *tcpListener) ID() string              { return "eventbus-internal" }
func (l *tcpListener) Address() string         { return l.ln.Addr().String() }
func (l *tcpListener) Protocol() string        { return "tcp" }

// Serve accepts connections until Close and hands each to the broker.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.conns[conn] = struct{}{}
		l.mu.Unlock()
		go func() {
			_ = establish(l.ID(), conn) // ends when the client is gone
			l.mu.Lock()
			delete(l.conns, conn)
			l.mu.Unlock()
			_ = conn.Close()
		}()
	}
}

// Close stops accepting and closes every client connection; the broker's
// client goroutines then end, which mochi's Close waits for.
func (l *tcpListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	_ = l.ln.Close()
	for c := range l.conns {
		_ = c.Close()
	}
}

// allowAll lets every client connect, publish and subscribe (upstream's
// internal broker has no authentication either).
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "eventbus-allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// publishHook sees every message published by a connected client.
type publishHook struct {
	mqtt.HookBase
	received func(topic string, payload []byte)
}

func (h *publishHook) ID() string { return "eventbus-dispatch" }

func (h *publishHook) Provides(b byte) bool { return b == mqtt.OnPublished }

// OnPublished runs after the broker has routed pk to its subscribers. Our
// own publishes (the inline client) are skipped, so that what EventBus
// publishes is never dispatched back to it.
func (h *publishHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || pk.Ignore {
		return
	}
	h.received(pk.TopicName, pk.Payload)
}

// quietHandler logs everything the broker says at info level: its warnings
// and errors are about single clients (a dropped connection) and would
// otherwise flood the daemon's log. Failures that matter (cannot listen) are
// returned by startInternal.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, min(l, slog.LevelInfo))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = min(r.Level, slog.LevelInfo)
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
