package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// CommandRunner runs a program and returns its combined output. Tests fake
// it to check the systemctl calls without systemd.
type CommandRunner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs programs with os/exec.
type ExecRunner struct{}

// Run runs name with args and returns the combined output. The error names
// the command and includes its output.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Systemd manages services as systemd units.
type Systemd struct {
	run     CommandRunner
	unitDir string
	out     io.Writer
}

var _ Manager = (*Systemd)(nil)

// NewSystemd returns a systemd manager.
func NewSystemd(opts Options) *Systemd {
	o := opts.withDefaults()
	return &Systemd{run: o.Runner, unitDir: o.UnitDir, out: o.Out}
}

func unitName(name string) string { return name + ".service" }

func (s *Systemd) systemctl(ctx context.Context, args ...string) ([]byte, error) {
	out, err := s.run.Run(ctx, "systemctl", args...)
	if err != nil {
		return out, fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// Install writes <UnitDir>/<name>.service, reloads systemd and enables the
// unit.
func (s *Systemd) Install(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	dir := spec.UnitDir
	if dir == "" {
		dir = s.unitDir
	}
	path := filepath.Join(dir, unitName(spec.Name))
	if err := writeFileAtomic(path, []byte(UnitFile(spec)), 0o644); err != nil {
		return fmt.Errorf("install %s: %w", spec.Name, err)
	}
	if _, err := s.systemctl(ctx, "daemon-reload"); err != nil {
		return fmt.Errorf("install %s: %w", spec.Name, err)
	}
	if _, err := s.systemctl(ctx, "enable", unitName(spec.Name)); err != nil {
		return fmt.Errorf("install %s: %w", spec.Name, err)
	}
	fmt.Fprintf(s.out, "Installed %s\n", path)
	return nil
}

// Start runs `systemctl start <name>.service`.
func (s *Systemd) Start(ctx context.Context, name string) error {
	if _, err := s.systemctl(ctx, "start", unitName(name)); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

// Stop runs `systemctl stop <name>.service`.
func (s *Systemd) Stop(ctx context.Context, name string) error {
	if _, err := s.systemctl(ctx, "stop", unitName(name)); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// Status asks `systemctl is-active` and, for an active unit, its MainPID.
func (s *Systemd) Status(ctx context.Context, name string) (Status, error) {
	st := Status{Name: name, Manager: "systemd", State: StateStopped}
	// is-active exits non-zero for inactive units: the output decides.
	out, err := s.run.Run(ctx, "systemctl", "is-active", unitName(name))
	state := strings.TrimSpace(string(out))
	if i := strings.IndexByte(state, '\n'); i >= 0 {
		state = state[:i]
	}
	st.Detail = state
	switch state {
	case "active", "activating", "reloading", "deactivating", "refreshing":
		st.State = StateRunning
	case "inactive", "failed", "unknown", "maintenance":
	default:
		if err != nil {
			return st, fmt.Errorf("status of %s: systemctl is-active: %w", name, err)
		}
		return st, fmt.Errorf("status of %s: unexpected systemctl is-active output %q", name, state)
	}
	if st.State == StateRunning {
		out, err := s.systemctl(ctx, "show", "--property=MainPID", "--value", unitName(name))
		if err != nil {
			return st, fmt.Errorf("status of %s: %w", name, err)
		}
		st.PID, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	}
	return st, nil
}

// Uninstall stops and disables the unit, removes its file and reloads
// systemd. Nothing is done if the unit file does not exist.
func (s *Systemd) Uninstall(ctx context.Context, name string) error {
	path := filepath.Join(s.unitDir, unitName(name))
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, args := range [][]string{{"stop", unitName(name)}, {"disable", unitName(name)}} {
		if _, err := s.systemctl(ctx, args...); err != nil {
			return fmt.Errorf("uninstall %s: %w", name, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	if _, err := s.systemctl(ctx, "daemon-reload"); err != nil {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	fmt.Fprintf(s.out, "Removed %s\n", path)
	return nil
}

// UnitFile renders the systemd unit of spec.
func UnitFile(spec Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[Unit]\nDescription=%s.service\n\n", spec.Name)
	b.WriteString("[Service]\nType=simple\n")
	words := make([]string, 0, 1+len(spec.Args))
	for _, a := range append([]string{spec.Binary}, spec.Args...) {
		words = append(words, quoteExecArg(a))
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(words, " "))
	b.WriteString("Restart=always\nRestartSec=10\nKillMode=process\n")
	for _, e := range spec.Env {
		fmt.Fprintf(&b, "Environment=%s\n", quoteValue(strings.ReplaceAll(e, "%", "%%")))
	}
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return b.String()
}

// quoteExecArg quotes one word of an ExecStart= line: specifiers (%) and
// variable references ($) are escaped, and words with blanks or quotes are
// double-quoted.
func quoteExecArg(a string) string {
	a = strings.ReplaceAll(a, "%", "%%")
	a = strings.ReplaceAll(a, "$", "$$")
	if a == ";" {
		return `\;`
	}
	if a != "" && !strings.ContainsAny(a, " \t\"'\\") {
		return a
	}
	return quoteValue(a)
}

// quoteValue double-quotes s with C-style escapes.
func quoteValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
