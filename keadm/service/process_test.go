package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleeperBin is the test helper built by TestMain, "" if it could not be built.
var sleeperBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "service-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if goBin, err := exec.LookPath("go"); err == nil {
			bin := filepath.Join(dir, "sleeper")
			cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/sleeper")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building the sleeper helper: %v\n%s", err, out)
				return 1
			}
			sleeperBin = bin
		}
		return m.Run()
	}())
}

type processEnv struct {
	mgr  *Process
	out  *bytes.Buffer
	dir  string
	spec Spec
}

func newProcessEnv(t *testing.T, args ...string) processEnv {
	t.Helper()
	if sleeperBin == "" {
		t.Skip("no go toolchain to build the sleeper helper")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	dir := t.TempDir()
	out := &bytes.Buffer{}
	mgr := NewProcess(Options{
		StateDir:    filepath.Join(dir, "state"),
		StopTimeout: 5 * time.Second,
		StartGrace:  100 * time.Millisecond,
		Out:         out,
	})
	spec := Spec{
		Name:    "sleeper",
		Binary:  sleeperBin,
		Args:    args,
		Env:     []string{"SLEEPER_VALUE=from-spec"},
		LogFile: filepath.Join(dir, "log", "sleeper.log"),
		PIDFile: filepath.Join(dir, "run", "sleeper.pid"),
	}
	if err := mgr.Install(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	env := processEnv{mgr: mgr, out: out, dir: dir, spec: spec}
	// Never leave a helper running.
	t.Cleanup(func() {
		if data, err := os.ReadFile(spec.PIDFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return env
}

func (e processEnv) status(t *testing.T) Status {
	t.Helper()
	st, err := e.mgr.Status(context.Background(), "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e processEnv) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(e.spec.LogFile)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s does not contain %q:\n%s", e.spec.LogFile, want, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func procAlive(pid int) bool {
	return (&Process{procRoot: DefaultProcRoot}).alive(pid)
}

func TestProcessLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newProcessEnv(t, "a b", "c")

	if st := e.status(t); st.State != StateStopped || st.PID != 0 || st.Manager != "process" {
		t.Fatalf("status before start = %+v", st)
	}
	if err := e.mgr.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	st := e.status(t)
	if st.State != StateRunning || st.PID <= 0 {
		t.Fatalf("status after start = %+v", st)
	}
	fi, err := os.Stat(e.spec.PIDFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("PID file mode %v, want 0644", fi.Mode().Perm())
	}
	e.waitLog(t, fmt.Sprintf(`sleeper started pid=%d args=["a b" "c"] value=from-spec`, st.PID))

	// Starting again is a no-op that says so.
	if err := e.mgr.Start(ctx, "sleeper"); err != nil {
		t.Fatalf("second Start = %v", err)
	}
	if !strings.Contains(e.out.String(), fmt.Sprintf("sleeper is already running (pid %d)", st.PID)) {
		t.Errorf("output does not say already running:\n%s", e.out)
	}
	if again := e.status(t); again.PID != st.PID {
		t.Errorf("pid changed from %d to %d on second start", st.PID, again.PID)
	}

	if err := e.mgr.Stop(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if procAlive(st.PID) {
		t.Errorf("pid %d still alive after Stop", st.PID)
	}
	if _, err := os.Stat(e.spec.PIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file still there after Stop: %v", err)
	}
	e.waitLog(t, "sleeper got SIGTERM")
	if st := e.status(t); st.State != StateStopped {
		t.Errorf("status after stop = %+v", st)
	}
	if err := e.mgr.Stop(ctx, "sleeper"); err != nil {
		t.Errorf("Stop of a stopped service = %v", err)
	}

	// Start again appends to the log.
	if err := e.mgr.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	pid := e.status(t).PID
	if err := e.mgr.Uninstall(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if procAlive(pid) {
		t.Errorf("pid %d still alive after Uninstall", pid)
	}
	data, _ := os.ReadFile(e.spec.LogFile)
	if n := strings.Count(string(data), "sleeper started"); n != 2 {
		t.Errorf("log has %d start lines, want 2 (appended):\n%s", n, data)
	}
	if err := e.mgr.Start(ctx, "sleeper"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Start after Uninstall = %v, want ErrNotInstalled", err)
	}
	if _, err := e.mgr.Status(ctx, "sleeper"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Status after Uninstall = %v, want ErrNotInstalled", err)
	}
	if err := e.mgr.Uninstall(ctx, "sleeper"); err != nil {
		t.Errorf("second Uninstall = %v", err)
	}
}

func TestProcessStopKillsAfterTimeout(t *testing.T) {
	e := newProcessEnv(t, "-ignore-term")
	e.mgr.stopTimeout = 200 * time.Millisecond
	ctx := context.Background()
	if err := e.mgr.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	pid := e.status(t).PID
	e.waitLog(t, "sleeper started") // SIGTERM is ignored from here on
	if err := e.mgr.Stop(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if procAlive(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if !strings.Contains(e.out.String(), "did not stop within 200ms, killing it") {
		t.Errorf("output does not mention the kill:\n%s", e.out)
	}
}

func TestProcessStalePIDFile(t *testing.T) {
	// A pid that has exited.
	dead := exec.Command(sleeperBin, "-exit", "0")
	if sleeperBin != "" {
		if err := dead.Run(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		content    func() string
		wantDetail string
	}{
		{"dead pid", func() string { return strconv.Itoa(dead.Process.Pid) }, "is not running"},
		{"other program", func() string { return strconv.Itoa(os.Getpid()) }, "is another program"},
		{"garbage", func() string { return "not a pid" }, "invalid PID file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newProcessEnv(t)
			if err := os.MkdirAll(filepath.Dir(e.spec.PIDFile), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.spec.PIDFile, []byte(tt.content()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			st := e.status(t)
			if st.State != StateStopped || !strings.Contains(st.Detail, tt.wantDetail) {
				t.Errorf("status = %+v, want stopped with detail %q", st, tt.wantDetail)
			}
			if _, err := os.Stat(e.spec.PIDFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stale PID file not removed: %v", err)
			}
			// Stop must not signal the other program (the test itself).
			if err := os.WriteFile(e.spec.PIDFile, []byte(tt.content()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.mgr.Stop(context.Background(), "sleeper"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.spec.PIDFile, []byte(tt.content()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.mgr.Start(context.Background(), "sleeper"); err != nil {
				t.Fatal(err)
			}
			if st := e.status(t); st.State != StateRunning || strconv.Itoa(st.PID) == tt.content() {
				t.Errorf("status after start = %+v", st)
			}
			if err := e.mgr.Stop(context.Background(), "sleeper"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProcessImmediateExit(t *testing.T) {
	e := newProcessEnv(t, "-exit", "3")
	err := e.mgr.Start(context.Background(), "sleeper")
	if err == nil || !strings.Contains(err.Error(), "exited right after starting (exit status 3)") ||
		!strings.Contains(err.Error(), e.spec.LogFile) {
		t.Fatalf("Start = %v, want an immediate-exit error naming the log file", err)
	}
	if _, err := os.Stat(e.spec.PIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left behind: %v", err)
	}
	e.waitLog(t, "sleeper exiting with 3")
}

func TestProcessMissingBinary(t *testing.T) {
	e := newProcessEnv(t)
	spec := e.spec
	spec.Binary = filepath.Join(e.dir, "missing")
	if err := e.mgr.Install(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Start(context.Background(), "sleeper"); err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
}

func TestProcessInstallDefaultsAndPermissions(t *testing.T) {
	dir := t.TempDir()
	mgr := NewProcess(Options{StateDir: dir})
	if err := mgr.Install(context.Background(), Spec{Name: "edgecore", Binary: "/usr/local/bin/edgecore", Env: []string{"TOKEN=secret"}}); err != nil {
		t.Fatal(err)
	}
	spec, err := mgr.load("edgecore")
	if err != nil {
		t.Fatal(err)
	}
	if spec.LogFile != "/var/log/kubeedge/edgecore.log" || spec.PIDFile != "/var/run/kubeedge/edgecore.pid" {
		t.Errorf("defaults = %q, %q", spec.LogFile, spec.PIDFile)
	}
	fi, err := os.Stat(filepath.Join(dir, "edgecore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("spec file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := mgr.load("../etc/passwd"); err == nil {
		t.Error("load accepted a path as name")
	}
}

func TestSpecValidate(t *testing.T) {
	good := Spec{Name: "edgecore", Binary: "/usr/local/bin/edgecore", Env: []string{"A=b"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Spec{
		"empty name":    {Binary: "/bin/x"},
		"name with /":   {Name: "a/b", Binary: "/bin/x"},
		"relative":      {Name: "x", Binary: "bin/x"},
		"env without =": {Name: "x", Binary: "/bin/x", Env: []string{"A"}},
		"env newline":   {Name: "x", Binary: "/bin/x", Env: []string{"A=b\nExecStart=/bin/sh"}},
		"arg newline":   {Name: "x", Binary: "/bin/x", Args: []string{"a\nb"}},
	}
	for name, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		comm    string
		runDir  bool
		systemd bool
	}{
		{"pid 1 is systemd", "systemd", false, true},
		{"run dir exists", "init", true, true},
		{"no systemd", "tini", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			proc := filepath.Join(root, "proc")
			if err := os.MkdirAll(filepath.Join(proc, "1"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(proc, "1", "comm"), []byte(tt.comm+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			runDir := filepath.Join(root, "run", "systemd", "system")
			if tt.runDir {
				if err := os.MkdirAll(runDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			m := Detect(Options{ProcRoot: proc, SystemdRunDir: runDir})
			_, isSystemd := m.(*Systemd)
			if isSystemd != tt.systemd {
				t.Errorf("Detect returned %T, want systemd=%v", m, tt.systemd)
			}
		})
	}
}
