package cloudhub

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cleanedge/kubeedge/components/message"
)

// session is one node's websocket connection.
type session struct {
	node    string
	conn    *websocket.Conn
	out     chan *message.Message
	done    chan struct{} // closed when both loops have ended
	stop    chan struct{} // closed to end the session
	stopped sync.Once
}

func (s *session) enqueue(m message.Message) error {
	select {
	case <-s.stop:
		return fmt.Errorf("send %s %s to %s: %w", m.Route.Operation, m.Route.Resource, s.node, ErrNotConnected)
	default:
	}
	select {
	case s.out <- &m:
		return nil
	default:
		return fmt.Errorf("send %s %s to %s: %w (%d queued)", m.Route.Operation, m.Route.Resource, s.node, ErrQueueFull, cap(s.out))
	}
}

func (s *session) close() { s.stopped.Do(func() { close(s.stop) }) }

// serveWebsocket upgrades an authenticated connection and runs its session.
func (h *Hub) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "a client certificate is required", http.StatusUnauthorized)
		return
	}
	node, err := h.auth.NodeName(r.TLS.PeerCertificates[0])
	if err != nil {
		h.log.Info("refused edge connection: certificate names no node", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	// Upstream edgecore sends node_id (Go canonicalises it to Node_id).
	if claimed := r.Header.Get("node_id"); claimed != "" && claimed != node {
		h.log.Info("refused edge connection: node_id header differs from the certificate",
			"remote", r.RemoteAddr, "certificateNode", node, "claimedNode", claimed)
		http.Error(w, fmt.Sprintf("node_id %q does not match the client certificate, which was issued to node %q", claimed, node), http.StatusForbidden)
		return
	}
	h.mu.Lock()
	old := h.sessions[node]
	if old == nil && len(h.sessions) >= h.cfg.NodeLimit {
		h.mu.Unlock()
		h.log.Info("refused edge connection: node limit reached", "node", node, "limit", h.cfg.NodeLimit)
		http.Error(w, fmt.Sprintf("cloudhub serves at most %d nodes (cloudHub.nodeLimit)", h.cfg.NodeLimit), http.StatusServiceUnavailable)
		return
	}
	h.mu.Unlock()
	if old != nil {
		// The node reconnected before its old session timed out: the new one wins.
		h.log.Info("node reconnected; closing its previous session", "node", node)
		old.close()
		<-old.done
	}

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Info("websocket upgrade failed", "node", node, "err", err)
		return
	}
	conn.SetReadLimit(h.cfg.MaxMessageSize)
	s := &session{node: node, conn: conn, out: make(chan *message.Message, h.cfg.QueueSize),
		done: make(chan struct{}), stop: make(chan struct{})}
	for {
		// Another connection for this node may have registered while this one
		// was upgrading: the newest wins here too, so none is left orphaned.
		h.mu.Lock()
		other := h.sessions[node]
		if other == nil {
			h.sessions[node] = s
			h.mu.Unlock()
			break
		}
		h.mu.Unlock()
		other.close()
		<-other.done
	}
	h.log.Info("edge node connected", "node", node, "remote", r.RemoteAddr)
	h.handler.NodeConnected(node)

	// The reader runs in this (the HTTP handler's) goroutine: two goroutines
	// per node, not three.
	wrote := make(chan struct{})
	go func() { defer close(wrote); h.writeLoop(s) }()
	h.readLoop(s)
	<-wrote
	_ = conn.Close()

	h.mu.Lock()
	if h.sessions[node] == s {
		delete(h.sessions, node)
	}
	h.mu.Unlock()
	h.log.Info("edge node disconnected", "node", node)
	// Before done: a session replacing this one waits for done, so the
	// handler sees this disconnection before the new connection.
	h.handler.NodeDisconnected(node)
	close(s.done)
}

func (h *Hub) readLoop(s *session) {
	defer s.close()
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(h.cfg.KeepaliveInterval))
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			select {
			case <-s.stop:
			default:
				h.log.V(1).Info("session read ended", "node", s.node, "err", err)
			}
			return
		}
		if typ != websocket.TextMessage && typ != websocket.BinaryMessage {
			continue
		}
		m, err := message.Decode(data)
		if err != nil {
			h.log.Info("dropped an invalid frame", "node", s.node, "err", err, "bytes", len(data))
			continue
		}
		if m.Route.Operation == message.OpKeepalive {
			h.handler.NodeAlive(s.node)
			continue
		}
		if err := checkClaim(s.node, m); err != nil {
			h.log.Info("refused a message that claims another node", "node", s.node,
				"operation", m.Route.Operation, "resource", m.Route.Resource)
			h.refuse(s, m, err)
			continue
		}
		h.handler.HandleMessage(s.node, m)
	}
}

func (h *Hub) writeLoop(s *session) {
	defer s.close()
	for {
		select {
		case <-s.stop:
			_ = s.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "cloudhub closing"), time.Now().Add(time.Second))
			_ = s.conn.Close() // unblocks the reader
			return
		case m := <-s.out:
			frame, err := message.Encode(*m)
			if err != nil {
				h.log.Error(err, "dropped an unencodable message", "node", s.node)
				continue
			}
			_ = s.conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				h.log.Info("session write failed", "node", s.node, "err", err)
				_ = s.conn.Close()
				return
			}
		}
	}
}

// ErrClaimsOtherNode marks a message about another node's own objects.
var ErrClaimsOtherNode = errors.New("message claims another node")

// checkClaim refuses messages in which a node speaks for another node: its
// Node object, node status, or node Lease must carry its own name.
func checkClaim(node string, m message.Message) error {
	r, err := message.ParseResource(m.Route.Resource)
	if err != nil {
		return nil // not an object resource: nothing to claim
	}
	switch r.Type {
	case message.ResNode, message.ResNodeStatus, message.ResNodePatch, message.ResLease:
		if r.Name != "" && r.Name != node {
			return fmt.Errorf("%w: node %q sent %s for %s %q", ErrClaimsOtherNode, node, m.Route.Operation, r.Type, r.Name)
		}
	}
	return nil
}

// refuse answers a refused request with an error response, as a 403 status.
func (h *Hub) refuse(s *session, req message.Message, cause error) {
	resp, err := message.NewObjectResponse(nil, forbidden(cause))
	if err != nil {
		return
	}
	reply, err := h.factory.Response(req, message.SourceCloudHub, resp)
	if err != nil {
		return
	}
	reply.Route.Group = message.GroupResource
	_ = s.enqueue(reply)
}
