// Command edgecore runs the edge part of KubeEdge: EdgeHub, MetaManager, Edged, EventBus, ServiceBus and DeviceTwin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cleanedge/kubeedge/components/version"
)

func newRootCommand() *cobra.Command {
	var (
		configFile  string
		showVersion bool
	)
	root := &cobra.Command{
		Use:           "edgecore",
		Short:         "edgecore runs the edge part of KubeEdge: EdgeHub, MetaManager, Edged, EventBus, ServiceBus and DeviceTwin",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return version.Print(cmd.OutOrStdout(), "")
			}
			return errors.New("edgecore modules are not part of this build yet (config " + configFile + " was not read)")
		},
	}
	root.Flags().StringVar(&configFile, "config", "/etc/kubeedge/config/edgecore.yaml", "path to the edgecore configuration file")
	root.Flags().BoolVar(&showVersion, "version", false, "print version information and exit")
	var output string
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of edgecore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return version.Print(cmd.OutOrStdout(), output)
		},
	}
	versionCmd.Flags().StringVarP(&output, "output", "o", "", "output format: short or json")
	root.AddCommand(versionCmd)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
