package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/certs"
)

const (
	// MutatePodsPath is where the API server sends pod AdmissionReviews.
	MutatePodsPath = "/mutate-pods"
	// HealthzPath answers 200 once the server listens.
	HealthzPath = "/healthz"
	// DefaultPort is cloudcore's default admission port.
	DefaultPort = 10005
	// ModuleName is the server's module name in the cloudcore host.
	ModuleName = "admission"
)

// Server serves the webhook over TLS. It is a host module (Name, Run, Ready).
type Server struct {
	// Addr is the listen address, host:port.
	Addr string
	// TLS is the serving certificate: cloudcore's server certificate, whose
	// SANs hold the advertise addresses the API server dials.
	TLS *certs.KeyPair
	// Handler answers MutatePodsPath.
	Handler http.Handler
	// Logger; the zero value discards.
	Logger logr.Logger

	once     sync.Once
	mu       sync.Mutex
	ready    chan struct{}
	listener net.Addr
}

func (s *Server) init() { s.once.Do(func() { s.ready = make(chan struct{}) }) }

// Name implements host.Module.
func (s *Server) Name() string { return ModuleName }

// Ready closes once the server listens (the first time; restarts reuse it).
func (s *Server) Ready() <-chan struct{} {
	s.init()
	return s.ready
}

// ListenAddr is the bound address (after Ready), nil before.
func (s *Server) ListenAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listener
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.init()
	if s.TLS == nil || s.TLS.Cert == nil || s.TLS.Key == nil {
		return errors.New("admission server: no TLS certificate")
	}
	if s.Handler == nil {
		return errors.New("admission server: no handler")
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("admission listen on %s: %w", s.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(MutatePodsPath, s.Handler)
	mux.HandleFunc(HealthzPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{{
				Certificate: [][]byte{s.TLS.Cert.Raw}, PrivateKey: s.TLS.Key, Leaf: s.TLS.Cert,
			}},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	s.mu.Lock()
	s.listener = l.Addr()
	s.mu.Unlock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.Logger.Info("admission webhook serving", "addr", l.Addr().String(), "path", MutatePodsPath)

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(l, "", "") }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("admission serve: %w", err)
	}
}
