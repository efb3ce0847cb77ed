package framework

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a target, for link faults:
// put it between edgecore and cloudcore, then Blackhole, Reset and Heal the
// link.
//
// A blackholed proxy behaves like a partitioned network, not like a closed
// port: open connections stay open but no byte crosses in either direction
// (reads stop, so the senders' socket buffers fill up), and new connections
// are accepted and held in the same state, never reaching the target. The
// peers see silence and must notice it themselves (keepalives, deadlines).
// Heal lets the held bytes and connections through again, as a healed
// network does; whatever a peer closed in the meantime is closed then.
type Proxy struct {
	// Addr is the proxy's listen address, 127.0.0.1:<port>.
	Addr   string
	target string
	l      net.Listener

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	gate   chan struct{} // closed while traffic flows
	closed bool
	wg     sync.WaitGroup

	accepted atomic.Int64
}

// proxyConn is one client connection and, once dialled, its target side.
type proxyConn struct {
	client  net.Conn
	mu      sync.Mutex
	server  net.Conn
	done    chan struct{}
	endOnce sync.Once
}

// StartProxy starts a proxy to target on a free port of 127.0.0.1; it is
// closed at the end of the test.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatalf("start proxy to %s: %v", target, err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewProxy starts a proxy to target on a free port of 127.0.0.1.
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, conns: map[*proxyConn]struct{}{}, gate: gate}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Accepted is the number of connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Conns is the number of connections open through the proxy (held ones included).
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Blackhole stops all traffic: no byte crosses any connection, and new
// connections are accepted but held, unconnected to the target.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flowingLocked() {
		p.gate = make(chan struct{})
	}
}

// Heal lets traffic flow again, held bytes and connections included.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.flowingLocked() {
		close(p.gate)
	}
}

func (p *Proxy) flowingLocked() bool {
	select {
	case <-p.gate:
		return true
	default:
		return false
	}
}

// Reset closes every current connection abruptly (a TCP reset on both
// sides); new connections are served as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.end(true)
	}
}

// Close stops listening and resets every connection. Safe to call twice.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_ = p.l.Close()
	p.Reset()
	p.wg.Wait()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		conn, err := p.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		c := &proxyConn{client: conn, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = conn.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// wait blocks while the proxy is blackholed; false means c ended meanwhile.
func (p *Proxy) wait(c *proxyConn) bool {
	for {
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		select {
		case <-c.done:
			return false
		case <-gate:
			// Blackholed again between the close and now? Look once more.
			p.mu.Lock()
			flowing := p.flowingLocked()
			p.mu.Unlock()
			if flowing {
				return true
			}
		}
	}
}

func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		c.end(false)
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	if !p.wait(c) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	server, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		return
	}
	c.mu.Lock()
	c.server = server
	c.mu.Unlock()
	select {
	case <-c.done: // reset while dialling
		_ = server.Close()
		return
	default:
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(c, server, c.client) }()
	go func() { defer wg.Done(); p.pump(c, c.client, server) }()
	wg.Wait()
}

// pump copies src to dst while the proxy lets traffic through; the
// connection ends (both sides closed) when either side ends.
func (p *Proxy) pump(c *proxyConn, dst, src net.Conn) {
	defer c.end(false)
	buf := make([]byte, 32<<10)
	for {
		if !p.wait(c) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			// Bytes read just before a blackhole are held until Heal.
			if !p.wait(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The peer closed: pass the close on once traffic flows.
				p.wait(c)
			}
			return
		}
	}
}

// end closes both sides, abruptly (RST) if reset.
func (c *proxyConn) end(reset bool) {
	c.endOnce.Do(func() {
		close(c.done)
		c.mu.Lock()
		server := c.server
		c.mu.Unlock()
		for _, conn := range []net.Conn{c.client, server} {
			if conn == nil {
				continue
			}
			if tc, ok := conn.(*net.TCPConn); ok && reset {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
	})
}
