package cloudhub

import (
	"crypto/x509"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/certs"
)

func TestCAAuthority(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	a := &CAAuthority{CA: p.ca, Server: p.server, EdgeValidity: 48 * time.Hour, Now: func() time.Time { return now }}

	if a.CACert() != p.ca.Cert {
		t.Error("CACert is not the CA certificate")
	}
	sc := a.ServerCertificate()
	if sc.Leaf != p.server.Cert || len(sc.Certificate) != 1 || sc.PrivateKey != p.server.Key {
		t.Errorf("ServerCertificate = %+v", sc)
	}

	t.Run("SignCSR uses the node name, usages, validity and clock", func(t *testing.T) {
		der, err := a.SignCSR(newCSR(t), "edge-7", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != "edge-7" {
			t.Errorf("CN %q", cert.Subject.CommonName)
		}
		if !cert.NotBefore.Equal(start) || !cert.NotAfter.Equal(start.Add(48*time.Hour)) {
			t.Errorf("validity %s – %s, want 48h from %s", cert.NotBefore, cert.NotAfter, start)
		}
		if !reflect.DeepEqual(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
			t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
		}
		if err := cert.CheckSignatureFrom(p.ca.Cert); err != nil {
			t.Error(err)
		}
		if _, err := a.SignCSR(newCSR(t), "Not A Node", nil); !errors.Is(err, certs.ErrInvalidNodeName) {
			t.Errorf("bad node name: %v", err)
		}
	})

	t.Run("VerifyToken uses the clock", func(t *testing.T) {
		jwt := jwtOf(t, p.ca, start, time.Hour)
		now = start.Add(59 * time.Minute)
		if err := a.VerifyToken(jwt); err != nil {
			t.Errorf("before exp: %v", err)
		}
		now = start.Add(61 * time.Minute)
		if err := a.VerifyToken(jwt); !errors.Is(err, certs.ErrTokenExpired) {
			t.Errorf("after exp: %v, want ErrTokenExpired", err)
		}
		now = start
	})

	t.Run("NodeName", func(t *testing.T) {
		if got, err := a.NodeName(p.clientCert(t, "edge-3").Leaf); err != nil || got != "edge-3" {
			t.Errorf("NodeName = %q, %v", got, err)
		}
		_, err := a.NodeName(p.clientCert(t, certs.EdgeCSRCommonName).Leaf)
		if !errors.Is(err, certs.ErrNoNodeIdentity) || !strings.Contains(err.Error(), "keadm join --token") {
			t.Errorf("upstream certificate: %v", err)
		}
	})

	t.Run("nil clock is the wall clock", func(t *testing.T) {
		b := &CAAuthority{CA: p.ca, Server: p.server}
		if err := b.VerifyToken(jwtOf(t, p.ca, time.Now(), time.Minute)); err != nil {
			t.Error(err)
		}
		der, err := b.SignCSR(newCSR(t), "edge-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		if d := time.Since(cert.NotBefore); d < 0 || d > time.Minute {
			t.Errorf("NotBefore %s is not now", cert.NotBefore)
		}
		if got := cert.NotAfter.Sub(cert.NotBefore); got != certs.DefaultEdgeValidity {
			t.Errorf("zero EdgeValidity gave %s, want the default %s", got, certs.DefaultEdgeValidity)
		}
	})
}
