package edgehub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/cloud/cloudhub"
	"github.com/cleanedge/kubeedge/components/message"
)

// waitTimeout bounds every wait; polls return as soon as the condition holds.
const waitTimeout = 10 * time.Second

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

// cloud is an in-process CloudHub with its PKI.
type cloud struct {
	ca   *certs.CA
	auth *cloudhub.CAAuthority
	hub  *cloudhub.Hub
	rec  *cloudRecorder
	// skew moves the authority's clock back, in nanoseconds.
	skew atomic.Int64
}

type cloudOptions struct {
	// serverIPs are the server certificate's IP SANs (default 127.0.0.1).
	serverIPs []string
	// edgeValidity is the lifetime of issued edge certificates (default 1h).
	edgeValidity time.Duration
	// reply, if set, answers the messages the cloud receives.
	reply func(c *cloud, node string, m message.Message)
}

func startCloud(t *testing.T, opts cloudOptions) *cloud {
	t.Helper()
	if len(opts.serverIPs) == 0 {
		opts.serverIPs = []string{"127.0.0.1"}
	}
	if opts.edgeValidity == 0 {
		opts.edgeValidity = time.Hour
	}
	ca, err := certs.NewCA(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: opts.serverIPs, Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	c := &cloud{ca: ca, rec: &cloudRecorder{}}
	c.auth = &cloudhub.CAAuthority{CA: ca, Server: srv, EdgeValidity: opts.edgeValidity,
		Now: func() time.Time { return time.Now().Add(-time.Duration(c.skew.Load())) }}
	if opts.reply != nil {
		c.rec.reply = func(node string, m message.Message) { opts.reply(c, node, m) }
	}
	c.hub = cloudhub.New(cloudhub.Config{WebsocketAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"}, c.auth, c.rec, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.hub.Run(ctx) }()
	select {
	case <-c.hub.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("cloudhub: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("cloudhub did not stop")
		}
	})
	return c
}

func (c *cloud) token(t *testing.T) string {
	t.Helper()
	tok, err := certs.GenerateToken(c.ca, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// edgeConfig is a node's configuration against c, with files in a new
// directory (in subdirectories that do not exist yet) and fast timers.
func (c *cloud) edgeConfig(t *testing.T, node string) Config {
	dir := t.TempDir()
	return Config{
		Server:     c.hub.WebsocketAddr().String(),
		HTTPServer: "https://" + c.hub.HTTPSAddr().String(),
		NodeName:   node,
		CAFile:     filepath.Join(dir, "ca", "rootCA.crt"),
		CertFile:   filepath.Join(dir, "certs", "server.crt"),
		KeyFile:    filepath.Join(dir, "certs", "server.key"),
		Token:      c.token(t),
		// The read deadline is 4 heartbeats: keep it well above scheduling
		// stalls of a loaded machine running the race detector.
		Heartbeat:        100 * time.Millisecond,
		HandshakeTimeout: waitTimeout,
		BackoffMin:       5 * time.Millisecond,
		BackoffMax:       20 * time.Millisecond,
	}
}

// pool trusts the cloud's CA.
func (c *cloud) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.ca.Cert)
	return p
}

// cloudRecorder is a cloudhub.Handler that counts calls per node.
type cloudRecorder struct {
	mu        sync.Mutex
	connected map[string]int
	gone      map[string]int
	alive     map[string]int
	msgs      []message.Message
	reply     func(node string, m message.Message)
}

func (r *cloudRecorder) inc(m *map[string]int, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[node]++
}

func (r *cloudRecorder) HandleMessage(node string, m message.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	reply := r.reply
	r.mu.Unlock()
	if reply != nil {
		reply(node, m)
	}
}
func (r *cloudRecorder) NodeConnected(node string)    { r.inc(&r.connected, node) }
func (r *cloudRecorder) NodeDisconnected(node string) { r.inc(&r.gone, node) }
func (r *cloudRecorder) NodeAlive(node string)        { r.inc(&r.alive, node) }

func (r *cloudRecorder) counts(node string) (connected, gone, alive int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected[node], r.gone[node], r.alive[node]
}

func (r *cloudRecorder) received(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.Header.ID == id {
			return true
		}
	}
	return false
}

// edgeRecorder is an edgehub Handler.
type edgeRecorder struct {
	mu                      sync.Mutex
	connected, disconnected int
	msgs                    []message.Message
}

func (r *edgeRecorder) HandleMessage(m message.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}
func (r *edgeRecorder) Connected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connected++
}
func (r *edgeRecorder) Disconnected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disconnected++
}

func (r *edgeRecorder) counts() (connected, disconnected int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connected, r.disconnected
}

func (r *edgeRecorder) got(id string) (message.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.Header.ID == id {
			return m, true
		}
	}
	return message.Message{}, false
}

// runHub runs h until the test ends; stop cancels it and checks Run returned.
func runHub(t *testing.T, h *Hub) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Error("edgehub did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func loadCert(t *testing.T, cfg Config) *x509.Certificate {
	t.Helper()
	kp, err := certs.LoadKeyPairFiles(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Cert
}

func loadTLSCert(t *testing.T, cfg Config) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
