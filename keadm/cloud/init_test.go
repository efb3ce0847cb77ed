package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// fakeServices is a service manager that runs nothing.
type fakeServices struct {
	specs   map[string]service.Spec
	running map[string]bool
	starts  int
	stops   int
}

func newFakeServices() *fakeServices {
	return &fakeServices{specs: map[string]service.Spec{}, running: map[string]bool{}}
}

func (f *fakeServices) Install(_ context.Context, spec service.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	f.specs[spec.Name] = spec
	return nil
}

func (f *fakeServices) Start(_ context.Context, name string) error {
	if _, ok := f.specs[name]; !ok {
		return service.ErrNotInstalled
	}
	f.starts++
	f.running[name] = true
	return nil
}

func (f *fakeServices) Stop(_ context.Context, name string) error {
	f.stops++
	f.running[name] = false
	return nil
}

func (f *fakeServices) Status(_ context.Context, name string) (service.Status, error) {
	if _, ok := f.specs[name]; !ok {
		return service.Status{Name: name, State: service.StateStopped}, fmt.Errorf("%s: %w", name, service.ErrNotInstalled)
	}
	if f.running[name] {
		return service.Status{Name: name, State: service.StateRunning, PID: 4242, Manager: "fake"}, nil
	}
	return service.Status{Name: name, State: service.StateStopped, Manager: "fake"}, nil
}

func (f *fakeServices) Uninstall(_ context.Context, name string) error {
	delete(f.specs, name)
	delete(f.running, name)
	return nil
}

// fakeWaiter records the checks and answers err.
type fakeWaiter struct {
	checks []ReadyCheck
	err    error
}

func (w *fakeWaiter) WaitReady(_ context.Context, c ReadyCheck) error {
	w.checks = append(w.checks, c)
	return w.err
}

// env is a cloud machine under a temporary root with a fake cluster.
type env struct {
	dir      string
	roots    layout.Roots
	client   *kubefake.Clientset
	dynamic  *dynamicfake.FakeDynamicClient
	services *fakeServices
	waiter   *fakeWaiter
	cfg      InitConfig
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "src", "cloudcore")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{
		dir:      dir,
		roots:    layout.Under(filepath.Join(dir, "root")),
		client:   FakeClient(),
		dynamic:  FakeDynamic(),
		services: newFakeServices(),
		waiter:   &fakeWaiter{},
	}
	e.cfg = InitConfig{
		KubeConfig:         kubeconfig,
		AdvertiseAddresses: []string{"10.0.0.1"},
		Roots:              e.roots,
		WebsocketPort:      freePort(t),
		HTTPSPort:          freePort(t),
		CloudcoreBinary:    bin,
		Wait:               2 * time.Second,
		// The test machine may lack 10.0.0.1; that is only a warning.
	}
	return e
}

func (e *env) deps() Deps {
	return Deps{
		Client: e.client, Dynamic: e.dynamic, Services: e.services, Disk: HostDisk{}, Waiter: e.waiter,
		PollInterval: 10 * time.Millisecond,
	}
}

func (e *env) run(t *testing.T) (*InitResult, string) {
	t.Helper()
	var out bytes.Buffer
	res, err := Run(context.Background(), e.cfg, e.deps(), &out)
	if err != nil {
		t.Fatalf("Init: %v\noutput:\n%s", err, out.String())
	}
	return res, out.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func actions(res *InitResult) map[string]Action {
	m := map[string]Action{}
	for _, c := range res.Changes {
		m[c.Kind+" "+c.Name] = c.Action
	}
	return m
}

func TestInitFullRun(t *testing.T) {
	e := newEnv(t)
	res, out := e.run(t)
	r := e.roots

	for path, want := range map[string]os.FileMode{
		r.CAFile():                        0o644,
		r.CAKeyFile():                     0o600,
		r.CertFile():                      0o644,
		r.KeyFile():                       0o600,
		filepath.Dir(r.CAFile()):          0o700,
		filepath.Dir(r.CertFile()):        0o700,
		r.CloudCoreConfig():               0o644,
		r.Binary("cloudcore"):             0o755,
		filepath.Dir(r.CloudCoreConfig()): 0o755,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	if same, err := atomicfile.SameContent(e.cfg.CloudcoreBinary, r.Binary("cloudcore")); err != nil || !same {
		t.Errorf("installed binary differs from the source (%v)", err)
	}

	// The CA files hold the cluster CA; the token is made with it.
	store := &secretstore.SecretStore{Client: e.client}
	ca, err := store.LoadCA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local, err := certs.LoadCAFiles(r.CAFile(), r.CAKeyFile())
	if err != nil || !bytes.Equal(local.Cert.Raw, ca.Cert.Raw) {
		t.Fatalf("CA files do not hold the cluster CA (%v)", err)
	}
	server, err := certs.LoadKeyPairFiles(r.CertFile(), r.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.VerifyServerSANs(server.Cert, "10.0.0.1"); err != nil {
		t.Error(err)
	}
	stored, err := store.LoadServer(context.Background())
	if err != nil || !bytes.Equal(stored.Cert.Raw, server.Cert.Raw) {
		t.Errorf("server certificate file differs from kubeedge/cloudcoresecret (%v)", err)
	}
	token, err := GetToken(context.Background(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := certs.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.CheckCA(ca.Cert.Raw); err != nil {
		t.Error(err)
	}
	if err := certs.VerifyToken(ca, tok.JWT, time.Now().Add(23*time.Hour)); err != nil {
		t.Errorf("token not valid for a day: %v", err)
	}

	// CRDs.
	list, err := e.dynamic.Resource(CRDResource).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 9 {
		t.Errorf("%d CRDs, want 9", len(list.Items))
	}

	// The configuration.
	c, err := v1alpha1.Load(r.CloudCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	hub := c.Modules.CloudHub
	if c.KubeAPIConfig.KubeConfig != e.cfg.KubeConfig || !filepath.IsAbs(c.KubeAPIConfig.KubeConfig) {
		t.Errorf("kubeConfig %q, want %q", c.KubeAPIConfig.KubeConfig, e.cfg.KubeConfig)
	}
	if !slices.Equal(hub.AdvertiseAddress, []string{"10.0.0.1"}) {
		t.Errorf("advertiseAddress %v", hub.AdvertiseAddress)
	}
	if int(hub.WebSocket.Port) != e.cfg.WebsocketPort || int(hub.HTTPS.Port) != e.cfg.HTTPSPort ||
		hub.WebSocket.Address != "0.0.0.0" || hub.HTTPS.Address != "0.0.0.0" {
		t.Errorf("websocket %s:%d https %s:%d", hub.WebSocket.Address, hub.WebSocket.Port, hub.HTTPS.Address, hub.HTTPS.Port)
	}
	if hub.TLSCAFile != r.CAFile() || hub.TLSCAKeyFile != r.CAKeyFile() || hub.TLSCertFile != r.CertFile() || hub.TLSPrivateKeyFile != r.KeyFile() {
		t.Errorf("TLS files %s %s %s %s", hub.TLSCAFile, hub.TLSCAKeyFile, hub.TLSCertFile, hub.TLSPrivateKeyFile)
	}

	// The service.
	spec, ok := e.services.specs["cloudcore"]
	if !ok || !e.services.running["cloudcore"] {
		t.Fatalf("cloudcore not installed and started: %+v", e.services)
	}
	want := service.Spec{Name: "cloudcore", Binary: r.Binary("cloudcore"), Args: []string{"--config", r.CloudCoreConfig()},
		LogFile: r.LogFile("cloudcore"), PIDFile: r.PIDFile("cloudcore"), UnitDir: r.UnitDir}
	if fmt.Sprint(spec) != fmt.Sprint(want) {
		t.Errorf("service spec\n got %+v\nwant %+v", spec, want)
	}
	if len(e.waiter.checks) != 1 {
		t.Fatalf("waited %d times", len(e.waiter.checks))
	}
	check := e.waiter.checks[0]
	if check.CAURL != fmt.Sprintf("https://127.0.0.1:%d/ca.crt", e.cfg.HTTPSPort) ||
		check.WebsocketAddr != fmt.Sprintf("127.0.0.1:%d", e.cfg.WebsocketPort) || !bytes.Equal(check.CADER, ca.Cert.Raw) {
		t.Errorf("wait check %+v", check)
	}

	// Everything is new.
	for k, a := range actions(res) {
		if a != Created {
			t.Errorf("%s: %s, want created", k, a)
		}
	}
	if !res.Ready || res.JoinAddress != fmt.Sprintf("10.0.0.1:%d", e.cfg.WebsocketPort) {
		t.Errorf("result %+v", res)
	}
	for _, want := range []string{"[preflight] Kubernetes API server version", "[certs] created Secret kubeedge/casecret", "[start] started cloudcore"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var sum bytes.Buffer
	res.PrintSummary(&sum)
	if !strings.Contains(sum.String(), "keadm join --cloudcore-ipport=10.0.0.1:") {
		t.Errorf("summary:\n%s", sum.String())
	}
}

func TestInitRerunKeeps(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	before := snapshot(t, e.roots)
	res, out := e.run(t)
	for k, a := range actions(res) {
		want := Kept
		if k == "Service cloudcore" {
			want = Updated // reinstalled with the same spec
		}
		if a != want {
			t.Errorf("re-run: %s %s, want %s", k, a, want)
		}
	}
	if after := snapshot(t, e.roots); !maps.Equal(before, after) {
		t.Error("re-run changed files")
	}
	if e.services.starts != 1 || e.services.stops != 0 {
		t.Errorf("re-run started %d and stopped %d times, want 1 and 0", e.services.starts, e.services.stops)
	}
	if !strings.Contains(out, "already running (pid 4242)") || !strings.Contains(out, "[preflight] cloudcore is already running") {
		t.Errorf("re-run output:\n%s", out)
	}
}

func TestInitRerunWithNewNameRestarts(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	e.cfg.DNSNames = []string{"cloud.example.com"}
	res, out := e.run(t)
	a := actions(res)
	for _, k := range []string{"File " + e.roots.CloudCoreConfig(), "File " + e.roots.CertFile(), "File " + e.roots.KeyFile(), "Secret kubeedge/cloudcoresecret"} {
		if a[k] != Updated {
			t.Errorf("%s: %s, want updated", k, a[k])
		}
	}
	for _, k := range []string{"File " + e.roots.CAFile(), "Secret kubeedge/casecret", "Secret kubeedge/tokensecret"} {
		if a[k] != Kept {
			t.Errorf("%s: %s, want kept", k, a[k])
		}
	}
	kp, err := certs.LoadKeyPairFiles(e.roots.CertFile(), e.roots.KeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kp.Cert.DNSNames, "cloud.example.com") {
		t.Errorf("server certificate DNS names %v", kp.Cert.DNSNames)
	}
	if e.services.stops != 1 || e.services.starts != 2 {
		t.Errorf("stops %d starts %d, want a restart", e.services.stops, e.services.starts)
	}
	if !strings.Contains(out, `modules.cloudHub.dnsNames: [""] -> ["cloud.example.com"]`) || !strings.Contains(out, "restarting cloudcore") {
		t.Errorf("output:\n%s", out)
	}
}

func TestInitKeepsExistingConfig(t *testing.T) {
	e := newEnv(t)
	c := v1alpha1.NewDefault()
	c.SetRoot(e.roots.Etc, e.roots.VarLib)
	c.Modules.CloudHub.NodeLimit = 7
	c.Modules.CloudHub.AdvertiseAddress = []string{"10.9.9.9"}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.roots.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.roots.CloudCoreConfig(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, out := e.run(t)
	if a := actions(res)["File "+e.roots.CloudCoreConfig()]; a != Updated {
		t.Errorf("config %s, want updated", a)
	}
	got, err := v1alpha1.Load(e.roots.CloudCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got.Modules.CloudHub.NodeLimit != 7 {
		t.Errorf("nodeLimit %d, want the existing 7", got.Modules.CloudHub.NodeLimit)
	}
	if want := []string{"10.9.9.9", "10.0.0.1"}; !slices.Equal(got.Modules.CloudHub.AdvertiseAddress, want) {
		t.Errorf("advertiseAddress %v, want %v", got.Modules.CloudHub.AdvertiseAddress, want)
	}
	if !strings.Contains(out, "modules.cloudHub.advertiseAddress") || !strings.Contains(out, "other settings kept") {
		t.Errorf("output:\n%s", out)
	}

	// Without --advertise-address the existing ones are used.
	e.cfg.AdvertiseAddresses = nil
	res, _ = e.run(t)
	if a := actions(res)["File "+e.roots.CloudCoreConfig()]; a != Kept {
		t.Errorf("second run: config %s, want kept", a)
	}
	if res.JoinAddress != fmt.Sprintf("10.9.9.9:%d", e.cfg.WebsocketPort) {
		t.Errorf("join address %s", res.JoinAddress)
	}
}

func TestInitHostIPWhenNoAddress(t *testing.T) {
	e := newEnv(t)
	e.cfg.AdvertiseAddresses = nil
	deps := e.deps()
	deps.HostIP = func() (string, error) { return "192.0.2.7", nil }
	var out bytes.Buffer
	res, err := Run(context.Background(), e.cfg, deps, &out)
	if err != nil {
		t.Fatal(err, out.String())
	}
	if res.JoinAddress != fmt.Sprintf("192.0.2.7:%d", e.cfg.WebsocketPort) || !strings.Contains(out.String(), "using 192.0.2.7") {
		t.Errorf("join address %s, output:\n%s", res.JoinAddress, out.String())
	}
}

func TestInitSkipPhases(t *testing.T) {
	e := newEnv(t)
	e.cfg.SkipPhases = []string{"install", "start", "wait"}
	e.cfg.CloudcoreBinary = filepath.Join(e.dir, "missing") // not checked: install is skipped
	_, out := e.run(t)
	if _, err := os.Stat(e.roots.Binary("cloudcore")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("binary installed although install was skipped (%v)", err)
	}
	if len(e.services.specs) != 0 || len(e.waiter.checks) != 0 {
		t.Error("service installed or waited for although skipped")
	}
	for _, p := range []string{"install", "start", "wait"} {
		if !strings.Contains(out, "["+p+"] Skipped (--skip-phases)") {
			t.Errorf("output does not say %s was skipped:\n%s", p, out)
		}
	}
	if _, err := os.Stat(e.roots.CloudCoreConfig()); err != nil {
		t.Error(err)
	}
}

func TestInitTokenPhaseAlone(t *testing.T) {
	e := newEnv(t)
	// The CA exists in the cluster (a cloudcore set it up), no files here.
	ca, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := (&secretstore.SecretStore{Client: e.client}).SaveCA(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	d, err := NewInitData(e.cfg, e.deps(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewInitRunner(e.cfg, e.deps(), nil).RunPhase(context.Background(), "token", d); err != nil {
		t.Fatal(err)
	}
	token, err := GetToken(context.Background(), e.client)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := certs.ParseToken(token); tok.CheckCA(ca.Cert.Raw) != nil {
		t.Error("token not made with the cluster CA")
	}
}

func TestInitDryRunTouchesNothing(t *testing.T) {
	e := newEnv(t)
	e.cfg.DryRun = true
	var out bytes.Buffer
	deps, cleanup, err := NewDeps(e.cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	overlay := deps.Disk.(OverlayDisk).Dir
	res, err := Run(context.Background(), e.cfg, deps, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(e.dir, "root")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run created %s (%v)", filepath.Join(e.dir, "root"), err)
	}
	// What it would write went to the overlay.
	if _, err := os.Stat(filepath.Join(overlay, e.roots.CAKeyFile())); err != nil {
		t.Error(err)
	}
	cleanup()
	if _, err := os.Stat(overlay); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup left %s", overlay)
	}
	rec := deps.Services.(*RecordingServices)
	if len(rec.Installed) != 1 || !slices.Equal(rec.Started, []string{"cloudcore"}) {
		t.Errorf("recorded %+v", rec)
	}
	if len(res.Files()) != 6 || len(res.Objects()) != 13 {
		t.Errorf("%d files, %d objects; want 6 and 13", len(res.Files()), len(res.Objects()))
	}
	var sum bytes.Buffer
	res.PrintSummary(&sum)
	for _, want := range []string{"would write these files", e.roots.CAKeyFile() + " (0600)", "Secret kubeedge/tokensecret", "would install the service cloudcore"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if strings.Contains(out.String(), "[certs] created") || !strings.Contains(out.String(), "[certs] would create") {
		t.Errorf("dry-run wording:\n%s", out.String())
	}
}

func TestInitCADrift(t *testing.T) {
	e := newEnv(t)
	other, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.WriteFiles(e.roots.CAFile(), e.roots.CAKeyFile()); err != nil {
		t.Fatal(err)
	}
	cluster, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := (&secretstore.SecretStore{Client: e.client}).SaveCA(context.Background(), cluster); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), e.cfg, e.deps(), nil)
	var drift *secretstore.CADriftError
	if !errors.As(err, &drift) || !strings.HasPrefix(err.Error(), "phase certs: ") {
		t.Fatalf("Init = %v, want a CA drift error from the certs phase", err)
	}
}

func TestInitLocalCAStored(t *testing.T) {
	e := newEnv(t)
	local, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := local.WriteFiles(e.roots.CAFile(), e.roots.CAKeyFile()); err != nil {
		t.Fatal(err)
	}
	res, _ := e.run(t)
	if a := actions(res)["File "+e.roots.CAFile()]; a != Kept {
		t.Errorf("CA file %s, want kept", a)
	}
	stored, err := (&secretstore.SecretStore{Client: e.client}).LoadCA(context.Background())
	if err != nil || !bytes.Equal(stored.Cert.Raw, local.Cert.Raw) {
		t.Errorf("the local CA was not stored in the secret (%v)", err)
	}
}

func TestInitPreflightFailures(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", e.cfg.WebsocketPort))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e.cfg.CloudcoreBinary = filepath.Join(e.dir, "missing")
	_, err = Run(context.Background(), e.cfg, e.deps(), nil)
	var pe *preflight.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Init = %v, want a preflight error", err)
	}
	var names []string
	for _, f := range pe.Failures {
		names = append(names, f.Check)
	}
	if want := []string{"CloudcoreBinary", fmt.Sprintf("Port-%d", e.cfg.WebsocketPort)}; !slices.Equal(names, want) {
		t.Errorf("failed checks %v, want %v", names, want)
	}
	if _, err := os.Stat(e.roots.Etc); !errors.Is(err, os.ErrNotExist) {
		t.Error("files written although preflight failed")
	}

	// Ignored, the run goes on to the install phase, which fails.
	e.cfg.IgnorePreflight = []string{"CloudcoreBinary", fmt.Sprintf("Port-%d", e.cfg.WebsocketPort)}
	var out bytes.Buffer
	_, err = Run(context.Background(), e.cfg, e.deps(), &out)
	if err == nil || !strings.HasPrefix(err.Error(), "phase install: ") {
		t.Errorf("Init = %v, want the install phase to fail", err)
	}
	if !strings.Contains(out.String(), "(ignored)") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestInitAPIServerDown(t *testing.T) {
	e := newEnv(t)
	e.client = kubefake.NewClientset()
	e.client.PrependReactor("*", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	_, err := Run(context.Background(), e.cfg, e.deps(), nil)
	if err == nil || !strings.Contains(err.Error(), "KubeAPIServer") {
		t.Errorf("Init = %v, want KubeAPIServer to fail", err)
	}
}

func TestInitCRDs(t *testing.T) {
	t.Run("update", func(t *testing.T) {
		e := newEnv(t)
		old := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": "rules.rules.kubeedge.io"},
			"spec":     map[string]any{"group": "rules.kubeedge.io", "scope": "Namespaced"},
		}}
		e.dynamic = FakeDynamic(old)
		e.cfg.SkipPhases = []string{"install", "start", "wait"}
		res, _ := e.run(t)
		if a := actions(res)["CustomResourceDefinition rules.rules.kubeedge.io"]; a != Updated {
			t.Errorf("rules CRD %s, want updated", a)
		}
		got, err := e.dynamic.Resource(CRDResource).Get(context.Background(), "rules.rules.kubeedge.io", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := unstructured.NestedSlice(got.Object, "spec", "versions"); len(v) != 1 {
			t.Errorf("spec not updated: %v", got.Object["spec"])
		}
	})
	t.Run("not established", func(t *testing.T) {
		e := newEnv(t)
		e.dynamic = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{CRDResource: "CustomResourceDefinitionList"})
		e.cfg.Wait = 100 * time.Millisecond
		_, err := Run(context.Background(), e.cfg, e.deps(), nil)
		if err == nil || !strings.Contains(err.Error(), "not established within 100ms") {
			t.Errorf("Init = %v", err)
		}
	})
}

func TestGetToken(t *testing.T) {
	client := kubefake.NewClientset()
	if _, err := GetToken(context.Background(), client); !errors.Is(err, ErrNoToken) ||
		err.Error() != "no join token in kubeedge/tokensecret: is cloudcore running? run keadm init first" {
		t.Errorf("GetToken on an empty cluster = %v", err)
	}
	_, err := client.CoreV1().Secrets("kubeedge").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tokensecret", Namespace: "kubeedge"},
		Data:       map[string][]byte{"tokendata": []byte("abc.def.ghi.jkl")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := GetToken(context.Background(), client); err != nil || tok != "abc.def.ghi.jkl" {
		t.Errorf("GetToken = %q, %v", tok, err)
	}
}

func TestInitConfigValidate(t *testing.T) {
	base := InitConfig{Roots: layout.Under("/tmp/x"), WebsocketPort: 1, HTTPSPort: 2}
	tests := map[string]struct {
		mod  func(*InitConfig)
		want string
	}{
		"ok":        {mod: func(*InitConfig) {}},
		"not an IP": {mod: func(c *InitConfig) { c.AdvertiseAddresses = []string{"cloud.example.com"} }, want: "not an IP address"},
		"same port": {mod: func(c *InitConfig) { c.HTTPSPort = 1 }, want: "must differ"},
		"bad port":  {mod: func(c *InitConfig) { c.HTTPSPort = 70000 }, want: "out of range"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// snapshot returns the content and mode of every file under roots.
func snapshot(t *testing.T, r layout.Roots) map[string]string {
	t.Helper()
	m := map[string]string{}
	root := filepath.Dir(filepath.Dir(r.Etc))
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = fmt.Sprintf("%v %x", fi.Mode(), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInitWaitsForTerminatingNamespace(t *testing.T) {
	e := newEnv(t)
	now := metav1.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeedge", DeletionTimestamp: &now, Finalizers: []string{"kubernetes"}}}
	if _, err := e.client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), "kubeedge", metav1.DeleteOptions{})
	}()
	res, out := e.run(t)
	if !strings.Contains(out, "waiting for the kubeedge namespace to finish terminating") {
		t.Errorf("output:\n%s", out)
	}
	if a := actions(res)["Namespace kubeedge"]; a != Created {
		t.Errorf("namespace %s, want created", a)
	}
}
