package framework

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// CommandResult is what a command printed and how it ended.
type CommandResult struct {
	Stdout, Stderr string
	Err            error
}

// Output is stdout and stderr together, for error messages.
func (r CommandResult) Output() string { return strings.TrimSpace(r.Stdout + "\n" + r.Stderr) }

// RunCommand runs a project binary (from `make build`) as a user would, with
// no standard input, and returns what it printed.
func RunCommand(ctx context.Context, t testing.TB, name string, args ...string) CommandResult {
	t.Helper()
	bin, err := ProjectBinary(name)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return CommandResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// MustRun is RunCommand that fails the test when the command fails.
func MustRun(ctx context.Context, t testing.TB, name string, args ...string) CommandResult {
	t.Helper()
	r := RunCommand(ctx, t, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), r.Err, r.Output())
	}
	return r
}
