package phases

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

// BindToCommand exposes the workflow of r on cmd:
//
//   - a --skip-phases flag bound to r.SkipPhases;
//   - a "phase" subcommand with one subcommand per phase, nested like the
//     tree (`keadm init phase certs ca`), each running that phase and its
//     children;
//   - if cmd has no Run or RunE, a RunE that runs the whole workflow.
//
// dataFn builds the workflow data from the parsed command and arguments.
// Call BindToCommand after cmd's flags are defined: the phase subcommands
// share them, so `phase certs --cert-dir=…` works like `init --cert-dir=…`.
func BindToCommand[D any](cmd *cobra.Command, r *Runner[D], dataFn func(cmd *cobra.Command, args []string) (D, error)) {
	phaseCmd := &cobra.Command{
		Use:   "phase",
		Short: "Use this command to invoke a single phase of the " + cmd.Name() + " workflow",
	}
	addPhaseCommands(phaseCmd, cmd, r, r.Phases, "", dataFn)
	cmd.AddCommand(phaseCmd)

	cmd.Flags().StringSliceVar(&r.SkipPhases, "skip-phases", r.SkipPhases,
		"Phases to skip, e.g. certs or certs/ca. Valid phases: "+strings.Join(r.Names(), ", "))

	if cmd.Run == nil && cmd.RunE == nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			data, err := dataFn(c, args)
			if err != nil {
				return err
			}
			return r.Run(contextOf(c), data)
		}
	}
}

func addPhaseCommands[D any](parent, root *cobra.Command, r *Runner[D], ps []Phase[D], prefix string,
	dataFn func(*cobra.Command, []string) (D, error)) {
	for _, p := range ps {
		path := join(prefix, p.Name)
		sub := &cobra.Command{
			Use:    p.Name,
			Short:  p.Short,
			Long:   p.Long,
			Hidden: p.Hidden,
			RunE: func(c *cobra.Command, args []string) error {
				data, err := dataFn(c, args)
				if err != nil {
					return err
				}
				return r.RunPhase(contextOf(c), path, data)
			},
		}
		sub.Flags().AddFlagSet(root.LocalNonPersistentFlags())
		addPhaseCommands(sub, root, r, p.Phases, path, dataFn)
		parent.AddCommand(sub)
	}
}

func contextOf(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
