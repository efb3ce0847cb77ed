package certs

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"net"
	"os"
	"strings"
	"time"
)

// PEM block types used in files.
const (
	PEMCertificate = "CERTIFICATE"
	PEMECKey       = "EC PRIVATE KEY"
)

// File permissions: private keys are readable by the owner only.
const (
	dirMode  os.FileMode = 0o700
	keyMode  os.FileMode = 0o600
	certMode os.FileMode = 0o644
)

// Errors returned by CheckCert and VerifyServerSANs; test with errors.Is.
var (
	// ErrCertExpired means the certificate's NotAfter has passed.
	ErrCertExpired = errors.New("certificate has expired")
	// ErrCertNotYetValid means the certificate's NotBefore is in the future.
	ErrCertNotYetValid = errors.New("certificate is not yet valid")
	// ErrCertExpiringSoon means the certificate expires within the required margin.
	ErrCertExpiringSoon = errors.New("certificate expires soon")
	// ErrSANMismatch means a host is not among a server certificate's SANs.
	ErrSANMismatch = errors.New("host is not in the server certificate's subject alternative names")
)

// EncodeCertPEM returns der as a PEM "CERTIFICATE" block.
func EncodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMCertificate, Bytes: der})
}

// EncodeKeyPEM returns key as a PEM "EC PRIVATE KEY" (SEC1) block.
func EncodeKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, errors.New("encode key: no private key")
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal EC private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMECKey, Bytes: der}), nil
}

// WriteCertFile atomically writes der as PEM to path (mode 0644), creating missing
// directories with mode 0700.
func WriteCertFile(path string, der []byte) error {
	if _, err := x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("write certificate %s: %w", path, err)
	}
	return atomicfile.Write(path, EncodeCertPEM(der), certMode, dirMode)
}

// WriteKeyPairFiles atomically writes the key (PEM SEC1, mode 0600) and then the
// certificate (PEM, mode 0644), creating missing directories with mode 0700. The
// certificate must belong to the key.
func WriteKeyPairFiles(certPath, keyPath string, certDER []byte, key *ecdsa.PrivateKey) error {
	if key == nil {
		return fmt.Errorf("write key pair %s: no private key", keyPath)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("write certificate %s: %w", certPath, err)
	}
	if err := matchKey(cert, key); err != nil {
		return fmt.Errorf("write key pair %s, %s: %w", certPath, keyPath, err)
	}
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, keyPEM, keyMode, dirMode); err != nil {
		return err
	}
	return atomicfile.Write(certPath, EncodeCertPEM(certDER), certMode, dirMode)
}

// WriteFiles writes the CA certificate and key like WriteKeyPairFiles, keeping the key
// bytes exactly as the CA holds them (they key the join token).
func (ca *CA) WriteFiles(certPath, keyPath string) error {
	if err := ca.usable(); err != nil {
		return err
	}
	keyDER, err := ca.KeyDER()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: PEMECKey, Bytes: keyDER}), keyMode, dirMode); err != nil {
		return err
	}
	return atomicfile.Write(certPath, EncodeCertPEM(ca.Cert.Raw), certMode, dirMode)
}

// LoadCertFile reads the first PEM "CERTIFICATE" block of path.
func LoadCertFile(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, PEMCertificate)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %s: %w", path, err)
	}
	return cert, nil
}

// LoadKeyFile reads a PEM "EC PRIVATE KEY" (SEC1) from path.
func LoadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	der, err := readPEM(path, PEMECKey)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse EC private key %s: %w", path, err)
	}
	return key, nil
}

// LoadKeyPairFiles reads a certificate and its key and checks that they match.
func LoadKeyPairFiles(certPath, keyPath string) (*KeyPair, error) {
	cert, err := LoadCertFile(certPath)
	if err != nil {
		return nil, err
	}
	key, err := LoadKeyFile(keyPath)
	if err != nil {
		return nil, err
	}
	if err := matchKey(cert, key); err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// LoadCAFiles reads the CA certificate and key (tlsCAFile, tlsCAKeyFile). The key DER is
// kept verbatim so join tokens match the ones upstream would make from the same files.
func LoadCAFiles(certPath, keyPath string) (*CA, error) {
	certDER, err := readPEM(certPath, PEMCertificate)
	if err != nil {
		return nil, err
	}
	keyDER, err := readPEM(keyPath, PEMECKey)
	if err != nil {
		return nil, err
	}
	ca, err := CAFromDER(certDER, keyDER)
	if err != nil {
		return nil, fmt.Errorf("load CA from %s, %s: %w", certPath, keyPath, err)
	}
	return ca, nil
}

// CheckCert reports whether cert is usable at now and stays valid for at least
// minRemaining. It returns ErrCertNotYetValid, ErrCertExpired or ErrCertExpiringSoon,
// wrapped with the subject and validity dates, so callers can reuse a valid existing
// file and report an invalid or expiring one.
func CheckCert(cert *x509.Certificate, now time.Time, minRemaining time.Duration) error {
	if cert == nil {
		return errors.New("check certificate: no certificate")
	}
	desc := fmt.Sprintf("certificate %q (valid %s to %s)", cert.Subject.String(),
		cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	switch {
	case now.Before(cert.NotBefore):
		return fmt.Errorf("%s at %s: %w", desc, now.UTC().Format(time.RFC3339), ErrCertNotYetValid)
	case !now.Before(cert.NotAfter):
		return fmt.Errorf("%s at %s: %w", desc, now.UTC().Format(time.RFC3339), ErrCertExpired)
	case cert.NotAfter.Sub(now) < minRemaining:
		return fmt.Errorf("%s: %w: %s left, want at least %s", desc, ErrCertExpiringSoon,
			cert.NotAfter.Sub(now).Round(time.Second), minRemaining)
	}
	return nil
}

// VerifyServerSANs checks that host (an IP or DNS name, optionally with a port) is among
// the server certificate's SANs, which is what edge nodes verify when they connect.
func VerifyServerSANs(cert *x509.Certificate, host string) error {
	if cert == nil {
		return errors.New("verify SANs: no certificate")
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrSANMismatch)
	}
	if ip := net.ParseIP(host); ip != nil {
		for _, san := range cert.IPAddresses {
			if san.Equal(ip) {
				return nil
			}
		}
	} else if cert.VerifyHostname(host) == nil {
		return nil
	}
	sans := make([]string, 0, len(cert.IPAddresses)+len(cert.DNSNames))
	for _, ip := range cert.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	for _, d := range cert.DNSNames {
		sans = append(sans, "DNS:"+d)
	}
	present := "none"
	if len(sans) > 0 {
		present = strings.Join(sans, ", ")
	}
	return fmt.Errorf("%w: %q not in [%s]; reissue the certificate with this host in --advertise-address (IPs) or --domainname (DNS names)",
		ErrSANMismatch, host, present)
}

// readPEM returns the bytes of the first PEM block of type typ in path.
func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("read %s: no PEM %q block", path, typ)
		}
		if block.Type == typ {
			return block.Bytes, nil
		}
	}
}
