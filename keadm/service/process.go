package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process manages services as detached background processes, for machines
// without systemd. Install records the spec as <StateDir>/<name>.json; Start
// launches the binary in its own session with stdout and stderr appended to
// the log file and writes the PID file; Stop sends SIGTERM, then SIGKILL
// after the stop timeout.
//
// The process manager does not restart a service that crashes: it provides
// no supervision yet.
type Process struct {
	stateDir    string
	procRoot    string
	stopTimeout time.Duration
	startGrace  time.Duration
	out         io.Writer
}

var _ Manager = (*Process)(nil)

// NewProcess returns a process manager.
func NewProcess(opts Options) *Process {
	o := opts.withDefaults()
	return &Process{
		stateDir:    o.StateDir,
		procRoot:    o.ProcRoot,
		stopTimeout: o.StopTimeout,
		startGrace:  o.StartGrace,
		out:         o.Out,
	}
}

func (p *Process) specPath(name string) string { return filepath.Join(p.stateDir, name+".json") }

// Install validates spec, fills its defaults and records it. It does not
// start the service; a running instance keeps running.
func (p *Process) Install(_ context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	spec = spec.WithDefaults()
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return fmt.Errorf("install %s: %w", spec.Name, err)
	}
	// The environment may hold secrets: readable by root only.
	if err := writeFileAtomic(p.specPath(spec.Name), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("install %s: %w", spec.Name, err)
	}
	return nil
}

func (p *Process) load(name string) (Spec, error) {
	if !namePattern.MatchString(name) {
		return Spec{}, fmt.Errorf("invalid service name %q", name)
	}
	data, err := os.ReadFile(p.specPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return Spec{}, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("read spec of %s: %w", name, err)
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return Spec{}, fmt.Errorf("read spec of %s from %s: %w", name, p.specPath(name), err)
	}
	return spec.WithDefaults(), nil
}

// Start launches the service unless the PID file names a live process of
// the same binary, in which case it only prints that it is already running.
// A stale PID file is removed. If the process exits within the start grace
// period, Start returns an error pointing at the log file.
func (p *Process) Start(ctx context.Context, name string) error {
	spec, err := p.load(name)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	st, err := p.inspect(spec)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if st.State == StateRunning {
		fmt.Fprintf(p.out, "%s is already running (pid %d)\n", name, st.PID)
		return nil
	}
	if st.Detail != "" {
		fmt.Fprintf(p.out, "%s: %s\n", name, st.Detail)
	}
	return p.launch(ctx, spec)
}

func (p *Process) launch(ctx context.Context, spec Spec) error {
	if err := os.MkdirAll(filepath.Dir(spec.LogFile), 0o755); err != nil {
		return fmt.Errorf("start %s: create log directory: %w", spec.Name, err)
	}
	logf, err := os.OpenFile(spec.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: open log file: %w", spec.Name, err)
	}
	defer logf.Close()

	// Not CommandContext: the service must outlive ctx and keadm.
	cmd := exec.Command(spec.Binary, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = "/"
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", spec.Name, err)
	}
	pid := cmd.Process.Pid
	// Reap the child if it exits while this process lives, so that it
	// does not linger as a zombie. When keadm exits, init adopts it.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	if err := writeFileAtomic(spec.PIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("start %s: %w", spec.Name, err)
	}

	timer := time.NewTimer(p.startGrace)
	defer timer.Stop()
	select {
	case err := <-exited:
		_ = removePIDFile(spec.PIDFile, pid)
		if err == nil {
			err = errors.New("exit status 0")
		}
		return fmt.Errorf("start %s: the process exited right after starting (%v); see %s", spec.Name, err, spec.LogFile)
	case <-timer.C:
	case <-ctx.Done():
	}
	fmt.Fprintf(p.out, "Started %s (pid %d), logging to %s\n", spec.Name, pid, spec.LogFile)
	return nil
}

// Stop sends SIGTERM to the service, waits up to the stop timeout, then
// sends SIGKILL, and removes the PID file.
func (p *Process) Stop(ctx context.Context, name string) error {
	spec, err := p.load(name)
	if err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return p.stop(ctx, spec)
}

func (p *Process) stop(ctx context.Context, spec Spec) error {
	st, err := p.inspect(spec)
	if err != nil {
		return fmt.Errorf("stop %s: %w", spec.Name, err)
	}
	if st.State != StateRunning {
		return nil
	}
	pid := st.PID
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: signal pid %d: %w", spec.Name, pid, err)
	}
	if err := p.waitExit(ctx, pid, p.stopTimeout); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stop %s: %w", spec.Name, err)
		}
		fmt.Fprintf(p.out, "%s (pid %d) did not stop within %s, killing it\n", spec.Name, pid, p.stopTimeout)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s: kill pid %d: %w", spec.Name, pid, err)
		}
		if err := p.waitExit(ctx, pid, 5*time.Second); err != nil {
			return fmt.Errorf("stop %s: pid %d survived SIGKILL: %w", spec.Name, pid, err)
		}
	}
	if err := removePIDFile(spec.PIDFile, pid); err != nil {
		return fmt.Errorf("stop %s: %w", spec.Name, err)
	}
	fmt.Fprintf(p.out, "Stopped %s (pid %d)\n", spec.Name, pid)
	return nil
}

// waitExit polls until pid is gone, the timeout expires or ctx is done.
func (p *Process) waitExit(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for p.alive(pid) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("pid %d still running after %s", pid, timeout)
		case <-tick.C:
		}
	}
	return nil
}

// Status reports whether the service runs. A stale PID file is removed.
func (p *Process) Status(_ context.Context, name string) (Status, error) {
	spec, err := p.load(name)
	if err != nil {
		return Status{Name: name, Manager: "process", State: StateStopped}, fmt.Errorf("status of %s: %w", name, err)
	}
	st, err := p.inspect(spec)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", name, err)
	}
	return st, nil
}

// Uninstall stops the service and removes its recorded spec and PID file.
// The log file is kept.
func (p *Process) Uninstall(ctx context.Context, name string) error {
	spec, err := p.load(name)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	if err := p.stop(ctx, spec); err != nil {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	if err := os.Remove(p.specPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("uninstall %s: %w", name, err)
	}
	return nil
}

// inspect reads the PID file and checks the process it names. A PID file
// naming a dead process or another program is removed, and Detail says so.
func (p *Process) inspect(spec Spec) (Status, error) {
	st := Status{Name: spec.Name, Manager: "process", State: StateStopped}
	data, err := os.ReadFile(spec.PIDFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read PID file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	switch {
	case err != nil || pid <= 0:
		st.Detail = fmt.Sprintf("removed invalid PID file %s", spec.PIDFile)
	case !p.alive(pid):
		st.Detail = fmt.Sprintf("removed stale PID file %s (pid %d is not running)", spec.PIDFile, pid)
	case !p.runs(pid, spec.Binary):
		st.Detail = fmt.Sprintf("removed stale PID file %s (pid %d is another program)", spec.PIDFile, pid)
	default:
		st.State = StateRunning
		st.PID = pid
		return st, nil
	}
	if err := os.Remove(spec.PIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("remove stale PID file: %w", err)
	}
	return st, nil
}

// alive reports whether pid exists and is not a zombie.
func (p *Process) alive(pid int) bool {
	data, err := os.ReadFile(filepath.Join(p.procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return true
	}
	switch data[i+2] {
	case 'Z', 'X', 'x':
		return false
	}
	return true
}

// runs reports whether pid runs binary, by /proc/<pid>/exe or, if that is
// unreadable, argv[0]. A process that cannot be inspected at all counts as
// running the binary, so that it is never started twice.
func (p *Process) runs(pid int, binary string) bool {
	want := binary
	if resolved, err := filepath.EvalSymlinks(binary); err == nil {
		want = resolved
	}
	dir := filepath.Join(p.procRoot, strconv.Itoa(pid))
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)") // replaced by an upgrade
		return exe == want || exe == binary
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return true
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(argv0) == binary || filepath.Base(string(argv0)) == filepath.Base(binary)
}

// removePIDFile removes path if it still names pid.
func removePIDFile(path string, pid int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read PID file: %w", err)
	}
	if strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove PID file: %w", err)
	}
	return nil
}
