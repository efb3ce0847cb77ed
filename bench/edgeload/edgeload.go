// Package edgeload simulates many edge nodes against one cloudcore: each gets
// its certificate through /edge.crt with the join token (real bootstrap), then
// keeps a real EdgeHub link (mutual TLS websocket, upstream keepalives).
package edgeload

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/message"
)

// Config of a simulation.
type Config struct {
	// Server is cloudcore's websocket host:port; HTTPServer its https://host:port.
	Server, HTTPServer string
	Token              string
	// Dir holds the simulated nodes' certificates.
	Dir string
	// Prefix names the nodes <prefix>-<n>.
	Prefix string
	// Heartbeat is the keepalive period (upstream default 15 s).
	Heartbeat time.Duration
	// Concurrency bounds parallel bootstraps and dials.
	Concurrency int
}

// Fleet is a set of simulated nodes.
type Fleet struct {
	cfg       Config
	log       logr.Logger
	mu        sync.Mutex
	nodes     int
	connected atomic.Int64
	cancels   []context.CancelFunc
	wg        sync.WaitGroup
}

// New makes an empty fleet.
func New(cfg Config, log logr.Logger) *Fleet {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sim"
	}
	return &Fleet{cfg: cfg, log: log}
}

// Connected is the number of simulated nodes whose link is up.
func (f *Fleet) Connected() int { return int(f.connected.Load()) }

type counter struct{ f *Fleet }

func (c counter) HandleMessage(message.Message) {}
func (c counter) Connected()                    { c.f.connected.Add(1) }
func (c counter) Disconnected()                 { c.f.connected.Add(-1) }

// Grow adds n nodes: bootstraps their certificates and starts their links. It
// returns when every new node has a certificate and its link was started.
func (f *Fleet) Grow(ctx context.Context, n int) error {
	f.mu.Lock()
	first := f.nodes
	f.nodes += n
	f.mu.Unlock()
	sem := make(chan struct{}, f.cfg.Concurrency)
	errs := make(chan error, n)
	var boot sync.WaitGroup
	for i := first; i < first+n; i++ {
		boot.Add(1)
		sem <- struct{}{}
		go func() {
			defer boot.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("%s-%05d", f.cfg.Prefix, i)
			dir := filepath.Join(f.cfg.Dir, name)
			hc := edgehub.Config{
				Server: f.cfg.Server, HTTPServer: f.cfg.HTTPServer, NodeName: name, Token: f.cfg.Token,
				CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "edge.crt"), KeyFile: filepath.Join(dir, "edge.key"),
				Heartbeat: f.cfg.Heartbeat, BackoffMin: time.Second, BackoffMax: 30 * time.Second,
			}
			if err := edgehub.EnsureCertificate(ctx, hc); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			hub := edgehub.New(hc, counter{f}, f.log)
			nctx, cancel := context.WithCancel(ctx)
			f.mu.Lock()
			f.cancels = append(f.cancels, cancel)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() { defer f.wg.Done(); _ = hub.Run(nctx) }()
		}()
	}
	boot.Wait()
	close(errs)
	return <-errs
}

// WaitConnected waits until want nodes are connected.
func (f *Fleet) WaitConnected(ctx context.Context, want int) error {
	for f.Connected() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d simulated nodes connected: %w", f.Connected(), want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// Stop closes every link.
func (f *Fleet) Stop() {
	f.mu.Lock()
	for _, c := range f.cancels {
		c()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
