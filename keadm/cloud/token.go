package cloud

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
)

// runToken stores a join token in kubeedge/tokensecret so that `keadm
// gettoken` works right after init. A stored token made with the cluster
// CA that stays valid for at least one refresh interval is kept; cloudcore's
// refresher replaces it at start and every interval anyway.
func runToken(ctx context.Context, d *InitData) error {
	ca, err := d.ca(ctx)
	if err != nil {
		return err
	}
	hub := d.config.Modules.CloudHub
	interval := hub.TokenRefreshInterval()
	store := &secretstore.SecretStore{Client: d.deps.Client}
	name := secretstore.DefaultNamespace + "/" + secretstore.TokenSecretName
	now := d.deps.Now()

	old, err := store.LoadToken(ctx)
	switch {
	case err == nil:
		if t, perr := certs.ParseToken(old); perr == nil && t.CheckCA(ca.Cert.Raw) == nil &&
			certs.VerifyToken(ca, t.JWT, now.Add(interval)) == nil {
			d.record("token", Change{Kind: "Secret", Name: name, Action: Kept, Detail: "its token is valid for more than " + interval.String()})
			return nil
		}
	case !errors.Is(err, secretstore.ErrNotFound) && !errors.Is(err, secretstore.ErrSecretInvalid):
		return err
	}
	token, err := certs.GenerateToken(ca, now, 2*interval)
	if err != nil {
		return err
	}
	if err := store.SaveToken(ctx, token); err != nil {
		return err
	}
	action := Created
	if old != "" {
		action = Updated
	}
	d.record("token", Change{Kind: "Secret", Name: name, Action: action,
		Detail: fmt.Sprintf("a join token valid for %s; print it with keadm gettoken", 2*interval)})
	return nil
}

// ErrNoToken means the cluster has no join token yet.
var ErrNoToken = errors.New("no join token in kubeedge/tokensecret: is cloudcore running? run keadm init first")

// GetToken returns the join token cloudcore keeps in kubeedge/tokensecret
// (key tokendata), as `keadm gettoken` prints it. A missing secret or key
// returns an error wrapping ErrNoToken.
func GetToken(ctx context.Context, client kubernetes.Interface) (string, error) {
	store := &secretstore.SecretStore{Client: client}
	token, err := store.LoadToken(ctx)
	switch {
	case errors.Is(err, secretstore.ErrNotFound), errors.Is(err, secretstore.ErrSecretInvalid):
		return "", ErrNoToken
	case err != nil:
		return "", fmt.Errorf("read the join token: %w", err)
	}
	return token, nil
}
