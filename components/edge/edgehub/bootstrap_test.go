package edgehub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/certs"
)

func TestEnsureCertificate(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{})
	cfg := c.edgeConfig(t, "edge-1")
	if HaveCertificate(cfg, time.Now()) {
		t.Fatal("HaveCertificate before bootstrap")
	}
	ctx := context.Background()
	if err := EnsureCertificate(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	ca, err := certs.LoadCertFile(cfg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.Raw, c.ca.Cert.Raw) {
		t.Error("CA file does not hold the cloud's CA")
	}
	cert := loadCert(t, cfg)
	if cert.Subject.CommonName != "edge-1" {
		t.Errorf("certificate CN %q, want edge-1", cert.Subject.CommonName)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate is not a client certificate of the cloud's CA: %v", err)
	}
	for path, want := range map[string]os.FileMode{cfg.KeyFile: 0o600, cfg.CertFile: 0o644, cfg.CAFile: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	if !HaveCertificate(cfg, time.Now()) {
		t.Error("HaveCertificate false after bootstrap")
	}
	if HaveCertificate(cfg, cert.NotAfter) {
		t.Error("HaveCertificate true at expiry")
	}

	// A valid pair on disk is kept: no token and no network needed.
	before, _ := os.ReadFile(cfg.CertFile)
	offline := cfg
	offline.HTTPServer = "https://" + freeAddr(t)
	offline.Token = ""
	if err := EnsureCertificate(ctx, offline); err != nil {
		t.Fatalf("with a valid certificate on disk: %v", err)
	}
	after, _ := os.ReadFile(cfg.CertFile)
	if !bytes.Equal(before, after) {
		t.Error("certificate replaced although it was valid")
	}
}

func TestEnsureCertificateReplacesExpired(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{})
	cfg := c.edgeConfig(t, "edge-1")
	c.skew.Store(int64(2 * time.Hour)) // the first certificate is born expired
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	old := loadCert(t, cfg)
	if HaveCertificate(cfg, time.Now()) {
		t.Fatalf("certificate valid until %s counts as valid", old.NotAfter)
	}
	c.skew.Store(0)
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if cur := loadCert(t, cfg); cur.SerialNumber.Cmp(old.SerialNumber) == 0 || !HaveCertificate(cfg, time.Now()) {
		t.Error("expired certificate was not replaced")
	}
}

func TestEnsureCertificateErrors(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{})
	other := startCloud(t, cloudOptions{})
	misnamed := startCloud(t, cloudOptions{serverIPs: []string{"192.0.2.7"}})
	expired, err := certs.GenerateToken(c.ca, time.Now().Add(-3*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		mutate func(cfg *Config)
		is     error  // errors.Is target, if any
		want   string // in the message
		caFile bool   // whether the CA file is written
	}{
		{name: "no token", mutate: func(cfg *Config) { cfg.Token = "" }, want: "no join token"},
		{name: "malformed token", mutate: func(cfg *Config) { cfg.Token = "abc.def" }, is: certs.ErrTokenMalformed},
		{name: "token for another CA", mutate: func(cfg *Config) { cfg.Token = other.token(t) }, is: certs.ErrCAHashMismatch},
		{name: "unreachable", mutate: func(cfg *Config) { cfg.HTTPServer = "https://" + freeAddr(t) }, is: ErrCloudUnreachable, want: "firewall"},
		{name: "server certificate without the dialled IP", mutate: func(cfg *Config) {
			cfg.HTTPServer = "https://" + misnamed.hub.HTTPSAddr().String()
			cfg.Token = misnamed.token(t)
		}, is: ErrServerNameInvalid, want: "127.0.0.1", caFile: true},
		{name: "expired token", mutate: func(cfg *Config) { cfg.Token = expired }, is: ErrRefused, want: "HTTP 401", caFile: true},
		{name: "invalid node name", mutate: func(cfg *Config) { cfg.NodeName = "Edge_1" }, is: certs.ErrInvalidNodeName, want: "--edgenode-name", caFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.edgeConfig(t, "edge-1")
			tt.mutate(&cfg)
			err := EnsureCertificate(context.Background(), cfg)
			if err == nil {
				t.Fatal("no error")
			}
			var be *BootstrapError
			if !errors.As(err, &be) {
				t.Errorf("%T is not a *BootstrapError: %v", err, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tok, _ := certs.ParseToken(cfg.Token); tok.JWT != "" && strings.Contains(err.Error(), tok.JWT) {
				t.Errorf("error reveals the token: %v", err)
			}
			if _, statErr := os.Stat(cfg.CAFile); (statErr == nil) != tt.caFile {
				t.Errorf("CA file written: %v, want %v", statErr == nil, tt.caFile)
			}
			if _, statErr := os.Stat(cfg.CertFile); statErr == nil {
				t.Error("certificate written after a failure")
			}
		})
	}
}

func TestEnsureCertificateNameInUse(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{})
	first := c.edgeConfig(t, "edge-1")
	if err := EnsureCertificate(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	runHub(t, New(first, &edgeRecorder{}, testLogger(t)))
	waitFor(t, "edge-1 to connect", func() bool { return c.hub.Connected("edge-1") })

	err := EnsureCertificate(context.Background(), c.edgeConfig(t, "edge-1"))
	if !errors.Is(err, ErrNameInUse) {
		t.Errorf("second node named edge-1: %v, want ErrNameInUse", err)
	}
}

// A cloud that answers /edge.crt with 200 and nothing (upstream does when it
// cannot sign) refuses the request.
func TestEnsureCertificateEmptyAnswer(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{}) // for its PKI
	for _, tt := range []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "empty answer"},
		{"not DER", []byte("hello"), "not a DER certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/ca.crt":
					_, _ = w.Write(c.ca.Cert.Raw)
				case "/edge.crt":
					_, _ = w.Write(tt.body)
				}
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.auth.ServerCertificate()}}
			srv.StartTLS()
			defer srv.Close()
			cfg := c.edgeConfig(t, "edge-1")
			cfg.HTTPServer = srv.URL
			err := EnsureCertificate(context.Background(), cfg)
			if tt.body == nil && !errors.Is(err, ErrRefused) {
				t.Errorf("err = %v, want ErrRefused", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	leaf := &x509.Certificate{}
	tests := []struct {
		name string
		err  error
		is   error
	}{
		{"host name", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: leaf, Host: "10.0.0.1"}}, ErrServerNameInvalid},
		{"expired", fmt.Errorf("get: %w", x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}), ErrClockSkew},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrCloudUnreachable},
		{"op error", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no route to host")}, ErrCloudUnreachable},
		{"other", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify("step", tt.err, "10.0.0.1")
			var be *BootstrapError
			if !errors.As(err, &be) || be.Step != "step" {
				t.Fatalf("got %#v", err)
			}
			if tt.is == nil {
				if be.Err != tt.err || be.Fix != "" {
					t.Errorf("unclassified error changed: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
			if be.Fix == "" || !strings.Contains(err.Error(), "\n  fix: "+be.Fix) {
				t.Errorf("no fix in %q", err)
			}
		})
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{})
	cfg := c.edgeConfig(t, "edge-1")
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	old := loadCert(t, cfg)
	oldKey, _ := os.ReadFile(cfg.KeyFile)

	cfg.Token = "" // renewal authenticates with the current certificate
	h := New(cfg, &edgeRecorder{}, testLogger(t))
	if err := h.renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	cur := loadCert(t, cfg)
	newKey, _ := os.ReadFile(cfg.KeyFile)
	if cur.SerialNumber.Cmp(old.SerialNumber) == 0 || bytes.Equal(oldKey, newKey) {
		t.Error("certificate or key not replaced")
	}
	if cur.Subject.CommonName != "edge-1" || !reflect.DeepEqual(cur.ExtKeyUsage, old.ExtKeyUsage) {
		t.Errorf("renewed certificate %s %v, want edge-1 %v", cur.Subject.CommonName, cur.ExtKeyUsage, old.ExtKeyUsage)
	}
	if _, err := cur.Verify(x509.VerifyOptions{Roots: c.pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}

	t.Run("another node's certificate cannot renew as this node", func(t *testing.T) {
		other := c.edgeConfig(t, "edge-2")
		if err := EnsureCertificate(context.Background(), other); err != nil {
			t.Fatal(err)
		}
		stolen := cfg
		stolen.CertFile, stolen.KeyFile = other.CertFile, other.KeyFile
		h := New(stolen, &edgeRecorder{}, testLogger(t))
		err := h.renew(context.Background())
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "HTTP 403") {
			t.Errorf("renew = %v, want 403", err)
		}
	})
	t.Run("missing files", func(t *testing.T) {
		broken := cfg
		broken.CAFile += ".missing"
		if err := New(broken, &edgeRecorder{}, testLogger(t)).renew(context.Background()); err == nil {
			t.Error("renew without a CA file succeeded")
		}
		broken = cfg
		broken.KeyFile += ".missing"
		if err := New(broken, &edgeRecorder{}, testLogger(t)).renew(context.Background()); err == nil {
			t.Error("renew without a key succeeded")
		}
	})
}

// rotateLoop renews a certificate past 70–90 % of its life at once, then
// reconnects with the new one.
func TestRotateLoop(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{edgeValidity: 100 * time.Second})
	cfg := c.edgeConfig(t, "edge-1")
	c.skew.Store(int64(95 * time.Second)) // issued "95 s ago": 5 s left, past the renewal point
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	c.skew.Store(0)
	old := loadCert(t, cfg)

	cfg.RotateCertificates = true
	cfg.Heartbeat = time.Second
	rec := &edgeRecorder{}
	runHub(t, New(cfg, rec, testLogger(t)))
	waitFor(t, "a renewed certificate", func() bool {
		kp, err := certs.LoadKeyPairFiles(cfg.CertFile, cfg.KeyFile)
		return err == nil && kp.Cert.SerialNumber.Cmp(old.SerialNumber) != 0
	})
	cur := loadCert(t, cfg)
	if cur.Subject.CommonName != "edge-1" || cur.NotAfter.Sub(cur.NotBefore) != 100*time.Second || time.Until(cur.NotAfter) < 90*time.Second {
		t.Errorf("renewed certificate %s valid %s – %s", cur.Subject.CommonName, cur.NotBefore, cur.NotAfter)
	}
	// The link is re-established with the renewed certificate.
	waitFor(t, "a reconnection after the renewal", func() bool {
		connected, gone, _ := c.rec.counts("edge-1")
		return connected >= 2 && gone >= 1 && c.hub.Connected("edge-1")
	})
}

// Bootstrap and renewal connections are closed when done: a renewal retried
// every 32 s must not pile up idle connections on either side.
func TestBootstrapLeavesNoConnections(t *testing.T) {
	t.Parallel()
	c := startCloud(t, cloudOptions{}) // for its PKI
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ca.crt":
			_, _ = w.Write(c.ca.Cert.Raw)
		case "/edge.crt":
			csr, _ := io.ReadAll(r.Body)
			der, err := c.auth.SignCSR(csr, r.Header.Get("NodeName"), nil)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = w.Write(der)
		}
	}))
	srv.Config.ConnState = func(conn net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(open, conn)
		} else {
			open[conn] = true
		}
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.auth.ServerCertificate()}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	cfg := c.edgeConfig(t, "edge-1")
	cfg.HTTPServer = srv.URL
	if err := EnsureCertificate(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := New(cfg, &edgeRecorder{}, testLogger(t)).renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edge to close its connections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(open) == 0
	})
}
