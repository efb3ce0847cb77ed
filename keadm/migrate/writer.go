package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
)

// writer is where a cluster migration goes: the cluster itself, or (dry
// run) a diff on the output.
type writer interface {
	// backup saves the originals before the first write and returns the
	// directory ("" when nothing was written).
	backup(dir string, objs []*unstructured.Unstructured) (string, error)
	// write writes one converted object.
	write(ctx context.Context, it *item) error
}

// clusterWriter writes to the API server.
type clusterWriter struct {
	client dynamic.Interface
}

func (w *clusterWriter) backup(dir string, objs []*unstructured.Unstructured) (string, error) {
	return dir, writeBackup(dir, objs)
}

func (w *clusterWriter) write(ctx context.Context, it *item) error {
	res := w.client.Resource(it.kind.v2()).Namespace(it.target.GetNamespace())
	var (
		got *unstructured.Unstructured
		err error
	)
	if it.v2 == nil {
		got, err = res.Create(ctx, it.target, metav1.CreateOptions{FieldManager: FieldManager})
	} else {
		got, err = res.Update(ctx, it.target, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		return err
	}
	// With a status subresource, create and update ignore the status.
	status, ok := it.target.Object["status"]
	if !ok || got == nil || jsonEqual(status, got.Object["status"]) {
		return nil
	}
	withStatus := got.DeepCopy()
	withStatus.Object["status"] = status
	if _, err := res.UpdateStatus(ctx, withStatus, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

func jsonEqual(a, b interface{}) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// diffWriter prints what would be written.
type diffWriter struct {
	out io.Writer
}

func (w *diffWriter) backup(dir string, objs []*unstructured.Unstructured) (string, error) {
	fmt.Fprintf(w.out, "dry run: no backup written (a migration would first write %d object(s) to %s)\n", len(objs), dir)
	return "", nil
}

func (w *diffWriter) write(_ context.Context, it *item) error {
	before, err := yaml.Marshal(displayObject(it.v1).Object)
	if err != nil {
		return err
	}
	after, err := yaml.Marshal(displayObject(it.target).Object)
	if err != nil {
		return err
	}
	ref := it.result.Ref()
	_, err = io.WriteString(w.out, unifiedDiff(
		fmt.Sprintf("%s (%s)", ref, it.v1.GetAPIVersion()),
		fmt.Sprintf("%s (%s)", ref, v1alpha2.SchemeGroupVersion.String()),
		string(before), string(after)))
	return err
}

// displayObject is u without the metadata the API server sets, which a
// migration neither changes nor restores.
func displayObject(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	return c
}

// writeBackup writes every object as YAML to
// <dir>/<resource>/<namespace>/<name>.yaml (directories 0700, files 0600),
// without the metadata the API server sets, so that `kubectl create -R -f
// <dir>` restores them. dir must not exist or be empty.
func writeBackup(dir string, objs []*unstructured.Unstructured) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("backup: %s is not empty: choose another --backup-dir", dir)
	}
	for _, u := range objs {
		data, err := yaml.Marshal(displayObject(u).Object)
		if err != nil {
			return fmt.Errorf("backup %s %s: %w", u.GetKind(), objectKey(u), err)
		}
		ns := u.GetNamespace()
		if ns == "" {
			ns = "_cluster"
		}
		sub := filepath.Join(dir, resourceOf(u.GetKind()), ns)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		path := filepath.Join(sub, u.GetName()+".yaml")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		_, werr := f.Write(data)
		serr := f.Sync()
		cerr := f.Close()
		for _, e := range []error{werr, serr, cerr} {
			if e != nil {
				return fmt.Errorf("backup %s: %w", path, e)
			}
		}
	}
	return nil
}

func resourceOf(kind string) string {
	switch kind {
	case kindDevice.kind:
		return kindDevice.resource
	case kindDeviceModel.kind:
		return kindDeviceModel.resource
	}
	return kind
}
