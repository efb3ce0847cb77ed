package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/version"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// Deps are what join acts on. DefaultDeps acts on the machine; DryRunDeps
// records and prints instead, writing files into a temporary directory.
type Deps struct {
	// Services runs edgecore.
	Services service.Manager
	// ServiceKind names the manager in messages ("systemd" or "process").
	ServiceKind string
	// Cloud reaches cloudcore: reachability checks and the certificate
	// bootstrap.
	Cloud Cloud
	// FS reads and writes the files join installs.
	FS FS
	// Waiter waits for edgecore to report that it is connected.
	Waiter Waiter
	// Hostname returns the machine's host name (default node name).
	Hostname func() (string, error)
	// LocalIP returns the address this machine uses to reach host (the
	// node IP written on first join); "" if unknown.
	LocalIP func(host string) string
	// Executable returns the running keadm's path, to find edgecore next to it.
	Executable func() (string, error)
	// LookPath finds a program in PATH.
	LookPath func(name string) (string, error)
	// Version returns the version of an edgecore binary.
	Version func(ctx context.Context, binary string) (string, error)
	// ProcRoot is where the preflight looks for running processes
	// (default /proc).
	ProcRoot string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun marks dependencies that change nothing (DryRunDeps): the
	// phases then leave the reporting to them.
	DryRun bool
}

// DefaultDeps acts on this machine, for a join under roots. Join reports
// what the service manager does itself: the manager's notices are dropped.
func DefaultDeps(roots layout.Roots) Deps {
	mgr, kind := service.ForRoots(roots, io.Discard)
	d := Deps{Services: mgr, ServiceKind: kind, Cloud: NetworkCloud{}, FS: OSFS{}}
	d.Waiter = &StatusWaiter{FS: d.FS, Services: mgr}
	return d.withDefaults()
}

// DryRunDeps changes nothing on the machine: the service manager only
// prints what it would do (it still reads the real status), files are
// printed and written into a new temporary directory (so that later phases
// read what earlier ones wrote), and nothing is sent over the network. Call
// the returned function to remove the directory.
func DryRunDeps(roots layout.Roots, out io.Writer) (Deps, func(), error) {
	dir, err := os.MkdirTemp("", "keadm-join-dry-run-")
	if err != nil {
		return Deps{}, nil, fmt.Errorf("create the dry-run directory: %w", err)
	}
	real, kind := service.ForRoots(roots, io.Discard)
	d := Deps{
		Services:    &DryRunServices{Real: real, Out: out},
		ServiceKind: kind,
		Cloud:       DryRunCloud{Out: out},
		FS:          &DryRunFS{Dir: dir, Out: out},
		Waiter:      DryRunWaiter{Out: out},
		DryRun:      true,
	}
	return d.withDefaults(), func() { _ = os.RemoveAll(dir) }, nil
}

func (d Deps) withDefaults() Deps {
	if d.FS == nil {
		d.FS = OSFS{}
	}
	if d.Cloud == nil {
		d.Cloud = NetworkCloud{}
	}
	if d.ServiceKind == "" {
		d.ServiceKind = "process"
	}
	if d.Waiter == nil {
		d.Waiter = &StatusWaiter{FS: d.FS, Services: d.Services}
	}
	if d.Hostname == nil {
		d.Hostname = os.Hostname
	}
	if d.LocalIP == nil {
		d.LocalIP = localIP
	}
	if d.Executable == nil {
		d.Executable = os.Executable
	}
	if d.LookPath == nil {
		d.LookPath = exec.LookPath
	}
	if d.Version == nil {
		d.Version = binaryVersion
	}
	if d.ProcRoot == "" {
		d.ProcRoot = preflight.DefaultProcRoot
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// localIP is the source address of a route to host: a UDP "connection"
// sends nothing.
func localIP(host string) string {
	conn, err := net.Dial("udp", net.JoinHostPort(host, "9"))
	if err != nil {
		return ""
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// binaryVersion asks an edgecore binary for its version.
func binaryVersion(ctx context.Context, binary string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "version", "-o", "short").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", binary, err)
	}
	v := strings.TrimSpace(string(out))
	if v == "" || strings.ContainsAny(v, "\n ") {
		return "", fmt.Errorf("%s version: unexpected output %q", binary, v)
	}
	return v, nil
}

// keadmVersion is the version of this keadm, which ships its edgecore.
func keadmVersion() string { return version.Get().GitVersion }

// Cloud is how join reaches cloudcore.
type Cloud interface {
	// Reachable returns the preflight check named name that address
	// accepts TCP connections; hint ends its error.
	Reachable(name, address, hint string) preflight.Checker
	// EnsureCertificate gives the node its CA and client certificate (or
	// keeps a valid one).
	EnsureCertificate(ctx context.Context, cfg edgehub.Config) error
}

// NetworkCloud talks to cloudcore over the network.
type NetworkCloud struct {
	// DialTimeout bounds each reachability check (default 5s).
	DialTimeout time.Duration
}

// Reachable implements Cloud with preflight.TCPReachable.
func (n NetworkCloud) Reachable(name, address, hint string) preflight.Checker {
	return preflight.TCPReachable{Address: address, Label: name, Hint: hint, Timeout: n.DialTimeout}
}

// EnsureCertificate implements Cloud with edgehub.EnsureCertificate.
func (NetworkCloud) EnsureCertificate(ctx context.Context, cfg edgehub.Config) error {
	return edgehub.EnsureCertificate(ctx, cfg)
}

// DryRunCloud sends nothing: reachability is reported as not checked and
// the bootstrap is described.
type DryRunCloud struct{ Out io.Writer }

type skippedCheck struct{ name, address string }

func (c skippedCheck) Name() string { return c.name }
func (c skippedCheck) Check(context.Context) (warnings, errs []error) {
	return []error{fmt.Errorf("%s not checked: no network access in dry-run", c.address)}, nil
}

// Reachable implements Cloud: the check only warns that it was skipped.
func (DryRunCloud) Reachable(name, address, _ string) preflight.Checker {
	return skippedCheck{name: name, address: address}
}

// EnsureCertificate implements Cloud: it says what the bootstrap would do.
func (c DryRunCloud) EnsureCertificate(_ context.Context, cfg edgehub.Config) error {
	if edgehub.HaveCertificate(cfg, time.Now()) {
		fmt.Fprintf(c.Out, "[dry-run] Would keep the valid certificate %s\n", cfg.CertFile)
		return nil
	}
	hash := "(no token)"
	if tok, err := certs.ParseToken(cfg.Token); err == nil {
		hash = tok.CAHash
	}
	fmt.Fprintf(c.Out, "[dry-run] Would fetch the CA from %s/ca.crt, check its sha256 against the token's %s and write %s\n",
		cfg.HTTPServer, hash, cfg.CAFile)
	fmt.Fprintf(c.Out, "[dry-run] Would request a certificate for node %q from %s/edge.crt and write %s and %s\n",
		cfg.NodeName, cfg.HTTPServer, cfg.CertFile, cfg.KeyFile)
	fmt.Fprintln(c.Out, "[dry-run] Skipped: no network access in dry-run")
	return nil
}

// FS reads and writes the files join installs.
type FS interface {
	// ReadFile reads a file.
	ReadFile(path string) ([]byte, error)
	// WriteFile atomically writes data to path with perm, creating the
	// directories above it.
	WriteFile(path string, data []byte, perm os.FileMode) error
	// Remove removes a file; a missing file is not an error.
	Remove(path string) error
	// InstallFile copies src to dst with perm unless dst already holds the
	// same bytes. It reports whether it copied.
	InstallFile(dst, src string, perm os.FileMode) (bool, error)
}

// OSFS is the machine's file system.
type OSFS struct{}

// ReadFile implements FS.
func (OSFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// WriteFile implements FS.
func (OSFS) WriteFile(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm, 0o755)
}

// Remove implements FS.
func (OSFS) Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// InstallFile implements FS.
func (OSFS) InstallFile(dst, src string, perm os.FileMode) (bool, error) {
	same, err := atomicfile.SameContent(src, dst)
	if err != nil {
		return false, err
	}
	if same {
		return false, os.Chmod(dst, perm)
	}
	// Through a rename: a running edgecore keeps its (old) file.
	return true, atomicfile.Copy(src, dst, perm, 0o755)
}

// DryRunFS writes under Dir instead of the real paths and prints what it
// writes (secrets redacted). Reads see the dry-run copies first, then the
// machine's files.
type DryRunFS struct {
	Dir string
	Out io.Writer
}

func (d *DryRunFS) shadow(path string) string { return filepath.Join(d.Dir, path) }

// ReadFile implements FS.
func (d *DryRunFS) ReadFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(d.shadow(path)); err == nil {
		return b, nil
	}
	return os.ReadFile(path)
}

// WriteFile implements FS.
func (d *DryRunFS) WriteFile(path string, data []byte, perm os.FileMode) error {
	fmt.Fprintf(d.Out, "[dry-run] Would write %s (mode %04o):\n", path, perm)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fmt.Fprintf(d.Out, "\t%s\n", redact(sc.Text()))
	}
	return atomicfile.Write(d.shadow(path), data, perm, 0o755)
}

// Remove implements FS.
func (d *DryRunFS) Remove(path string) error {
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(d.Out, "[dry-run] Would remove %s\n", path)
	}
	return OSFS{}.Remove(d.shadow(path))
}

// InstallFile implements FS: nothing is copied.
func (d *DryRunFS) InstallFile(dst, src string, perm os.FileMode) (bool, error) {
	same, err := atomicfile.SameContent(src, dst)
	if err != nil {
		return false, err
	}
	if same {
		fmt.Fprintf(d.Out, "[dry-run] %s is already installed at %s\n", src, dst)
		return false, nil
	}
	fmt.Fprintf(d.Out, "[dry-run] Would copy %s to %s (mode %04o)\n", src, dst, perm)
	return true, nil
}

// redact hides the value of a YAML "token:" line.
func redact(line string) string {
	key, _, ok := strings.Cut(line, ":")
	if ok && strings.TrimSpace(key) == "token" && strings.TrimSpace(line[len(key)+1:]) != "" {
		return key + ": <redacted>"
	}
	return line
}

// DryRunServices prints what it would do; Status asks the real manager.
type DryRunServices struct {
	Real service.Manager
	Out  io.Writer
}

var _ service.Manager = (*DryRunServices)(nil)

// Install implements service.Manager.
func (d *DryRunServices) Install(_ context.Context, spec service.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(d.Out, "[dry-run] Would install service %s: %s\n", spec.Name, strings.Join(append([]string{spec.Binary}, spec.Args...), " "))
	return nil
}

// Start implements service.Manager.
func (d *DryRunServices) Start(_ context.Context, name string) error {
	fmt.Fprintf(d.Out, "[dry-run] Would start service %s\n", name)
	return nil
}

// Stop implements service.Manager.
func (d *DryRunServices) Stop(_ context.Context, name string) error {
	fmt.Fprintf(d.Out, "[dry-run] Would stop service %s\n", name)
	return nil
}

// Status implements service.Manager with the real manager.
func (d *DryRunServices) Status(ctx context.Context, name string) (service.Status, error) {
	return d.Real.Status(ctx, name)
}

// Uninstall implements service.Manager.
func (d *DryRunServices) Uninstall(_ context.Context, name string) error {
	fmt.Fprintf(d.Out, "[dry-run] Would uninstall service %s\n", name)
	return nil
}
