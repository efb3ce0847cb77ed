package cloudhub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/gorilla/websocket"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/message"
)

// waitTimeout bounds every wait for something asynchronous; polling returns
// as soon as the condition holds, so the bound only matters on failure.
const waitTimeout = 10 * time.Second

const projectID = "e632aba927ea4ac2b575ec1603d56f10"

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1.
type testPKI struct {
	ca     *certs.CA
	server *certs.KeyPair
}

func newTestPKI(t *testing.T, serverIPs ...string) *testPKI {
	t.Helper()
	if len(serverIPs) == 0 {
		serverIPs = []string{"127.0.0.1"}
	}
	ca, err := certs.NewCA(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: serverIPs, Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{ca: ca, server: srv}
}

func (p *testPKI) authority() *CAAuthority {
	return &CAAuthority{CA: p.ca, Server: p.server, EdgeValidity: time.Hour}
}

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return pool
}

// clientCert issues a certificate whose CN is node (default usage client auth).
func (p *testPKI) clientCert(t *testing.T, node string, usages ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := certs.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.NewCSR(key, "any-node")
	if err != nil {
		t.Fatal(err)
	}
	der, err := p.ca.SignCSR(csr, certs.SignRequest{NodeName: node, Usages: usages, Validity: time.Hour, Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// httpClient trusts the CA and presents the given client certificates.
func (p *testPKI) httpClient(t *testing.T, client ...tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(), Certificates: client, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitTimeout}
}

// tlsCert is short for tls.Certificate in tables.
type tlsCert = tls.Certificate

// dialTLS is an edge's client TLS configuration.
func (p *testPKI) dialTLS(client ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.pool(), Certificates: client, MinVersion: tls.VersionTLS12}
}

// dial opens a websocket to the hub as an edge node would, with header
// node_id set to nodeID when it is not empty.
func (p *testPKI) dial(t *testing.T, hub *Hub, nodeID string, client ...tls.Certificate) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: p.dialTLS(client...), HandshakeTimeout: waitTimeout}
	hdr := http.Header{}
	if nodeID != "" {
		hdr.Set("node_id", nodeID)
		hdr.Set("project_id", projectID)
	}
	url := "wss://" + hub.WebsocketAddr().String() + "/" + projectID + "/" + nodeID + "/events"
	conn, resp, err := d.Dial(url, hdr)
	if conn != nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, resp, err
}

// connect dials as node and waits until the hub has its session.
func (p *testPKI) connect(t *testing.T, hub *Hub, node string) *websocket.Conn {
	t.Helper()
	conn, resp, err := p.dial(t, hub, node, p.clientCert(t, node))
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial as %s: %v %s", node, err, status)
	}
	waitFor(t, node+" to be connected", func() bool { return hub.Connected(node) })
	return conn
}

// startHub runs a hub with both listeners on 127.0.0.1:0. The returned stop
// cancels it and waits for Run to return; it also runs at cleanup.
func startHub(t *testing.T, cfg Config, auth Authority, h Handler, log logr.Logger) (*Hub, func()) {
	t.Helper()
	cfg.WebsocketAddr = "127.0.0.1:0"
	cfg.HTTPSAddr = "127.0.0.1:0"
	hub := New(cfg, auth, h, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	select {
	case <-hub.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("hub stopped before it was ready: %v", err)
	case <-time.After(waitTimeout):
		cancel()
		t.Fatal("hub not ready")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Error("hub did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return hub, stop
}

// event is one Handler call.
type event struct {
	kind string // connected, disconnected, alive, message
	node string
	msg  message.Message
}

// recorder is a Handler that records every call.
type recorder struct {
	mu     sync.Mutex
	events []event
	// onDisconnected, if set, runs before a disconnection is recorded.
	onDisconnected func(node string)
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) HandleMessage(node string, m message.Message) {
	r.add(event{kind: "message", node: node, msg: m})
}
func (r *recorder) NodeConnected(node string) { r.add(event{kind: "connected", node: node}) }
func (r *recorder) NodeDisconnected(node string) {
	if r.onDisconnected != nil {
		r.onDisconnected(node)
	}
	r.add(event{kind: "disconnected", node: node})
}
func (r *recorder) NodeAlive(node string) { r.add(event{kind: "alive", node: node}) }

func (r *recorder) count(kind, node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.kind == kind && e.node == node {
			n++
		}
	}
	return n
}

// messages returns what HandleMessage got for node.
func (r *recorder) messages(node string) []message.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []message.Message
	for _, e := range r.events {
		if e.kind == "message" && e.node == node {
			out = append(out, e.msg)
		}
	}
	return out
}

// links returns node's connected/disconnected calls in order.
func (r *recorder) links(node string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.node == node && (e.kind == "connected" || e.kind == "disconnected") {
			out = append(out, e.kind)
		}
	}
	return out
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// logBuffer collects log lines from a funcr logger, safely across goroutines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.lines = append(b.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 2})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// newMsg builds an edge message.
func newMsg(t *testing.T, op message.Operation, resource string, content any) message.Message {
	t.Helper()
	m, err := message.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: op, Resource: resource}, content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeMsg(t *testing.T, conn *websocket.Conn, m message.Message) {
	t.Helper()
	frame, err := message.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

func readMsg(t *testing.T, conn *websocket.Conn) message.Message {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	m, err := message.Decode(data)
	if err != nil {
		t.Fatalf("decode frame: %v", err)
	}
	return m
}

// expectClosed reads until the connection fails and returns the error; a
// read timeout means the connection stayed open and fails the test.
func expectClosed(t *testing.T, conn *websocket.Conn) error {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %s", waitTimeout)
			}
			return err
		}
	}
}
