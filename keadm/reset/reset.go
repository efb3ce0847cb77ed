// Package reset undoes keadm init and keadm join on this machine: the library
// behind `keadm reset`.
//
// Reset finds what is installed under a set of roots (cloudcore and/or
// edgecore: their services, PID files, configurations, binaries), asks for
// confirmation, stops and uninstalls the services, optionally deletes the
// kubeedge namespace of the cloud, and removes what init and join wrote. It
// only ever removes paths under the roots: upstream's extra clean-up of
// /var/lib/dockershim, /var/run/kubernetes and /var/lib/cni is not done, as
// those directories belong to the container runtime and CNI.
//
// Containers of edge pods are not touched yet: edgecore does not run pods
// until Edged exists. Once it does, reset will remove the containers of the
// node's pods through CRI (--remote-runtime-endpoint), as upstream does.
//
// Resetting a clean machine prints "Nothing to reset" and succeeds, so reset
// can be run any number of times.
package reset

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/cloud/admission"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/phases"
	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// Component names.
const (
	CloudCore = "cloudcore"
	EdgeCore  = "edgecore"
	// Namespace is the cloud namespace upstream's reset deletes.
	Namespace = "kubeedge"
)

// ResetConfig is what keadm reset is asked to do.
type ResetConfig struct {
	// Roots are where init/join installed; zero means upstream's paths.
	Roots layout.Roots
	// Force skips the confirmation prompt.
	Force bool
	// KubeConfig, if set and cloudcore was installed under Roots, is used to
	// delete the kubeedge namespace (not the CRDs).
	KubeConfig string
	// RuntimeType and RemoteRuntimeEndpoint are upstream's flags for
	// removing pod containers through CRI; accepted, not used until Edged
	// runs pods.
	RuntimeType, RemoteRuntimeEndpoint string
	// SkipPhases lists phases not to run (Reset only).
	SkipPhases []string
}

// ErrAborted is returned when the user does not confirm.
var ErrAborted = errors.New("reset aborted: nothing was changed")

// ErrNotInteractive is returned when confirmation is needed and stdin is not
// a terminal.
var ErrNotInteractive = errors.New("stdin is not a terminal and --force was not given: re-run with --force to reset without confirmation")

// Deps are what reset acts on.
type Deps struct {
	// Services stops and uninstalls cloudcore and edgecore.
	Services service.Manager
	// ServiceKind is "systemd" or "process".
	ServiceKind string
	// Namespaces returns the client that deletes the kubeedge namespace.
	Namespaces func(kubeconfig string) (NamespaceDeleter, error)
	// IsTerminal reports whether in is interactive.
	IsTerminal func(in io.Reader) bool
	// MountInfo is the mount table read before removing directories
	// (default /proc/self/mountinfo).
	MountInfo string
	// ProcRoot is where stray processes are looked for (default /proc).
	ProcRoot string
}

// DefaultDeps acts on this machine. Reset reports what the service manager
// does itself: the manager's notices are dropped.
func DefaultDeps(roots layout.Roots) Deps {
	mgr, kind := service.ForRoots(roots, io.Discard)
	return Deps{Services: mgr, ServiceKind: kind}.withDefaults()
}

func (d Deps) withDefaults() Deps {
	if d.Namespaces == nil {
		d.Namespaces = KubeconfigDeleter
	}
	if d.IsTerminal == nil {
		d.IsTerminal = isTerminal
	}
	if d.MountInfo == "" {
		d.MountInfo = "/proc/self/mountinfo"
	}
	if d.ProcRoot == "" {
		d.ProcRoot = preflight.DefaultProcRoot
	}
	return d
}

func isTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Found is one component installed under the roots.
type Found struct {
	Name string
	// Running is true if its service runs; PID is then its process.
	Running bool
	PID     int
	// Evidence lists what shows it is installed.
	Evidence []string
}

// ResetData is the state of one reset run, shared by its phases.
type ResetData struct {
	cfg   ResetConfig
	deps  Deps
	out   io.Writer
	found []Found
	// remove are the paths to remove, wholesale; removeIfEmpty the
	// directories removed only if nothing else is left in them.
	remove, removeIfEmpty []string
	nodeName              string
}

// Found lists the installed components.
func (d *ResetData) Found() []Found { return d.found }

// Nothing reports whether there is nothing to reset.
func (d *ResetData) Nothing() bool {
	return len(d.found) == 0 && len(d.remove) == 0 && len(d.removeIfEmpty) == 0
}

// NewReset checks the roots and finds what is installed. Nothing is changed.
func NewReset(ctx context.Context, cfg ResetConfig, deps Deps, out io.Writer) (*ResetData, error) {
	if out == nil {
		out = io.Discard
	}
	if cfg.Roots == (layout.Roots{}) {
		cfg.Roots = layout.Default()
	}
	if err := checkRoots(cfg.Roots); err != nil {
		return nil, err
	}
	if deps.Services == nil {
		deps.Services, deps.ServiceKind = service.ForRoots(cfg.Roots, io.Discard)
	}
	deps = deps.withDefaults()
	d := &ResetData{cfg: cfg, deps: deps, out: out}
	if err := d.detect(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// detect fills found and the removal lists.
func (d *ResetData) detect(ctx context.Context) error {
	r := d.cfg.Roots
	configs := map[string]string{CloudCore: r.CloudCoreConfig(), EdgeCore: r.EdgeCoreConfig()}
	for _, name := range []string{EdgeCore, CloudCore} {
		f := Found{Name: name}
		for _, p := range []string{configs[name], r.Binary(name), r.PIDFile(name),
			filepath.Join(service.StateDir(r), name+".json"), unitFile(r, name)} {
			if exists(p) {
				f.Evidence = append(f.Evidence, p)
			}
		}
		st, err := d.deps.Services.Status(ctx, name)
		switch {
		case err == nil && st.State == service.StateRunning:
			f.Running, f.PID = true, st.PID
			f.Evidence = append(f.Evidence, fmt.Sprintf("%s service running (pid %d)", name, st.PID))
		case err != nil && !errors.Is(err, service.ErrNotInstalled) && len(f.Evidence) > 0:
			return fmt.Errorf("cannot tell whether %s runs: %w", name, err)
		}
		if len(f.Evidence) > 0 {
			d.found = append(d.found, f)
		}
	}
	if ec, err := v1alpha2.Load(r.EdgeCoreConfig()); err == nil {
		d.nodeName = ec.Modules.Edged.HostnameOverride
	}

	for _, p := range []string{r.Etc, r.VarLib, r.Edged} {
		if exists(p) {
			d.remove = append(d.remove, p)
		}
	}
	for _, name := range []string{EdgeCore, CloudCore} {
		for _, p := range []string{r.Binary(name), r.PIDFile(name), unitFile(r, name)} {
			if exists(p) {
				d.remove = append(d.remove, p)
			}
		}
		// The log and its rotated copies.
		logs, _ := filepath.Glob(r.LogFile(name) + "*")
		d.remove = append(d.remove, logs...)
	}
	for _, p := range []string{r.Log, r.Run} {
		if exists(p) && (len(d.remove) > 0 || isEmptyDir(p)) {
			d.removeIfEmpty = append(d.removeIfEmpty, p)
		}
	}
	return nil
}

func unitFile(r layout.Roots, name string) string { return filepath.Join(r.UnitDir, name+".service") }

func isEmptyDir(p string) bool {
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) == 0
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Phases is the reset workflow.
func Phases() []phases.Phase[*ResetData] {
	return []phases.Phase[*ResetData]{
		{Name: "stop", Short: "Stopping and uninstalling the KubeEdge services", Run: runStop},
		{Name: "cloud", Short: "Deleting the kubeedge namespace", Run: runCloud, RunIf: func(d *ResetData) (bool, error) {
			return d.has(CloudCore), nil
		}, Long: "With --kube-config, delete the kubeedge namespace (CA, token and cloudcore secrets). The KubeEdge CRDs are kept."},
		{Name: "cleanup", Short: "Removing the files of init and join", Run: runCleanup},
	}
}

// NewRunner returns the reset workflow runner writing progress to out.
func NewRunner(out io.Writer) *phases.Runner[*ResetData] {
	return &phases.Runner[*ResetData]{Phases: Phases(), Out: out}
}

func (d *ResetData) has(name string) bool {
	for _, f := range d.found {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Reset undoes init and join under cfg.Roots. It reads the confirmation
// from in unless cfg.Force.
func Reset(ctx context.Context, cfg ResetConfig, deps Deps, in io.Reader, out io.Writer) error {
	d, err := NewReset(ctx, cfg, deps, out)
	if err != nil {
		return err
	}
	if d.Nothing() {
		d.PrintNothing()
		return nil
	}
	d.PrintPlan()
	if err := d.Confirm(in); err != nil {
		return err
	}
	r := NewRunner(d.out)
	r.SkipPhases = cfg.SkipPhases
	if err := r.Run(ctx, d); err != nil {
		return err
	}
	d.PrintDone()
	return nil
}

// PrintNothing says that there is nothing to reset.
func (d *ResetData) PrintNothing() {
	fmt.Fprintf(d.out, "[reset] Nothing to reset: no cloudcore or edgecore is installed under %s\n", d.cfg.Roots.Etc)
}

// PrintPlan says what reset will stop and remove.
func (d *ResetData) PrintPlan() {
	for _, f := range d.found {
		state := "installed"
		if f.Running {
			state = fmt.Sprintf("running, pid %d", f.PID)
		}
		fmt.Fprintf(d.out, "[reset] Found %s (%s)\n", f.Name, state)
	}
	if len(d.found) > 0 {
		fmt.Fprintln(d.out, "[reset] Will stop and uninstall these services and remove:")
	} else {
		fmt.Fprintln(d.out, "[reset] Will remove:")
	}
	for _, p := range d.remove {
		fmt.Fprintf(d.out, "\t%s\n", p)
	}
	for _, p := range d.removeIfEmpty {
		fmt.Fprintf(d.out, "\t%s (if empty)\n", p)
	}
}

// Confirm asks the user unless Force.
func (d *ResetData) Confirm(in io.Reader) error {
	if d.cfg.Force {
		return nil
	}
	if in == nil || !d.deps.IsTerminal(in) {
		return ErrNotInteractive
	}
	fmt.Fprint(d.out, "[reset] Are you sure you want to proceed? [y/N]: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(d.out)
		return ErrAborted
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrAborted
}

// PrintDone says what was left as it was.
func (d *ResetData) PrintDone() {
	fmt.Fprintln(d.out, "\n[reset] KubeEdge was reset on this machine.")
	if d.has(EdgeCore) {
		name := d.nodeName
		if name == "" {
			name = "<node>"
		}
		fmt.Fprintf(d.out, "The Node object is kept in the cluster: delete it with `kubectl delete node %s` on the control plane.\n", name)
	}
}

func runStop(ctx context.Context, d *ResetData) error {
	mgr := d.deps.Services
	var errs []error
	for _, f := range d.found {
		if err := d.stop(ctx, mgr, f.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if d.cfg.Roots.IsDefault() {
		// Started by hand or from other roots: say so rather than kill it.
		for _, name := range []string{EdgeCore, CloudCore} {
			_, perrs := preflight.ProcessNotRunning{Process: name, ProcRoot: d.deps.ProcRoot}.Check(ctx)
			for range perrs {
				fmt.Fprintf(d.out, "[stop] WARNING: a %s process not run by this installation's service is still running; "+
					"stop it yourself if it belongs here (it may be another --root's)\n", name)
			}
		}
	}
	return errors.Join(errs...)
}

// stop stops and uninstalls one service. A process manager service whose
// record is gone but whose PID file remains is recorded again from the
// layout, so that its process can be found and stopped.
func (d *ResetData) stop(ctx context.Context, mgr service.Manager, name string) error {
	r := d.cfg.Roots
	st, err := mgr.Status(ctx, name)
	if errors.Is(err, service.ErrNotInstalled) && d.deps.ServiceKind == "process" && exists(r.PIDFile(name)) {
		spec := service.Spec{Name: name, Binary: r.Binary(name), LogFile: r.LogFile(name), PIDFile: r.PIDFile(name)}
		if err := mgr.Install(ctx, spec); err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
		st, err = mgr.Status(ctx, name)
	}
	if err == nil && st.State == service.StateRunning {
		if err := mgr.Stop(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "[stop] Stopped %s (pid %d)\n", name, st.PID)
	}
	if err := mgr.Uninstall(ctx, name); err != nil {
		return err
	}
	st, err = mgr.Status(ctx, name)
	if err == nil && st.State == service.StateRunning {
		return fmt.Errorf("%s is still running (pid %d) after it was stopped", name, st.PID)
	}
	fmt.Fprintf(d.out, "[stop] Uninstalled the %s service\n", name)
	return nil
}

func runCloud(ctx context.Context, d *ResetData) error {
	if d.cfg.KubeConfig == "" {
		fmt.Fprintf(d.out, "[cloud] --kube-config not given: the %s namespace (CA, token and cloudcore secrets) is kept\n", Namespace)
		return nil
	}
	client, err := d.deps.Namespaces(d.cfg.KubeConfig)
	if err != nil {
		return err
	}
	if err := client.DeleteNamespace(ctx, Namespace); err != nil {
		return fmt.Errorf("delete namespace %s: %w (skip this step with --skip-phases cloud)", Namespace, err)
	}
	fmt.Fprintf(d.out, "[cloud] Deleted the %s namespace (CA, token and cloudcore secrets)\n", Namespace)
	if wd, ok := client.(WebhookDeleter); ok {
		if err := wd.DeleteWebhook(ctx); err != nil {
			return fmt.Errorf("delete the edge-pod admission webhook: %w", err)
		}
		fmt.Fprintf(d.out, "[cloud] Deleted the %s mutating webhook configuration\n", admission.WebhookConfigurationName)
	}
	fmt.Fprintln(d.out, "[cloud] The KubeEdge CRDs are kept: deleting them would delete every device, device model, rule, "+
		"node group and edge application users created. Delete them with kubectl if that is what you want.")
	return nil
}

func runCleanup(_ context.Context, d *ResetData) error {
	mounts, err := readMounts(d.deps.MountInfo)
	if err != nil {
		fmt.Fprintf(d.out, "[cleanup] WARNING: cannot read the mount table: %v\n", err)
	}
	var errs []error
	for _, p := range d.remove {
		if busy := mountsUnder(mounts, p); len(busy) > 0 {
			errs = append(errs, fmt.Errorf("%s is not removed: it holds mount points (%s); unmount them and run keadm reset again",
				p, strings.Join(busy, ", ")))
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(d.out, "[cleanup] Removed %s\n", p)
	}
	for _, p := range d.removeIfEmpty {
		if err := os.Remove(p); err == nil {
			fmt.Fprintf(d.out, "[cleanup] Removed %s\n", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(d.out, "[cleanup] Kept %s: it holds other files\n", p)
		}
	}
	return errors.Join(errs...)
}
