package cloudhub

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cleanedge/kubeedge/components/message"
)

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	other := newTestPKI(t)
	rec := &recorder{}
	hub, _ := startHub(t, Config{}, p.authority(), rec, logr.Discard())

	tests := []struct {
		name   string
		nodeID string
		certs  func(t *testing.T) []tlsCert
		status int // 0: the TLS handshake itself fails
		want   string
	}{
		{name: "no client certificate", nodeID: "edge-1", certs: func(*testing.T) []tlsCert { return nil }},
		{name: "certificate from another CA", nodeID: "edge-1", certs: func(t *testing.T) []tlsCert {
			return []tlsCert{other.clientCert(t, "edge-1")}
		}},
		{name: "node_id names another node", nodeID: "edge-2", certs: func(t *testing.T) []tlsCert {
			return []tlsCert{p.clientCert(t, "edge-1")}
		}, status: http.StatusForbidden, want: `issued to node "edge-1"`},
		{name: "upstream certificate naming no node", nodeID: "edge-1", certs: func(t *testing.T) []tlsCert {
			return []tlsCert{p.clientCert(t, "kubeedge.io")}
		}, status: http.StatusForbidden, want: "keadm join --token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := p.dial(t, hub, tt.nodeID, tt.certs(t)...)
			if err == nil {
				conn.Close()
				t.Fatal("connection accepted")
			}
			if tt.status == 0 {
				if resp != nil {
					t.Fatalf("got an HTTP answer %s, want a failed TLS handshake", resp.Status)
				}
				return
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %s %q, want %d with %q", resp.Status, body, tt.status, tt.want)
			}
		})
	}
	if n := hub.ConnectedNodes(); n != 0 {
		t.Errorf("%d sessions after refused handshakes", n)
	}
	if n := rec.total(); n != 0 {
		t.Errorf("handler called for refused handshakes: %v", rec.events)
	}
}

func TestSessionMessages(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	hub, _ := startHub(t, Config{}, p.authority(), rec, logr.Discard())
	// No node_id header: the certificate alone names the node.
	conn, resp, err := p.dial(t, hub, "", p.clientCert(t, "edge-1"))
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	waitFor(t, "edge-1 to connect", func() bool { return rec.count("connected", "edge-1") == 1 })
	if !hub.Connected("edge-1") || hub.ConnectedNodes() != 1 {
		t.Fatal("edge-1 not connected")
	}

	t.Run("keepalive", func(t *testing.T) {
		ka, err := message.New(message.KeepaliveRoute, message.KeepaliveContent)
		if err != nil {
			t.Fatal(err)
		}
		writeMsg(t, conn, ka)
		waitFor(t, "NodeAlive", func() bool { return rec.count("alive", "edge-1") == 1 })
	})

	t.Run("message", func(t *testing.T) {
		m := newMsg(t, message.OpQuery, "default/configmap/cm-1", nil)
		writeMsg(t, conn, m)
		waitFor(t, "HandleMessage", func() bool { return len(rec.messages("edge-1")) == 1 })
		if got := rec.messages("edge-1")[0]; got.Header.ID != m.Header.ID || got.Route != m.Route {
			t.Errorf("handler got %+v, want %+v", got, m)
		}
	})

	t.Run("invalid frames are dropped and the session stays", func(t *testing.T) {
		before := len(rec.messages("edge-1"))
		for _, frame := range []string{"not json", "{}", `{"header":{"msg_id":"x"},"route":{}}`, `[1,2]`, `{"header":`} {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
				t.Fatal(err)
			}
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00}); err != nil {
			t.Fatal(err)
		}
		m := newMsg(t, message.OpQuery, "default/secret/s-1", nil)
		writeMsg(t, conn, m)
		waitFor(t, "the valid message after the invalid ones", func() bool { return len(rec.messages("edge-1")) == before+1 })
		if got := rec.messages("edge-1")[before]; got.Header.ID != m.Header.ID {
			t.Errorf("handler got %s, want %s", got.Header.ID, m.Header.ID)
		}
		if !hub.Connected("edge-1") {
			t.Error("session closed by invalid frames")
		}
	})

	t.Run("claims on another node are refused with 403", func(t *testing.T) {
		before := len(rec.messages("edge-1"))
		req := newMsg(t, message.OpPatch, "default/nodepatch/edge-2", `{"status":{}}`)
		writeMsg(t, conn, req)
		reply := readMsg(t, conn)
		if reply.Header.ParentID != req.Header.ID || reply.Route.Operation != message.OpResponse {
			t.Fatalf("reply %+v does not answer %s", reply.Header, req.Header.ID)
		}
		if reply.Route.Source != message.SourceCloudHub || reply.Route.Group != message.GroupResource || reply.Route.Resource != req.Route.Resource {
			t.Errorf("reply route %+v", reply.Route)
		}
		var resp message.ObjectResponse
		if err := reply.DecodeContent(&resp); err != nil {
			t.Fatal(err)
		}
		if err := resp.Error(); !apierrors.IsForbidden(err) {
			t.Errorf("reply error %v, want Forbidden", err)
		} else if !strings.Contains(err.Error(), `node "edge-1" sent patch for nodepatch "edge-2"`) {
			t.Errorf("reply error %q does not explain the refusal", err)
		}
		// Its own patch goes through; the refused one never reached the handler.
		own := newMsg(t, message.OpPatch, "default/nodepatch/edge-1", `{"status":{}}`)
		writeMsg(t, conn, own)
		waitFor(t, "the node's own patch", func() bool { return len(rec.messages("edge-1")) == before+1 })
		if got := rec.messages("edge-1")[before]; got.Header.ID != own.Header.ID {
			t.Errorf("handler got %s (%s), want the node's own patch", got.Header.ID, got.Route.Resource)
		}
	})

	t.Run("Send delivers a frame", func(t *testing.T) {
		m, err := message.New(message.Route{Source: message.SourceEdgeController, Group: message.GroupResource,
			Operation: message.OpUpdate, Resource: "default/configmap/cm-1"}, map[string]string{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		if err := hub.Send("edge-1", m); err != nil {
			t.Fatal(err)
		}
		got := readMsg(t, conn)
		if got.Header.ID != m.Header.ID || got.Route != m.Route || string(got.Content) != `{"a":"b"}` {
			t.Errorf("client got %+v", got)
		}
	})

	t.Run("an unencodable message is dropped, the session stays", func(t *testing.T) {
		bad := newMsg(t, message.OpUpdate, "default/pod/p", nil)
		bad.Content = []byte("{not json")
		if err := hub.Send("edge-1", bad); err != nil {
			t.Fatal(err)
		}
		good := newMsg(t, message.OpUpdate, "default/pod/p", nil)
		if err := hub.Send("edge-1", good); err != nil {
			t.Fatal(err)
		}
		if got := readMsg(t, conn); got.Header.ID != good.Header.ID {
			t.Errorf("client got %s, want the valid message", got.Header.ID)
		}
	})

	t.Run("Send to an unknown node", func(t *testing.T) {
		m := newMsg(t, message.OpUpdate, "default/pod/p", nil)
		if err := hub.Send("edge-9", m); !errors.Is(err, ErrNotConnected) {
			t.Errorf("err = %v, want ErrNotConnected", err)
		}
	})

	t.Run("client close ends the session", func(t *testing.T) {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
		conn.Close()
		waitFor(t, "NodeDisconnected", func() bool { return rec.count("disconnected", "edge-1") == 1 })
		if hub.Connected("edge-1") {
			t.Error("still connected")
		}
		if err := hub.Send("edge-1", newMsg(t, message.OpUpdate, "default/pod/p", nil)); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Send after disconnect: %v", err)
		}
	})
}

func TestCheckClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resource string
		op       message.Operation
		refused  bool
	}{
		{"default/node/edge-1", message.OpInsert, false},
		{"default/node/edge-2", message.OpInsert, true},
		{"default/node/edge-2", message.OpQuery, true},
		{"default/nodestatus/edge-1", message.OpUpdate, false},
		{"default/nodestatus/edge-2", message.OpUpdate, true},
		{"default/nodepatch/edge-1", message.OpPatch, false},
		{"default/nodepatch/edge-2", message.OpPatch, true},
		{"kube-node-lease/lease/edge-1", message.OpUpdate, false},
		{"kube-node-lease/lease/edge-2", message.OpUpdate, true},
		{"default/nodestatus", message.OpUpdate, false}, // no name: nothing claimed
		{"default/pod/edge-2", message.OpUpdate, false},
		{"default/podpatch/edge-2", message.OpPatch, false},
		{"default/configmap/edge-2", message.OpQuery, false},
		{"node", message.OpKeepalive, false},
		{"", message.OpQuery, false},
		{"not/a/resource/path", message.OpQuery, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.op)+" "+tt.resource, func(t *testing.T) {
			m := message.Message{Header: message.Header{ID: "1"}, Route: message.Route{Operation: tt.op, Resource: tt.resource}}
			err := checkClaim("edge-1", m)
			if tt.refused != (err != nil) {
				t.Fatalf("checkClaim = %v, refused want %v", err, tt.refused)
			}
			if err != nil && !errors.Is(err, ErrClaimsOtherNode) {
				t.Errorf("err %v is not ErrClaimsOtherNode", err)
			}
		})
	}
}

func TestSessionEnqueue(t *testing.T) {
	t.Parallel()
	s := &session{node: "edge-1", out: make(chan *message.Message, 2), stop: make(chan struct{})}
	m := message.Message{Header: message.Header{ID: "1"}, Route: message.Route{Operation: message.OpUpdate, Resource: "default/pod/p"}}
	for i := 0; i < 2; i++ {
		if err := s.enqueue(m); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	if err := s.enqueue(m); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("enqueue on a full queue: %v, want ErrQueueFull", err)
	}
	<-s.out
	if err := s.enqueue(m); err != nil {
		t.Fatalf("enqueue after room was made: %v", err)
	}
	s.close()
	s.close() // idempotent
	<-s.out
	if err := s.enqueue(m); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("enqueue on a closed session: %v, want ErrNotConnected", err)
	}
}

func TestSendQueueFull(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	hub, _ := startHub(t, Config{QueueSize: 1}, p.authority(), &recorder{}, logr.Discard())
	conn := p.connect(t, hub, "edge-1") // never reads until the end
	m := newMsg(t, message.OpUpdate, "default/configmap/big", strings.Repeat("x", 64<<10))
	// The writer drains the queue into the socket until the socket buffers
	// fill (the client does not read): then the one-slot queue fills too.
	// That takes at most a few MiB of socket buffers on loopback.
	const most = 20000
	full := false
	for i := 0; i < most && !full; i++ {
		switch err := hub.Send("edge-1", m); {
		case err == nil:
		case errors.Is(err, ErrQueueFull):
			full = true
			if !strings.Contains(err.Error(), "(1 queued)") {
				t.Errorf("error %q does not say the queue length", err)
			}
		default:
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if !full {
		t.Fatalf("queue never filled after %d sends to a client that does not read", most)
	}
	if !hub.Connected("edge-1") {
		t.Error("a full queue closed the session")
	}
	// The session still works once the client reads.
	if got := readMsg(t, conn); got.Header.ID != m.Header.ID {
		t.Errorf("client got %s", got.Header.ID)
	}
}

func TestReconnectReplacesSession(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	// A slow NodeDisconnected: the replacing session's NodeConnected must
	// still come after the replaced session's NodeDisconnected.
	rec.onDisconnected = func(string) { time.Sleep(50 * time.Millisecond) }
	hub, _ := startHub(t, Config{NodeLimit: 1}, p.authority(), rec, logr.Discard())
	first := p.connect(t, hub, "edge-1")
	second, resp, err := p.dial(t, hub, "edge-1", p.clientCert(t, "edge-1"))
	if err != nil {
		t.Fatalf("reconnect at the node limit: %v %v", err, resp)
	}
	err = expectClosed(t, first)
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("first connection ended with %v, want a normal close frame", err)
	}
	waitFor(t, "the second session", func() bool { return rec.count("connected", "edge-1") == 2 })
	if got, want := strings.Join(rec.links("edge-1"), ","), "connected,disconnected,connected"; got != want {
		t.Errorf("handler saw %s, want %s", got, want)
	}
	if !hub.Connected("edge-1") || hub.ConnectedNodes() != 1 {
		t.Errorf("connected %v, sessions %d", hub.Connected("edge-1"), hub.ConnectedNodes())
	}
	m := newMsg(t, message.OpUpdate, "default/pod/p", nil)
	if err := hub.Send("edge-1", m); err != nil {
		t.Fatal(err)
	}
	if got := readMsg(t, second); got.Header.ID != m.Header.ID {
		t.Errorf("second connection got %s", got.Header.ID)
	}
}

func TestConcurrentConnectionsForOneNode(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	hub, _ := startHub(t, Config{}, p.authority(), rec, logr.Discard())
	const n = 6
	cert := p.clientCert(t, "edge-1")
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{TLSClientConfig: p.dialTLS(cert), HandshakeTimeout: waitTimeout}
			conn, _, err := d.Dial("wss://"+hub.WebsocketAddr().String()+"/p/edge-1/events", nil)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			conns[i] = conn
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Whatever the interleaving, one session survives and gets what is sent;
	// every other connection is closed.
	waitFor(t, "one session to remain", func() bool {
		return rec.count("connected", "edge-1") == n && rec.count("disconnected", "edge-1") == n-1
	})
	if got, want := strings.Join(rec.links("edge-1"), ","), strings.Repeat("connected,disconnected,", n-1)+"connected"; got != want {
		t.Errorf("handler saw %s, want %s", got, want)
	}
	m := newMsg(t, message.OpUpdate, "default/pod/p", nil)
	if err := hub.Send("edge-1", m); err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, data, err := c.ReadMessage()
		c.Close()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Error("a connection neither closed nor got the message: orphaned session")
			}
			continue
		}
		if got, _ := message.Decode(data); got.Header.ID == m.Header.ID {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d connections got the message, want 1", live)
	}
}

func TestKeepaliveTimeout(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	// Generous for loaded machines: a write gap of more than interval-20ms
	// would close the session early.
	const interval = 400 * time.Millisecond
	hub, _ := startHub(t, Config{KeepaliveInterval: interval}, p.authority(), rec, logr.Discard())
	conn := p.connect(t, hub, "edge-1")

	// Frequent keepalives hold the session for several intervals.
	ka, err := message.New(message.KeepaliveRoute, message.KeepaliveContent)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * interval); time.Now().Before(deadline); time.Sleep(interval / 20) {
		writeMsg(t, conn, ka)
	}
	if !hub.Connected("edge-1") || rec.count("disconnected", "edge-1") != 0 {
		t.Fatal("session closed although keepalives arrived")
	}
	// Silence closes it.
	start := time.Now()
	waitFor(t, "NodeDisconnected", func() bool { return rec.count("disconnected", "edge-1") == 1 })
	if d := time.Since(start); d > 20*interval {
		t.Errorf("session closed after %s, want about %s", d, interval)
	}
	expectClosed(t, conn)
	if hub.Connected("edge-1") {
		t.Error("still connected")
	}
	if err := hub.Send("edge-1", ka); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send after timeout: %v", err)
	}
}

func TestNodeLimit(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	hub, _ := startHub(t, Config{NodeLimit: 2}, p.authority(), rec, logr.Discard())
	p.connect(t, hub, "edge-1")
	p.connect(t, hub, "edge-2")
	_, resp, err := p.dial(t, hub, "edge-3", p.clientCert(t, "edge-3"))
	if err == nil || resp == nil {
		t.Fatalf("third node: err %v, resp %v; want 503", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "at most 2 nodes") {
		t.Errorf("third node: %s %q", resp.Status, body)
	}
	if rec.count("connected", "edge-3") != 0 || hub.ConnectedNodes() != 2 {
		t.Error("third node got a session")
	}
}

func TestRunStopClosesSessions(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	rec := &recorder{}
	hub, stop := startHub(t, Config{}, p.authority(), rec, logr.Discard())
	conn := p.connect(t, hub, "edge-1")
	stop()
	// Run returned: the session was closed and reported before that.
	if rec.count("disconnected", "edge-1") != 1 {
		t.Errorf("NodeDisconnected not called before Run returned: %v", rec.links("edge-1"))
	}
	if err := expectClosed(t, conn); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Logf("connection ended with %v", err) // a close frame is best effort
	}
	if hub.ConnectedNodes() != 0 {
		t.Error("sessions left after Run returned")
	}
}

func TestRunListenError(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, cfg := range []Config{
		{WebsocketAddr: busy.Addr().String(), HTTPSAddr: "127.0.0.1:0"},
		{WebsocketAddr: "127.0.0.1:0", HTTPSAddr: busy.Addr().String()},
	} {
		hub := New(cfg, p.authority(), &recorder{}, logr.Discard())
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err := hub.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
			t.Errorf("Run with a busy port: %v", err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	h := New(Config{}, newTestPKI(t).authority(), &recorder{}, logr.Discard())
	want := Config{KeepaliveInterval: 30 * time.Second, WriteTimeout: 30 * time.Second, NodeLimit: 1000, QueueSize: 128, MaxMessageSize: 8 << 20}
	if h.cfg != want {
		t.Errorf("defaults %+v, want %+v", h.cfg, want)
	}
	if h.Name() != "cloudhub" {
		t.Errorf("Name %q", h.Name())
	}
}
