package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(t0)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pool(ca *CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func TestNewCA(t *testing.T) {
	ca := mustCA(t)
	c := ca.Cert
	checks := []struct {
		name string
		ok   bool
	}{
		{"CN", c.Subject.CommonName == "KubeEdge"},
		{"serial", c.SerialNumber.Int64() == 1024},
		{"IsCA", c.IsCA && c.BasicConstraintsValid},
		{"KeyUsage", c.KeyUsage == x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment},
		{"ExtKeyUsage", slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})},
		{"NotBefore", c.NotBefore.Equal(t0)},
		{"NotAfter", c.NotAfter.Equal(t0.Add(100 * 365 * 24 * time.Hour))},
		{"P-256", ca.Key.Curve == elliptic.P256()},
		{"ECDSA-SHA256", c.SignatureAlgorithm == x509.ECDSAWithSHA256},
		{"self-signed", c.CheckSignatureFrom(c) == nil},
		{"CertDER", string(ca.CertDER()) == string(c.Raw)},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !ck.ok {
				t.Errorf("CA %s check failed", ck.name)
			}
		})
	}
}

func TestCAHash(t *testing.T) {
	ca := mustCA(t)
	sum := sha256.Sum256(ca.Cert.Raw)
	if got, want := ca.Hash(), hex.EncodeToString(sum[:]); got != want || len(got) != 64 || strings.ToLower(got) != got {
		t.Fatalf("Hash = %q, want %q", got, want)
	}
}

func TestCAFromDER(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	keyDER, _ := ca.KeyDER()
	otherKey, _ := other.KeyDER()
	server, err := ca.IssueServer(ServerCertOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	serverKey, _ := server.KeyDER()
	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr error
		anyErr  bool
	}{
		{name: "ok", cert: ca.Cert.Raw, key: keyDER},
		{name: "key of another CA", cert: ca.Cert.Raw, key: otherKey, wantErr: ErrKeyMismatch},
		{name: "not a CA", cert: server.Cert.Raw, key: serverKey, wantErr: ErrNotCA},
		{name: "garbage cert", cert: []byte("x"), key: keyDER, anyErr: true},
		{name: "garbage key", cert: ca.Cert.Raw, key: []byte("x"), anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CAFromDER(tt.cert, tt.key)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.anyErr:
				if err == nil {
					t.Fatal("want error")
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if d, _ := got.KeyDER(); string(d) != string(tt.key) {
					t.Error("KeyDER does not return the bytes loaded")
				}
			}
		})
	}
}

func TestIssueServer(t *testing.T) {
	ca := mustCA(t)
	tests := []struct {
		name     string
		opts     ServerCertOptions
		wantIPs  []string
		wantDNS  []string
		validity time.Duration
		wantErr  error
	}{
		{
			name:     "defaults with upstream empty dns name",
			opts:     ServerCertOptions{AdvertiseAddresses: []string{"192.168.1.10"}, DNSNames: []string{""}, Now: t0},
			wantIPs:  []string{"192.168.1.10"},
			validity: 36500 * 24 * time.Hour,
		},
		{
			name:     "ips and names",
			opts:     ServerCertOptions{AdvertiseAddresses: []string{"10.0.0.1", "2001:db8::1"}, DNSNames: []string{"cloud.example.com", " ", "cloudcore.kubeedge"}, Validity: time.Hour, Now: t0},
			wantIPs:  []string{"10.0.0.1", "2001:db8::1"},
			wantDNS:  []string{"cloud.example.com", "cloudcore.kubeedge"},
			validity: time.Hour,
		},
		{name: "hostname as address", opts: ServerCertOptions{AdvertiseAddresses: []string{"cloud.example.com"}}, wantErr: ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ca.IssueServer(tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := kp.Cert
			if c.Subject.CommonName != "KubeEdge" || !slices.Equal(c.Subject.Organization, []string{"KubeEdge"}) {
				t.Errorf("subject = %v", c.Subject)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment || c.IsCA {
				t.Errorf("KeyUsage = %v IsCA = %v", c.KeyUsage, c.IsCA)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) || !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("SANs = %v %v, want %v %v", ips, c.DNSNames, tt.wantIPs, tt.wantDNS)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != tt.validity {
				t.Errorf("validity = %v, want %v", got, tt.validity)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 63 {
				t.Errorf("serial %v out of range", c.SerialNumber)
			}
			if kp.Key.Curve != elliptic.P256() {
				t.Error("server key is not P-256")
			}
			for _, host := range tt.wantIPs {
				_, err := c.Verify(x509.VerifyOptions{Roots: pool(ca), DNSName: host, CurrentTime: t0.Add(time.Minute),
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				if err != nil {
					t.Errorf("verify for %s: %v", host, err)
				}
			}
		})
	}
}

func csrWith(t *testing.T, signer any, cn string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"kubeEdge"}, Country: []string{"CN"}},
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignCSR(t *testing.T) {
	ca := mustCA(t)
	edgeKey := mustKey(t)
	goodCSR, err := NewCSR(edgeKey, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	tampered := slices.Clone(goodCSR)
	tampered[len(tampered)-1] ^= 0xff
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	tests := []struct {
		name       string
		csr        []byte
		req        SignRequest
		wantErr    error
		wantUsages []x509.ExtKeyUsage
		validity   time.Duration
	}{
		{name: "defaults", csr: goodCSR, req: SignRequest{NodeName: "edge-1", Now: t0},
			wantUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity: 365 * 24 * time.Hour},
		{name: "server and client", csr: goodCSR,
			req:        SignRequest{NodeName: "edge-1.example", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, Validity: 48 * time.Hour, Now: t0},
			wantUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, validity: 48 * time.Hour},
		{name: "rsa csr", csr: csrWith(t, rsaKey, "x"), req: SignRequest{NodeName: "edge-2", Now: t0},
			wantUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity: 365 * 24 * time.Hour},
		{name: "ed25519 csr", csr: csrWith(t, edKey, "x"), req: SignRequest{NodeName: "edge-1"}, wantErr: ErrUnsupportedKey},
		{name: "garbage", csr: []byte("not a csr"), req: SignRequest{NodeName: "edge-1"}, wantErr: ErrInvalidCSR},
		{name: "empty", csr: nil, req: SignRequest{NodeName: "edge-1"}, wantErr: ErrInvalidCSR},
		{name: "bad signature", csr: tampered, req: SignRequest{NodeName: "edge-1"}, wantErr: ErrInvalidCSR},
		{name: "no node name", csr: goodCSR, req: SignRequest{}, wantErr: ErrInvalidNodeName},
		{name: "invalid node name", csr: goodCSR, req: SignRequest{NodeName: "Edge_1"}, wantErr: ErrInvalidNodeName},
		{name: "code signing", csr: goodCSR, req: SignRequest{NodeName: "edge-1", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, wantErr: ErrUnsupportedUsage},
		{name: "any usage", csr: goodCSR, req: SignRequest{NodeName: "edge-1", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageAny}}, wantErr: ErrUnsupportedUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := ca.SignCSR(tt.csr, tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject.CommonName != tt.req.NodeName {
				t.Errorf("CN = %q, want node name %q", c.Subject.CommonName, tt.req.NodeName)
			}
			if !slices.Equal(c.Subject.Organization, []string{"kubeEdge"}) || len(c.Subject.Country) != 0 {
				t.Errorf("subject = %v, want only O copied", c.Subject)
			}
			if !slices.Equal(c.ExtKeyUsage, tt.wantUsages) {
				t.Errorf("ExtKeyUsage = %v, want %v", c.ExtKeyUsage, tt.wantUsages)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != tt.validity || !c.NotBefore.Equal(t0) {
				t.Errorf("validity %v from %v, want %v from %v", got, c.NotBefore, tt.validity, t0)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0.Add(time.Minute), KeyUsages: tt.wantUsages}); err != nil {
				t.Errorf("verify: %v", err)
			}
			name, err := NodeNameFromCert(c)
			if err != nil || name != tt.req.NodeName {
				t.Errorf("NodeNameFromCert = %q, %v", name, err)
			}
		})
	}
	t.Run("nil CA", func(t *testing.T) {
		var none *CA
		if _, err := none.SignCSR(goodCSR, SignRequest{NodeName: "edge-1"}); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestNodeNameFromCert(t *testing.T) {
	tests := []struct {
		name    string
		cert    *x509.Certificate
		want    string
		wantErr error
	}{
		{name: "ours", cert: &x509.Certificate{Subject: pkix.Name{CommonName: "edge-1"}}, want: "edge-1"},
		{name: "upstream", cert: &x509.Certificate{Subject: pkix.Name{CommonName: "kubeedge.io", Organization: []string{"kubeEdge"}}}, wantErr: ErrNoNodeIdentity},
		{name: "empty CN", cert: &x509.Certificate{}, wantErr: ErrNoNodeIdentity},
		{name: "nil", cert: nil, wantErr: ErrNoNodeIdentity},
		{name: "invalid", cert: &x509.Certificate{Subject: pkix.Name{CommonName: "not a node"}}, wantErr: ErrInvalidNodeName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NodeNameFromCert(tt.cert)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("NodeNameFromCert = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewCSR(t *testing.T) {
	key := mustKey(t)
	tests := []struct {
		name    string
		key     *ecdsa.PrivateKey
		node    string
		wantErr bool
	}{
		{name: "ok", key: key, node: "edge-1"},
		{name: "bad node", key: key, node: "", wantErr: true},
		{name: "nil key", key: nil, node: "edge-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := NewCSR(tt.key, tt.node)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Fatal(err)
			}
			s := csr.Subject
			if s.CommonName != "kubeedge.io" || !slices.Equal(s.Country, []string{"CN"}) || !slices.Equal(s.Organization, []string{"kubeEdge"}) ||
				!slices.Equal(s.Locality, []string{"Hangzhou"}) || !slices.Equal(s.Province, []string{"Zhejiang"}) {
				t.Errorf("subject = %v", s)
			}
			if len(csr.DNSNames)+len(csr.IPAddresses) != 0 {
				t.Errorf("unexpected SANs in CSR")
			}
			if !csr.PublicKey.(*ecdsa.PublicKey).Equal(&tt.key.PublicKey) {
				t.Error("CSR public key differs")
			}
		})
	}
}

func TestValidateNodeName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"edge-1", true}, {"edge.example.com", true}, {"", false}, {"Edge", false}, {"-edge", false},
		{strings.Repeat("a", 254), false}, {net.IPv4(10, 0, 0, 1).String(), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateNodeName(tt.name)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidNodeName)) {
				t.Fatalf("ValidateNodeName(%q) = %v, ok want %v", tt.name, err, tt.ok)
			}
		})
	}
}

func TestNilSafety(t *testing.T) {
	var ca *CA
	var kp *KeyPair
	if ca.CertDER() != nil || ca.Hash() != "" || kp.CertDER() != nil {
		t.Error("nil receivers should yield zero values")
	}
	if _, err := ca.KeyDER(); err == nil {
		t.Error("nil CA KeyDER: want error")
	}
	if _, err := kp.KeyDER(); err == nil {
		t.Error("nil KeyPair KeyDER: want error")
	}
	if _, err := ca.IssueServer(ServerCertOptions{}); err == nil {
		t.Error("nil CA IssueServer: want error")
	}
	if err := ca.WriteFiles("a", "b"); err == nil {
		t.Error("nil CA WriteFiles: want error")
	}
}
