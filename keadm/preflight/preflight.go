// Package preflight runs the checks keadm makes before it changes a machine.
//
// A check is a small value behind the Checker interface. Run executes a list
// of checks, prints warnings, and fails with an *Error listing every failed
// check by name, so that the user can ignore a check with
// --ignore-preflight-errors=<name> (or "all"), as with kubeadm.
package preflight

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Checker is one preflight check.
type Checker interface {
	// Name identifies the check for --ignore-preflight-errors.
	Name() string
	// Check returns problems that should be reported (warnings) and problems
	// that stop the workflow unless ignored (errs).
	Check(ctx context.Context) (warnings []error, errs []error)
}

// IgnoreAll in the ignore list of Run turns every error into a warning.
const IgnoreAll = "all"

// Failure is one error of one check.
type Failure struct {
	Check string
	Err   error
}

// Error is returned by Run when checks fail. Callers can map it to an exit
// code with errors.As.
type Error struct {
	Failures []Failure
}

// Error lists the failures as "[ERROR Name]: message" lines followed by how
// to ignore them.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("[preflight] Some fatal errors occurred:\n")
	var names []string
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\t[ERROR %s]: %v\n", f.Check, f.Err)
		if !slices.Contains(names, f.Check) {
			names = append(names, f.Check)
		}
	}
	fmt.Fprintf(&b, "[preflight] To ignore, use --ignore-preflight-errors=%s", strings.Join(names, ","))
	return b.String()
}

// Unwrap returns the errors of the failed checks.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// Run runs every check in order and writes warnings to out (nil discards
// them). The errors of checks named in ignore (case-insensitive, or "all")
// are printed as warnings instead. It returns an *Error if any other check
// failed, or the context's error if ctx is cancelled between checks.
func Run(ctx context.Context, checks []Checker, ignore []string, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	ignored := func(name string) bool {
		return slices.ContainsFunc(ignore, func(s string) bool {
			s = strings.TrimSpace(s)
			return strings.EqualFold(s, IgnoreAll) || strings.EqualFold(s, name)
		})
	}
	var failed Error
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		name := c.Name()
		warnings, errs := c.Check(ctx)
		for _, w := range warnings {
			fmt.Fprintf(out, "[preflight] WARNING %s: %v\n", name, w)
		}
		if ignored(name) {
			for _, err := range errs {
				fmt.Fprintf(out, "[preflight] WARNING %s: %v (ignored)\n", name, err)
			}
			continue
		}
		for _, err := range errs {
			failed.Failures = append(failed.Failures, Failure{Check: name, Err: err})
		}
	}
	if len(failed.Failures) > 0 {
		return &failed
	}
	return nil
}

// fail is a shorthand for a check returning at most one error.
func fail(err error) []error {
	if err == nil {
		return nil
	}
	return []error{err}
}

// pathName turns a path into a check-name suffix: /etc/kubeedge → -etc-kubeedge.
func pathName(path string) string { return strings.ReplaceAll(path, "/", "-") }
