//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cleanedge/kubeedge/e2e/framework"
)

// keadm migrate devices against a real API server that still stores
// v1alpha1 objects (an old cluster): the dry run changes nothing, the run
// writes a backup and converts, a re-run is a no-op.
func TestMigrateDevices(t *testing.T) {
	ctx := framework.Context(t)
	dir := framework.ArtifactDir(t)
	cp := framework.ControlPlaneForTest(t, framework.ControlPlaneOptions{})
	repo, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, cp.Binaries.Kubectl, append([]string{"--kubeconfig", cp.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	crds := []string{filepath.Join(repo, "charts/cloudcore/crds/devices_device.yaml"), filepath.Join(repo, "charts/cloudcore/crds/devices_devicemodel.yaml")}

	// An old cluster: the same CRDs with v1alpha1 as the storage version, so
	// the models keep their propertyVisitors.
	for i, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "storage: true", "storage: __V2__", 1)
		s = strings.Replace(s, "storage: false", "storage: true", 1)
		s = strings.Replace(s, "storage: __V2__", "storage: false", 1)
		old := filepath.Join(dir, "old-"+filepath.Base(f))
		if err := os.WriteFile(old, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		kubectl("apply", "-f", old)
		kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "-f", old)
		_ = i
	}
	kubectl("create", "namespace", "factory")
	kubectl("apply", "-f", filepath.Join(repo, "migrate/testdata/input/all-protocols.yaml"))
	// Upgrade the CRDs to ours (v1alpha2 stored).
	for _, f := range crds {
		kubectl("apply", "-f", f)
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(restCfg)
	rvs := func() map[string]string {
		out := map[string]string{}
		for _, gvr := range []string{"devices", "devicemodels"} {
			l, err := dyn.Resource(framework.DevicesGVR.GroupVersion().WithResource(gvr)).Namespace("factory").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Items {
				out[gvr+"/"+o.GetName()] = o.GetResourceVersion()
			}
		}
		return out
	}
	before := rvs()

	backup := filepath.Join(dir, "backup")
	r := framework.MustRun(ctx, t, "keadm", "migrate", "devices", "--kube-config", cp.Kubeconfig, "--backup-dir", backup, "--dry-run")
	out := r.Stdout + r.Stderr
	if !strings.Contains(out, "would migrate 7, unchanged 2, failed 0") || !strings.Contains(out, "+++") {
		t.Fatalf("dry run output:\n%s", out)
	}
	if after := rvs(); len(after) != len(before) || after["devices/modbus-tcp-01"] != before["devices/modbus-tcp-01"] {
		t.Fatalf("dry run changed objects: %v → %v", before, after)
	}
	if _, err := os.Stat(backup); err == nil {
		t.Fatal("dry run wrote a backup")
	}

	r = framework.MustRun(ctx, t, "keadm", "migrate", "devices", "--kube-config", cp.Kubeconfig, "--backup-dir", backup)
	out = r.Stdout + r.Stderr
	if !strings.Contains(out, "migrated 7, unchanged 2, failed 0") || !strings.Contains(out, backup) {
		t.Fatalf("migrate output:\n%s", out)
	}
	dev, err := dyn.Resource(framework.DevicesGVR).Namespace("factory").Get(ctx, "modbus-tcp-01", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slave, _, _ := unstructured.NestedInt64(dev.Object, "spec", "protocol", "modbus", "slaveID")
	tcpIP, _, _ := unstructured.NestedString(dev.Object, "spec", "protocol", "common", "tcp", "ip")
	visitors, _, _ := unstructured.NestedSlice(dev.Object, "spec", "propertyVisitors")
	if slave != 3 || tcpIP == "" || len(visitors) != 2 {
		t.Errorf("modbus-tcp-01 after migration: slaveID %d, common.tcp.ip %q, %d visitors; object %v", slave, tcpIP, len(visitors), dev.Object["spec"])
	}
	model, err := dyn.Resource(framework.ModelsGVR).Namespace("factory").Get(ctx, "modbus-model", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := unstructured.NestedString(model.Object, "spec", "protocol"); p != "modbus" {
		t.Errorf("modbus-model spec.protocol %q, want modbus", p)
	}
	files := 0
	_ = filepath.Walk(backup, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files++
			if info.Mode().Perm() != 0o600 {
				t.Errorf("backup %s has mode %v, want 0600", p, info.Mode().Perm())
			}
		}
		return nil
	})
	if files != 9 {
		t.Errorf("backup holds %d files, want 9", files)
	}

	r = framework.MustRun(ctx, t, "keadm", "migrate", "devices", "--kube-config", cp.Kubeconfig, "--backup-dir", filepath.Join(dir, "backup2"))
	if out := r.Stdout + r.Stderr; !strings.Contains(out, "migrated 0, unchanged 9, failed 0") {
		t.Fatalf("re-run is not a no-op:\n%s", out)
	}
}
