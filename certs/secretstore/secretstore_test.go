package secretstore

import (
	"context"
	"errors"
	"github.com/cleanedge/kubeedge/certs"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func caSecret(t *testing.T, ns string, ca *certs.CA) *corev1.Secret {
	t.Helper()
	key, err := ca.KeyDER()
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "casecret", Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"cadata": ca.Cert.Raw, "cakeydata": key},
	}
}

func getSecret(t *testing.T, c *fake.Clientset, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := c.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretStoreCA(t *testing.T) {
	ctx := context.Background()
	ca := mustCA(t)
	ca2 := mustCA(t)
	tests := []struct {
		name      string
		namespace string
		objects   []runtime.Object
	}{
		{name: "default namespace created", namespace: ""},
		{name: "existing namespace", namespace: "", objects: []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeedge"}}}},
		{name: "custom namespace", namespace: "edge-system"},
		{name: "overwrite existing secret", namespace: "", objects: []runtime.Object{caSecret(t, "kubeedge", ca2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			store := &SecretStore{Client: client, Namespace: tt.namespace}
			ns := tt.namespace
			if ns == "" {
				ns = "kubeedge"
			}
			if err := store.SaveCA(ctx, ca); err != nil {
				t.Fatal(err)
			}
			if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
				t.Errorf("namespace %s not created: %v", ns, err)
			}
			sec := getSecret(t, client, ns, "casecret")
			key, _ := ca.KeyDER()
			if sec.Type != corev1.SecretTypeOpaque || string(sec.Data["cadata"]) != string(ca.Cert.Raw) || string(sec.Data["cakeydata"]) != string(key) {
				t.Errorf("secret content wrong: type %s", sec.Type)
			}
			got, err := store.LoadCA(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != ca.Hash() || !got.Key.Equal(ca.Key) {
				t.Error("loaded CA differs")
			}
		})
	}
}

func TestSecretStoreErrors(t *testing.T) {
	ctx := context.Background()
	ca := mustCA(t)
	broken := caSecret(t, "kubeedge", ca)
	delete(broken.Data, "cakeydata")
	garbage := caSecret(t, "kubeedge", ca)
	garbage.Data["cadata"] = []byte("junk")
	tests := []struct {
		name    string
		objects []runtime.Object
		call    func(*SecretStore) error
		wantErr error
	}{
		{name: "CA absent", call: func(s *SecretStore) error { _, err := s.LoadCA(ctx); return err }, wantErr: ErrNotFound},
		{name: "server absent", call: func(s *SecretStore) error { _, err := s.LoadServer(ctx); return err }, wantErr: ErrNotFound},
		{name: "token absent", call: func(s *SecretStore) error { _, err := s.LoadToken(ctx); return err }, wantErr: ErrNotFound},
		{name: "CA key missing", objects: []runtime.Object{broken}, call: func(s *SecretStore) error { _, err := s.LoadCA(ctx); return err }, wantErr: ErrSecretInvalid},
		{name: "CA cert garbage", objects: []runtime.Object{garbage}, call: func(s *SecretStore) error { _, err := s.LoadCA(ctx); return err }, wantErr: ErrSecretInvalid},
		{name: "CreateCA exists", objects: []runtime.Object{caSecret(t, "kubeedge", ca)}, call: func(s *SecretStore) error { return s.CreateCA(ctx, ca) }, wantErr: ErrAlreadyExists},
		{name: "save nil CA", call: func(s *SecretStore) error { return s.SaveCA(ctx, nil) }},
		{name: "save empty token", call: func(s *SecretStore) error { return s.SaveToken(ctx, "") }},
		{name: "save nil server", call: func(s *SecretStore) error { return s.SaveServer(ctx, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &SecretStore{Client: fake.NewClientset(tt.objects...)}
			err := tt.call(s)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("no client", func(t *testing.T) {
		if _, err := (&SecretStore{}).LoadCA(ctx); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestSecretStoreServerAndToken(t *testing.T) {
	ctx := context.Background()
	ca := mustCA(t)
	client := fake.NewClientset()
	store := &SecretStore{Client: client}
	for i := range 2 { // create, then update
		kp, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: []string{"10.0.0.1"}, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SaveServer(ctx, kp); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		got, err := store.LoadServer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Cert.Raw) != string(kp.Cert.Raw) || !got.Key.Equal(kp.Key) {
			t.Errorf("round %d: server key pair differs", i)
		}
		sec := getSecret(t, client, "kubeedge", "cloudcoresecret")
		if sec.Type != corev1.SecretTypeOpaque || len(sec.Data) != 2 {
			t.Errorf("cloudcoresecret = %v keys, type %s", len(sec.Data), sec.Type)
		}

		tok, err := certs.GenerateToken(ca, t0.Add(time.Duration(i)*time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SaveToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if got, err := store.LoadToken(ctx); err != nil || got != tok {
			t.Errorf("round %d: LoadToken mismatch (err %v)", i, err)
		}
		if d := getSecret(t, client, "kubeedge", "tokensecret").Data["tokendata"]; string(d) != tok {
			t.Error("tokendata is not the raw token")
		}
	}
}

// scriptedStore is a CAStore whose answers are scripted, to simulate races.
type scriptedStore struct {
	loads   []func() (*certs.CA, error)
	creates []error
	created *certs.CA
}

func (s *scriptedStore) LoadCA(context.Context) (*certs.CA, error) {
	f := s.loads[0]
	s.loads = s.loads[1:]
	return f()
}

func (s *scriptedStore) CreateCA(_ context.Context, ca *certs.CA) error {
	err := s.creates[0]
	s.creates = s.creates[1:]
	if err == nil {
		s.created = ca
	}
	return err
}

func TestEnsureCA(t *testing.T) {
	ctx := context.Background()
	stored := mustCA(t)
	local := mustCA(t)
	sameAsStored, err := certs.CAFromDER(stored.Cert.Raw, must(stored.KeyDER()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		secret      *certs.CA
		local       *certs.CA
		wantHash    string // "" = a new CA
		wantCreated bool
		wantDrift   bool
	}{
		{name: "neither: new CA", wantCreated: true},
		{name: "secret only", secret: stored, wantHash: stored.Hash()},
		{name: "local only: saved", local: local, wantHash: local.Hash()},
		{name: "same", secret: stored, local: sameAsStored, wantHash: stored.Hash()},
		{name: "drift", secret: stored, local: local, wantDrift: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.secret != nil {
				objs = append(objs, caSecret(t, "kubeedge", tt.secret))
			}
			client := fake.NewClientset(objs...)
			store := &SecretStore{Client: client}
			ca, created, err := EnsureCA(ctx, store, tt.local, t0)
			if tt.wantDrift {
				var drift *CADriftError
				if !errors.As(err, &drift) {
					t.Fatalf("err = %v, want *CADriftError", err)
				}
				if drift.LocalFingerprint != tt.local.Hash() || drift.StoredFingerprint != tt.secret.Hash() {
					t.Errorf("fingerprints = %+v", drift)
				}
				for _, want := range []string{tt.local.Hash(), tt.secret.Hash(), "remove the local CA files", "restore the secret"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("drift message lacks %q: %v", want, err)
					}
				}
				if got, _ := store.LoadCA(ctx); got.Hash() != tt.secret.Hash() {
					t.Error("secret changed on drift")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			if tt.wantHash != "" && ca.Hash() != tt.wantHash {
				t.Error("returned the wrong CA")
			}
			if tt.wantCreated && !ca.Cert.NotBefore.Equal(t0) {
				t.Errorf("new CA NotBefore = %v, want %v", ca.Cert.NotBefore, t0)
			}
			got, err := store.LoadCA(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != ca.Hash() {
				t.Error("secret does not hold the returned CA")
			}
		})
	}
}

func TestEnsureCARace(t *testing.T) {
	ctx := context.Background()
	winner := mustCA(t)
	local := mustCA(t)
	notFound := func() (*certs.CA, error) { return nil, ErrNotFound }
	won := func() (*certs.CA, error) { return winner, nil }
	tests := []struct {
		name      string
		local     *certs.CA
		wantDrift bool
	}{
		{name: "new CA loses race, uses winner"},
		{name: "local CA loses race, drift", local: local, wantDrift: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptedStore{loads: []func() (*certs.CA, error){notFound, won}, creates: []error{ErrAlreadyExists}}
			ca, created, err := EnsureCA(ctx, s, tt.local, t0)
			if tt.wantDrift {
				var drift *CADriftError
				if !errors.As(err, &drift) {
					t.Fatalf("err = %v, want drift", err)
				}
				return
			}
			if err != nil || created || ca != winner {
				t.Fatalf("EnsureCA = %v, %v, %v; want winner", ca == winner, created, err)
			}
		})
	}
}

func TestEnsureCAAPIError(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "casecret", errors.New("rbac"))
	})
	_, _, err := EnsureCA(context.Background(), &SecretStore{Client: client}, nil, t0)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want a non-NotFound error", err)
	}
	if acts := client.Actions(); len(acts) != 1 {
		t.Errorf("EnsureCA wrote after a failed read: %d actions", len(acts))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var _ certs.TokenSaver = (*SecretStore)(nil)

func mustCA(t *testing.T) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(t0)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
