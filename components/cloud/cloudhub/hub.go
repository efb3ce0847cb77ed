package cloudhub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"

	"github.com/cleanedge/kubeedge/components/message"
)

// Config holds CloudHub's settings (cloudcore.yaml modules.cloudHub).
type Config struct {
	// WebsocketAddr is host:port of the websocket server; empty disables it.
	WebsocketAddr string
	// HTTPSAddr is host:port of the certificate server; empty disables it.
	HTTPSAddr string
	// KeepaliveInterval: a session with no frame for this long is closed.
	KeepaliveInterval time.Duration
	// WriteTimeout bounds one frame write.
	WriteTimeout time.Duration
	// NodeLimit is the most sessions at once.
	NodeLimit int
	// QueueSize is each session's outbound queue length.
	QueueSize int
	// MaxMessageSize bounds one incoming frame.
	MaxMessageSize int64
}

// Defaults as upstream (keepalive 30 s, write timeout 30 s, 1000 nodes).
func (c *Config) setDefaults() {
	if c.KeepaliveInterval <= 0 {
		c.KeepaliveInterval = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.NodeLimit <= 0 {
		c.NodeLimit = 1000
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 128
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 8 << 20
	}
}

// Authority is the PKI CloudHub needs: the CA, token checks and CSR signing.
type Authority interface {
	// CACert is the cluster CA certificate.
	CACert() *x509.Certificate
	// ServerCertificate is CloudHub's serving certificate.
	ServerCertificate() tls.Certificate
	// VerifyToken checks the JWT part of a join token.
	VerifyToken(jwt string) error
	// SignCSR issues a certificate for node from a DER CSR.
	SignCSR(csrDER []byte, node string, usages []x509.ExtKeyUsage) ([]byte, error)
	// NodeName returns the node a client certificate was issued to.
	NodeName(cert *x509.Certificate) (string, error)
}

// Handler receives what the nodes send. Calls for one node come from that
// node's reader goroutine, in order; they must not block for long.
type Handler interface {
	// HandleMessage gets every valid message except keepalives.
	HandleMessage(node string, m message.Message)
	// NodeConnected is called when a node's session starts.
	NodeConnected(node string)
	// NodeDisconnected is called when a node's session ends.
	NodeDisconnected(node string)
	// NodeAlive is called on every keepalive.
	NodeAlive(node string)
}

// Errors of Send.
var (
	ErrNotConnected = errors.New("node is not connected")
	ErrQueueFull    = errors.New("node's send queue is full")
)

// Hub is CloudHub: the two servers and the node sessions.
type Hub struct {
	cfg     Config
	auth    Authority
	handler Handler
	log     logr.Logger
	factory message.Factory

	mu       sync.Mutex
	sessions map[string]*session

	upgrader websocket.Upgrader
	ready    chan struct{}
	// Bound addresses, set before Ready closes.
	wsAddr, httpsAddr net.Addr
}

// WebsocketAddr is the websocket listener's bound address (after Ready).
func (h *Hub) WebsocketAddr() net.Addr { return h.wsAddr }

// HTTPSAddr is the certificate server's bound address (after Ready).
func (h *Hub) HTTPSAddr() net.Addr { return h.httpsAddr }

// New builds a hub. Call Run to serve.
func New(cfg Config, auth Authority, handler Handler, log logr.Logger) *Hub {
	cfg.setDefaults()
	return &Hub{
		cfg: cfg, auth: auth, handler: handler, log: log,
		factory:  message.DefaultFactory,
		sessions: map[string]*session{},
		// Read buffer 0: reuse the HTTP server's; write buffers come from a
		// pool and go back between frames, so an idle node holds none.
		upgrader: websocket.Upgrader{HandshakeTimeout: 30 * time.Second, WriteBufferPool: &sync.Pool{}},
		ready:    make(chan struct{}),
	}
}

// Name is the module name.
func (h *Hub) Name() string { return "cloudhub" }

// Ready closes when both listeners are bound.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Run serves until ctx ends, then closes every session.
func (h *Hub) Run(ctx context.Context) error {
	var servers []*http.Server
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	if h.cfg.WebsocketAddr != "" {
		l, err := net.Listen("tcp", h.cfg.WebsocketAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("cloudhub websocket listen on %s: %w", h.cfg.WebsocketAddr, err)
		}
		listeners = append(listeners, l)
		h.wsAddr = l.Addr()
		servers = append(servers, &http.Server{
			Handler:           http.HandlerFunc(h.serveWebsocket),
			TLSConfig:         h.websocketTLS(),
			ReadHeaderTimeout: 30 * time.Second,
		})
	}
	if h.cfg.HTTPSAddr != "" {
		l, err := net.Listen("tcp", h.cfg.HTTPSAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("cloudhub https listen on %s: %w", h.cfg.HTTPSAddr, err)
		}
		listeners = append(listeners, l)
		h.httpsAddr = l.Addr()
		servers = append(servers, &http.Server{
			Handler:           h.certHandler(),
			TLSConfig:         h.httpsTLS(),
			ReadHeaderTimeout: 30 * time.Second,
		})
	}
	close(h.ready)
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() {
			if err := s.ServeTLS(listeners[i], "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	h.closeSessions()
	return err
}

func (h *Hub) websocketTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(h.auth.CACert())
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := h.auth.ServerCertificate()
			return &c, nil
		},
		// Upstream offers only this suite under TLS 1.2; TLS 1.3 is preferred.
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	}
}

func (h *Hub) httpsTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Request but verify in the handler: a joining node has no certificate yet.
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := h.auth.ServerCertificate()
			return &c, nil
		},
	}
}

// Send queues a message for a node. It never blocks: a full queue is an error.
func (h *Hub) Send(node string, m message.Message) error {
	h.mu.Lock()
	s := h.sessions[node]
	h.mu.Unlock()
	if s == nil {
		return fmt.Errorf("send %s %s to %s: %w", m.Route.Operation, m.Route.Resource, node, ErrNotConnected)
	}
	return s.enqueue(m)
}

// Connected reports whether a node has a live session.
func (h *Hub) Connected(node string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[node] != nil
}

// ConnectedNodes returns how many sessions are live.
func (h *Hub) ConnectedNodes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (h *Hub) closeSessions() {
	h.mu.Lock()
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.close()
		<-s.done
	}
}
