// Package service installs, starts, stops and inspects cloudcore and edgecore
// as services of the machine.
//
// Where systemd is the init system, the Systemd manager writes a unit file and
// drives systemctl. Elsewhere (containers, minimal VMs, the test machines) the
// Process manager starts the binary as a detached background process with a
// PID file and a log file. Detect picks one.
package service

import (
	"context"
	"errors"
	"fmt"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Manager runs named services.
type Manager interface {
	// Install records how to run the service (and, for systemd, enables it)
	// without starting it.
	Install(ctx context.Context, spec Spec) error
	// Start starts an installed service. Starting a running service is not
	// an error.
	Start(ctx context.Context, name string) error
	// Stop stops a service. Stopping a stopped service is not an error.
	Stop(ctx context.Context, name string) error
	// Status reports whether the service runs.
	Status(ctx context.Context, name string) (Status, error)
	// Uninstall stops the service and removes what Install created. It is
	// not an error if the service is not installed.
	Uninstall(ctx context.Context, name string) error
}

// Spec describes a service.
type Spec struct {
	// Name is the service name, e.g. "edgecore" (unit edgecore.service).
	Name string
	// Binary is the absolute path of the program.
	Binary string
	// Args are the program's arguments.
	Args []string
	// Env holds KEY=value pairs added to the environment.
	Env []string
	// LogFile receives stdout and stderr of the process manager's service;
	// default /var/log/kubeedge/<name>.log. systemd services log to the
	// journal.
	LogFile string
	// PIDFile is where the process manager records the PID; default
	// /var/run/kubeedge/<name>.pid.
	PIDFile string
	// UnitDir is where the systemd manager writes <name>.service; default
	// the manager's UnitDir option (/etc/systemd/system).
	UnitDir string
}

// Defaults for Spec and Options.
const (
	DefaultUnitDir       = "/etc/systemd/system"
	DefaultLogDir        = "/var/log/kubeedge"
	DefaultPIDDir        = "/var/run/kubeedge"
	DefaultStateDir      = "/etc/kubeedge/services"
	DefaultProcRoot      = "/proc"
	DefaultSystemdRunDir = "/run/systemd/system"
	DefaultStopTimeout   = 15 * time.Second
	DefaultStartGrace    = time.Second
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]*$`)

// Validate checks the spec.
func (s Spec) Validate() error {
	if !namePattern.MatchString(s.Name) {
		return fmt.Errorf("invalid service name %q: use letters, digits and _.@-", s.Name)
	}
	if !filepath.IsAbs(s.Binary) {
		return fmt.Errorf("service %s: binary %q is not an absolute path", s.Name, s.Binary)
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.ContainsAny(e, "\n\r\x00") {
			return fmt.Errorf("service %s: invalid environment entry %q: want KEY=value on one line", s.Name, e)
		}
	}
	for _, a := range append([]string{s.Binary}, s.Args...) {
		if strings.ContainsAny(a, "\n\r\x00") {
			return fmt.Errorf("service %s: argument %q contains a line break or NUL", s.Name, a)
		}
	}
	return nil
}

// WithDefaults fills LogFile and PIDFile.
func (s Spec) WithDefaults() Spec {
	if s.LogFile == "" {
		s.LogFile = filepath.Join(DefaultLogDir, s.Name+".log")
	}
	if s.PIDFile == "" {
		s.PIDFile = filepath.Join(DefaultPIDDir, s.Name+".pid")
	}
	return s
}

// State says whether a service runs.
type State string

// Service states.
const (
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// Status describes a service.
type Status struct {
	Name  string
	State State
	// PID of the main process, 0 if unknown or stopped.
	PID int
	// Manager is "systemd" or "process".
	Manager string
	// Detail is extra information, e.g. systemd's state or a cleaned stale
	// PID file.
	Detail string
}

// ErrNotInstalled is returned (wrapped) for a service that was never
// installed.
var ErrNotInstalled = errors.New("service not installed")

// Options configure managers. Zero values select the defaults.
type Options struct {
	// Runner runs systemctl; default ExecRunner.
	Runner CommandRunner
	// UnitDir is where unit files are written and removed.
	UnitDir string
	// StateDir is where the process manager records installed specs.
	StateDir string
	// StopTimeout is how long the process manager waits after SIGTERM
	// before it sends SIGKILL.
	StopTimeout time.Duration
	// StartGrace is how long the process manager watches a new process for
	// an immediate exit.
	StartGrace time.Duration
	// Out receives notices such as "edgecore is already running"; nil
	// discards them.
	Out io.Writer
	// ProcRoot and SystemdRunDir are used by detection and PID checks;
	// tests point them at temporary directories.
	ProcRoot      string
	SystemdRunDir string
}

func (o Options) withDefaults() Options {
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.UnitDir == "" {
		o.UnitDir = DefaultUnitDir
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.StartGrace <= 0 {
		o.StartGrace = DefaultStartGrace
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.ProcRoot == "" {
		o.ProcRoot = DefaultProcRoot
	}
	if o.SystemdRunDir == "" {
		o.SystemdRunDir = DefaultSystemdRunDir
	}
	return o
}

// SystemdBooted reports whether systemd is the init system: PID 1 is named
// systemd or the systemd runtime directory exists.
func SystemdBooted(procRoot, systemdRunDir string) bool {
	if comm, err := os.ReadFile(filepath.Join(procRoot, "1", "comm")); err == nil && strings.TrimSpace(string(comm)) == "systemd" {
		return true
	}
	fi, err := os.Stat(systemdRunDir)
	return err == nil && fi.IsDir()
}

// Detect returns a systemd manager if systemd is the init system, otherwise
// a process manager.
func Detect(opts Options) Manager {
	o := opts.withDefaults()
	if SystemdBooted(o.ProcRoot, o.SystemdRunDir) {
		return NewSystemd(opts)
	}
	return NewProcess(opts)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, creating the directory if needed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm, 0o755)
}
