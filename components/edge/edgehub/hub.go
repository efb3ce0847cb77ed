// Package edgehub keeps an edge node's link to CloudHub: it bootstraps the
// node's certificate with a join token, dials the websocket with mutual TLS,
// sends keepalives, reconnects with jittered exponential backoff, renews the
// certificate before it expires, and pairs requests with their replies.
package edgehub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"

	"github.com/cleanedge/kubeedge/components/message"
)

// Config holds EdgeHub's settings (edgecore.yaml modules.edgeHub).
type Config struct {
	// Server is CloudHub's websocket host:port.
	Server string
	// HTTPServer is CloudHub's certificate server, https://host:port.
	HTTPServer string
	ProjectID  string
	NodeName   string
	CAFile     string
	CertFile   string
	KeyFile    string
	// Token is the join token; needed only while the node has no certificate.
	Token string
	// Heartbeat is the keepalive period (upstream default 15 s).
	Heartbeat        time.Duration
	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay.
	BackoffMin, BackoffMax time.Duration
	// QueueSize is the outbound queue length.
	QueueSize int
	// RotateCertificates renews the certificate at 70–90 % of its validity.
	RotateCertificates bool
}

func (c *Config) setDefaults() {
	if c.ProjectID == "" {
		c.ProjectID = "e632aba927ea4ac2b575ec1603d56f10"
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 15 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 60 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
}

// Handler receives what the cloud sends that is not a reply to a Request.
type Handler interface {
	HandleMessage(m message.Message)
	// Connected and Disconnected report the link's state changes.
	Connected()
	Disconnected()
}

// ErrNotConnected is returned by Send while the link is down.
var ErrNotConnected = errors.New("not connected to cloudcore")

// Hub is EdgeHub.
type Hub struct {
	cfg     Config
	handler Handler
	log     logr.Logger
	factory message.Factory

	mu  sync.Mutex
	out chan message.Message // nil while disconnected
	// linkDone is closed when the current connection ends, so that requests
	// sent on it stop waiting for a reply that cannot come.
	linkDone chan struct{}
	pending  map[string]chan message.Message
	// reconnect asks the current connection to close (after a renewal).
	reconnect chan struct{}
	connected chan struct{} // closed on the first connection
	connOnce  sync.Once
}

// New builds a hub. Run it after EnsureCertificate succeeded.
func New(cfg Config, handler Handler, log logr.Logger) *Hub {
	cfg.setDefaults()
	return &Hub{cfg: cfg, handler: handler, log: log, factory: message.DefaultFactory,
		pending: map[string]chan message.Message{}, reconnect: make(chan struct{}, 1), connected: make(chan struct{})}
}

// Name is the module name.
func (h *Hub) Name() string { return "edgehub" }

// FirstConnected closes when the hub has connected once.
func (h *Hub) FirstConnected() <-chan struct{} { return h.connected }

// Run keeps the link up until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	if h.cfg.RotateCertificates {
		go h.rotateLoop(ctx)
	}
	backoff := h.cfg.BackoffMin
	for {
		start := time.Now()
		conn, err := h.dial(ctx)
		if err == nil {
			h.serve(ctx, conn)
			// A link that worked broke: come back at once (within a second,
			// jittered). Only links that die as they open (a cloud refusing
			// us) back off further.
			if time.Since(start) > time.Second {
				backoff = h.cfg.BackoffMin
			}
		} else if ctx.Err() == nil {
			h.log.Info("cannot connect to cloudcore", "server", h.cfg.Server, "err", err, "retryIn", backoff)
		}
		if ctx.Err() != nil {
			return nil
		}
		// Full jitter over [backoff/2, backoff], then double up to the cap.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, h.cfg.BackoffMax)
	}
}

func (h *Hub) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(h.cfg.CertFile, h.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load edge certificate %s: %w", h.cfg.CertFile, err)
	}
	caPEM, err := os.ReadFile(h.cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", h.cfg.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", h.cfg.CAFile)
	}
	host, _, err := net.SplitHostPort(h.cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("websocket server %q: want host:port: %w", h.cfg.Server, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: host}, nil
}

func (h *Hub) dial(ctx context.Context) (*websocket.Conn, error) {
	tlsCfg, err := h.tlsConfig()
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "wss", Host: h.cfg.Server, Path: "/" + h.cfg.ProjectID + "/" + h.cfg.NodeName + "/events"}
	hdr := http.Header{}
	hdr.Set("node_id", h.cfg.NodeName)
	hdr.Set("project_id", h.cfg.ProjectID)
	hdr.Set("ConnectionUse", "msg")
	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: h.cfg.HandshakeTimeout, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, u.String(), hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", u.Host, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	return conn, nil
}

// serve runs one connection until it breaks or ctx ends.
func (h *Hub) serve(ctx context.Context, conn *websocket.Conn) {
	out := make(chan message.Message, h.cfg.QueueSize)
	linkDone := make(chan struct{})
	h.mu.Lock()
	h.out, h.linkDone = out, linkDone
	h.mu.Unlock()
	h.log.Info("connected to cloudcore", "server", h.cfg.Server, "node", h.cfg.NodeName)
	h.connOnce.Do(func() { close(h.connected) })
	h.handler.Connected()

	stop := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(stop); _ = conn.Close() }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); defer end(); h.readLoop(conn) }()
	go func() { defer wg.Done(); defer end(); h.writeLoop(conn, out, stop) }()
	select {
	case <-ctx.Done():
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "edgecore stopping"), time.Now().Add(time.Second))
	case <-stop:
	case <-h.reconnect:
		h.log.Info("reconnecting with the renewed certificate")
	}
	end()
	wg.Wait()
	h.mu.Lock()
	h.out, h.linkDone = nil, nil
	h.mu.Unlock()
	close(linkDone)
	h.log.Info("disconnected from cloudcore", "server", h.cfg.Server)
	h.handler.Disconnected()
}

func (h *Hub) readLoop(conn *websocket.Conn) {
	// The cloud answers no keepalive, and an idle cloud sends nothing: the
	// pongs to the pings sent with each keepalive keep the read deadline
	// alive, so only a dead link reaches it.
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(4 * h.cfg.Heartbeat))
	})
	for {
		_ = conn.SetReadDeadline(time.Now().Add(4 * h.cfg.Heartbeat))
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		m, err := message.Decode(data)
		if err != nil {
			h.log.Info("dropped an invalid frame from cloudcore", "err", err, "bytes", len(data))
			continue
		}
		// A reply goes to the request waiting for it (twin replies included:
		// DeviceTwin's reports wait for the cloud's "OK"); one nobody waits
		// for goes to the handler.
		if m.Header.ParentID != "" && h.deliverReply(m) {
			continue
		}
		h.handler.HandleMessage(m)
	}
}

func (h *Hub) writeLoop(conn *websocket.Conn, out chan message.Message, stop chan struct{}) {
	ticker := time.NewTicker(h.cfg.Heartbeat)
	defer ticker.Stop()
	write := func(m message.Message) bool {
		frame, err := message.Encode(m)
		if err != nil {
			h.log.Error(err, "dropped an unencodable message")
			return true
		}
		_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			h.log.Info("write to cloudcore failed", "err", err)
			return false
		}
		return true
	}
	keepalive := func() bool {
		m, _ := h.factory.New(message.KeepaliveRoute, message.KeepaliveContent) // a string always marshals
		if !write(m) {
			return false
		}
		// A websocket ping: gorilla-based CloudHubs answer it with a pong by default.
		if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
			h.log.Info("ping to cloudcore failed", "err", err)
			return false
		}
		return true
	}
	if !keepalive() {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			if !keepalive() {
				return
			}
		case m := <-out:
			if !write(m) {
				return
			}
		}
	}
}

// Send queues a message for the cloud. It fails at once while disconnected or
// when the queue is full; callers that must not lose data persist it first.
func (h *Hub) Send(m message.Message) error {
	h.mu.Lock()
	out := h.out
	h.mu.Unlock()
	if out == nil {
		return fmt.Errorf("send %s %s: %w", m.Route.Operation, m.Route.Resource, ErrNotConnected)
	}
	select {
	case out <- m:
		return nil
	default:
		return fmt.Errorf("send %s %s: outbound queue full (%d)", m.Route.Operation, m.Route.Resource, cap(out))
	}
}

// Request sends m and waits for the cloud's reply (paired by parent_msg_id).
func (h *Hub) Request(ctx context.Context, m message.Message) (message.Message, error) {
	ch := make(chan message.Message, 1)
	h.mu.Lock()
	h.pending[m.Header.ID] = ch
	linkDone := h.linkDone
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.pending, m.Header.ID)
		h.mu.Unlock()
	}()
	if err := h.Send(m); err != nil {
		return message.Message{}, err
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-linkDone:
		return message.Message{}, fmt.Errorf("no reply from cloudcore to %s %s: %w (the link broke)", m.Route.Operation, m.Route.Resource, ErrNotConnected)
	case <-ctx.Done():
		return message.Message{}, fmt.Errorf("no reply from cloudcore to %s %s: %w", m.Route.Operation, m.Route.Resource, ctx.Err())
	}
}

func (h *Hub) deliverReply(m message.Message) bool {
	h.mu.Lock()
	ch, ok := h.pending[m.Header.ParentID]
	h.mu.Unlock()
	if ok {
		select {
		case ch <- m:
		default:
		}
	}
	return ok
}
