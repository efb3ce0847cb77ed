// Package metaserver is the edge-local, read-only Kubernetes API (upstream's
// metaServer on 127.0.0.1:10550). Pods on the node and edge components point
// client-go at it and get, list and watch what the cloud sent to the node,
// straight from meta.db, whether or not the cloud is reachable.
//
// Resource versions: an object keeps the resourceVersion the cloud gave it.
// A list carries the largest resourceVersion (compared as unsigned integers)
// of the objects read for it, before selectors, or "0" when there are none:
// a watch started from it sends what changed after the list.
package metaserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// Defaults of Config.
const (
	DefaultAddr        = "127.0.0.1:10550"
	DefaultWatchBuffer = 100
	DefaultMaxWatches  = 100
	// ModuleName is the module's name in edgecore.
	ModuleName = "metaserver"
	// addrField is where the listen address is configured in edgecore.yaml.
	addrField = "modules.metaManager.metaServer.server"
)

// Source is what the server reads: MetaManager's store and watches.
// *metamanager.MetaManager is a Source.
type Source interface {
	// List returns the objects of a type, in one namespace or all ("").
	List(ns string, typ message.ResourceType) ([]store.Object, error)
	// Get returns one object.
	Get(key message.Resource) (store.Object, bool, error)
	// Watch returns a bounded channel of changes, closed when the reader
	// falls behind or cancel is called.
	Watch(typ message.ResourceType, buffer int) (<-chan metamanager.Event, func())
}

// Config configures the server.
type Config struct {
	// Addr is the listen address; default DefaultAddr.
	Addr string
	// WatchBuffer is the number of events a watch may have pending before it
	// is ended (the client lists again); default DefaultWatchBuffer.
	WatchBuffer int
	// MaxWatches bounds concurrent watches; more are answered 429. Default
	// DefaultMaxWatches.
	MaxWatches int
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.WatchBuffer <= 0 {
		c.WatchBuffer = DefaultWatchBuffer
	}
	if c.MaxWatches <= 0 {
		c.MaxWatches = DefaultMaxWatches
	}
	return c
}

// Server is the metaServer module (Name, Run, Ready).
type Server struct {
	cfg Config
	src Source
	log logr.Logger
	mux *http.ServeMux

	// writeTimeout bounds one write to a watch client; a client that stops
	// reading is dropped after it.
	writeTimeout time.Duration

	watches atomic.Int64 // open watches
	// watchStarted, when set (tests), is called once a watch has read the
	// store and streams events.
	watchStarted func()

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// New builds a server over src. It listens when Run is called.
func New(cfg Config, src Source, log logr.Logger) *Server {
	s := &Server{cfg: cfg.withDefaults(), src: src, log: log, mux: http.NewServeMux(),
		writeTimeout: 30 * time.Second, ready: make(chan struct{})}
	s.mux.HandleFunc("/healthz", s.serveHealth)
	s.mux.HandleFunc("/readyz", s.serveHealth)
	s.mux.HandleFunc("/livez", s.serveHealth)
	s.mux.HandleFunc("/version", s.serveVersion)
	s.mux.HandleFunc("/api", s.serveAPI)
	s.mux.HandleFunc("/api/", s.serveAPI)
	s.mux.HandleFunc("/apis", s.serveAPI)
	s.mux.HandleFunc("/apis/", s.serveAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, notFoundPath(r.URL.Path)) })
	return s
}

// Handle mounts an extra handler (for example "/devicetwin/") next to the
// API, before or while the server runs. Patterns are those of
// http.ServeMux, which panics on a pattern already registered.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Name is the module name.
func (s *Server) Name() string { return ModuleName }

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound address once the server listens, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ServeHTTP serves the API and the mounted handlers without a listener.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Run listens and serves until ctx ends, then shuts down: open watches end
// at once, other requests get a few seconds.
func (s *Server) Run(ctx context.Context) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("metaServer: listen on %s: the address is in use by another process; stop it or change %s: %w",
				s.cfg.Addr, addrField, err)
		}
		return fmt.Errorf("metaServer: listen on %s (%s): %w", s.cfg.Addr, addrField, err)
	}
	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		// Requests, watches above all, end with the server's context.
		BaseContext: func(net.Listener) context.Context { return srvCtx },
	}
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.log.Info("edge-local API serving", "addr", l.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		stop()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			_ = srv.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("metaServer: serve on %s: %w", l.Addr(), err)
	}
}
