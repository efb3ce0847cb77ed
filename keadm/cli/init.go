package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/keadm/cloud"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/phases"
)

// initOptions are the flags of keadm init.
type initOptions struct {
	advertiseAddresses []string
	domainNames        []string
	kubeConfig         string
	master             string
	kubeedgeVersion    string
	tarballPath        string
	root               string
	websocketPort      int
	httpsPort          int
	cloudcoreBinary    string
	ignorePreflight    []string
	dryRun             bool
	wait               time.Duration
}

// config turns the flags into the library's configuration.
func (o *initOptions) config(skip []string) (cloud.InitConfig, error) {
	roots := layout.Default()
	if o.root != "" {
		abs, err := filepath.Abs(o.root)
		if err != nil {
			return cloud.InitConfig{}, fmt.Errorf("--root: %w", err)
		}
		roots = layout.Under(abs)
	}
	kubeConfig := o.kubeConfig
	if kubeConfig == "" {
		kubeConfig = defaultKubeConfig()
	}
	cfg := cloud.InitConfig{
		KubeConfig:         kubeConfig,
		Master:             o.master,
		AdvertiseAddresses: o.advertiseAddresses,
		DNSNames:           o.domainNames,
		Roots:              roots,
		WebsocketPort:      o.websocketPort,
		HTTPSPort:          o.httpsPort,
		CloudcoreBinary:    o.cloudcoreBinary,
		IgnorePreflight:    o.ignorePreflight,
		SkipPhases:         skip,
		DryRun:             o.dryRun,
		Wait:               o.wait,
	}.WithDefaults()
	return cfg, cfg.Validate()
}

// defaultKubeConfig is upstream's default: $HOME/.kube/config.
func defaultKubeConfig() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".kube", "config")
}

// notes warns about upstream flags that are accepted but do nothing.
func (o *initOptions) notes(w io.Writer) {
	if o.kubeedgeVersion != "" {
		fmt.Fprintf(w, "keadm: --kubeedge-version=%s is ignored: keadm init installs the cloudcore shipped with keadm (see --cloudcore-binary)\n", o.kubeedgeVersion)
	}
	if o.tarballPath != "" {
		fmt.Fprintf(w, "keadm: --tarballpath=%s is ignored: nothing is downloaded\n", o.tarballPath)
	}
}

const initLong = `Set up the cloud side of KubeEdge on this machine: the CA and certificates, the
KubeEdge CRDs, a join token and cloudcore.yaml, then install cloudcore and run it
as a service (systemd for the default paths on a systemd machine, else a
background process logging to <root>/var/log/kubeedge/cloudcore.log). This is
upstream's binary install (keadm deprecated init); cloudcore talks to the
cluster of --kube-config.

Every phase is safe to re-run: what is already there and right is kept, and
each file, object and service is reported as created, updated or kept. An
existing cloudcore.yaml keeps its settings; only the values keadm sets (the
kubeconfig, advertise addresses, DNS names, ports and certificate files) are
filled in. A running cloudcore is restarted only if its configuration,
certificates or binary changed.

With --dry-run nothing is changed: the cluster is replaced by an empty fake,
files are written to a temporary directory and the service is not touched;
keadm prints what it would write and create.

--kubeedge-version and --tarballpath are accepted for compatibility and
ignored: keadm installs the cloudcore shipped with it (found next to keadm or
on PATH, or given by --cloudcore-binary) and downloads nothing.`

const initExample = `  # Set up the cloud; edges reach it at 192.168.1.2
  keadm init --advertise-address=192.168.1.2 --kube-config=/root/.kube/config

  # See what would be done
  keadm init --advertise-address=192.168.1.2 --dry-run

  # A second cloudcore on the same machine, under other paths and ports
  keadm init --root=/tmp/cloud2 --websocket-port=20000 --https-port=20002

  # Only (re)write the certificates
  keadm init phase certs --advertise-address=192.168.1.2`

func newInitCommand(out, errOut io.Writer) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:     "init",
		Short:   "Set up the cloud side: certificates, CRDs, token, and cloudcore as a service",
		Long:    initLong,
		Example: initExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.advertiseAddresses, "advertise-address", nil,
		"IPs edge nodes use to reach cloudcore, comma separated; they go into the server certificate (default: those of an existing cloudcore.yaml, else this machine's first IP)")
	f.StringSliceVar(&o.domainNames, "domainname", nil, "DNS names of cloudcore for the server certificate, comma separated")
	f.StringVar(&o.kubeConfig, "kube-config", "", "kubeconfig of the cluster, used by keadm and written into cloudcore.yaml (default $HOME/.kube/config)")
	f.StringVar(&o.master, "master", "", "API server address, overriding the kubeconfig's")
	f.StringVar(&o.kubeedgeVersion, "kubeedge-version", "", "accepted for compatibility and ignored: the cloudcore shipped with keadm is installed")
	f.StringVar(&o.tarballPath, "tarballpath", "", "accepted for compatibility and ignored: nothing is downloaded")
	f.StringVar(&o.root, "root", "", "prefix of every path keadm writes (e.g. /tmp/cloud1 puts the config in /tmp/cloud1/etc/kubeedge/config); services then run under the process manager")
	f.IntVar(&o.websocketPort, "websocket-port", cloud.DefaultWebsocketPort, "CloudHub websocket port edges connect to")
	f.IntVar(&o.httpsPort, "https-port", cloud.DefaultHTTPSPort, "CloudHub HTTPS port serving the CA and edge certificates")
	f.StringVar(&o.cloudcoreBinary, "cloudcore-binary", "", "cloudcore program to install (default: cloudcore next to keadm, else on PATH)")
	f.StringSliceVar(&o.ignorePreflight, "ignore-preflight-errors", nil,
		"preflight checks whose errors become warnings, e.g. Port-10000,IsPrivilegedUser; 'all' ignores every check")
	f.BoolVarP(&o.dryRun, "dry-run", "d", false, "change nothing; print the files and objects init would write")
	f.DurationVar(&o.wait, "wait", cloud.DefaultWait, "how long to wait for the CRDs to be established and for cloudcore to answer")

	r := &phases.Runner[*cloud.InitData]{Phases: cloud.InitPhases(), Out: out}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		o.notes(errOut)
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return err
		}
		deps, cleanup, err := cloud.NewDeps(cfg, out)
		if err != nil {
			return err
		}
		defer cleanup()
		res, err := cloud.Run(c.Context(), cfg, deps, out)
		if err != nil {
			return err
		}
		res.PrintSummary(out)
		return nil
	}

	// The phase subcommands build their data here; a dry run's temporary
	// directory is removed when the subcommand returns.
	var cleanup func()
	phases.BindToCommand(cmd, r, func(*cobra.Command, []string) (*cloud.InitData, error) {
		o.notes(errOut)
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return nil, err
		}
		deps, done, err := cloud.NewDeps(cfg, out)
		if err != nil {
			return nil, err
		}
		cleanup = done
		return cloud.NewInitData(cfg, deps, out)
	})
	forEachPhaseCommand(cmd, func(sub *cobra.Command) {
		run := sub.RunE
		sub.RunE = func(c *cobra.Command, args []string) error {
			defer func() {
				if cleanup != nil {
					cleanup()
					cleanup = nil
				}
			}()
			return run(c, args)
		}
	})
	return cmd
}

// forEachPhaseCommand calls fn for every runnable command under cmd's
// "phase" subcommand.
func forEachPhaseCommand(cmd *cobra.Command, fn func(*cobra.Command)) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.RunE != nil {
			fn(c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, sub := range cmd.Commands() {
		if sub.Name() == "phase" {
			for _, p := range sub.Commands() {
				walk(p)
			}
		}
	}
}
