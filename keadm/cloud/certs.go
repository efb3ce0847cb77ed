package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
	"github.com/cleanedge/kubeedge/components/cloud/cloudcore"
)

// runCerts settles the CA and the server certificate exactly as cloudcore
// does at start (cloudcore.PreparePKI: the kubeedge/casecret secret is the
// single source of the CA; local CA files that differ from it are an
// error), then writes both key pairs to the files cloudcore.yaml names,
// keeping files that already hold them.
func runCerts(ctx context.Context, d *InitData) error {
	// <etc> itself is readable by all (the config lives there); only ca/
	// and certs/ are private.
	if err := os.MkdirAll(d.deps.Disk.WritePath(d.cfg.Roots.Etc), configDirMode); err != nil {
		return fmt.Errorf("create %s: %w", d.cfg.Roots.Etc, err)
	}
	store := &secretstore.SecretStore{Client: d.deps.Client}
	nsExisted, err := namespaceExists(ctx, d)
	if err != nil {
		return err
	}
	_, err = store.LoadCA(ctx)
	caExisted := err == nil
	if err != nil && !errors.Is(err, secretstore.ErrNotFound) {
		return err
	}
	oldServer, err := store.LoadServer(ctx)
	if err != nil && !errors.Is(err, secretstore.ErrNotFound) {
		return err
	}

	// PreparePKI reads the files where the disk has them.
	hub := d.config.Modules.CloudHub
	read := hub
	read.TLSCAFile = d.deps.Disk.ReadPath(hub.TLSCAFile)
	read.TLSCAKeyFile = d.deps.Disk.ReadPath(hub.TLSCAKeyFile)
	read.TLSCertFile = d.deps.Disk.ReadPath(hub.TLSCertFile)
	read.TLSPrivateKeyFile = d.deps.Disk.ReadPath(hub.TLSPrivateKeyFile)
	pki, err := cloudcore.PreparePKI(ctx, d.deps.Client, &read, logr.Discard())
	if err != nil {
		return err
	}
	d.pki = pki

	ns := secretstore.DefaultNamespace
	if !nsExisted {
		d.record("certs", Change{Kind: "Namespace", Name: ns, Action: Created})
	}
	caChange := Change{Kind: "Secret", Name: ns + "/" + secretstore.CASecretName, Action: Kept}
	if !caExisted {
		caChange.Action = Created
	}
	d.record("certs", caChange)
	// PreparePKI prefers a valid server certificate file to the secret and
	// leaves the secret alone then; the secret is made to match, so that
	// every cloudcore of the cluster serves the same certificate.
	stored, err := store.LoadServer(ctx)
	if err != nil && !errors.Is(err, secretstore.ErrNotFound) {
		return err
	}
	if stored == nil || !bytes.Equal(stored.Cert.Raw, pki.Server.Cert.Raw) {
		if err := store.SaveServer(ctx, pki.Server); err != nil {
			return err
		}
	}
	c := Change{Kind: "Secret", Name: ns + "/" + secretstore.ServerSecretName, Action: Kept}
	switch {
	case oldServer == nil:
		c.Action = Created
	case !bytes.Equal(oldServer.Cert.Raw, pki.Server.Cert.Raw):
		c.Action, c.Detail = Updated, "the stored certificate did not cover the advertise addresses or DNS names, was expiring, or differed from the certificate file"
	}
	d.record("certs", c)

	if err := writeCA(d, pki.CA, hub.TLSCAFile, hub.TLSCAKeyFile); err != nil {
		return err
	}
	return writeServer(d, pki.Server, hub.TLSCertFile, hub.TLSPrivateKeyFile)
}

// namespaceExists reports whether the kubeedge namespace exists. One being
// deleted (keadm reset just ran) is waited for, since nothing can be created
// in it.
func namespaceExists(ctx context.Context, d *InitData) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Wait)
	defer cancel()
	said := false
	for {
		ns, err := d.deps.Client.CoreV1().Namespaces().Get(ctx, secretstore.DefaultNamespace, metav1.GetOptions{})
		switch {
		case err == nil && ns.DeletionTimestamp == nil:
			return true, nil
		case err == nil:
			if !said {
				d.printf("certs", "waiting for the %s namespace to finish terminating", secretstore.DefaultNamespace)
				said = true
			}
		case apierrors.IsNotFound(err):
			return false, nil
		case apierrors.IsForbidden(err):
			return true, nil // the secret writes will tell
		case ctx.Err() != nil:
			return false, fmt.Errorf("the %s namespace is still terminating after %s", secretstore.DefaultNamespace, d.cfg.Wait)
		default:
			return false, fmt.Errorf("get namespace %s: %w", secretstore.DefaultNamespace, err)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("the %s namespace is still terminating after %s", secretstore.DefaultNamespace, d.cfg.Wait)
		case <-time.After(d.deps.PollInterval):
		}
	}
}

// writeCA writes the CA files unless they already hold ca.
func writeCA(d *InitData, ca *certs.CA, certPath, keyPath string) error {
	action := Created
	if exists(d.deps.Disk, certPath) || exists(d.deps.Disk, keyPath) {
		action = Updated
		// PreparePKI refused local files that differ from the cluster's CA,
		// so loadable files are the cluster's CA.
		if local, err := certs.LoadCAFiles(d.deps.Disk.ReadPath(certPath), d.deps.Disk.ReadPath(keyPath)); err == nil &&
			bytes.Equal(local.Cert.Raw, ca.Cert.Raw) {
			action = Kept
		}
	}
	if action != Kept {
		if err := ca.WriteFiles(d.deps.Disk.WritePath(certPath), d.deps.Disk.WritePath(keyPath)); err != nil {
			return err
		}
		d.restart = true
	}
	d.recordKeyPair(action, certPath, keyPath)
	return nil
}

// writeServer writes the server key pair unless the files already hold it.
func writeServer(d *InitData, kp *certs.KeyPair, certPath, keyPath string) error {
	action := Created
	if exists(d.deps.Disk, certPath) || exists(d.deps.Disk, keyPath) {
		action = Updated
		if local, err := certs.LoadKeyPairFiles(d.deps.Disk.ReadPath(certPath), d.deps.Disk.ReadPath(keyPath)); err == nil &&
			bytes.Equal(local.Cert.Raw, kp.Cert.Raw) {
			action = Kept
		}
	}
	if action != Kept {
		if err := certs.WriteKeyPairFiles(d.deps.Disk.WritePath(certPath), d.deps.Disk.WritePath(keyPath), kp.Cert.Raw, kp.Key); err != nil {
			return err
		}
		d.restart = true
	}
	d.recordKeyPair(action, certPath, keyPath)
	return nil
}

// recordKeyPair records a certificate and its key, tightening a kept key
// file readable by others.
func (d *InitData) recordKeyPair(action Action, certPath, keyPath string) {
	d.record("certs", Change{Kind: "File", Name: certPath, Mode: certMode, Action: action})
	if action == Kept {
		real := d.deps.Disk.ReadPath(keyPath)
		if fi, err := os.Stat(real); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(d.deps.Disk.WritePath(keyPath), keyMode); err == nil {
				d.printf("certs", "%s was readable by others (%04o): changed to %04o", keyPath, fi.Mode().Perm(), keyMode)
			}
		}
	}
	d.record("certs", Change{Kind: "File", Name: keyPath, Mode: keyMode, Action: action})
}
