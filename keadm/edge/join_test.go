package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/cloud/cloudhub"
	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// cloud is an in-process CloudHub serving the certificate and websocket
// servers on 127.0.0.1.
type cloud struct {
	ca       *certs.CA
	hub      *cloudhub.Hub
	ws, cert string // host:port
	certPort int
	token    string
}

type nopHandler struct{}

func (nopHandler) HandleMessage(string, message.Message) {}
func (nopHandler) NodeConnected(string)                  {}
func (nopHandler) NodeDisconnected(string)               {}
func (nopHandler) NodeAlive(string)                      {}

func startCloud(t *testing.T, sans ...string) *cloud {
	t.Helper()
	if len(sans) == 0 {
		sans = []string{"127.0.0.1"}
	}
	ca, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: sans})
	if err != nil {
		t.Fatal(err)
	}
	hub := cloudhub.New(cloudhub.Config{WebsocketAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"},
		&cloudhub.CAAuthority{CA: ca, Server: server}, nopHandler{}, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-hub.Ready():
	case err := <-done:
		t.Fatalf("cloudhub: %v", err)
	}
	token, err := certs.GenerateToken(ca, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &cloud{ca: ca, hub: hub, ws: hub.WebsocketAddr().String(), cert: hub.HTTPSAddr().String(),
		certPort: hub.HTTPSAddr().(*net.TCPAddr).Port, token: token}
}

// fakeServices runs edgecore in-process instead of as a service.
type fakeServices struct {
	mu       sync.Mutex
	specs    map[string]service.Spec
	running  map[string]*instance
	calls    []string
	noRun    bool // Start only pretends (edgecore never connects)
	startErr error
}

type instance struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newFakeServices(t *testing.T) *fakeServices {
	f := &fakeServices{specs: map[string]service.Spec{}, running: map[string]*instance{}}
	t.Cleanup(func() {
		for name := range f.specs {
			_ = f.Stop(context.Background(), name)
		}
	})
	return f
}

func (f *fakeServices) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeServices) Install(_ context.Context, spec service.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("install %s", spec.Name)
	f.specs[spec.Name] = spec
	return nil
}

func (f *fakeServices) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start %s", name)
	if f.startErr != nil {
		return f.startErr
	}
	spec, ok := f.specs[name]
	if !ok {
		return service.ErrNotInstalled
	}
	if f.running[name] != nil {
		return nil
	}
	inst := &instance{done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancel = cancel
	f.running[name] = inst
	if f.noRun {
		go func() { <-ctx.Done(); close(inst.done) }()
		return nil
	}
	cfg, err := v1alpha2.Load(spec.Args[1])
	if err != nil {
		cancel()
		delete(f.running, name)
		return err
	}
	go func() {
		defer close(inst.done)
		_ = edgecore.Run(ctx, cfg, logr.Discard())
	}()
	return nil
}

func (f *fakeServices) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	inst := f.running[name]
	delete(f.running, name)
	f.record("stop %s", name)
	f.mu.Unlock()
	if inst != nil {
		inst.cancel()
		<-inst.done
	}
	return nil
}

func (f *fakeServices) Status(_ context.Context, name string) (service.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := service.Status{Name: name, State: service.StateStopped, Manager: "fake"}
	if _, ok := f.specs[name]; !ok {
		return st, service.ErrNotInstalled
	}
	if inst := f.running[name]; inst != nil {
		select {
		case <-inst.done:
		default:
			st.State, st.PID = service.StateRunning, 4242
		}
	}
	return st, nil
}

func (f *fakeServices) Uninstall(ctx context.Context, name string) error {
	_ = f.Stop(ctx, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.specs, name)
	return nil
}

// node is one edge node's test setup.
type node struct {
	roots    layout.Roots
	dir      string
	services *fakeServices
	binary   string
	out      *bytes.Buffer
}

func newNode(t *testing.T) *node {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "edgecore")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v1.2.3-test\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &node{roots: layout.Under(dir), dir: dir, services: newFakeServices(t), binary: bin, out: &bytes.Buffer{}}
}

func (n *node) deps() Deps {
	fs := OSFS{}
	return Deps{
		Services:    n.services,
		ServiceKind: "process",
		Cloud:       NetworkCloud{DialTimeout: 2 * time.Second},
		FS:          fs,
		Waiter:      &StatusWaiter{FS: fs, Services: n.services, Poll: 20 * time.Millisecond, Progress: time.Second},
		Hostname:    func() (string, error) { return "My-Host", nil },
		LocalIP:     func(string) string { return "127.0.0.1" },
		Executable:  func() (string, error) { return "/nonexistent/keadm", nil },
		LookPath:    func(string) (string, error) { return "", errors.New("not in PATH") },
		Version:     func(context.Context, string) (string, error) { return "v1.2.3-test", nil },
	}
}

func (n *node) config(c *cloud, name string) JoinConfig {
	return JoinConfig{
		CloudCoreIPPort: c.ws,
		CertPort:        c.certPort,
		Token:           c.token,
		NodeName:        name,
		Roots:           n.roots,
		EdgecoreBinary:  n.binary,
		Wait:            20 * time.Second,
	}
}

func (n *node) join(t *testing.T, cfg JoinConfig) (*JoinResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n.out.Reset()
	return Join(ctx, cfg, n.deps(), n.out)
}

func TestJoin(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "edge-1")
	cfg.Labels = map[string]string{"zone": "a", "example.com/tier": "edge"}
	cfg.CgroupDriver = "systemd"
	cfg.RemoteRuntimeEndpoint = "unix:///run/crio/crio.sock"
	res, err := n.join(t, cfg)
	if err != nil {
		t.Fatalf("Join: %v\n%s", err, n.out)
	}
	if !res.Connected || res.NodeName != "edge-1" || res.Version != "v1.2.3-test" {
		t.Errorf("result %+v", res)
	}
	if !c.hub.Connected("edge-1") {
		t.Error("cloudhub has no session for edge-1")
	}
	for _, want := range []string{"[preflight] Running pre-flight checks", "[certs] Wrote the CA", "[config] Wrote",
		"[install] Installed", "[start] Started edgecore", "[wait] edgecore is connected", "This node has joined the cluster as \"edge-1\""} {
		if !strings.Contains(n.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, n.out)
		}
	}

	r := n.roots
	fi, err := os.Stat(r.EdgeCoreConfig())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v", err, fi.Mode())
	}
	ec, err := v1alpha2.Load(r.EdgeCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, h := ec.Modules.Edged, ec.Modules.EdgeHub
	for got, want := range map[string]string{
		h.WebSocket.Server:                   c.ws,
		h.HTTPServer:                         "https://" + c.cert,
		h.Token:                              c.token,
		h.TLSCAFile:                          r.CAFile(),
		h.TLSCertFile:                        r.CertFile(),
		h.TLSPrivateKeyFile:                  r.KeyFile(),
		e.HostnameOverride:                   "edge-1",
		e.ContainerRuntime:                   "remote",
		e.RemoteRuntimeEndpoint:              "unix:///run/crio/crio.sock",
		e.RemoteImageEndpoint:                "unix:///run/crio/crio.sock",
		e.TailoredKubeletConfig.CgroupDriver: "systemd",
		e.NodeLabels["zone"]:                 "a",
		e.NodeLabels["example.com/tier"]:     "edge",
		e.NodeIP:                             "127.0.0.1",
		e.RootDirectory:                      r.Edged,
		ec.Modules.MetaManager.DBPath:        r.MetaDB(),
		ec.Modules.EdgeStream.Server:         "127.0.0.1:10004",
	} {
		if got != want {
			t.Errorf("config: got %q, want %q", got, want)
		}
	}
	if fi, err := os.Stat(r.Binary("edgecore")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary: %v %v", err, fi)
	}
	if b, _ := os.ReadFile(r.VersionFile()); string(b) != "v1.2.3-test\n" {
		t.Errorf("version file %q", b)
	}
	spec := n.services.specs["edgecore"]
	if spec.Binary != r.Binary("edgecore") || strings.Join(spec.Args, " ") != "--config "+r.EdgeCoreConfig() ||
		spec.LogFile != r.LogFile("edgecore") || spec.PIDFile != r.PIDFile("edgecore") || spec.UnitDir != r.UnitDir {
		t.Errorf("service spec %+v", spec)
	}
	if res.StatusFile != r.EdgeCoreStatus() {
		t.Errorf("status file %s, want %s", res.StatusFile, r.EdgeCoreStatus())
	}
}

func TestJoinDefaults(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "")
	cfg.SkipPhases = []string{"start", "wait"}
	if _, err := n.join(t, cfg); err != nil {
		t.Fatalf("Join: %v\n%s", err, n.out)
	}
	ec, err := v1alpha2.Load(n.roots.EdgeCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := ec.Modules.Edged
	if e.HostnameOverride != "my-host" || e.RemoteRuntimeEndpoint != DefaultRemoteRuntimeEndpoint ||
		e.TailoredKubeletConfig.CgroupDriver != "cgroupfs" || e.ContainerRuntime != "remote" {
		t.Errorf("defaults not applied: name %q endpoint %q cgroup %q runtime %q", e.HostnameOverride,
			e.RemoteRuntimeEndpoint, e.TailoredKubeletConfig.CgroupDriver, e.ContainerRuntime)
	}
	if !strings.Contains(n.out.String(), "[start] Skipped") {
		t.Errorf("output:\n%s", n.out)
	}
}

func TestJoinRerun(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "edge-1")

	// A partial join: certificate and configuration, nothing started.
	partial := cfg
	partial.SkipPhases = []string{"install", "start", "wait"}
	if _, err := n.join(t, partial); err != nil {
		t.Fatalf("partial join: %v\n%s", err, n.out)
	}
	certBefore, err := os.ReadFile(n.roots.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	// The user edits a setting join does not manage.
	ec, err := v1alpha2.Load(n.roots.EdgeCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	ec.Modules.EdgeHub.Heartbeat = 7
	ec.Modules.Edged.TailoredKubeletConfig.CgroupDriver = "systemd"
	b, _ := ec.Marshal()
	if err := os.WriteFile(n.roots.EdgeCoreConfig(), b, 0o600); err != nil {
		t.Fatal(err)
	}

	// Re-run without a token and without a node name: both are kept.
	again := cfg
	again.Token, again.NodeName = "", ""
	res, err := n.join(t, again)
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, n.out)
	}
	if !res.Connected || res.NodeName != "edge-1" || res.Restarted {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(n.out.String(), "[certs] Using the existing valid certificate") ||
		!strings.Contains(n.out.String(), "[config] Updated") {
		t.Errorf("output:\n%s", n.out)
	}
	certAfter, _ := os.ReadFile(n.roots.CertFile())
	if !bytes.Equal(certBefore, certAfter) {
		t.Error("the valid certificate was replaced")
	}
	ec, err = v1alpha2.Load(n.roots.EdgeCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	if ec.Modules.EdgeHub.Heartbeat != 7 || ec.Modules.Edged.TailoredKubeletConfig.CgroupDriver != "systemd" || ec.Modules.EdgeHub.Token != c.token {
		t.Errorf("re-run lost settings: heartbeat %d cgroup %q token kept %v", ec.Modules.EdgeHub.Heartbeat,
			ec.Modules.Edged.TailoredKubeletConfig.CgroupDriver, ec.Modules.EdgeHub.Token == c.token)
	}

	// Re-run while edgecore runs for the same node: restart, reconnect.
	res, err = n.join(t, cfg)
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, n.out)
	}
	if !res.Connected || !res.Restarted {
		t.Errorf("result %+v", res)
	}
	for _, want := range []string{"WARNING Process-edgecore: edgecore is already running (pid 4242) for node \"edge-1\": it will be restarted",
		"[install] " + n.roots.Binary("edgecore") + " is already installed", "restarting it"} {
		if !strings.Contains(n.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, n.out)
		}
	}

	// Another node name on the same root while edgecore runs: refused.
	other := cfg
	other.NodeName = "edge-2"
	_, err = n.join(t, other)
	if err == nil || !strings.Contains(err.Error(), `edgecore is already running (pid 4242) for node "edge-1"; run keadm reset first`) {
		t.Errorf("join of another node on a busy root = %v\n%s", err, n.out)
	}

	// Once stopped, the root can be joined under another name: the
	// certificate of edge-1 is replaced by one for edge-2.
	if err := n.services.Stop(context.Background(), "edgecore"); err != nil {
		t.Fatal(err)
	}
	res, err = n.join(t, other)
	if err != nil {
		t.Fatalf("join as edge-2: %v\n%s", err, n.out)
	}
	if !res.Connected || !c.hub.Connected("edge-2") ||
		!strings.Contains(n.out.String(), `names node "edge-1", not "edge-2": requesting a new one`) {
		t.Errorf("join as edge-2: %+v\n%s", res, n.out)
	}
}

func TestJoinTwoNodesOneMachine(t *testing.T) {
	c := startCloud(t)
	a, b := newNode(t), newNode(t)
	if _, err := a.join(t, a.config(c, "edge-a")); err != nil {
		t.Fatalf("edge-a: %v\n%s", err, a.out)
	}
	if _, err := b.join(t, b.config(c, "edge-b")); err != nil {
		t.Fatalf("edge-b: %v\n%s", err, b.out)
	}
	if !c.hub.Connected("edge-a") || !c.hub.Connected("edge-b") {
		t.Error("both nodes should be connected")
	}

	// A third node claiming a connected node's name is refused by the cloud.
	d := newNode(t)
	_, err := d.join(t, d.config(c, "edge-a"))
	if !errors.Is(err, edgehub.ErrNameInUse) || !strings.Contains(err.Error(), `the node name "edge-a" is already used`) ||
		!strings.Contains(err.Error(), "fix: choose another --edgenode-name") {
		t.Errorf("duplicate name: %v", err)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestJoinUnreachable(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	dead := closedPort(t)
	_, deadPort, _ := net.SplitHostPort(dead)

	t.Run("both ports", func(t *testing.T) {
		cfg := n.config(c, "edge-1")
		cfg.CloudCoreIPPort = dead
		cfg.CertPort, _ = strconv.Atoi(deadPort)
		_, err := n.join(t, cfg)
		var pf *preflight.Error
		if !errors.As(err, &pf) || len(pf.Failures) != 2 {
			t.Fatalf("Join = %v, want two preflight failures", err)
		}
		msg := err.Error()
		for _, want := range []string{"[ERROR CloudCoreWebsocket]: cannot connect to " + dead,
			"[ERROR CloudCoreCertPort]: cannot connect to " + dead, "connection refused", "most common cause",
			"blocks TCP port " + deadPort, "--cloudcore-ipport is right", "--certport is right",
			"--ignore-preflight-errors=CloudCoreWebsocket,CloudCoreCertPort"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	})
	t.Run("websocket port only", func(t *testing.T) {
		cfg := n.config(c, "edge-1")
		cfg.CloudCoreIPPort = dead
		_, err := n.join(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "CloudCoreWebsocket") || strings.Contains(err.Error(), "CloudCoreCertPort") {
			t.Errorf("Join = %v", err)
		}
	})
	if _, err := os.Stat(n.roots.Etc); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed preflight wrote %s", n.roots.Etc)
	}
}

func TestJoinCertErrors(t *testing.T) {
	c := startCloud(t)
	other, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _ := certs.GenerateToken(other, time.Now(), 0)
	expired, _ := certs.GenerateToken(c.ca, time.Now().Add(-48*time.Hour), time.Hour)
	_, jwt, _ := strings.Cut(otherToken, ".")
	forged := c.ca.Hash() + "." + jwt // right CA hash, wrong signing key

	tests := []struct {
		name  string
		token string
		is    error
		want  []string
	}{
		{"wrong CA hash", otherToken, certs.ErrCAHashMismatch, []string{
			"the CA certificate served at https://" + c.cert + " does not match the CA hash in the join token",
			"fix: the token comes from another cluster"}},
		{"expired token", expired, edgehub.ErrRefused, []string{
			"cloudcore refused the join token: it has expired", "HTTP 401", "fix: get a fresh token with `keadm gettoken`"}},
		{"bad signature", forged, edgehub.ErrRefused, []string{
			"cloudcore refused the join token: it was not signed by this cluster's CA", "fix: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			cfg := n.config(c, "edge-1")
			cfg.Token = tt.token
			_, err := n.join(t, cfg)
			var ce *CertError
			if !errors.Is(err, tt.is) || !errors.As(err, &ce) {
				t.Fatalf("Join = %v, want a CertError wrapping %v", err, tt.is)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%s", want, err)
				}
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Error("the error reveals the token")
			}
			if _, err := os.Stat(n.roots.EdgeCoreConfig()); !errors.Is(err, os.ErrNotExist) {
				t.Error("config written after a failed certificate bootstrap")
			}
		})
	}

	t.Run("SAN mismatch", func(t *testing.T) {
		c := startCloud(t, "10.9.9.9")
		n := newNode(t)
		_, err := n.join(t, n.config(c, "edge-1"))
		if !errors.Is(err, edgehub.ErrServerNameInvalid) || !strings.Contains(err.Error(), "does not cover the address 127.0.0.1") ||
			!strings.Contains(err.Error(), "--advertise-address including 127.0.0.1") {
			t.Errorf("Join = %v", err)
		}
	})
}

func TestJoinGarbledToken(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "edge-1")
	cfg.Token = "not-a-token"
	_, err := n.join(t, cfg)
	if !errors.Is(err, certs.ErrTokenMalformed) || !strings.Contains(err.Error(), "[ERROR JoinToken]: join token is malformed") {
		t.Fatalf("Join = %v", err)
	}
	if strings.Contains(n.out.String(), "[certs]") {
		t.Error("the workflow went past preflight")
	}
}

func TestJoinNoTokenNoCert(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "edge-1")
	cfg.Token = ""
	_, err := n.join(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "no --token given and no valid certificate") {
		t.Fatalf("Join = %v", err)
	}
}

func TestJoinBadNodeName(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	_, err := n.join(t, n.config(c, "Edge_1"))
	if err == nil || !strings.Contains(err.Error(), "[ERROR NodeName]") || !strings.Contains(err.Error(), "--edgenode-name") {
		t.Fatalf("Join = %v", err)
	}
}

func TestJoinCloudCoreOnSameRoot(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	if err := os.MkdirAll(n.roots.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.roots.CloudCoreConfig(), []byte("kind: CloudCore\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := n.join(t, n.config(c, "edge-1"))
	if err == nil || !strings.Contains(err.Error(), "[ERROR CloudCoreInstalled]") {
		t.Fatalf("Join = %v", err)
	}
}

func TestJoinDryRun(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	var out bytes.Buffer
	deps, cleanup, err := DryRunDeps(n.roots, &out)
	if err != nil {
		t.Fatal(err)
	}
	dir := deps.FS.(*DryRunFS).Dir
	defer func() {
		cleanup()
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the dry-run directory %s was not removed", dir)
		}
	}()
	deps.Hostname = n.deps().Hostname
	deps.Version = n.deps().Version
	cfg := n.config(c, "edge-1")
	cfg.DryRun = true
	res, err := Join(context.Background(), cfg, deps, &out)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, &out)
	}
	if res.Connected {
		t.Error("a dry run reports a connection")
	}
	entries, _ := os.ReadDir(n.dir)
	if len(entries) != 0 {
		t.Errorf("dry run wrote under the root: %v", entries)
	}
	if c.hub.ConnectedNodes() != 0 {
		t.Error("dry run connected to the cloud")
	}
	s := out.String()
	for _, want := range []string{
		"WARNING CloudCoreWebsocket: " + c.ws + " not checked: no network access in dry-run",
		"[dry-run] Would fetch the CA from https://" + c.cert + "/ca.crt",
		"[dry-run] Skipped: no network access in dry-run",
		"[dry-run] Would write " + n.roots.EdgeCoreConfig() + " (mode 0600)",
		"token: <redacted>",
		"[dry-run] Would copy " + n.binary + " to " + n.roots.Binary("edgecore"),
		"[dry-run] Would install service edgecore: " + n.roots.Binary("edgecore") + " --config " + n.roots.EdgeCoreConfig(),
		"[dry-run] Would start service edgecore",
		"[dry-run] Would wait up to 20s",
		"nothing was changed on this machine",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, c.token) {
		t.Error("dry run printed the token")
	}
	if _, err := v1alpha2.Load(filepath.Join(dir, n.roots.EdgeCoreConfig())); err != nil {
		t.Errorf("dry-run copy of the config: %v", err)
	}
}

func TestJoinWaitFailures(t *testing.T) {
	c := startCloud(t)

	t.Run("timeout", func(t *testing.T) {
		n := newNode(t)
		n.services.noRun = true
		if err := os.MkdirAll(n.roots.Log, 0o755); err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		for i := range 30 {
			fmt.Fprintf(&log, "log line %d\n", i)
		}
		if err := os.WriteFile(n.roots.LogFile("edgecore"), []byte(log.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := n.config(c, "edge-1")
		cfg.Wait = 300 * time.Millisecond
		_, err := n.join(t, cfg)
		if !errors.Is(err, ErrNotConnected) {
			t.Fatalf("Join = %v", err)
		}
		for _, want := range []string{"within 300ms", "Last lines of " + n.roots.LogFile("edgecore"), "log line 29", "Likely causes",
			"websocket port of " + c.ws} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%s", want, err)
			}
		}
		if strings.Contains(err.Error(), "log line 9\n") {
			t.Error("more than 20 log lines shown")
		}
	})

	t.Run("exited", func(t *testing.T) {
		n := newNode(t)
		n.services.noRun = true
		deps := n.deps()
		deps.Services = exitedServices{n.services}
		deps.Waiter = &StatusWaiter{FS: deps.FS, Services: deps.Services, Poll: 20 * time.Millisecond}
		cfg := n.config(c, "edge-1")
		_, err := Join(context.Background(), cfg, deps, n.out)
		if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "is not running (it exited)") {
			t.Fatalf("Join = %v", err)
		}
	})
}

// exitedServices reports every service stopped once started.
type exitedServices struct{ *fakeServices }

func (e exitedServices) Status(ctx context.Context, name string) (service.Status, error) {
	st, err := e.fakeServices.Status(ctx, name)
	st.State = service.StateStopped
	return st, err
}

func TestJoinConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*JoinConfig)
		want string
	}{
		{"no ipport", func(c *JoinConfig) { c.CloudCoreIPPort = "" }, "--cloudcore-ipport is required"},
		{"bad ipport", func(c *JoinConfig) { c.CloudCoreIPPort = "10.0.0.1" }, `--cloudcore-ipport "10.0.0.1" is not a host:port`},
		{"bad certport", func(c *JoinConfig) { c.CertPort = 70000 }, "--certport 70000"},
		{"bad cgroup", func(c *JoinConfig) { c.CgroupDriver = "cgroupv3" }, `--cgroupdriver "cgroupv3"`},
		{"bad runtime", func(c *JoinConfig) { c.RuntimeType = "rkt" }, `--runtimetype "rkt"`},
		{"bad label", func(c *JoinConfig) { c.Labels = map[string]string{"bad key": "v"} }, `--labels: key "bad key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := JoinConfig{CloudCoreIPPort: "10.0.0.1:10000", Roots: layout.Under(t.TempDir())}
			tt.edit(&cfg)
			_, err := NewJoin(cfg, Deps{Services: newFakeServices(t)}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewJoin = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels([]string{"a=1,b=2", "c=", " d = 4 "})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b": "2", "c": "", "d": "4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseLabels = %v, want %v", got, want)
	}
	if _, err := ParseLabels([]string{"novalue"}); err == nil {
		t.Error("accepted a label without =")
	}
}

func TestRuntimeDockerNote(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	cfg := n.config(c, "edge-1")
	cfg.RuntimeType = "docker"
	cfg.KubeEdgeVersion = "v1.12.7"
	cfg.WithMQTT = true
	cfg.SkipPhases = []string{"certs", "config", "install", "start", "wait"}
	if _, err := n.join(t, cfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--runtimetype docker is mapped to the CRI runtime at unix:///run/containerd/containerd.sock",
		"--kubeedge-version v1.12.7 is ignored", "no mosquitto container is deployed"} {
		if !strings.Contains(n.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, n.out)
		}
	}
}

func TestInstallFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	dst := filepath.Join(dir, "bin", "dst")
	os.WriteFile(src, []byte("one"), 0o644)
	for i, want := range []bool{true, false} {
		copied, err := OSFS{}.InstallFile(dst, src, 0o755)
		if err != nil || copied != want {
			t.Errorf("install %d: copied %v, %v", i, copied, err)
		}
	}
	os.WriteFile(src, []byte("two"), 0o644)
	if copied, err := (OSFS{}).InstallFile(dst, src, 0o755); err != nil || !copied {
		t.Errorf("changed source not copied: %v %v", copied, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "two" {
		t.Errorf("dst %q", b)
	}
	// Source and destination are the same file (keadm next to the installed edgecore).
	if copied, err := (OSFS{}).InstallFile(dst, dst, 0o755); err != nil || copied {
		t.Errorf("same file: %v %v", copied, err)
	}
}

func TestJoinKeepsUpstreamConfig(t *testing.T) {
	c := startCloud(t)
	n := newNode(t)
	data, err := os.ReadFile("../../components/apis/edgecore/v1alpha2/testdata/upstream-keadm-join.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// As an older upstream keadm wrote it: dockershim's endpoint.
	data = bytes.ReplaceAll(data, []byte("unix:///run/containerd/containerd.sock"), []byte("unix:///var/run/dockershim.sock"))
	if err := os.MkdirAll(n.roots.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.roots.EdgeCoreConfig(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := n.config(c, "")
	cfg.Labels = map[string]string{"zone": "7"}
	cfg.SkipPhases = []string{"certs", "install", "start", "wait"}
	res, err := n.join(t, cfg)
	if err != nil {
		t.Fatalf("Join: %v\n%s", err, n.out)
	}
	ec, err := v1alpha2.Load(n.roots.EdgeCoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, h := ec.Modules.Edged, ec.Modules.EdgeHub
	if res.NodeName != "edge-node-1" || e.HostnameOverride != "edge-node-1" {
		t.Errorf("node name %q/%q, want the existing edge-node-1", res.NodeName, e.HostnameOverride)
	}
	if h.WebSocket.Server != c.ws || h.HTTPServer != "https://"+c.cert || h.Token != c.token {
		t.Errorf("cloud settings not applied: %q %q", h.WebSocket.Server, h.HTTPServer)
	}
	if e.RemoteRuntimeEndpoint != DefaultRemoteRuntimeEndpoint || e.RemoteImageEndpoint != DefaultRemoteRuntimeEndpoint {
		t.Errorf("dockershim endpoint kept: %q", e.RemoteRuntimeEndpoint)
	}
	if _, ok := e.NodeLabels["node-role.kubernetes.io/edge"]; !ok || e.NodeLabels["zone"] != "7" {
		t.Errorf("labels %v", e.NodeLabels)
	}
	if h.TLSCAFile != "/etc/kubeedge/ca/rootCA.crt" {
		t.Errorf("the file's own paths must be kept, got %q", h.TLSCAFile)
	}
}
