package cli

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/cloud/cloudhub"
	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

// The -update flag may be defined by another test file of this package.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata")
	}
}

// execKeadm runs the keadm command line with stdin in and returns
// stdout+stderr and the error.
func execKeadm(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := NewRootCommand(&out, &out)
	root.SetIn(strings.NewReader(in))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// goldenCompare compares got with testdata/name (rewritten with -update).
func goldenCompare(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./keadm/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./keadm/cli -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var phaseDuration = regexp.MustCompile(`done \([0-9.]+[µnm]?s\)`)

// listener accepts and closes TCP connections on 127.0.0.1 until the test ends.
func listener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func fakeEdgecore(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgecore")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v0.0.0-test\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestJoinResetHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"join_help.golden":  {"join", "--help"},
		"reset_help.golden": {"reset", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := execKeadm(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			goldenCompare(t, name, out)
		})
	}
}

func TestJoinErrorsGolden(t *testing.T) {
	ws, cert := listener(t), listener(t)
	_, certPort, _ := net.SplitHostPort(cert)
	dir := t.TempDir()
	root := filepath.Join(dir, "node")
	bin := fakeEdgecore(t)
	tests := []struct {
		golden string
		args   []string
	}{
		{"join_missing_ipport.golden", []string{"join", "-t", "x", "--root", root}},
		{"join_garbled_token.golden", []string{"join", "-e", ws, "-s", certPort, "-t", "not.a.token", "-i", "edge-1",
			"--root", root, "--edgecore-binary", bin}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, err := execKeadm(t, "", tt.args...)
			if err == nil {
				t.Fatalf("keadm %v succeeded:\n%s", tt.args, out)
			}
			got := out + "Error: " + err.Error() + "\n"
			got = strings.ReplaceAll(got, dir, "$TMP")
			got = strings.ReplaceAll(got, ws, "$WEBSOCKET")
			got = strings.ReplaceAll(got, cert, "$CERT")
			got = phaseDuration.ReplaceAllString(got, "done")
			goldenCompare(t, tt.golden, got)
			if _, err := os.Stat(root); !os.IsNotExist(err) {
				t.Errorf("a failed join wrote %s", root)
			}
		})
	}
}

func TestJoinFlags(t *testing.T) {
	cmd := newJoinCommand(&bytes.Buffer{})
	err := cmd.ParseFlags([]string{"-e", "10.0.0.1:10000", "-t", "tok", "-i", "n1", "-s", "20002", "-l", "a=1,b=2", "-l", "c=3",
		"-p", "unix:///x.sock", "-r", "docker", "--cgroupdriver", "systemd", "--certPath", "/c", "--kubeedge-version", "v1.12.7",
		"--with-mqtt", "--image-repository", "r", "--tarballpath", "/t", "--root", "/r", "--edgecore-binary", "/b",
		"--ignore-preflight-errors", "all", "--dry-run", "--wait", "5s", "--skip-phases", "wait"})
	if err != nil {
		t.Fatal(err)
	}
	for flagName, want := range map[string]string{
		"cloudcore-ipport": "10.0.0.1:10000", "token": "tok", "edgenode-name": "n1", "certport": "20002",
		"labels": "[a=1,b=2,c=3]", "remote-runtime-endpoint": "unix:///x.sock", "runtimetype": "docker",
		"cgroupdriver": "systemd", "skip-phases": "[wait]", "wait": "5s",
	} {
		if got := cmd.Flags().Lookup(flagName).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flagName, got, want)
		}
	}
}

func TestResetCLI(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "node")
	roots := layout.Under(root)
	if err := os.MkdirAll(roots.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roots.EdgeCoreConfig(), []byte("kind: EdgeCore\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without a terminal and without --force: refused, nothing removed.
	out, err := execKeadm(t, "y\n", "reset", "--root", root)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("reset without --force = %v\n%s", err, out)
	}
	if _, err := os.Stat(roots.EdgeCoreConfig()); err != nil {
		t.Fatal("files removed without confirmation")
	}
	out, err = execKeadm(t, "", "reset", "--root", root, "--force", "--runtimetype", "remote", "--remote-runtime-endpoint", "unix:///x")
	if err != nil {
		t.Fatalf("reset --force: %v\n%s", err, out)
	}
	if _, err := os.Stat(roots.Etc); !os.IsNotExist(err) {
		t.Errorf("%s still exists:\n%s", roots.Etc, out)
	}
	out, err = execKeadm(t, "", "reset", "--root", root)
	if err != nil || !strings.Contains(out, "Nothing to reset") {
		t.Errorf("second reset = %v\n%s", err, out)
	}
}

type nopHubHandler struct{}

func (nopHubHandler) HandleMessage(string, message.Message) {}
func (nopHubHandler) NodeConnected(string)                  {}
func (nopHubHandler) NodeDisconnected(string)               {}
func (nopHubHandler) NodeAlive(string)                      {}

// TestJoinResetRealEdgecore joins two nodes from one machine with the real
// edgecore binary under the process manager, as the e2e tests do, then
// resets them.
func TestJoinResetRealEdgecore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds edgecore")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain")
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("no /proc")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "edgecore")
	build := exec.Command(goBin, "build", "-o", bin, "../../cmd/edgecore")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build edgecore: %v\n%s", err, out)
	}

	ca, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	hub := cloudhub.New(cloudhub.Config{WebsocketAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"},
		&cloudhub.CAAuthority{CA: ca, Server: server}, nopHubHandler{}, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-hub.Ready()
	token, err := certs.GenerateToken(ca, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ws := hub.WebsocketAddr().String()
	certPort := strconv.Itoa(hub.HTTPSAddr().(*net.TCPAddr).Port)

	for _, name := range []string{"edge-1", "edge-2"} {
		root := filepath.Join(dir, name)
		t.Cleanup(func() { _, _ = execKeadm(t, "", "reset", "--root", root, "--force") })
		out, err := execKeadm(t, "", "join", "--cloudcore-ipport", ws, "--certport", certPort, "--token", token,
			"--edgenode-name", name, "--root", root, "--edgecore-binary", bin, "--wait", "60s")
		if err != nil {
			t.Fatalf("join %s: %v\n%s", name, err, out)
		}
		if !strings.Contains(out, "This node has joined the cluster as \""+name+"\"") {
			t.Errorf("join %s output:\n%s", name, out)
		}
		if !hub.Connected(name) {
			t.Errorf("%s is not connected", name)
		}
	}

	root := filepath.Join(dir, "edge-1")
	roots := layout.Under(root)
	pidData, err := os.ReadFile(roots.PIDFile("edgecore"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidData))
	out, err := execKeadm(t, "", "reset", "--root", root, "--force")
	if err != nil {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if _, err := os.Stat(roots.Etc); !os.IsNotExist(err) {
		t.Errorf("%s survived reset", roots.Etc)
	}
	if stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat")); err == nil && !bytes.Contains(stat, []byte(") Z")) {
		t.Errorf("edgecore (pid %s) still runs after reset", pid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.Connected("edge-1") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if hub.Connected("edge-1") || !hub.Connected("edge-2") {
		t.Errorf("after resetting edge-1: edge-1 connected %v, edge-2 connected %v", hub.Connected("edge-1"), hub.Connected("edge-2"))
	}
}
