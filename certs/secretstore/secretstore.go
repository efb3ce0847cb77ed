package secretstore

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/certs"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Secret names and keys (upstream v1.12). Values are raw DER, not PEM.
const (
	DefaultNamespace = "kubeedge"

	CASecretName = "casecret"
	CACertKey    = "cadata"
	CAKeyKey     = "cakeydata"

	ServerSecretName = "cloudcoresecret"
	ServerCertKey    = "cloudcoredata"
	ServerKeyKey     = "cloudcorekeydata"

	TokenSecretName = "tokensecret"
	TokenKey        = "tokendata"
)

// Secret errors; test with errors.Is.
var (
	// ErrNotFound means the secret does not exist.
	ErrNotFound = errors.New("secret not found")
	// ErrAlreadyExists means a secret that was to be created exists already.
	ErrAlreadyExists = errors.New("secret already exists")
	// ErrSecretInvalid means the secret exists but its content is missing or unusable.
	ErrSecretInvalid = errors.New("secret content is invalid")
)

// SecretStore keeps the CA, the CloudCore key pair and the join token in Kubernetes
// secrets, the single source of truth shared by all CloudCore replicas.
type SecretStore struct {
	// Client talks to the cluster.
	Client kubernetes.Interface
	// Namespace defaults to DefaultNamespace.
	Namespace string
}

func (s *SecretStore) namespace() string {
	if s.Namespace == "" {
		return DefaultNamespace
	}
	return s.Namespace
}

// LoadCA reads the CA from the casecret secret; absent, it returns an error wrapping ErrNotFound.
func (s *SecretStore) LoadCA(ctx context.Context) (*certs.CA, error) {
	data, err := s.get(ctx, CASecretName, CACertKey, CAKeyKey)
	if err != nil {
		return nil, err
	}
	ca, err := certs.CAFromDER(data[CACertKey], data[CAKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w: %w", s.namespace(), CASecretName, ErrSecretInvalid, err)
	}
	return ca, nil
}

// SaveCA creates or overwrites the casecret secret, creating the namespace if needed.
func (s *SecretStore) SaveCA(ctx context.Context, ca *certs.CA) error {
	data, err := caData(ca)
	if err != nil {
		return err
	}
	return s.put(ctx, CASecretName, data, true)
}

// CreateCA creates the casecret secret, creating the namespace if needed. If the secret
// exists it is left alone and an error wrapping ErrAlreadyExists is returned, so that
// concurrent CloudCores agree on a single CA.
func (s *SecretStore) CreateCA(ctx context.Context, ca *certs.CA) error {
	data, err := caData(ca)
	if err != nil {
		return err
	}
	return s.put(ctx, CASecretName, data, false)
}

func caData(ca *certs.CA) (map[string][]byte, error) {
	if err := ca.Usable(); err != nil {
		return nil, fmt.Errorf("save CA: %w", err)
	}
	key, err := ca.KeyDER()
	if err != nil {
		return nil, fmt.Errorf("save CA: %w", err)
	}
	return map[string][]byte{CACertKey: ca.Cert.Raw, CAKeyKey: key}, nil
}

// LoadServer reads the CloudCore server key pair from cloudcoresecret; absent, it
// returns an error wrapping ErrNotFound.
func (s *SecretStore) LoadServer(ctx context.Context) (*certs.KeyPair, error) {
	data, err := s.get(ctx, ServerSecretName, ServerCertKey, ServerKeyKey)
	if err != nil {
		return nil, err
	}
	where := s.namespace() + "/" + ServerSecretName
	cert, err := x509.ParseCertificate(data[ServerCertKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w: certificate: %w", where, ErrSecretInvalid, err)
	}
	key, err := x509.ParseECPrivateKey(data[ServerKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w: key: %w", where, ErrSecretInvalid, err)
	}
	if err := certs.MatchKey(cert, key); err != nil {
		return nil, fmt.Errorf("secret %s: %w: %w", where, ErrSecretInvalid, err)
	}
	return &certs.KeyPair{Cert: cert, Key: key}, nil
}

// SaveServer creates or overwrites cloudcoresecret, creating the namespace if needed.
func (s *SecretStore) SaveServer(ctx context.Context, kp *certs.KeyPair) error {
	if kp == nil || kp.Cert == nil {
		return errors.New("save server key pair: no certificate")
	}
	key, err := kp.KeyDER()
	if err != nil {
		return fmt.Errorf("save server key pair: %w", err)
	}
	return s.put(ctx, ServerSecretName, map[string][]byte{ServerCertKey: kp.Cert.Raw, ServerKeyKey: key}, true)
}

// LoadToken reads the current join token from tokensecret; absent, it returns an error
// wrapping ErrNotFound.
func (s *SecretStore) LoadToken(ctx context.Context) (string, error) {
	data, err := s.get(ctx, TokenSecretName, TokenKey)
	if err != nil {
		return "", err
	}
	return string(data[TokenKey]), nil
}

// SaveToken creates or overwrites tokensecret, creating the namespace if needed.
func (s *SecretStore) SaveToken(ctx context.Context, token string) error {
	if token == "" {
		return errors.New("save token: empty token")
	}
	return s.put(ctx, TokenSecretName, map[string][]byte{TokenKey: []byte(token)}, true)
}

// get returns the data of secret name, which must hold every key in keys.
func (s *SecretStore) get(ctx context.Context, name string, keys ...string) (map[string][]byte, error) {
	if s.Client == nil {
		return nil, errors.New("secret store has no Kubernetes client")
	}
	ns := s.namespace()
	sec, err := s.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	for _, k := range keys {
		if len(sec.Data[k]) == 0 {
			return nil, fmt.Errorf("secret %s/%s: %w: key %q missing or empty", ns, name, ErrSecretInvalid, k)
		}
	}
	return sec.Data, nil
}

// put creates secret name with data; if it exists it is overwritten when overwrite is
// set, else ErrAlreadyExists is returned.
func (s *SecretStore) put(ctx context.Context, name string, data map[string][]byte, overwrite bool) error {
	if s.Client == nil {
		return errors.New("secret store has no Kubernetes client")
	}
	ns := s.namespace()
	if err := s.ensureNamespace(ctx); err != nil {
		return err
	}
	secrets := s.Client.CoreV1().Secrets(ns)
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	_, err := secrets.Create(ctx, sec, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("create secret %s/%s: %w", ns, name, err)
	case !overwrite:
		return fmt.Errorf("secret %s/%s: %w", ns, name, ErrAlreadyExists)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Data = data
		cur.Type = corev1.SecretTypeOpaque
		_, err = secrets.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update secret %s/%s: %w", ns, name, err)
	}
	return nil
}

// ensureNamespace creates the store's namespace if it does not exist. A forbidden Get
// is not an error: the namespace may well exist and the secret write will tell.
func (s *SecretStore) ensureNamespace(ctx context.Context) error {
	ns := s.namespace()
	namespaces := s.Client.CoreV1().Namespaces()
	_, err := namespaces.Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	_, err = namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// CAStore is where EnsureCA keeps the CA; *SecretStore implements it.
type CAStore interface {
	// LoadCA returns the stored CA or an error wrapping ErrNotFound.
	LoadCA(ctx context.Context) (*certs.CA, error)
	// CreateCA stores a CA unless one exists, else returns an error wrapping ErrAlreadyExists.
	CreateCA(ctx context.Context, ca *certs.CA) error
}

// CADriftError reports that local CA files and the CA secret hold different CAs.
type CADriftError struct {
	// LocalFingerprint is the SHA-256 of the local CA certificate DER, hex.
	LocalFingerprint string
	// StoredFingerprint is the SHA-256 of the stored CA certificate DER, hex.
	StoredFingerprint string
}

func (e *CADriftError) Error() string {
	return fmt.Sprintf("CA drift: the local CA certificate (sha256 %s) differs from the one in secret %s (sha256 %s); "+
		"the secret is the single source of truth and is not switched silently: remove the local CA files "+
		"(tlsCAFile, tlsCAKeyFile) to use the secret's CA, or restore the secret from the files "+
		"(delete secret %s so it is recreated from them)",
		e.LocalFingerprint, CASecretName, e.StoredFingerprint, CASecretName)
}

// EnsureCA returns the cluster's CA, keeping the store as the single source of truth:
//
//   - store has a CA, local is nil: the stored CA;
//   - store has a CA equal to local: that CA;
//   - store has a CA different from local: a *CADriftError, never a silent switch;
//   - store is empty, local given: local is stored and returned;
//   - both empty: a new CA is created (valid from now), stored and returned.
//
// created is true only when a new CA was generated. If another CloudCore stores a CA
// concurrently, its CA wins and is compared with local as above.
func EnsureCA(ctx context.Context, store CAStore, local *certs.CA, now time.Time) (ca *certs.CA, created bool, err error) {
	if store == nil {
		return nil, false, errors.New("ensure CA: no store")
	}
	if local != nil {
		if err := local.Usable(); err != nil {
			return nil, false, fmt.Errorf("ensure CA: local CA: %w", err)
		}
	}
	for range 2 {
		stored, err := store.LoadCA(ctx)
		if err == nil {
			if local == nil {
				return stored, false, nil
			}
			if err := compareCA(local, stored); err != nil {
				return nil, false, err
			}
			return stored, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, false, fmt.Errorf("ensure CA: %w", err)
		}
		candidate, isNew := local, false
		if candidate == nil {
			if candidate, err = certs.NewCA(now); err != nil {
				return nil, false, fmt.Errorf("ensure CA: %w", err)
			}
			isNew = true
		}
		err = store.CreateCA(ctx, candidate)
		if err == nil {
			return candidate, isNew, nil
		}
		if !errors.Is(err, ErrAlreadyExists) {
			return nil, false, fmt.Errorf("ensure CA: store CA: %w", err)
		}
		// Lost a race with another CloudCore: load and compare its CA.
	}
	return nil, false, errors.New("ensure CA: CA secret keeps appearing and disappearing")
}

// compareCA returns a *CADriftError if local and stored have different certificates.
// Both keys are known to match their certificates, so equal certificates mean equal CAs.
func compareCA(local, stored *certs.CA) error {
	if bytes.Equal(local.Cert.Raw, stored.Cert.Raw) {
		return nil
	}
	return &CADriftError{LocalFingerprint: certs.HashCert(local.Cert.Raw), StoredFingerprint: certs.HashCert(stored.Cert.Raw)}
}
