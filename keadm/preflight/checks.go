package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PortOpen checks that nothing listens on a TCP port, by listening on it
// briefly. Host is the address to bind ("" means all addresses).
type PortOpen struct {
	Port int
	Host string
}

// Name is "Port-<port>".
func (c PortOpen) Name() string { return "Port-" + strconv.Itoa(c.Port) }

// Check fails if the port cannot be listened on.
func (c PortOpen) Check(ctx context.Context) (warnings, errs []error) {
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fail(fmt.Errorf("invalid port %d", c.Port))
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fail(fmt.Errorf("port %d is in use: %w", c.Port, err))
		}
		return nil, fail(fmt.Errorf("cannot listen on %s: %w", addr, err))
	}
	if err := l.Close(); err != nil {
		return fail(fmt.Errorf("closing test listener on %s: %w", addr, err)), nil
	}
	return nil, nil
}

// DirAvailable checks that a directory does not exist or is empty.
type DirAvailable struct {
	Path string
}

// Name is "DirAvailable-" followed by the path with "/" replaced by "-",
// e.g. DirAvailable--etc-kubeedge.
func (c DirAvailable) Name() string { return "DirAvailable-" + pathName(c.Path) }

// Check fails if Path exists and is not an empty directory.
func (c DirAvailable) Check(context.Context) (warnings, errs []error) {
	f, err := os.Open(c.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(fmt.Errorf("cannot check directory %s: %w", c.Path, err))
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	switch {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, fail(fmt.Errorf("cannot read directory %s: %w", c.Path, err))
	case len(names) > 0:
		return nil, fail(fmt.Errorf("%s already exists and is not empty", c.Path))
	}
	return nil, nil
}

// FileAvailable checks that a file does not exist.
type FileAvailable struct {
	Path string
}

// Name is "FileAvailable-" followed by the path with "/" replaced by "-".
func (c FileAvailable) Name() string { return "FileAvailable-" + pathName(c.Path) }

// Check fails if Path exists.
func (c FileAvailable) Check(context.Context) (warnings, errs []error) {
	_, err := os.Lstat(c.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fail(fmt.Errorf("cannot check file %s: %w", c.Path, err))
	}
	return nil, fail(fmt.Errorf("%s already exists", c.Path))
}

// IsPrivilegedUser checks that keadm runs as root or, failing that, can
// write to every path in WritablePaths. Paths need not exist: the nearest
// existing parent is tested by creating and removing a temporary file.
type IsPrivilegedUser struct {
	WritablePaths []string
}

// Name is "IsPrivilegedUser".
func (IsPrivilegedUser) Name() string { return "IsPrivilegedUser" }

// Check fails if the user is not root and a path is not writable.
func (c IsPrivilegedUser) Check(context.Context) (warnings, errs []error) {
	return nil, c.check(os.Geteuid())
}

func (c IsPrivilegedUser) check(euid int) []error {
	if euid == 0 {
		return nil
	}
	if len(c.WritablePaths) == 0 {
		return fail(errors.New("user is not running as root; run keadm with sudo"))
	}
	var out []error
	for _, p := range c.WritablePaths {
		if err := writable(p); err != nil {
			out = append(out, fmt.Errorf("user is not running as root and cannot write to %s: %w; run keadm with sudo", p, err))
		}
	}
	return out
}

// writable tests whether path, or its nearest existing parent directory, can
// be written, without leaving anything behind.
func writable(path string) error {
	p := filepath.Clean(path)
	for {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			parent := filepath.Dir(p)
			if parent == p {
				return err
			}
			p = parent
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			return f.Close()
		}
		f, err := os.CreateTemp(p, ".keadm-preflight-*")
		if err != nil {
			return err
		}
		name := f.Name()
		return errors.Join(f.Close(), os.Remove(name))
	}
}

// DefaultDialTimeout is the timeout of TCPReachable when none is set.
const DefaultDialTimeout = 5 * time.Second

// DefaultReachableHint ends the error of TCPReachable when Hint is empty.
const DefaultReachableHint = "Check that cloudcore is running and listening on this address, " +
	"that no firewall between this machine and the cloud blocks the port, " +
	"and that the --cloudcore-ipport value is correct"

// TCPReachable checks that a TCP connection to Address (host:port) can be
// opened, typically cloudcore's from an edge node before joining.
type TCPReachable struct {
	Address string
	Timeout time.Duration
	// Label names the check; default "TCPReachable-<address>".
	Label string
	// Hint is appended to the error; default DefaultReachableHint.
	Hint string
}

// Name is Label or "TCPReachable-<address>".
func (c TCPReachable) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return "TCPReachable-" + c.Address
}

// Check fails if no connection can be opened within the timeout.
func (c TCPReachable) Check(ctx context.Context) (warnings, errs []error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	hint := c.Hint
	if hint == "" {
		hint = DefaultReachableHint
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", c.Address)
	if err != nil {
		reason := "connection failed"
		var ne net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			reason = "connection refused"
		case errors.As(err, &ne) && ne.Timeout():
			reason = "no answer within " + timeout.String()
		}
		return nil, fail(fmt.Errorf("cannot connect to %s: the port is closed or filtered (%s: %w). %s",
			c.Address, reason, err, hint))
	}
	_ = conn.Close()
	return nil, nil
}

// DefaultProcRoot is where ProcessNotRunning looks for processes.
const DefaultProcRoot = "/proc"

// commLen is the length the kernel truncates /proc/<pid>/comm to.
const commLen = 15

// ProcessNotRunning checks that no process named Process runs, by scanning
// /proc/*/comm. The calling process is never reported.
type ProcessNotRunning struct {
	Process string
	// ProcRoot defaults to /proc.
	ProcRoot string
}

// Name is "Process-<process>".
func (c ProcessNotRunning) Name() string { return "Process-" + c.Process }

// Check fails if a process of that name runs.
func (c ProcessNotRunning) Check(context.Context) (warnings, errs []error) {
	pids, err := c.find()
	if err != nil {
		return nil, fail(fmt.Errorf("cannot list processes: %w", err))
	}
	if len(pids) == 0 {
		return nil, nil
	}
	ids := make([]string, len(pids))
	for i, pid := range pids {
		ids[i] = strconv.Itoa(pid)
	}
	return nil, fail(fmt.Errorf("%s is already running (pid %s); stop it first", c.Process, strings.Join(ids, ", ")))
}

func (c ProcessNotRunning) find() ([]int, error) {
	root := c.ProcRoot
	if root == "" {
		root = DefaultProcRoot
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	want := c.Process
	if len(want) > commLen {
		want = want[:commLen]
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(root, e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != want {
			continue // not a match, or exited meanwhile
		}
		if len(c.Process) > commLen && !cmdlineMatches(filepath.Join(root, e.Name(), "cmdline"), c.Process) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// cmdlineMatches reports whether the program of a process (argv[0]) has the
// given base name. Unreadable command lines match, to stay on the safe side.
func cmdlineMatches(path, name string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return true
	}
	argv0, _, _ := bytes.Cut(b, []byte{0})
	return filepath.Base(string(argv0)) == name
}
