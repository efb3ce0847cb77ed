package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Names and lifetimes used by the certificates CloudCore issues (upstream v1.12 values).
const (
	// CACommonName is the subject CN of the CA and of the CloudCore server certificate.
	CACommonName = "KubeEdge"
	// ServerOrganization is the subject O of the CloudCore server certificate.
	ServerOrganization = "KubeEdge"
	// EdgeCSRCommonName is the CN every upstream edge puts in its CSR. It names no node,
	// so certificates carrying it have no node identity.
	EdgeCSRCommonName = "kubeedge.io"
	// CASerial is the fixed serial number of the CA certificate.
	CASerial = 1024
	// CAValidity is how long a new CA is valid (100 years).
	CAValidity = 100 * 365 * 24 * time.Hour
	// DefaultServerValidity is the default lifetime of the CloudCore server certificate (36500 days).
	DefaultServerValidity = 36500 * 24 * time.Hour
	// DefaultEdgeValidity is the default lifetime of an edge certificate
	// (cloudHub.edgeCertSigningDuration, 365 days).
	DefaultEdgeValidity = 365 * 24 * time.Hour
)

// Errors returned when issuing or reading certificates. They are wrapped with context;
// test for them with errors.Is.
var (
	// ErrInvalidCSR means the CSR could not be parsed or its self-signature is wrong.
	ErrInvalidCSR = errors.New("invalid certificate signing request")
	// ErrUnsupportedKey means a key is neither ECDSA nor RSA (CSRs) or not ECDSA (files).
	ErrUnsupportedKey = errors.New("unsupported public key type")
	// ErrInvalidNodeName means a node name is empty or not a DNS-1123 subdomain.
	ErrInvalidNodeName = errors.New("invalid node name")
	// ErrUnsupportedUsage means an extended key usage other than serverAuth or clientAuth was requested.
	ErrUnsupportedUsage = errors.New("unsupported extended key usage")
	// ErrInvalidAddress means an advertise address is not an IP address.
	ErrInvalidAddress = errors.New("invalid advertise address")
	// ErrNoNodeIdentity means a certificate does not name a node (for example one issued
	// by upstream KubeEdge, whose CN is always kubeedge.io).
	ErrNoNodeIdentity = errors.New("certificate carries no node identity")
	// ErrKeyMismatch means a certificate's public key does not belong to the private key given with it.
	ErrKeyMismatch = errors.New("certificate and private key do not match")
	// ErrNotCA means a certificate used as the CA is not a CA certificate.
	ErrNotCA = errors.New("certificate is not a CA")
)

// CA is the CloudHub certificate authority: it signs the CloudCore server certificate
// and the edge certificates, and its key DER is the HMAC key of join tokens.
type CA struct {
	// Cert is the CA certificate (Cert.Raw is its DER).
	Cert *x509.Certificate
	// Key is the CA private key.
	Key *ecdsa.PrivateKey

	// keyDER keeps the key bytes exactly as read (file or secret), because the join
	// token is keyed with those bytes; nil means "marshal Key".
	keyDER []byte
}

// NewCA creates a self-signed CA valid from now for CAValidity, as upstream does:
// CN=KubeEdge, serial 1024, CertSign|DigitalSignature|KeyEncipherment, serverAuth+clientAuth.
// A zero now means time.Now().
func NewCA(now time.Time) (*CA, error) {
	now = orNow(now)
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(CASerial),
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             now.UTC(),
		NotAfter:              now.Add(CAValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CAFromDER builds a CA from a certificate DER and a SEC1 EC private key DER, checking
// that the certificate is a CA and matches the key. The key bytes are kept verbatim,
// so join tokens are keyed exactly as upstream keys them.
func CAFromDER(certDER, keyDER []byte) (*CA, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA key (want SEC1 EC private key): %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %s: %w", cert.Subject, ErrNotCA)
	}
	if err := matchKey(cert, key); err != nil {
		return nil, fmt.Errorf("CA %s: %w", cert.Subject, err)
	}
	return &CA{Cert: cert, Key: key, keyDER: bytes.Clone(keyDER)}, nil
}

// CertDER returns the DER of the CA certificate (nil if there is none).
func (ca *CA) CertDER() []byte {
	if ca == nil || ca.Cert == nil {
		return nil
	}
	return ca.Cert.Raw
}

// KeyDER returns the SEC1 DER of the CA private key: the bytes it was loaded from when
// built by CAFromDER or LoadCAFiles, else a fresh marshalling of Key.
func (ca *CA) KeyDER() ([]byte, error) {
	if ca == nil || ca.Key == nil {
		return nil, errors.New("CA has no private key")
	}
	if ca.keyDER != nil {
		return bytes.Clone(ca.keyDER), nil
	}
	der, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("marshal CA key: %w", err)
	}
	return der, nil
}

// Hash returns the lowercase hex SHA-256 of the CA certificate DER: the first part of a
// join token. It is empty if the CA has no certificate.
func (ca *CA) Hash() string {
	if ca == nil || ca.Cert == nil {
		return ""
	}
	return HashCert(ca.Cert.Raw)
}

// HashCert returns the lowercase hex SHA-256 of a certificate DER.
func HashCert(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// KeyPair is a certificate with its private key.
type KeyPair struct {
	// Cert is the certificate (Cert.Raw is its DER).
	Cert *x509.Certificate
	// Key is the private key.
	Key *ecdsa.PrivateKey
}

// CertDER returns the DER of the certificate (nil if there is none).
func (kp *KeyPair) CertDER() []byte {
	if kp == nil || kp.Cert == nil {
		return nil
	}
	return kp.Cert.Raw
}

// KeyDER returns the SEC1 DER of the private key.
func (kp *KeyPair) KeyDER() ([]byte, error) {
	if kp == nil || kp.Key == nil {
		return nil, errors.New("key pair has no private key")
	}
	der, err := x509.MarshalECPrivateKey(kp.Key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return der, nil
}

// ServerCertOptions configures the CloudCore server certificate.
type ServerCertOptions struct {
	// AdvertiseAddresses become IP SANs (cloudHub.advertiseAddress); each must be an IP.
	AdvertiseAddresses []string
	// DNSNames become DNS SANs (cloudHub.dnsNames); empty names are skipped.
	DNSNames []string
	// Validity defaults to DefaultServerValidity.
	Validity time.Duration
	// Now is the start of validity; zero means time.Now().
	Now time.Time
}

// IssueServer creates a new key and a server certificate signed by the CA:
// CN=KubeEdge, O=KubeEdge, DigitalSignature|KeyEncipherment, serverAuth only.
func (ca *CA) IssueServer(opts ServerCertOptions) (*KeyPair, error) {
	if err := ca.usable(); err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range opts.AdvertiseAddresses {
		ip := net.ParseIP(strings.TrimSpace(a))
		if ip == nil {
			return nil, fmt.Errorf("%w %q: must be an IP address (use --domainname for DNS names)", ErrInvalidAddress, a)
		}
		ips = append(ips, ip)
	}
	var dns []string
	for _, d := range opts.DNSNames {
		if d = strings.TrimSpace(d); d != "" {
			dns = append(dns, d)
		}
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultServerValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("server certificate validity %s must be positive", validity)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := orNow(opts.Now)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: CACommonName, Organization: []string{ServerOrganization}},
		NotBefore:    now.UTC(),
		NotAfter:     now.Add(validity).UTC(),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse server certificate: %w", err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// SignRequest says whom an edge certificate is for and how it may be used.
type SignRequest struct {
	// NodeName becomes the certificate's CN; it must be a DNS-1123 subdomain.
	NodeName string
	// Usages are the extended key usages; only serverAuth and clientAuth are allowed.
	// Empty means clientAuth.
	Usages []x509.ExtKeyUsage
	// Validity defaults to DefaultEdgeValidity.
	Validity time.Duration
	// Now is the start of validity; zero means time.Now().
	Now time.Time
}

// SignCSR signs a DER PKCS#10 CSR for the node named in req and returns the certificate DER.
//
// Unlike upstream, which copies the CSR's CN (always kubeedge.io), the certificate's CN is
// the node name, so CloudHub can bind the TLS identity to a node (see NodeNameFromCert).
// The Organization is copied from the CSR; other subject fields are dropped.
func (ca *CA) SignCSR(csrDER []byte, req SignRequest) ([]byte, error) {
	if err := ca.usable(); err != nil {
		return nil, err
	}
	if err := ValidateNodeName(req.NodeName); err != nil {
		return nil, err
	}
	usages := req.Usages
	if len(usages) == 0 {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, u := range usages {
		if u != x509.ExtKeyUsageServerAuth && u != x509.ExtKeyUsageClientAuth {
			return nil, fmt.Errorf("%w %d: only serverAuth (1) and clientAuth (2) are allowed", ErrUnsupportedUsage, u)
		}
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultEdgeValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("edge certificate validity %s must be positive", validity)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: bad signature: %w", ErrInvalidCSR, err)
	}
	switch csr.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("CSR for node %q: %w %T (want ECDSA or RSA)", req.NodeName, ErrUnsupportedKey, csr.PublicKey)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := orNow(req.Now)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   req.NodeName,
			Organization: csr.Subject.Organization,
		},
		NotBefore:   now.UTC(),
		NotAfter:    now.Add(validity).UTC(),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for node %q: %w", req.NodeName, err)
	}
	return der, nil
}

// NodeNameFromCert returns the node a client certificate was issued to: its CN, as
// written by SignCSR. This is the identity CloudHub binds a connection to. It does not
// verify the certificate; callers must first check it chains to the CA.
//
// Certificates signed by upstream KubeEdge carry CN=kubeedge.io and yield
// ErrNoNodeIdentity, so callers can decide how to treat them.
func NodeNameFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrNoNodeIdentity)
	}
	cn := cert.Subject.CommonName
	if cn == "" || cn == EdgeCSRCommonName {
		return "", fmt.Errorf("%w: subject %q does not name a node (certificate not issued by this CloudCore)", ErrNoNodeIdentity, cert.Subject.String())
	}
	if err := ValidateNodeName(cn); err != nil {
		return "", fmt.Errorf("certificate subject CN: %w", err)
	}
	return cn, nil
}

// ValidateNodeName reports whether name is a valid node name (a DNS-1123 subdomain).
func ValidateNodeName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidNodeName)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalidNodeName, name, strings.Join(errs, "; "))
	}
	return nil
}

// NewCSR builds the DER CSR an edge node sends to /edge.crt, with exactly upstream's
// subject (C=CN, O=kubeEdge, L=Hangzhou, ST=Zhejiang, CN=kubeedge.io). The node name is
// not in the CSR (it travels in the NodeName header and the cloud writes it into the
// certificate); it is only validated here so a bad name fails before any request.
func NewCSR(key *ecdsa.PrivateKey, nodeName string) ([]byte, error) {
	if key == nil {
		return nil, errors.New("create CSR: no private key")
	}
	if err := ValidateNodeName(nodeName); err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject: pkix.Name{
			Country:      []string{"CN"},
			Organization: []string{"kubeEdge"},
			Locality:     []string{"Hangzhou"},
			Province:     []string{"Zhejiang"},
			CommonName:   EdgeCSRCommonName,
		},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for node %q: %w", nodeName, err)
	}
	return der, nil
}

// NewKey generates an ECDSA P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) { return newKey() }

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// randomSerial returns a random serial number below 2^63, as upstream uses.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

// usable reports whether the CA can sign.
// Usable reports whether the CA has both its certificate and its key.
func (ca *CA) Usable() error { return ca.usable() }

func (ca *CA) usable() error {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return errors.New("CA certificate or key missing")
	}
	return nil
}

// MatchKey checks that cert's public key belongs to key (ErrKeyMismatch).
func MatchKey(cert *x509.Certificate, key crypto.Signer) error { return matchKey(cert, key) }

// matchKey checks that cert's public key belongs to key.
func matchKey(cert *x509.Certificate, key crypto.Signer) error {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return ErrKeyMismatch
	}
	return nil
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
