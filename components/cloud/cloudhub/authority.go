package cloudhub

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/cleanedge/kubeedge/certs"
)

// CAAuthority is the Authority backed by the cluster CA and CloudHub's server
// key pair.
type CAAuthority struct {
	CA     *certs.CA
	Server *certs.KeyPair
	// EdgeValidity is the lifetime of edge certificates (edgeCertSigningDuration).
	EdgeValidity time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *CAAuthority) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CACert implements Authority.
func (a *CAAuthority) CACert() *x509.Certificate { return a.CA.Cert }

// ServerCertificate implements Authority.
func (a *CAAuthority) ServerCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{a.Server.Cert.Raw}, PrivateKey: a.Server.Key, Leaf: a.Server.Cert}
}

// VerifyToken implements Authority.
func (a *CAAuthority) VerifyToken(jwt string) error { return certs.VerifyToken(a.CA, jwt, a.now()) }

// SignCSR implements Authority: the certificate's CN is the node name.
func (a *CAAuthority) SignCSR(csrDER []byte, node string, usages []x509.ExtKeyUsage) ([]byte, error) {
	return a.CA.SignCSR(csrDER, certs.SignRequest{NodeName: node, Usages: usages, Validity: a.EdgeValidity, Now: a.now()})
}

// NodeName implements Authority.
func (a *CAAuthority) NodeName(cert *x509.Certificate) (string, error) {
	node, err := certs.NodeNameFromCert(cert)
	if err != nil {
		return "", fmt.Errorf("%w: re-join the node with `keadm join --token` so this cloud issues it a per-node certificate", err)
	}
	return node, nil
}
