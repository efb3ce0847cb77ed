package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/keadm/edge"
	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/phases"
)

// joinOptions are the flags of keadm join.
type joinOptions struct {
	cloudCoreIPPort       string
	certPort              int
	token                 string
	nodeName              string
	labels                []string
	cgroupDriver          string
	remoteRuntimeEndpoint string
	runtimeType           string
	certPath              string
	kubeedgeVersion       string
	imageRepository       string
	tarballPath           string
	withMQTT              bool
	root                  string
	edgecoreBinary        string
	ignorePreflight       []string
	dryRun                bool
	wait                  time.Duration
}

// rootsFlag turns --root into the layout.
func rootsFlag(root string) (layout.Roots, error) {
	if root == "" {
		return layout.Default(), nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return layout.Roots{}, fmt.Errorf("--root: %w", err)
	}
	return layout.Under(abs), nil
}

// config turns the flags into the library's configuration.
func (o *joinOptions) config(skip []string) (edge.JoinConfig, error) {
	roots, err := rootsFlag(o.root)
	if err != nil {
		return edge.JoinConfig{}, err
	}
	labels, err := edge.ParseLabels(o.labels)
	if err != nil {
		return edge.JoinConfig{}, err
	}
	return edge.JoinConfig{
		CloudCoreIPPort:       o.cloudCoreIPPort,
		CertPort:              o.certPort,
		Token:                 o.token,
		NodeName:              o.nodeName,
		Labels:                labels,
		CgroupDriver:          o.cgroupDriver,
		RemoteRuntimeEndpoint: o.remoteRuntimeEndpoint,
		RuntimeType:           o.runtimeType,
		Roots:                 roots,
		EdgecoreBinary:        o.edgecoreBinary,
		IgnorePreflight:       o.ignorePreflight,
		SkipPhases:            skip,
		DryRun:                o.dryRun,
		Wait:                  o.wait,
		WithMQTT:              o.withMQTT,
		KubeEdgeVersion:       o.kubeedgeVersion,
	}, nil
}

// deps are the machine's, or a dry run's; call the function when done.
func (o *joinOptions) deps(cfg edge.JoinConfig, out io.Writer) (edge.Deps, func(), error) {
	if o.dryRun {
		return edge.DryRunDeps(cfg.Roots, out)
	}
	return edge.DefaultDeps(cfg.Roots), func() {}, nil
}

const joinLong = `Join this machine to a KubeEdge cluster as an edge node.

keadm join checks that cloudcore can be reached (its websocket port and its
certificate port), fetches the cluster CA from cloudcore and checks it against
the hash in the join token, has a certificate signed for this node, writes
edgecore.yaml, installs the edgecore shipped with keadm, starts it as a service
and waits until it reports the link to cloudcore up.

edgecore runs under systemd for the default paths on a systemd machine, else as
a background process logging to <root>/var/log/kubeedge/edgecore.log. With
--root, several edge nodes can be joined from one machine.

Re-running keadm join is safe: a valid certificate of the node is kept, an
existing edgecore.yaml keeps every setting the flags do not set, and a running
edgecore of the same node is restarted. To join under another name, run
keadm reset first or use another --root.

With --dry-run nothing is changed: nothing is sent to cloudcore, files are
printed (the token redacted) and the service is not touched.

--certPath, --image-repository and --tarballpath are accepted for compatibility
and unused. --kubeedge-version is ignored: the edgecore shipped with keadm is
installed. --with-mqtt deploys no mosquitto container. --runtimetype docker is
mapped to the CRI runtime at --remote-runtime-endpoint (there is no dockershim).`

const joinExample = `  # Join with a token from 'keadm gettoken' on the cloud
  keadm join --cloudcore-ipport=192.168.1.2:10000 --token=<token>

  # A second edge node on the same machine
  keadm join -e 192.168.1.2:10000 -t <token> -i edge-2 --root=/tmp/edge2

  # See what would be done
  keadm join -e 192.168.1.2:10000 -t <token> --dry-run`

func newJoinCommand(out io.Writer) *cobra.Command {
	o := &joinOptions{}
	cmd := &cobra.Command{
		Use:     "join",
		Short:   "Join this machine to the cluster as an edge node: certificate, edgecore.yaml, and edgecore as a service",
		Long:    joinLong,
		Example: joinExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVarP(&o.cloudCoreIPPort, "cloudcore-ipport", "e", "", "IP:port of cloudcore's websocket server, e.g. 192.168.1.2:10000 (required)")
	f.IntVarP(&o.certPort, "certport", "s", edge.DefaultCertPort, "cloudcore's HTTPS port on the same host, where the CA and the node certificate come from")
	f.StringVarP(&o.token, "token", "t", "", "join token printed by 'keadm gettoken' on the cloud (may be omitted on a re-run: the node's valid certificate is kept)")
	f.StringVarP(&o.nodeName, "edgenode-name", "i", "", "name of the edge node, a DNS-1123 subdomain (default: that of an existing edgecore.yaml, else the lower-cased hostname)")
	f.StringSliceVarP(&o.labels, "labels", "l", nil, "labels of the node, e.g. key1=value1,key2=value2")
	f.StringVar(&o.cgroupDriver, "cgroupdriver", "", "cgroup driver of the container runtime, cgroupfs or systemd (default cgroupfs; a re-run keeps the existing value)")
	f.StringVarP(&o.remoteRuntimeEndpoint, "remote-runtime-endpoint", "p", "",
		"CRI socket of the container runtime, also used for images (default "+edge.DefaultRemoteRuntimeEndpoint+"; a re-run keeps the existing value)")
	f.StringVarP(&o.runtimeType, "runtimetype", "r", edge.RuntimeRemote, "container runtime type: remote (CRI); docker is accepted and mapped to remote")
	f.StringVar(&o.certPath, "certPath", "/etc/kubeedge/certs", "accepted for compatibility and unused, as upstream")
	f.StringVar(&o.kubeedgeVersion, "kubeedge-version", "", "accepted for compatibility and ignored: the edgecore shipped with keadm is installed")
	f.StringVar(&o.imageRepository, "image-repository", "", "accepted for compatibility and unused: no image is pulled")
	f.StringVar(&o.tarballPath, "tarballpath", "", "accepted for compatibility and unused: nothing is downloaded")
	f.BoolVar(&o.withMQTT, "with-mqtt", false, "accepted for compatibility: no mosquitto container is deployed (upstream deploys one by default)")
	f.StringVar(&o.root, "root", "", "prefix of every path keadm writes (e.g. /tmp/edge1 puts the config in /tmp/edge1/etc/kubeedge/config); edgecore then runs under the process manager")
	f.StringVar(&o.edgecoreBinary, "edgecore-binary", "", "edgecore program to install (default: edgecore next to keadm, else on PATH)")
	f.StringSliceVar(&o.ignorePreflight, "ignore-preflight-errors", nil,
		"preflight checks whose errors become warnings, e.g. CloudCoreWebsocket,IsPrivilegedUser; 'all' ignores every check")
	f.BoolVar(&o.dryRun, "dry-run", false, "change nothing and contact nothing; print what join would write and do")
	f.DurationVar(&o.wait, "wait", edge.DefaultWait, "how long to wait for edgecore to connect to cloudcore")

	r := edge.NewRunner(out)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return err
		}
		deps, done, err := o.deps(cfg, out)
		if err != nil {
			return err
		}
		defer done()
		_, err = edge.Join(c.Context(), cfg, deps, out)
		return err
	}
	// The phase subcommands build their data here; a dry run's temporary
	// directory is removed when the process exits the subcommand.
	var done func()
	phases.BindToCommand(cmd, r, func(*cobra.Command, []string) (*edge.JoinData, error) {
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return nil, err
		}
		deps, cleanup, err := o.deps(cfg, out)
		if err != nil {
			return nil, err
		}
		done = cleanup
		return edge.NewJoin(cfg, deps, out)
	})
	afterPhases(cmd, func() {
		if done != nil {
			done()
			done = nil
		}
	})
	return cmd
}

// afterPhases makes every command under cmd's "phase" subcommand call fn
// when it returns.
func afterPhases(cmd *cobra.Command, fn func()) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(c *cobra.Command, args []string) error {
				defer fn()
				return run(c, args)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, sub := range cmd.Commands() {
		if sub.Name() == "phase" {
			walk(sub)
		}
	}
}
