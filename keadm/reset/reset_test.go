package reset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// machine is a temporary directory holding one root and unrelated files
// around it that reset must not touch.
type machine struct {
	dir   string
	roots layout.Roots
	keep  []string // files that must survive
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	dir := t.TempDir()
	m := &machine{dir: dir, roots: layout.Under(filepath.Join(dir, "root"))}
	for _, p := range []string{
		filepath.Join(dir, "outside.txt"),
		filepath.Join(dir, "root", "etc", "hosts"),
		filepath.Join(dir, "root", "var", "lib", "other", "state"),
		m.roots.Binary("keadm"),
		m.roots.Binary("kubectl"),
		filepath.Join(m.roots.Log, "other.log"),
		filepath.Join(m.roots.UnitDir, "sshd.service"),
	} {
		write(t, p, "keep me")
		m.keep = append(m.keep, p)
	}
	return m
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// joined lays out what keadm join writes for node edge-1.
func (m *machine) joined(t *testing.T) {
	t.Helper()
	r := m.roots
	ec := v1alpha2.NewDefault()
	ec.SetRoots(r.Etc, r.VarLib, r.Edged)
	ec.Modules.Edged.HostnameOverride = "edge-1"
	b, err := ec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write(t, r.EdgeCoreConfig(), string(b))
	write(t, r.CAFile(), "ca")
	write(t, r.CertFile(), "cert")
	write(t, r.KeyFile(), "key")
	write(t, r.VersionFile(), "v1\n")
	write(t, r.MetaDB(), "db")
	write(t, r.EdgeCoreStatus(), "{}")
	write(t, filepath.Join(r.Edged, "pods", "uid", "x"), "pod")
	write(t, r.LogFile("edgecore"), "log")
	write(t, r.LogFile("edgecore")+".1", "old log")
}

// startEdgecore installs a copy of sleep as edgecore and starts it with the
// process manager, as join does.
func (m *machine) startEdgecore(t *testing.T) *service.Process {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("no /proc")
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	r := m.roots
	if err := os.MkdirAll(r.Bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Binary("edgecore"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	mgr := service.NewProcess(service.Options{StateDir: service.StateDir(r), StartGrace: 50 * time.Millisecond})
	spec := service.Spec{Name: "edgecore", Binary: r.Binary("edgecore"), Args: []string{"300"},
		LogFile: r.LogFile("edgecore"), PIDFile: r.PIDFile("edgecore")}
	ctx := context.Background()
	if err := mgr.Install(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Start(ctx, "edgecore"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Uninstall(context.Background(), "edgecore") })
	return mgr
}

func (m *machine) pid(t *testing.T) int {
	t.Helper()
	mgr := service.NewProcess(service.Options{StateDir: service.StateDir(m.roots)})
	st, err := mgr.Status(context.Background(), "edgecore")
	if err != nil || st.State != service.StateRunning {
		t.Fatalf("edgecore not running: %v %v", st, err)
	}
	return st.PID
}

// listFiles returns every file under dir, relative.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func (m *machine) checkOnlyKept(t *testing.T) {
	t.Helper()
	var want []string
	for _, p := range m.keep {
		rel, _ := filepath.Rel(m.dir, p)
		want = append(want, rel)
	}
	sort.Strings(want)
	got := listFiles(t, m.dir)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files after reset:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []string{m.roots.Etc, m.roots.VarLib, m.roots.Edged, m.roots.Run} {
		if exists(p) {
			t.Errorf("%s still exists", p)
		}
	}
}

func testDeps(m *machine) Deps {
	mgr, kind := service.ForRoots(m.roots, io.Discard)
	info := filepath.Join(m.dir, "..", filepath.Base(m.dir)+"-mountinfo")
	if err := os.WriteFile(info, nil, 0o644); err != nil {
		panic(err)
	}
	return Deps{Services: mgr, ServiceKind: kind, MountInfo: info, ProcRoot: "/proc"}
}

func TestResetEdge(t *testing.T) {
	m := newMachine(t)
	m.joined(t)
	m.startEdgecore(t)
	pid := m.pid(t)

	var out bytes.Buffer
	cfg := ResetConfig{Roots: m.roots, Force: true}
	if err := Reset(context.Background(), cfg, testDeps(m), nil, &out); err != nil {
		t.Fatalf("Reset: %v\n%s", err, &out)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil && !zombie(pid) {
		t.Errorf("edgecore (pid %d) still runs", pid)
	}
	m.checkOnlyKept(t)
	for _, want := range []string{"[reset] Found edgecore (running, pid " + itoa(pid) + ")", "[stop] Stopped edgecore",
		"[cleanup] Removed " + m.roots.Etc, "[cleanup] Removed " + m.roots.Binary("edgecore"),
		"[cleanup] Kept " + m.roots.Log + ": it holds other files", "kubectl delete node edge-1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if strings.Contains(out.String(), "[cloud]") {
		t.Errorf("the cloud phase ran for an edge node:\n%s", &out)
	}

	out.Reset()
	if err := Reset(context.Background(), cfg, testDeps(m), nil, &out); err != nil {
		t.Fatalf("second Reset: %v", err)
	}
	if !strings.Contains(out.String(), "Nothing to reset") {
		t.Errorf("second reset:\n%s", &out)
	}
	m.checkOnlyKept(t)
}

func itoa(n int) string { return strconv.Itoa(n) }

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func TestResetLostServiceRecord(t *testing.T) {
	m := newMachine(t)
	m.joined(t)
	m.startEdgecore(t)
	pid := m.pid(t)
	// The service record is gone; the PID file remains.
	if err := os.Remove(filepath.Join(service.StateDir(m.roots), "edgecore.json")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true}, testDeps(m), nil, &out); err != nil {
		t.Fatalf("Reset: %v\n%s", err, &out)
	}
	if !zombie(pid) {
		t.Errorf("edgecore (pid %d) still runs:\n%s", pid, &out)
	}
	m.checkOnlyKept(t)
}

type terminal struct{ io.Reader }

func TestResetPrompt(t *testing.T) {
	tests := []struct {
		name     string
		in       io.Reader
		force    bool
		wantErr  error
		prompted bool
	}{
		{name: "not a terminal", in: strings.NewReader("y\n"), wantErr: ErrNotInteractive},
		{name: "no stdin", in: nil, wantErr: ErrNotInteractive},
		{name: "no", in: terminal{strings.NewReader("n\n")}, wantErr: ErrAborted, prompted: true},
		{name: "empty answer", in: terminal{strings.NewReader("\n")}, wantErr: ErrAborted, prompted: true},
		{name: "EOF", in: terminal{strings.NewReader("")}, wantErr: ErrAborted, prompted: true},
		{name: "yes", in: terminal{strings.NewReader("yes\n")}, prompted: true},
		{name: "Y without newline", in: terminal{strings.NewReader("Y")}, prompted: true},
		{name: "force", in: strings.NewReader(""), force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t)
			m.joined(t)
			deps := testDeps(m)
			deps.IsTerminal = func(in io.Reader) bool { _, ok := in.(terminal); return ok }
			var out bytes.Buffer
			err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: tt.force}, deps, tt.in, &out)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Reset = %v, want %v", err, tt.wantErr)
			}
			if got := strings.Contains(out.String(), "[reset] Are you sure you want to proceed? [y/N]: "); got != tt.prompted {
				t.Errorf("prompted = %v:\n%s", got, &out)
			}
			if tt.wantErr != nil {
				if !exists(m.roots.EdgeCoreConfig()) {
					t.Error("files removed without confirmation")
				}
				return
			}
			m.checkOnlyKept(t)
		})
	}
	if !strings.Contains(ErrNotInteractive.Error(), "--force") {
		t.Error("ErrNotInteractive must tell to use --force")
	}
}

type recordingNamespaces struct {
	client  *fake.Clientset
	configs []string
}

func (r *recordingNamespaces) deleter(kubeconfig string) (NamespaceDeleter, error) {
	r.configs = append(r.configs, kubeconfig)
	return ClientDeleter{Client: r.client}, nil
}

func (m *machine) cloudInstalled(t *testing.T) {
	r := m.roots
	write(t, r.CloudCoreConfig(), "kind: CloudCore\n")
	write(t, r.CAFile(), "ca")
	write(t, r.CAKeyFile(), "key")
	write(t, r.Binary("cloudcore"), "bin")
	write(t, r.LogFile("cloudcore"), "log")
	write(t, filepath.Join(r.UnitDir, "cloudcore.service"), "[Unit]\n")
}

func TestResetCloud(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeedge"}}

	t.Run("with kubeconfig", func(t *testing.T) {
		m := newMachine(t)
		m.cloudInstalled(t)
		rec := &recordingNamespaces{client: fake.NewClientset(ns.DeepCopy())}
		deps := testDeps(m)
		deps.Namespaces = rec.deleter
		var out bytes.Buffer
		err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true, KubeConfig: "/admin.conf"}, deps, nil, &out)
		if err != nil {
			t.Fatalf("Reset: %v\n%s", err, &out)
		}
		if _, err := rec.client.CoreV1().Namespaces().Get(context.Background(), "kubeedge", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace kubeedge not deleted: %v", err)
		}
		if len(rec.configs) != 1 || rec.configs[0] != "/admin.conf" {
			t.Errorf("kubeconfigs used: %v", rec.configs)
		}
		for _, want := range []string{"[reset] Found cloudcore (installed)", "[cloud] Deleted the kubeedge namespace", "CRDs are kept"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, &out)
			}
		}
		m.checkOnlyKept(t)

		// Again: nothing installed, the namespace is not touched.
		out.Reset()
		if err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true, KubeConfig: "/admin.conf"}, deps, nil, &out); err != nil {
			t.Fatal(err)
		}
		if len(rec.configs) != 1 || !strings.Contains(out.String(), "Nothing to reset") {
			t.Errorf("second reset: configs %v\n%s", rec.configs, &out)
		}
	})

	t.Run("without kubeconfig", func(t *testing.T) {
		m := newMachine(t)
		m.cloudInstalled(t)
		deps := testDeps(m)
		deps.Namespaces = func(string) (NamespaceDeleter, error) {
			t.Error("the namespace client was built without --kube-config")
			return nil, errors.New("no")
		}
		var out bytes.Buffer
		if err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true}, deps, nil, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "--kube-config not given: the kubeedge namespace") {
			t.Errorf("output:\n%s", &out)
		}
		m.checkOnlyKept(t)
	})

	t.Run("api error", func(t *testing.T) {
		m := newMachine(t)
		m.cloudInstalled(t)
		deps := testDeps(m)
		deps.Namespaces = func(string) (NamespaceDeleter, error) { return failingDeleter{}, nil }
		err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true, KubeConfig: "/x"}, deps, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--skip-phases cloud") {
			t.Errorf("Reset = %v", err)
		}
	})
}

type failingDeleter struct{}

func (failingDeleter) DeleteNamespace(context.Context, string) error {
	return errors.New("connection refused")
}

func TestResetNothing(t *testing.T) {
	m := newMachine(t)
	var out bytes.Buffer
	// Not even a prompt: nothing to confirm.
	if err := Reset(context.Background(), ResetConfig{Roots: m.roots}, testDeps(m), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[reset] Nothing to reset") {
		t.Errorf("output:\n%s", &out)
	}
	m.checkOnlyKept(t)
}

func TestResetRefusesSystemDirs(t *testing.T) {
	r := layout.Under(t.TempDir())
	r.Etc = "/etc"
	_, err := NewReset(context.Background(), ResetConfig{Roots: r}, Deps{Services: service.NewProcess(service.Options{StateDir: t.TempDir()})}, nil)
	if err == nil || !strings.Contains(err.Error(), "/etc is a system directory") {
		t.Errorf("NewReset = %v", err)
	}
	r = layout.Under(t.TempDir())
	r.VarLib = "relative/path"
	if _, err := NewReset(context.Background(), ResetConfig{Roots: r}, Deps{}, nil); err == nil {
		t.Error("accepted a relative root")
	}
}

func TestResetKeepsMountPoints(t *testing.T) {
	m := newMachine(t)
	m.joined(t)
	mnt := filepath.Join(m.roots.Edged, "pods", "uid", "volumes", "my vol")
	write(t, filepath.Join(mnt, "data"), "precious")
	info := filepath.Join(m.dir, "..", "mountinfo-with-volume")
	escaped := strings.ReplaceAll(mnt, " ", `\040`)
	if err := os.WriteFile(info+"", []byte("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"+
		"99 22 0:50 / "+escaped+" rw - tmpfs tmpfs rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deps := testDeps(m)
	deps.MountInfo = info
	var out bytes.Buffer
	err := Reset(context.Background(), ResetConfig{Roots: m.roots, Force: true}, deps, nil, &out)
	if err == nil || !strings.Contains(err.Error(), m.roots.Edged+" is not removed: it holds mount points ("+mnt+")") {
		t.Fatalf("Reset = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "data")); string(b) != "precious" {
		t.Error("a mounted volume's data was removed")
	}
	if exists(m.roots.Etc) {
		t.Error("the other paths must still be removed")
	}
}
