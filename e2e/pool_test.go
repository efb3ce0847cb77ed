//go:build e2e

package e2e

import (
	"crypto/x509"
	"testing"
)

func x509Pool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	return pool
}
