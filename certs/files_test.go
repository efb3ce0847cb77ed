package certs

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWriteKeyPairFiles(t *testing.T) {
	ca := mustCA(t)
	kp, err := ca.IssueServer(ServerCertOptions{AdvertiseAddresses: []string{"10.0.0.1"}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	other := mustKey(t)
	tests := []struct {
		name    string
		certDER []byte
		key     *ecdsa.PrivateKey
		preKey  bool // an existing world-readable key file is replaced
		wantErr error
		anyErr  bool
	}{
		{name: "new dirs", certDER: kp.Cert.Raw, key: kp.Key},
		{name: "replace existing", certDER: kp.Cert.Raw, key: kp.Key, preKey: true},
		{name: "mismatched key", certDER: kp.Cert.Raw, key: other, wantErr: ErrKeyMismatch},
		{name: "bad cert", certDER: []byte("nope"), key: kp.Key, anyErr: true},
		{name: "nil key", certDER: kp.Cert.Raw, key: nil, anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etc", "kubeedge")
			certPath := filepath.Join(dir, "certs", "server.crt")
			keyPath := filepath.Join(dir, "keys", "server.key")
			if tt.preKey {
				if err := os.MkdirAll(filepath.Dir(keyPath), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(keyPath, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteKeyPairFiles(certPath, keyPath, tt.certDER, tt.key)
			if tt.wantErr != nil || tt.anyErr {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Stat(certPath); !os.IsNotExist(err) {
					t.Error("certificate written despite error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := mode(t, keyPath); m != 0o600 {
				t.Errorf("key mode = %o, want 600", m)
			}
			if m := mode(t, certPath); m != 0o644 {
				t.Errorf("cert mode = %o, want 644", m)
			}
			if m := mode(t, filepath.Dir(certPath)); m != 0o700 {
				t.Errorf("dir mode = %o, want 700", m)
			}
			for _, d := range []string{filepath.Dir(certPath), filepath.Dir(keyPath)} {
				entries, _ := os.ReadDir(d)
				for _, e := range entries {
					if strings.Contains(e.Name(), ".tmp-") {
						t.Errorf("temporary file left behind: %s", e.Name())
					}
				}
			}
			keyPEM, _ := os.ReadFile(keyPath)
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "EC PRIVATE KEY" {
				t.Errorf("key file is not PEM EC PRIVATE KEY")
			}
			got, err := LoadKeyPairFiles(certPath, keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Cert.Raw) != string(kp.Cert.Raw) || !got.Key.Equal(kp.Key) {
				t.Error("loaded key pair differs")
			}
		})
	}
}

func TestCAFiles(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca", "rootCA.crt"), filepath.Join(dir, "ca", "rootCA.key")
	if err := ca.WriteFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, keyPath); m != 0o600 {
		t.Errorf("CA key mode = %o, want 600", m)
	}
	got, err := LoadCAFiles(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != ca.Hash() {
		t.Error("hash differs after round trip")
	}
	a, _ := ca.KeyDER()
	b, _ := got.KeyDER()
	if string(a) != string(b) {
		t.Error("key DER differs after round trip")
	}

	// A server cert is not a CA.
	kp, _ := ca.IssueServer(ServerCertOptions{Now: t0})
	sc, sk := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	if err := WriteKeyPairFiles(sc, sk, kp.Cert.Raw, kp.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAFiles(sc, sk); !errors.Is(err, ErrNotCA) {
		t.Errorf("LoadCAFiles(server cert) = %v, want ErrNotCA", err)
	}
	if _, err := LoadCAFiles(certPath, sk); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("LoadCAFiles(mismatched) = %v, want ErrKeyMismatch", err)
	}
}

func TestLoadFiles(t *testing.T) {
	ca := mustCA(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM := string(EncodeCertPEM(ca.Cert.Raw))
	keyPEM, _ := EncodeKeyPEM(ca.Key)
	other := pem.EncodeToMemory(&pem.Block{Type: "OTHER", Bytes: []byte{1}})
	tests := []struct {
		name    string
		path    string
		load    func(string) error
		wantErr bool
	}{
		{"cert", write("a.crt", certPEM), loadCert, false},
		{"cert after other block", write("b.crt", string(other)+certPEM), loadCert, false},
		{"cert missing", filepath.Join(dir, "missing"), loadCert, true},
		{"cert not PEM", write("c.crt", "hello"), loadCert, true},
		{"cert wrong block", write("d.crt", string(keyPEM)), loadCert, true},
		{"cert bad DER", write("e.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}))), loadCert, true},
		{"key", write("a.key", string(keyPEM)), loadKey, false},
		{"key wrong block", write("b.key", certPEM), loadKey, true},
		{"key PKCS8 rejected", write("c.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))), loadKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.load(tt.path); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	t.Run("WriteCertFile", func(t *testing.T) {
		p := filepath.Join(dir, "edge", "ca.crt")
		if err := WriteCertFile(p, ca.Cert.Raw); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, p); m != 0o644 {
			t.Errorf("mode = %o", m)
		}
		if err := WriteCertFile(p, []byte("junk")); err == nil {
			t.Error("junk accepted")
		}
		if c, err := LoadCertFile(p); err != nil || string(c.Raw) != string(ca.Cert.Raw) {
			t.Errorf("LoadCertFile after rejected write: %v", err)
		}
	})
}

func loadCert(p string) error { _, err := LoadCertFile(p); return err }
func loadKey(p string) error  { _, err := LoadKeyFile(p); return err }

func TestCheckCert(t *testing.T) {
	cert := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "edge-1"},
		NotBefore: t0,
		NotAfter:  t0.Add(365 * 24 * time.Hour),
	}
	tests := []struct {
		name    string
		now     time.Time
		min     time.Duration
		wantErr error
	}{
		{name: "valid", now: t0.Add(time.Hour), min: 30 * 24 * time.Hour},
		{name: "at NotBefore", now: t0},
		{name: "before", now: t0.Add(-time.Second), wantErr: ErrCertNotYetValid},
		{name: "at NotAfter", now: cert.NotAfter, wantErr: ErrCertExpired},
		{name: "after", now: cert.NotAfter.Add(time.Hour), wantErr: ErrCertExpired},
		{name: "expiring", now: cert.NotAfter.Add(-24 * time.Hour), min: 30 * 24 * time.Hour, wantErr: ErrCertExpiringSoon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCert(cert, tt.now, tt.min)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "CN=edge-1") || !strings.Contains(err.Error(), "2026-03-01T12:00:00Z")) {
				t.Errorf("error lacks subject or dates: %v", err)
			}
		})
	}
	if err := CheckCert(nil, t0, 0); err == nil {
		t.Error("nil cert accepted")
	}
}

func TestVerifyServerSANs(t *testing.T) {
	ca := mustCA(t)
	kp, err := ca.IssueServer(ServerCertOptions{
		AdvertiseAddresses: []string{"192.168.1.10", "2001:db8::1"},
		DNSNames:           []string{"cloud.example.com", "*.kubeedge.svc"},
		Now:                t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"192.168.1.10", true},
		{"192.168.1.10:10002", true},
		{"[2001:db8::1]:10000", true},
		{"2001:db8::1", true},
		{"cloud.example.com", true},
		{"cloud.example.com:10002", true},
		{"cloudcore.kubeedge.svc", true},
		{"10.0.0.1", false},
		{"other.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := VerifyServerSANs(kp.Cert, tt.host)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrSANMismatch) {
				t.Fatalf("err = %v, want ErrSANMismatch", err)
			}
			if tt.host == "" {
				return
			}
			for _, want := range []string{"IP:192.168.1.10", "DNS:cloud.example.com", "--advertise-address", "--domainname"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}
