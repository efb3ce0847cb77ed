package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/keadm/phases"
	"github.com/cleanedge/kubeedge/keadm/reset"
)

// resetOptions are the flags of keadm reset.
type resetOptions struct {
	force                 bool
	kubeConfig            string
	root                  string
	runtimeType           string
	remoteRuntimeEndpoint string
}

func (o *resetOptions) config(skip []string) (reset.ResetConfig, error) {
	roots, err := rootsFlag(o.root)
	if err != nil {
		return reset.ResetConfig{}, err
	}
	return reset.ResetConfig{
		Roots:                 roots,
		Force:                 o.force,
		KubeConfig:            o.kubeConfig,
		RuntimeType:           o.runtimeType,
		RemoteRuntimeEndpoint: o.remoteRuntimeEndpoint,
		SkipPhases:            skip,
	}, nil
}

const resetLong = `Undo keadm init and keadm join on this machine.

keadm reset finds what is installed under the root (cloudcore and/or edgecore),
asks for confirmation (skip it with --force; without a terminal --force is
required), stops and uninstalls the services, and removes what init and join
wrote: <root>/etc/kubeedge, <root>/var/lib/kubeedge, <root>/var/lib/edged, the
cloudcore and edgecore binaries, logs, PID files and unit files. Nothing outside
these paths is touched. Resetting a clean machine prints "Nothing to reset".

On the cloud, --kube-config also deletes the kubeedge namespace (CA, token and
cloudcore secrets), as upstream does. The KubeEdge CRDs are kept: deleting them
would delete the devices, rules and other objects users created.

The Node object of an edge node is kept in the cluster. Edge pods' containers
are not removed yet (edgecore runs no pods before Edged exists); --runtimetype
and --remote-runtime-endpoint are accepted for that.`

const resetExample = `  # Reset, asking for confirmation
  keadm reset

  # Reset an edge node joined with --root, without asking
  keadm reset --root=/tmp/edge2 --force

  # Reset the cloud and delete its kubeedge namespace
  keadm reset --kube-config=/root/.kube/config`

func newResetCommand(out io.Writer) *cobra.Command {
	o := &resetOptions{}
	cmd := &cobra.Command{
		Use:     "reset",
		Short:   "Stop cloudcore/edgecore and remove what keadm init or join installed",
		Long:    resetLong,
		Example: resetExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "reset without asking for confirmation")
	f.StringVar(&o.kubeConfig, "kube-config", "", "kubeconfig of the cloud's cluster; if set and cloudcore is installed here, the kubeedge namespace is deleted")
	f.StringVar(&o.root, "root", "", "prefix given to keadm init or join with --root")
	f.StringVar(&o.runtimeType, "runtimetype", "remote", "container runtime type of the edge (accepted; used once edge pods are removed through CRI)")
	f.StringVar(&o.remoteRuntimeEndpoint, "remote-runtime-endpoint", "", "CRI socket of the edge (accepted; used once edge pods are removed through CRI)")

	r := reset.NewRunner(out)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return err
		}
		return reset.Reset(c.Context(), cfg, reset.DefaultDeps(cfg.Roots), c.InOrStdin(), out)
	}
	phases.BindToCommand(cmd, r, func(c *cobra.Command, _ []string) (*reset.ResetData, error) {
		cfg, err := o.config(r.SkipPhases)
		if err != nil {
			return nil, err
		}
		d, err := reset.NewReset(c.Context(), cfg, reset.DefaultDeps(cfg.Roots), out)
		if err != nil {
			return nil, err
		}
		d.PrintPlan()
		return d, d.Confirm(c.InOrStdin())
	})
	return cmd
}
