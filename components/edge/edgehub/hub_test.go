package edgehub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"

	"github.com/cleanedge/kubeedge/components/message"
)

// testLogger discards: hub goroutines may outlive a test's logger.
func testLogger(*testing.T) logr.Logger { return logr.Discard() }

// echo answers queries for configmaps with {"name": <name>}, except "silent"
// (never answered) and "hold" (answered only after "release", and after it).
func echo() func(c *cloud, node string, m message.Message) {
	var mu sync.Mutex
	var held *message.Message
	answer := func(c *cloud, node string, m message.Message) {
		name := m.Route.Resource[strings.LastIndex(m.Route.Resource, "/")+1:]
		reply, err := message.DefaultFactory.Response(m, message.SourceEdgeController, map[string]string{"name": name})
		if err != nil {
			panic(err)
		}
		_ = c.hub.Send(node, reply)
	}
	return func(c *cloud, node string, m message.Message) {
		if m.Route.Operation != message.OpQuery {
			return
		}
		switch {
		case strings.HasSuffix(m.Route.Resource, "/silent"):
		case strings.HasSuffix(m.Route.Resource, "/hold"):
			mu.Lock()
			held = &m
			mu.Unlock()
		case strings.HasSuffix(m.Route.Resource, "/release"):
			answer(c, node, m)
			mu.Lock()
			h := held
			mu.Unlock()
			if h != nil {
				answer(c, node, *h)
			}
		default:
			answer(c, node, m)
		}
	}
}

func query(t *testing.T, name string) message.Message {
	t.Helper()
	m, err := message.New(message.Route{Source: message.SourceMetaManager, Group: message.GroupMeta,
		Operation: message.OpQuery, Resource: "default/configmap/" + name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func replyName(t *testing.T, m message.Message) string {
	t.Helper()
	var got struct{ Name string }
	if err := m.DecodeContent(&got); err != nil {
		t.Fatal(err)
	}
	return got.Name
}

// bootstrapped starts a cloud and an edge node with a certificate.
func bootstrapped(t *testing.T, node string, opts cloudOptions) (*cloud, Config) {
	t.Helper()
	c := startCloud(t, opts)
	cfg := c.edgeConfig(t, node)
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

func TestHubLink(t *testing.T) {
	t.Parallel()
	c, cfg := bootstrapped(t, "edge-1", cloudOptions{reply: echo()})
	rec := &edgeRecorder{}
	h := New(cfg, rec, testLogger(t))

	m := query(t, "cm")
	if err := h.Send(m); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send before Run: %v, want ErrNotConnected", err)
	}
	if _, err := h.Request(context.Background(), m); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Request before Run: %v, want ErrNotConnected", err)
	}

	stop := runHub(t, h)
	select {
	case <-h.FirstConnected():
	case <-time.After(waitTimeout):
		t.Fatal("never connected")
	}
	waitFor(t, "Connected", func() bool { connected, _ := rec.counts(); return connected == 1 })

	t.Run("keepalives", func(t *testing.T) {
		waitFor(t, "three keepalives", func() bool { _, _, alive := c.rec.counts("edge-1"); return alive >= 3 })
	})

	t.Run("Request gets its reply", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		reply, err := h.Request(ctx, query(t, "cm-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := replyName(t, reply); got != "cm-1" {
			t.Errorf("reply for %q, want cm-1", got)
		}
	})

	t.Run("replies are paired by parent_msg_id, not by order", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		hold := query(t, "hold")
		type result struct {
			m   message.Message
			err error
		}
		held := make(chan result, 1)
		go func() {
			r, err := h.Request(ctx, hold)
			held <- result{r, err}
		}()
		waitFor(t, "the cloud to hold the first request", func() bool { return c.rec.received(hold.Header.ID) })
		r, err := h.Request(ctx, query(t, "release"))
		if err != nil {
			t.Fatal(err)
		}
		if got := replyName(t, r); got != "release" {
			t.Errorf("second request got the reply for %q", got)
		}
		first := <-held
		if first.err != nil {
			t.Fatal(first.err)
		}
		if got := replyName(t, first.m); got != "hold" || first.m.Header.ParentID != hold.Header.ID {
			t.Errorf("first request got the reply for %q", got)
		}
	})

	t.Run("concurrent requests", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "cm-" + string(rune('a'+i))
				reply, err := h.Request(ctx, query(t, name))
				if err != nil {
					t.Error(err)
					return
				}
				if got := replyName(t, reply); got != name {
					t.Errorf("request %s got the reply for %s", name, got)
				}
			}()
		}
		wg.Wait()
	})

	t.Run("Request without a reply times out", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := h.Request(ctx, query(t, "silent")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
		h.mu.Lock()
		pending := len(h.pending)
		h.mu.Unlock()
		if pending != 0 {
			t.Errorf("%d requests still pending", pending)
		}
	})

	t.Run("messages that answer nothing go to the handler", func(t *testing.T) {
		update, err := message.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
			Operation: message.OpUpdate, Resource: "default/configmap/cm"}, "x")
		if err != nil {
			t.Fatal(err)
		}
		stray, err := message.DefaultFactory.Response(update, message.SourceEdgeController, "late")
		if err != nil {
			t.Fatal(err)
		}
		stray.Header.ParentID = "no-such-request"
		for _, m := range []message.Message{update, stray} {
			if err := c.hub.Send("edge-1", m); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the handler to get "+string(m.Route.Operation), func() bool { _, ok := rec.got(m.Header.ID); return ok })
		}
	})

	t.Run("Send", func(t *testing.T) {
		bad := query(t, "bad")
		bad.Content = []byte("{not json")
		if err := h.Send(bad); err != nil { // dropped by the writer, which goes on
			t.Fatal(err)
		}
		m := query(t, "sent")
		m.Route.Operation = message.OpUpdate
		if err := h.Send(m); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the cloud to get the message", func() bool { return c.rec.received(m.Header.ID) })
	})

	stop()
	if _, disconnected := rec.counts(); disconnected != 1 {
		t.Errorf("Disconnected called %d times after Run returned", disconnected)
	}
	if err := h.Send(query(t, "late")); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send after Run: %v, want ErrNotConnected", err)
	}
	waitFor(t, "the cloud to see edge-1 leave", func() bool { return !c.hub.Connected("edge-1") })
}

// When the cloud closes the session (here: another connection with the node's
// certificate replaces it), the hub reconnects.
func TestHubReconnects(t *testing.T) {
	t.Parallel()
	c, cfg := bootstrapped(t, "edge-1", cloudOptions{})
	rec := &edgeRecorder{}
	runHub(t, New(cfg, rec, testLogger(t)))
	waitFor(t, "the first connection", func() bool { connected, _, _ := c.rec.counts("edge-1"); return connected == 1 })

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: c.pool(), Certificates: []tls.Certificate{loadTLSCert(t, cfg)}},
		HandshakeTimeout: waitTimeout}
	intruder, _, err := d.Dial("wss://"+cfg.Server+"/p/edge-1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	waitFor(t, "the hub to reconnect", func() bool {
		connected, disconnected := rec.counts()
		cloudConnected, _, _ := c.rec.counts("edge-1")
		return connected == 2 && disconnected == 1 && cloudConnected == 3 && c.hub.Connected("edge-1")
	})
}

// Send while the link is down fails at once instead of queueing forever.
func TestSendWhileDisconnected(t *testing.T) {
	t.Parallel()
	c, cfg := bootstrapped(t, "edge-1", cloudOptions{})
	cfg.Server = freeAddr(t) // nothing listens
	h := New(cfg, &edgeRecorder{}, testLogger(t))
	runHub(t, h)
	for i := 0; i < 3; i++ {
		if err := h.Send(query(t, "x")); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("Send: %v, want ErrNotConnected", err)
		}
		time.Sleep(cfg.BackoffMax)
	}
	if c.hub.Connected("edge-1") {
		t.Fatal("connected to nothing")
	}
}

// The cloud sends nothing on an idle link (it does not answer keepalives):
// the link must stay up all the same.
func TestIdleLinkStaysUp(t *testing.T) {
	t.Parallel()
	c, cfg := bootstrapped(t, "edge-1", cloudOptions{})
	rec := &edgeRecorder{}
	runHub(t, New(cfg, rec, testLogger(t)))
	waitFor(t, "the connection", func() bool { return c.hub.Connected("edge-1") })
	time.Sleep(6 * cfg.Heartbeat) // past the edge's read deadline of 4 heartbeats
	if connected, disconnected := rec.counts(); connected != 1 || disconnected != 0 {
		t.Errorf("idle link dropped: %d connections, %d disconnections", connected, disconnected)
	}
}

func TestOutboundQueueFull(t *testing.T) {
	t.Parallel()
	h := New(Config{QueueSize: 1}, &edgeRecorder{}, testLogger(t))
	out := make(chan message.Message, 1)
	h.mu.Lock()
	h.out = out
	h.mu.Unlock()
	m := query(t, "x")
	if err := h.Send(m); err != nil {
		t.Fatal(err)
	}
	if err := h.Send(m); err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Errorf("Send on a full queue: %v", err)
	}
}

// The dial carries upstream's path and headers, and the first frame is a
// keepalive as upstream sends it.
func TestDialWire(t *testing.T) {
	t.Parallel()
	c, cfg := bootstrapped(t, "edge-1", cloudOptions{})
	type seen struct {
		path   string
		header http.Header
		frame  []byte
	}
	got := make(chan seen, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_, frame, _ := conn.ReadMessage()
		select {
		case got <- seen{r.URL.Path, r.Header, frame}:
		default:
		}
		_, _, _ = conn.ReadMessage() // until the hub goes
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.auth.ServerCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: c.pool()}
	srv.StartTLS()
	defer srv.Close()
	cfg.Server = srv.Listener.Addr().String()
	cfg.Heartbeat = time.Hour
	runHub(t, New(cfg, &edgeRecorder{}, testLogger(t)))

	var s seen
	select {
	case s = <-got:
	case <-time.After(waitTimeout):
		t.Fatal("no connection")
	}
	if want := "/e632aba927ea4ac2b575ec1603d56f10/edge-1/events"; s.path != want {
		t.Errorf("path %q, want %q", s.path, want)
	}
	for k, want := range map[string]string{"node_id": "edge-1", "project_id": "e632aba927ea4ac2b575ec1603d56f10", "ConnectionUse": "msg"} {
		if v := s.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	m, err := message.Decode(s.frame)
	if err != nil {
		t.Fatal(err)
	}
	if m.Route != message.KeepaliveRoute {
		t.Errorf("first frame route %+v, want the keepalive route", m.Route)
	}
	var content string
	if err := json.Unmarshal(m.Content, &content); err != nil || content != "ping" {
		t.Errorf("keepalive content %s", m.Content)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	_, cfg := bootstrapped(t, "edge-1", cloudOptions{})
	notPEM := cfg.CAFile + ".txt"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no certificate", func(c *Config) { c.CertFile += ".missing" }, "load edge certificate"},
		{"no CA", func(c *Config) { c.CAFile += ".missing" }, "read CA"},
		{"CA not PEM", func(c *Config) { c.CAFile = notPEM }, "holds no PEM certificate"},
		{"server without port", func(c *Config) { c.Server = "127.0.0.1" }, "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := cfg
			tt.mutate(&bad)
			h := New(bad, &edgeRecorder{}, testLogger(t))
			if _, err := h.tlsConfig(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	good, err := New(cfg, &edgeRecorder{}, testLogger(t)).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if good.ServerName != "127.0.0.1" || len(good.Certificates) != 1 || good.MinVersion != tls.VersionTLS12 {
		t.Errorf("tls config %+v", good)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.setDefaults()
	want := Config{ProjectID: "e632aba927ea4ac2b575ec1603d56f10", Heartbeat: 15 * time.Second, HandshakeTimeout: 30 * time.Second,
		WriteTimeout: 15 * time.Second, BackoffMin: time.Second, BackoffMax: time.Minute, QueueSize: 256}
	if c != want {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	if n := New(Config{}, &edgeRecorder{}, testLogger(t)).Name(); n != "edgehub" {
		t.Errorf("Name %q", n)
	}
}
