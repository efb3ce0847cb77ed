package service

import (
	"io"
	"path/filepath"

	"github.com/cleanedge/kubeedge/keadm/layout"
)

// StateDir is where the process manager records the services keadm installed
// under roots: <etc>/services. keadm init, join and reset all use it.
func StateDir(roots layout.Roots) string { return filepath.Join(roots.Etc, "services") }

// ForRoots returns the manager of the services under roots: systemd only for
// upstream's default layout on a machine booted with systemd, otherwise the
// process manager (so that several nodes can share a machine under different
// roots). The second result is "systemd" or "process". Notices go to out.
func ForRoots(roots layout.Roots, out io.Writer) (Manager, string) {
	if roots.IsDefault() && SystemdBooted(DefaultProcRoot, DefaultSystemdRunDir) {
		return NewSystemd(Options{UnitDir: roots.UnitDir, StateDir: StateDir(roots), Out: out}), "systemd"
	}
	return NewProcess(Options{UnitDir: roots.UnitDir, StateDir: StateDir(roots), Out: out}), "process"
}
