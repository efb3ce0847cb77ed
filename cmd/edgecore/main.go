// Command edgecore runs the edge part of KubeEdge: EdgeHub, MetaManager, Edged,
// EventBus, ServiceBus and DeviceTwin.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/components/version"
)

func newRootCommand() *cobra.Command {
	var (
		configFile                       string
		showVersion, defaults, minConfig bool
	)
	root := &cobra.Command{
		Use:   "edgecore",
		Short: "edgecore runs the edge part of KubeEdge: EdgeHub, MetaManager, Edged, EventBus, ServiceBus and DeviceTwin",
		Long: `edgecore runs on an edge node: EdgeHub bootstraps the node's certificate with the
join token and keeps a mutual-TLS websocket link to cloudcore; the node registers
itself and reports its status.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			switch {
			case showVersion:
				return version.Print(out, "")
			case defaults:
				return printYAML(out, v1alpha2.NewDefault().Marshal)
			case minConfig:
				return printYAML(out, v1alpha2.NewMinimal().MarshalMinimal)
			}
			cfg, err := v1alpha2.Load(configFile)
			if err != nil {
				return err
			}
			return edgecore.Run(cmd.Context(), cfg, klog.Background())
		},
	}
	root.Flags().StringVar(&configFile, "config", v1alpha2.DefaultConfigFile, "path to the edgecore configuration file")
	root.Flags().BoolVar(&showVersion, "version", false, "print version information and exit")
	root.Flags().BoolVar(&defaults, "defaultconfig", false, "print the default configuration and exit")
	root.Flags().BoolVar(&minConfig, "minconfig", false, "print a minimal configuration and exit")
	root.AddCommand(newVersionCommand(), newBackupCommand())
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of edgecore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return version.Print(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: short or json")
	return cmd
}

func newBackupCommand() *cobra.Command {
	var configFile, output string
	cmd := &cobra.Command{
		Use:   "backup --output FILE",
		Short: "Write a consistent copy of meta.db, also while edgecore runs",
		Long: `backup writes a consistent snapshot of the node's meta.db (pods, configmaps,
secrets, devices, twins, the edge outbox) to --output, mode 0600, atomically.
While edgecore runs, the snapshot is taken by edgecore itself through its admin
socket (edgecore.sock beside meta.db) in a read transaction: nothing stops.
Otherwise meta.db is opened directly. The copy is checked before it is kept.
To restore, stop edgecore and put the copy in place of meta.db.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return fmt.Errorf("--output is required: the file to write the backup to")
			}
			cfg, err := v1alpha2.Load(configFile)
			if err != nil {
				return err
			}
			n, err := edgecore.Backup(cmd.Context(), cfg, output)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "meta.db backed up to %s (%d bytes)\n", output, n)
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", v1alpha2.DefaultConfigFile, "path to the edgecore configuration file")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write the backup to")
	return cmd
}

func printYAML(w interface{ Write([]byte) (int, error) }, marshal func() ([]byte, error)) error {
	b, err := marshal()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func main() {
	klog.InitFlags(nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	klog.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
