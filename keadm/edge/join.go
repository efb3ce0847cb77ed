// Package edge joins this machine to a KubeEdge cluster as an edge node: the
// library behind `keadm join`.
//
// Join runs a workflow of phases (preflight, certs, config, install, start,
// wait) over a JoinData built from a JoinConfig and Deps. Everything the
// workflow touches is a dependency: DefaultDeps acts on the machine,
// DryRunDeps only prints and writes into a temporary directory, and tests pass
// fakes. Join is idempotent: re-running it after a partial or complete join
// keeps the node's valid certificate and the existing edgecore.yaml's other
// settings, reinstalls the binary only if it changed, and restarts edgecore.
//
// Unlike upstream keadm, join pulls no images: it installs the edgecore
// binary shipped with keadm, starts it with systemd (upstream's layout on a
// systemd machine) or as a background process (any other layout, e.g. several
// nodes on one machine under different --root values), and waits until
// edgecore reports through its status file that it is connected.
package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/phases"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// JoinResult says what Join did.
type JoinResult struct {
	// NodeName is the joined node.
	NodeName string
	// ConfigFile is the edgecore.yaml written.
	ConfigFile string
	// Binary is the installed edgecore; Version its version.
	Binary, Version string
	// Service is "systemd" or "process"; LogFile is edgecore's log under
	// the process manager ("" under systemd).
	Service, LogFile string
	// StatusFile is edgecore's link status file.
	StatusFile string
	// Restarted is true if an edgecore already running was restarted.
	Restarted bool
	// Connected is true once edgecore reported the link up (wait phase).
	Connected bool
	// Server is the websocket address edgecore connects to.
	Server string
}

// JoinData is the state of one join run, shared by its phases.
type JoinData struct {
	cfg      JoinConfig
	deps     Deps
	out      io.Writer
	existing *v1alpha2.EdgeCore // the edgecore.yaml found on disk, if any
	// existingNode is the node name in that file.
	existingNode string
	ec           *v1alpha2.EdgeCore // the edgecore.yaml to write
	spec         service.Spec
	result       JoinResult
}

// dryRun reports whether nothing is really done.
func (d *JoinData) dryRun() bool { return d.cfg.DryRun || d.deps.DryRun }

// Result is what the phases run so far did.
func (d *JoinData) Result() *JoinResult { r := d.result; return &r }

// Config is the completed configuration.
func (d *JoinData) Config() JoinConfig { return d.cfg }

// NewJoin validates cfg, fills its defaults and prepares the configuration
// the workflow writes. Nothing is changed on the machine.
func NewJoin(cfg JoinConfig, deps Deps, out io.Writer) (*JoinData, error) {
	if out == nil {
		out = io.Discard
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Roots == (layout.Roots{}) {
		cfg.Roots = layout.Default()
	}
	if deps.Services == nil {
		deps.Services, deps.ServiceKind = service.ForRoots(cfg.Roots, io.Discard)
	}
	deps = deps.withDefaults()
	if cfg.CertPort == 0 {
		cfg.CertPort = DefaultCertPort
	}
	if cfg.Wait == 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.RuntimeType == "" {
		cfg.RuntimeType = RuntimeRemote
	}
	d := &JoinData{cfg: cfg, deps: deps, out: out}

	path := cfg.Roots.EdgeCoreConfig()
	if b, err := deps.FS.ReadFile(path); err == nil {
		ec, err := v1alpha2.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("the existing %s cannot be read: %w\nfix it, or remove this node's files with `keadm reset`", path, err)
		}
		d.existing, d.existingNode = ec, ec.Modules.Edged.HostnameOverride
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}

	if d.cfg.NodeName == "" {
		if d.existingNode != "" {
			d.cfg.NodeName = d.existingNode
		} else {
			h, err := deps.Hostname()
			if err != nil {
				return nil, fmt.Errorf("cannot determine the node name from the hostname: %w; pass --edgenode-name", err)
			}
			d.cfg.NodeName = strings.ToLower(strings.TrimSpace(h))
		}
	}
	if d.cfg.EdgecoreBinary == "" {
		d.cfg.EdgecoreBinary = d.findEdgecore()
	}
	if d.cfg.EdgecoreBinary != "" {
		if abs, err := filepath.Abs(d.cfg.EdgecoreBinary); err == nil {
			d.cfg.EdgecoreBinary = abs
		}
	}

	ip := ""
	if d.existing == nil || d.existing.Modules.Edged.NodeIP == "" {
		ip = deps.LocalIP(d.cfg.host())
	}
	d.ec = d.cfg.buildConfig(d.existing, ip)

	roots := d.cfg.Roots
	d.spec = service.Spec{
		Name:    ServiceName,
		Binary:  roots.Binary(ServiceName),
		Args:    []string{"--config", path},
		LogFile: roots.LogFile(ServiceName),
		PIDFile: roots.PIDFile(ServiceName),
		UnitDir: roots.UnitDir,
	}
	d.result = JoinResult{
		NodeName:   d.cfg.NodeName,
		ConfigFile: path,
		Binary:     d.spec.Binary,
		Service:    deps.ServiceKind,
		StatusFile: edgecore.StatusFile(d.ec),
		Server:     d.cfg.CloudCoreIPPort,
	}
	if deps.ServiceKind != "systemd" {
		d.result.LogFile = d.spec.LogFile
	}
	return d, nil
}

// findEdgecore looks for edgecore next to the running keadm, then in PATH.
func (d *JoinData) findEdgecore() string {
	if exe, err := d.deps.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		p := filepath.Join(filepath.Dir(exe), "edgecore")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if p, err := d.deps.LookPath("edgecore"); err == nil {
		return p
	}
	return ""
}

// Phases is the join workflow.
func Phases() []phases.Phase[*JoinData] {
	return []phases.Phase[*JoinData]{
		{Name: "preflight", Short: "Running pre-flight checks", Run: runPreflight},
		{Name: "certs", Short: "Getting the node certificate from cloudcore", Run: runCerts,
			Long: "Fetch cloudcore's CA (checked against the token's hash) and have a certificate signed for this node. A valid certificate already on disk is kept."},
		{Name: "config", Short: "Writing the edgecore configuration", Run: runConfig,
			Long: "Write edgecore.yaml (mode 0600: it holds the token). An existing file keeps every setting the flags do not set."},
		{Name: "install", Short: "Installing edgecore", Run: runInstall,
			Long: "Copy the edgecore binary into place (unless identical) and record its version."},
		{Name: "start", Short: "Starting edgecore", Run: runStart,
			Long: "Install edgecore as a service and start it; an edgecore already running is restarted."},
		{Name: "wait", Short: "Waiting for edgecore to connect to cloudcore", Run: runWait,
			Long: "Poll edgecore's status file until it reports the link to cloudcore up."},
	}
}

// NewRunner returns the join workflow runner writing progress to out.
func NewRunner(out io.Writer) *phases.Runner[*JoinData] {
	return &phases.Runner[*JoinData]{Phases: Phases(), Out: out}
}

// Join joins this machine to the cluster as an edge node.
func Join(ctx context.Context, cfg JoinConfig, deps Deps, out io.Writer) (*JoinResult, error) {
	d, err := NewJoin(cfg, deps, out)
	if err != nil {
		return nil, err
	}
	r := NewRunner(d.out)
	r.SkipPhases = cfg.SkipPhases
	if err := r.Run(ctx, d); err != nil {
		return d.Result(), err
	}
	d.PrintSummary()
	return d.Result(), nil
}

// PrintSummary writes what the node now is.
func (d *JoinData) PrintSummary() {
	r, w := d.result, d.out
	if d.dryRun() {
		fmt.Fprintf(w, "\n[dry-run] Finished dry run of joining node %q: nothing was changed on this machine.\n", r.NodeName)
		return
	}
	if r.Connected {
		fmt.Fprintf(w, "\nThis node has joined the cluster as %q: edgecore is connected to cloudcore at %s.\n", r.NodeName, r.Server)
		fmt.Fprintln(w, "Run 'kubectl get nodes' on the control plane to see it.")
	} else {
		fmt.Fprintf(w, "\nFinished joining node %q; the link to cloudcore at %s was not checked.\n", r.NodeName, r.Server)
	}
	fmt.Fprintf(w, "  configuration: %s\n", r.ConfigFile)
	if r.Service == "systemd" {
		fmt.Fprintf(w, "  service:       systemd unit %s.service (logs: journalctl -u %s)\n", ServiceName, ServiceName)
	} else {
		fmt.Fprintf(w, "  service:       background process, pid file %s\n", d.spec.PIDFile)
		fmt.Fprintf(w, "  log:           %s\n", r.LogFile)
	}
}

func runCerts(ctx context.Context, d *JoinData) error {
	hub := edgecore.HubConfig(d.ec)
	if owner, ok := d.certOwner(hub); ok && owner != d.cfg.NodeName {
		// The cloud knows a node by its certificate: another name needs
		// another certificate.
		who := "no node"
		if owner != "" {
			who = strconv.Quote(owner)
		}
		fmt.Fprintf(d.out, "[certs] The certificate %s names node %s, not %q: requesting a new one\n", hub.CertFile, who, d.cfg.NodeName)
		for _, f := range []string{hub.CertFile, hub.KeyFile} {
			if err := d.deps.FS.Remove(f); err != nil {
				return err
			}
		}
	}
	had := edgehub.HaveCertificate(hub, d.deps.Now())
	if err := d.deps.Cloud.EnsureCertificate(ctx, hub); err != nil {
		return explainBootstrap(err, &d.cfg)
	}
	switch {
	case had:
		fmt.Fprintf(d.out, "[certs] Using the existing valid certificate %s\n", hub.CertFile)
	case edgehub.HaveCertificate(hub, d.deps.Now()):
		fmt.Fprintf(d.out, "[certs] Wrote the CA %s and the certificate of node %q to %s\n", hub.CAFile, d.cfg.NodeName, hub.CertFile)
	}
	return nil
}

// certOwner returns the node the valid certificate on disk was issued to
// ("" if it names none, e.g. one signed by upstream cloudcore); ok is false if
// there is no valid certificate.
func (d *JoinData) certOwner(hub edgehub.Config) (node string, ok bool) {
	if !edgehub.HaveCertificate(hub, d.deps.Now()) {
		return "", false
	}
	cert, err := certs.LoadCertFile(hub.CertFile)
	if err != nil {
		return "", false
	}
	node, _ = certs.NodeNameFromCert(cert)
	return node, true
}

func runConfig(_ context.Context, d *JoinData) error {
	if err := d.ec.Validate(); err != nil {
		return fmt.Errorf("the edgecore configuration is invalid:\n%w", err)
	}
	b, err := d.ec.Marshal()
	if err != nil {
		return err
	}
	path := d.result.ConfigFile
	if err := d.deps.FS.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	if d.dryRun() {
		return nil
	}
	verb := "Wrote"
	if d.existing != nil {
		verb = "Updated"
	}
	fmt.Fprintf(d.out, "[config] %s %s\n", verb, path)
	return nil
}

func runInstall(ctx context.Context, d *JoinData) error {
	src, dst := d.cfg.EdgecoreBinary, d.spec.Binary
	if src == "" {
		return errors.New("no edgecore binary: pass --edgecore-binary")
	}
	copied, err := d.deps.FS.InstallFile(dst, src, 0o755)
	if err != nil {
		return fmt.Errorf("install %s as %s: %w", src, dst, err)
	}
	switch {
	case d.dryRun():
	case copied:
		fmt.Fprintf(d.out, "[install] Installed %s as %s\n", src, dst)
	default:
		fmt.Fprintf(d.out, "[install] %s is already installed\n", dst)
	}
	v, err := d.deps.Version(ctx, src)
	if err != nil {
		v = keadmVersion()
		fmt.Fprintf(d.out, "[install] WARNING: cannot read edgecore's version (%v); recording keadm's %s\n", err, v)
	}
	d.result.Version = v
	return d.deps.FS.WriteFile(d.cfg.Roots.VersionFile(), []byte(v+"\n"), 0o644)
}

func runStart(ctx context.Context, d *JoinData) error {
	mgr := d.deps.Services
	if err := mgr.Install(ctx, d.spec); err != nil {
		return err
	}
	st, err := mgr.Status(ctx, ServiceName)
	if err == nil && st.State == service.StateRunning {
		fmt.Fprintf(d.out, "[start] edgecore is already running (pid %d): restarting it with the new configuration\n", st.PID)
		if err := mgr.Stop(ctx, ServiceName); err != nil {
			return err
		}
		d.result.Restarted = true
	}
	// A status left by an earlier run must not pass for the new one.
	if err := d.deps.FS.Remove(d.result.StatusFile); err != nil {
		return fmt.Errorf("remove the old status file: %w", err)
	}
	if err := mgr.Start(ctx, ServiceName); err != nil {
		return err
	}
	if d.dryRun() {
		return nil
	}
	pid := ""
	if st, err := mgr.Status(ctx, ServiceName); err == nil && st.PID > 0 {
		pid = fmt.Sprintf(" (pid %d)", st.PID)
	}
	if d.deps.ServiceKind == "systemd" {
		fmt.Fprintf(d.out, "[start] Started %s.service%s\n", ServiceName, pid)
	} else {
		fmt.Fprintf(d.out, "[start] Started edgecore%s, logging to %s\n", pid, d.spec.LogFile)
	}
	return nil
}

func runWait(ctx context.Context, d *JoinData) error {
	st, err := d.deps.Waiter.WaitConnected(ctx, WaitRequest{
		StatusFile: d.result.StatusFile,
		Node:       d.cfg.NodeName,
		Server:     d.cfg.CloudCoreIPPort,
		Service:    ServiceName,
		LogFile:    d.result.LogFile,
		Timeout:    d.cfg.Wait,
		Out:        d.out,
	})
	if err != nil {
		return err
	}
	if !d.dryRun() {
		d.result.Connected = true
		fmt.Fprintf(d.out, "[wait] edgecore is connected to %s since %s\n", d.cfg.CloudCoreIPPort, st.Since.Format(time.RFC3339))
	}
	return nil
}
