package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/certs/secretstore"
	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
	"github.com/cleanedge/kubeedge/components/cloud/cloudcore"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/phases"
)

// Defaults of InitConfig.
const (
	DefaultWebsocketPort = 10000
	DefaultHTTPSPort     = 10002
	DefaultWait          = 60 * time.Second
)

// ServiceName is the name cloudcore is installed under.
const ServiceName = "cloudcore"

// InitConfig is the input of Run.
type InitConfig struct {
	// KubeConfig is the kubeconfig file cloudcore and keadm use; it is
	// written into cloudcore.yaml as an absolute path.
	KubeConfig string
	// Master overrides the API server address of the kubeconfig.
	Master string
	// AdvertiseAddresses are the IPs edges use to reach cloudcore; they go
	// into the server certificate. Empty: those of an existing cloudcore.yaml,
	// else the first global unicast IP of this machine.
	AdvertiseAddresses []string
	// DNSNames are extra DNS names of the server certificate.
	DNSNames []string
	// Roots are where files go; zero means layout.Default().
	Roots layout.Roots
	// WebsocketPort and HTTPSPort are CloudHub's ports (0: 10000, 10002).
	WebsocketPort, HTTPSPort int
	// CloudcoreBinary is the cloudcore program to install. Empty: a
	// cloudcore next to the running keadm, else one on PATH.
	CloudcoreBinary string
	// IgnorePreflight names preflight checks whose errors become warnings
	// ("all" for every check).
	IgnorePreflight []string
	// SkipPhases names phases not to run.
	SkipPhases []string
	// DryRun changes only the wording of the progress: what makes a run dry
	// is the Deps it is given (see NewDeps).
	DryRun bool
	// Wait bounds the waits for the CRDs to be established and for
	// cloudcore to answer (0: DefaultWait).
	Wait time.Duration
}

// WithDefaults returns c with its empty fields filled: roots, ports, wait,
// the absolute kubeconfig path and the cloudcore binary.
func (c InitConfig) WithDefaults() InitConfig {
	if c.Roots == (layout.Roots{}) {
		c.Roots = layout.Default()
	}
	if c.WebsocketPort == 0 {
		c.WebsocketPort = DefaultWebsocketPort
	}
	if c.HTTPSPort == 0 {
		c.HTTPSPort = DefaultHTTPSPort
	}
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	if c.KubeConfig != "" {
		if abs, err := filepath.Abs(c.KubeConfig); err == nil {
			c.KubeConfig = abs
		}
	}
	if c.CloudcoreBinary == "" {
		c.CloudcoreBinary = DefaultCloudcoreBinary()
	} else if abs, err := filepath.Abs(c.CloudcoreBinary); err == nil {
		c.CloudcoreBinary = abs
	}
	c.AdvertiseAddresses = trimAll(c.AdvertiseAddresses)
	c.DNSNames = trimAll(c.DNSNames)
	return c
}

// Validate checks what can be checked without the machine or the cluster.
func (c InitConfig) Validate() error {
	var errs []error
	for _, a := range c.AdvertiseAddresses {
		if net.ParseIP(a) == nil {
			errs = append(errs, fmt.Errorf("advertise address %q is not an IP address (use --domainname for DNS names)", a))
		}
	}
	for name, p := range map[string]int{"websocket": c.WebsocketPort, "https": c.HTTPSPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s port %d is out of range 1-65535", name, p))
		}
	}
	if c.WebsocketPort == c.HTTPSPort {
		errs = append(errs, fmt.Errorf("the websocket and https ports must differ (both %d)", c.HTTPSPort))
	}
	for name, p := range map[string]string{"etc": c.Roots.Etc, "bin": c.Roots.Bin, "log": c.Roots.Log, "run": c.Roots.Run} {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("%s root %q is not an absolute path", name, p))
		}
	}
	return errors.Join(errs...)
}

// DefaultCloudcoreBinary finds the cloudcore to install: the one next to the
// running keadm, else the one on PATH, else "".
func DefaultCloudcoreBinary() string {
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		p := filepath.Join(filepath.Dir(self), "cloudcore")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath("cloudcore"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}

func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Action says what init did with a file, object or service.
type Action string

// Actions.
const (
	Created Action = "created"
	Updated Action = "updated"
	Kept    Action = "kept"
)

// Change is one thing init created, updated or kept.
type Change struct {
	// Kind is File, Namespace, Secret, CustomResourceDefinition or Service.
	Kind string
	// Name is the path of a file, namespace/name of a namespaced object,
	// else the name.
	Name   string
	Action Action
	// Mode is the permission bits of a file.
	Mode os.FileMode
	// Detail says why, for people.
	Detail string
}

func (c Change) what() string {
	if c.Kind == "File" {
		return fmt.Sprintf("%s (%04o)", c.Name, c.Mode.Perm())
	}
	return c.Kind + " " + c.Name
}

// InitResult is what Run did.
type InitResult struct {
	DryRun bool
	// Changes lists everything created, updated or kept, in order.
	Changes []Change
	// ConfigFile is the cloudcore.yaml path.
	ConfigFile string
	// LogFile is where the process manager sends cloudcore's output ("" under systemd).
	LogFile string
	// Service is the service spec that was installed, if the start phase ran.
	Service *ServiceSummary
	// JoinAddress is <first advertise address>:<websocket port>, for keadm join.
	JoinAddress string
	// Ready is true if the wait phase saw cloudcore answer.
	Ready bool
}

// ServiceSummary describes the installed cloudcore service.
type ServiceSummary struct {
	Manager string
	Command []string
}

// Files returns the files created or updated.
func (r *InitResult) Files() []Change {
	return r.filter(func(c Change) bool { return c.Kind == "File" })
}

// Objects returns the Kubernetes objects created or updated.
func (r *InitResult) Objects() []Change {
	return r.filter(func(c Change) bool { return c.Kind != "File" && c.Kind != "Service" })
}

func (r *InitResult) filter(keep func(Change) bool) []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Action != Kept && keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// PrintSummary writes what a person needs after init: for a dry run the
// files and objects it would write, else where things are and how to join
// an edge node.
func (r *InitResult) PrintSummary(w io.Writer) {
	if r.DryRun {
		fmt.Fprintln(w, "\nDry run: nothing was changed on this machine or in the cluster.")
		fmt.Fprintln(w, "The dry run used an empty fake cluster, so every object is listed as new.")
		printList(w, "keadm init would write these files:", r.Files())
		printList(w, "keadm init would create or update these objects:", r.Objects())
		if r.Service != nil {
			fmt.Fprintf(w, "keadm init would install the service %s (%s) and make sure it runs:\n  %s\n",
				ServiceName, r.Service.Manager, strings.Join(r.Service.Command, " "))
		}
		return
	}
	if r.Ready {
		fmt.Fprintln(w, "\nCloudCore is running.")
	} else {
		fmt.Fprintln(w, "\nCloudCore is set up.")
	}
	fmt.Fprintf(w, "  config: %s\n", r.ConfigFile)
	if r.LogFile != "" && r.Service != nil {
		fmt.Fprintf(w, "  log:    %s\n", r.LogFile)
	}
	fmt.Fprintln(w, "\nGet the join token here with `keadm gettoken`, then on each edge node run:")
	fmt.Fprintf(w, "  keadm join --cloudcore-ipport=%s --token=<token>\n", r.JoinAddress)
}

func printList(w io.Writer, title string, cs []Change) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	for _, c := range cs {
		fmt.Fprintf(w, "  %s\n", c.what())
	}
}

// InitData is what the init phases share. Build it with NewInitData.
type InitData struct {
	cfg  InitConfig
	deps Deps
	out  io.Writer

	// config is cloudcore.yaml as it will be written.
	config *v1alpha1.CloudCore
	// configAction and configNotes say how config relates to an existing file.
	configAction Action
	configNotes  []string

	pki *cloudcore.PKI
	// restart is set when something cloudcore reads at start changed.
	restart bool
	result  InitResult
}

// NewInitData validates cfg and deps and prepares the cloudcore
// configuration (loading an existing one), so that every phase can run on
// its own (`keadm init phase certs`).
func NewInitData(cfg InitConfig, deps Deps, out io.Writer) (*InitData, error) {
	if out == nil {
		out = io.Discard
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	deps, err := deps.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &InitData{cfg: cfg, deps: deps, out: out}
	d.result = InitResult{
		DryRun:     cfg.DryRun,
		ConfigFile: cfg.Roots.CloudCoreConfig(),
	}
	if err := d.prepareConfig(); err != nil {
		return nil, err
	}
	hub := d.config.Modules.CloudHub
	d.result.JoinAddress = net.JoinHostPort(hub.AdvertiseAddress[0], fmt.Sprint(hub.WebSocket.Port))
	return d, nil
}

// Config returns the configuration init works with.
func (d *InitData) Config() InitConfig { return d.cfg }

// Result returns what the phases run so far did.
func (d *InitData) Result() *InitResult { return &d.result }

// InitPhases returns the init workflow.
func InitPhases() []phases.Phase[*InitData] {
	return []phases.Phase[*InitData]{
		{Name: "preflight", Short: "Running pre-flight checks", Run: runPreflight},
		{Name: "certs", Short: "Settling the CA and the cloudcore server certificate", Run: runCerts},
		{Name: "crds", Short: "Creating or updating the KubeEdge CRDs", Run: runCRDs},
		{Name: "token", Short: "Storing a join token in kubeedge/tokensecret", Run: runToken},
		{Name: "config", Short: "Writing the cloudcore configuration", Run: runConfig},
		{Name: "install", Short: "Installing the cloudcore binary", Run: runInstall},
		{Name: "start", Short: "Installing and starting the cloudcore service", Run: runStart},
		{Name: "wait", Short: "Waiting for cloudcore to answer", Run: runWait},
	}
}

// NewInitRunner returns a runner of InitPhases writing progress to out.
func NewInitRunner(cfg InitConfig, deps Deps, out io.Writer) *phases.Runner[*InitData] {
	return &phases.Runner[*InitData]{Phases: InitPhases(), SkipPhases: cfg.SkipPhases, Out: out, Now: deps.Now}
}

// Run runs the init workflow: every phase but those in cfg.SkipPhases.
// It returns what was done, also when a phase fails.
func Run(ctx context.Context, cfg InitConfig, deps Deps, out io.Writer) (*InitResult, error) {
	d, err := NewInitData(cfg, deps, out)
	if err != nil {
		return nil, err
	}
	err = NewInitRunner(d.cfg, d.deps, out).Run(ctx, d)
	return d.Result(), err
}

// willRun reports whether the phase named path is not skipped.
func (d *InitData) willRun(path string) bool {
	return !slices.ContainsFunc(d.cfg.SkipPhases, func(s string) bool { return strings.Trim(s, "/") == path })
}

// printf writes a progress line for phase.
func (d *InitData) printf(phase, format string, args ...any) {
	fmt.Fprintf(d.out, "["+phase+"] "+format+"\n", args...)
}

// record notes a change and prints it.
func (d *InitData) record(phase string, c Change) {
	d.result.Changes = append(d.result.Changes, c)
	verb := string(c.Action)
	if d.cfg.DryRun {
		switch c.Action {
		case Created:
			verb = "would create"
		case Updated:
			verb = "would update"
		}
	}
	line := verb + " " + c.what()
	if c.Detail != "" {
		line += ": " + c.Detail
	}
	d.printf(phase, "%s", line)
}

// ca returns the cluster CA: the one settled by the certs phase, else the
// one in the kubeedge/casecret secret, else the local CA files.
func (d *InitData) ca(ctx context.Context) (*certs.CA, error) {
	if d.pki != nil {
		return d.pki.CA, nil
	}
	store := &secretstore.SecretStore{Client: d.deps.Client}
	ca, err := store.LoadCA(ctx)
	if err == nil {
		return ca, nil
	}
	if !errors.Is(err, secretstore.ErrNotFound) {
		return nil, err
	}
	hub := d.config.Modules.CloudHub
	ca, ferr := certs.LoadCAFiles(d.deps.Disk.ReadPath(hub.TLSCAFile), d.deps.Disk.ReadPath(hub.TLSCAKeyFile))
	if ferr != nil {
		return nil, fmt.Errorf("no CA yet (%w; %w): run the certs phase first", err, ferr)
	}
	return ca, nil
}
