// Package phases runs a keadm workflow (init, join, reset, upgrade) as a tree
// of named phases, in the manner of kubeadm's workflow runner.
//
// A workflow is data: a list of Phase values, each with a name, a one-line
// description, an optional Run function, an optional RunIf predicate and child
// phases. Runner walks the tree in order, honours --skip-phases, prints
// progress and wraps errors with the path of the failing phase. The same tree
// yields one `phase <name>` subcommand per phase (see BindToCommand).
package phases

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Phase is one step of a workflow operating on data of type D. Phase paths
// join the names of the phase and its ancestors with "/" (e.g. "certs/ca").
type Phase[D any] struct {
	// Name is unique among its siblings and must not contain "/" or spaces.
	Name string
	// Short describes what the phase does; it is printed when the phase
	// starts and used as help text.
	Short string
	// Long is optional extended help for the phase subcommand.
	Long string
	// Run performs the phase. It may be nil for a phase that only groups
	// children. Children run after it.
	Run func(ctx context.Context, data D) error
	// RunIf, if set, decides at run time whether the phase and its children
	// run at all.
	RunIf func(data D) (bool, error)
	// Phases are the children, run in order after Run.
	Phases []Phase[D]
	// Hidden phases get no subcommand help entry.
	Hidden bool
}

// Runner runs a workflow.
type Runner[D any] struct {
	// Phases is the workflow, run in order.
	Phases []Phase[D]
	// SkipPhases lists phase paths not to run; skipping a parent skips its
	// children.
	SkipPhases []string
	// Out receives progress lines; nil discards them.
	Out io.Writer
	// Now is the clock used to time phases; nil means time.Now.
	Now func() time.Time
}

// Names lists the path of every phase in run order.
func (r *Runner[D]) Names() []string {
	var names []string
	walk(r.Phases, "", func(path string, _ *Phase[D]) {
		names = append(names, path)
	})
	return names
}

func walk[D any](ps []Phase[D], prefix string, fn func(path string, p *Phase[D])) {
	for i := range ps {
		path := join(prefix, ps[i].Name)
		fn(path, &ps[i])
		walk(ps[i].Phases, path, fn)
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// validate checks phase names and the skip list.
func (r *Runner[D]) validate() error {
	var err error
	seen := map[string]bool{}
	walk(r.Phases, "", func(path string, p *Phase[D]) {
		switch {
		case err != nil:
		case p.Name == "" || strings.ContainsAny(p.Name, "/ \t\n"):
			err = fmt.Errorf("invalid phase name %q under %q", p.Name, strings.TrimSuffix(path, p.Name))
		case seen[path]:
			err = fmt.Errorf("duplicate phase %q", path)
		}
		seen[path] = true
	})
	if err != nil {
		return err
	}
	var unknown []string
	for _, s := range r.SkipPhases {
		if !seen[strings.Trim(s, "/")] {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown phase(s) %s in --skip-phases; valid phases are: %s",
			strings.Join(unknown, ", "), strings.Join(r.Names(), ", "))
	}
	return nil
}

// Run runs the whole workflow with data, skipping the phases in SkipPhases.
// It stops at the first failing phase and returns its error wrapped as
// "phase <path>: …".
func (r *Runner[D]) Run(ctx context.Context, data D) error {
	if err := r.validate(); err != nil {
		return err
	}
	return r.runList(ctx, r.Phases, "", data)
}

// RunPhase runs only the phase at path and its children (as `keadm init
// phase certs` does). RunIf and SkipPhases still apply to the children.
func (r *Runner[D]) RunPhase(ctx context.Context, path string, data D) error {
	if err := r.validate(); err != nil {
		return err
	}
	var target *Phase[D]
	walk(r.Phases, "", func(p string, ph *Phase[D]) {
		if p == path {
			target = ph
		}
	})
	if target == nil {
		return fmt.Errorf("unknown phase %q; valid phases are: %s", path, strings.Join(r.Names(), ", "))
	}
	return r.runOne(ctx, *target, path, data, false)
}

func (r *Runner[D]) runList(ctx context.Context, ps []Phase[D], prefix string, data D) error {
	for _, p := range ps {
		if err := r.runOne(ctx, p, join(prefix, p.Name), data, true); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner[D]) runOne(ctx context.Context, p Phase[D], path string, data D, honourSkip bool) error {
	if honourSkip && r.skipped(path) {
		r.printf("[%s] Skipped (--skip-phases)\n", path)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("phase %s: %w", path, err)
	}
	if p.RunIf != nil {
		ok, err := p.RunIf(data)
		if err != nil {
			return fmt.Errorf("phase %s: deciding whether to run: %w", path, err)
		}
		if !ok {
			return nil
		}
	}
	if p.Run != nil {
		r.printf("[%s] %s\n", path, p.Short)
		start := r.now()
		if err := p.Run(ctx, data); err != nil {
			return fmt.Errorf("phase %s: %w", path, err)
		}
		r.printf("[%s] done (%s)\n", path, r.now().Sub(start).Round(time.Millisecond))
	}
	return r.runList(ctx, p.Phases, path, data)
}

func (r *Runner[D]) skipped(path string) bool {
	return slices.ContainsFunc(r.SkipPhases, func(s string) bool {
		return strings.Trim(s, "/") == path
	})
}

func (r *Runner[D]) printf(format string, args ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, format, args...)
	}
}

func (r *Runner[D]) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
