package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeCheck returns fixed results.
type fakeCheck struct {
	name     string
	warnings []error
	errs     []error
	ran      *int
}

func (c fakeCheck) Name() string { return c.name }

func (c fakeCheck) Check(context.Context) ([]error, []error) {
	if c.ran != nil {
		*c.ran++
	}
	return c.warnings, c.errs
}

func TestRun(t *testing.T) {
	checks := func(ran *int) []Checker {
		return []Checker{
			fakeCheck{name: "Good", ran: ran},
			fakeCheck{name: "Warns", warnings: []error{errors.New("swap is on")}, ran: ran},
			fakeCheck{name: "Port-10000", errs: []error{errors.New("port 10000 is in use")}, ran: ran},
			fakeCheck{name: "DirAvailable--etc-kubeedge", errs: []error{errors.New("/etc/kubeedge is not empty"), errors.New("second")}, ran: ran},
		}
	}
	tests := []struct {
		name    string
		ignore  []string
		wantErr string
		wantOut string
	}{
		{
			name: "errors",
			wantErr: "[preflight] Some fatal errors occurred:\n" +
				"\t[ERROR Port-10000]: port 10000 is in use\n" +
				"\t[ERROR DirAvailable--etc-kubeedge]: /etc/kubeedge is not empty\n" +
				"\t[ERROR DirAvailable--etc-kubeedge]: second\n" +
				"[preflight] To ignore, use --ignore-preflight-errors=Port-10000,DirAvailable--etc-kubeedge",
			wantOut: "[preflight] WARNING Warns: swap is on\n",
		},
		{
			name:   "ignore one, case-insensitive",
			ignore: []string{"port-10000"},
			wantErr: "[preflight] Some fatal errors occurred:\n" +
				"\t[ERROR DirAvailable--etc-kubeedge]: /etc/kubeedge is not empty\n" +
				"\t[ERROR DirAvailable--etc-kubeedge]: second\n" +
				"[preflight] To ignore, use --ignore-preflight-errors=DirAvailable--etc-kubeedge",
			wantOut: "[preflight] WARNING Warns: swap is on\n" +
				"[preflight] WARNING Port-10000: port 10000 is in use (ignored)\n",
		},
		{
			name:   "ignore all",
			ignore: []string{"All"},
			wantOut: "[preflight] WARNING Warns: swap is on\n" +
				"[preflight] WARNING Port-10000: port 10000 is in use (ignored)\n" +
				"[preflight] WARNING DirAvailable--etc-kubeedge: /etc/kubeedge is not empty (ignored)\n" +
				"[preflight] WARNING DirAvailable--etc-kubeedge: second (ignored)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ran := 0
			err := Run(context.Background(), checks(&ran), tt.ignore, &out)
			if ran != 4 {
				t.Errorf("%d checks ran, want all 4", ran)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			} else {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Run = %v (%T), want *Error", err, err)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("error:\n%s\nwant:\n%s", err, tt.wantErr)
				}
			}
			if out.String() != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.wantOut)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, []Checker{fakeCheck{name: "x"}}, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	sentinel := errors.New("sentinel")
	err := Run(context.Background(), []Checker{fakeCheck{name: "x", errs: []error{fmt.Errorf("wrapped: %w", sentinel)}}}, nil, nil)
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(%v, sentinel) = false", err)
	}
}

func check(c Checker) ([]error, []error) { return c.Check(context.Background()) }

func TestPortOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := l.Addr().(*net.TCPAddr).Port
	c := PortOpen{Port: busy, Host: "127.0.0.1"}
	if want := "Port-" + strconv.Itoa(busy); c.Name() != want {
		t.Errorf("Name() = %q, want %q", c.Name(), want)
	}
	_, errs := check(c)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), fmt.Sprintf("port %d is in use", busy)) {
		t.Errorf("busy port: errs = %v", errs)
	}
	l.Close()
	if w, errs := check(c); len(errs) != 0 || len(w) != 0 {
		t.Errorf("free port: warnings %v, errs %v", w, errs)
	}
	if _, errs := check(PortOpen{Port: 70000}); len(errs) != 1 {
		t.Errorf("invalid port: errs = %v", errs)
	}
}

func TestDirAvailable(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	full := filepath.Join(dir, "full")
	file := filepath.Join(dir, "file")
	for _, d := range []string{empty, full} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(full, "x"), file} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := (DirAvailable{Path: "/etc/kubeedge"}).Name(); got != "DirAvailable--etc-kubeedge" {
		t.Errorf("Name() = %q", got)
	}
	tests := []struct {
		path    string
		wantErr string
	}{
		{filepath.Join(dir, "missing"), ""},
		{empty, ""},
		{full, "already exists and is not empty"},
		{file, "cannot read directory"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			_, errs := check(DirAvailable{Path: tt.path})
			assertErrs(t, errs, tt.wantErr)
		})
	}
}

func TestFileAvailable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "edgecore.yaml")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := (FileAvailable{Path: "/etc/kubeedge/config/edgecore.yaml"}).Name(); got != "FileAvailable--etc-kubeedge-config-edgecore.yaml" {
		t.Errorf("Name() = %q", got)
	}
	_, errs := check(FileAvailable{Path: file})
	assertErrs(t, errs, file+" already exists")
	_, errs = check(FileAvailable{Path: filepath.Join(dir, "missing")})
	assertErrs(t, errs, "")
}

func assertErrs(t *testing.T, errs []error, want string) {
	t.Helper()
	if want == "" {
		if len(errs) != 0 {
			t.Errorf("errs = %v, want none", errs)
		}
		return
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Errorf("errs = %v, want one containing %q", errs, want)
	}
}

func TestIsPrivilegedUser(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		euid    int
		paths   []string
		wantErr string
	}{
		{name: "root", euid: 0, paths: []string{readOnly}},
		{name: "user, writable file", euid: 1000, paths: []string{file}},
		{name: "user, parent is a file", euid: 1000, paths: []string{filepath.Join(file, "x")}, wantErr: "cannot write to " + filepath.Join(file, "x")},
		{name: "user without paths", euid: 1000, wantErr: "not running as root"},
		{name: "user, writable missing path", euid: 1000, paths: []string{filepath.Join(dir, "a", "b", "c")}},
		{name: "user, writable existing dir", euid: 1000, paths: []string{dir}},
	}
	if os.Geteuid() != 0 { // root can write to read-only directories
		tests = append(tests, struct {
			name    string
			euid    int
			paths   []string
			wantErr string
		}{name: "user, read-only dir", euid: 1000, paths: []string{filepath.Join(readOnly, "x")}, wantErr: "cannot write to " + readOnly})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrs(t, IsPrivilegedUser{WritablePaths: tt.paths}.check(tt.euid), tt.wantErr)
		})
	}
	// The writability test leaves nothing behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("temp dir has %d entries after the checks, want 2 (file, ro)", len(entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check created a missing directory: %v", err)
	}
}

func TestTCPReachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	c := TCPReachable{Address: addr, Timeout: 5 * time.Second}
	if _, errs := check(c); len(errs) != 0 {
		t.Errorf("listening: errs = %v", errs)
	}
	l.Close()
	_, errs := check(c)
	if len(errs) != 1 {
		t.Fatalf("closed: errs = %v, want one", errs)
	}
	msg := errs[0].Error()
	for _, want := range []string{addr, "closed or filtered", "connection refused", "firewall", "cloudcore is running", "--cloudcore-ipport"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if got := (TCPReachable{Address: addr, Label: "CloudCore"}).Name(); got != "CloudCore" {
		t.Errorf("Name() with label = %q", got)
	}
	if got := c.Name(); got != "TCPReachable-"+addr {
		t.Errorf("Name() = %q", got)
	}
}

func TestProcessNotRunning(t *testing.T) {
	root := t.TempDir()
	procs := map[string]struct{ comm, cmdline string }{
		"1":                       {"systemd", "/sbin/init"},
		"42":                      {"edgecore", "/usr/local/bin/edgecore\x00--config"},
		"43":                      {"edgecore", "edgecore"},
		"50":                      {"very-long-proce", "/usr/bin/very-long-process-x"}, // truncated comm, other program
		"51":                      {"very-long-proce", "/usr/bin/very-long-process\x00-v"},
		strconv.Itoa(os.Getpid()): {"edgecore", "edgecore"}, // the caller itself
		"self":                    {"edgecore", ""},
	}
	for pid, p := range procs {
		d := filepath.Join(root, pid)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "comm"), []byte(p.comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cmdline"), []byte(p.cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		process string
		wantErr string
	}{
		{"edgecore", "edgecore is already running (pid 42, 43)"},
		{"cloudcore", ""},
		{"very-long-process", "(pid 51)"},
	}
	for _, tt := range tests {
		t.Run(tt.process, func(t *testing.T) {
			c := ProcessNotRunning{Process: tt.process, ProcRoot: root}
			if c.Name() != "Process-"+tt.process {
				t.Errorf("Name() = %q", c.Name())
			}
			_, errs := check(c)
			assertErrs(t, errs, tt.wantErr)
		})
	}
	_, errs := check(ProcessNotRunning{Process: "x", ProcRoot: filepath.Join(root, "missing")})
	assertErrs(t, errs, "cannot list processes")
}

func TestProcessNotRunningRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/comm"); err != nil {
		t.Skip("no /proc")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	_, errs := check(ProcessNotRunning{Process: "sleep"})
	assertErrs(t, errs, strconv.Itoa(cmd.Process.Pid))
}
