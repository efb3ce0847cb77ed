// Package cli builds keadm's command tree. Cobra files here only bind flags to
// options and call the library packages under keadm/ that do the work.
package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/components/version"
)

// NewRootCommand returns the keadm command tree writing to out and errOut.
func NewRootCommand(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "keadm",
		Short: "keadm: install and manage KubeEdge cloud and edge nodes",
		Long: `keadm sets up and manages a KubeEdge cluster.

On the cloud side it creates the CA and certificates, installs the KubeEdge CRDs
and starts cloudcore. On an edge machine it joins the node to the cloud with a
token, installs and starts edgecore, and resets both sides.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(newVersionCommand(out))
	root.AddCommand(newInitCommand(out, errOut), newGetTokenCommand(out))
	root.AddCommand(newJoinCommand(out), newResetCommand(out))
	root.AddCommand(newMigrateCommand(out, errOut))
	root.AddCommand(newBetaCommand(out))
	return root
}

func newVersionCommand(out io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of keadm",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return version.Print(out, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: short or json (default: upstream's version.Info line)")
	return cmd
}

// newBetaCommand is upstream's `keadm beta` group; `keadm beta join` is the
// same join (upstream's image-based join with --runtimetype remote).
func newBetaCommand(out io.Writer) *cobra.Command {
	beta := &cobra.Command{
		Use:    "beta",
		Short:  "Commands under upstream's beta group (the same implementations)",
		Hidden: true,
	}
	beta.AddCommand(newJoinCommand(out))
	return beta
}
