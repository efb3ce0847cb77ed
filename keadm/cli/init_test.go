package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// -update rewrites the golden files under testdata. Another test file of
// this package may define the flag too: init functions run after every
// package variable is set, so the flag is defined only once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func checkGoldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./keadm/cli -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./keadm/cli -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// runKeadmCLI runs the keadm command line and returns stdout+stderr.
func runKeadmCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := NewRootCommand(&out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"keadm-help.golden":          {"--help"},
		"keadm-init-help.golden":     {"init", "--help"},
		"keadm-gettoken-help.golden": {"gettoken", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runKeadmCLI(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			checkGoldenFile(t, name, []byte(out))
		})
	}
}

var phaseTime = regexp.MustCompile(`done \([0-9.]+[µnm]?s\)`)

func TestInitDryRunGolden(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "cloudcore"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	root := filepath.Join(dir, "root")
	// Free ports, so that a cloudcore running on this machine does not
	// change the output.
	ws, https := freeLocalPort(t), freeLocalPort(t)
	out, err := runKeadmCLI(t, "init", "--dry-run", "--advertise-address=10.0.0.1", "--root", root,
		"--websocket-port", strconv.Itoa(ws), "--https-port", strconv.Itoa(https))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the dry run created %s", root)
	}
	out = strings.ReplaceAll(out, dir, "$TMP")
	out = strings.ReplaceAll(out, strconv.Itoa(ws), "$WS_PORT")
	out = strings.ReplaceAll(out, strconv.Itoa(https), "$HTTPS_PORT")
	out = phaseTime.ReplaceAllString(out, "done")
	checkGoldenFile(t, "keadm-init-dry-run.golden", []byte(out))
}

func TestInitIgnoredFlags(t *testing.T) {
	dir := t.TempDir()
	out, err := runKeadmCLI(t, "init", "--dry-run", "--advertise-address=10.0.0.1", "--root", dir,
		"--kubeedge-version=v1.12.7", "--tarballpath=/tmp/x", "--skip-phases=preflight,install,start,wait")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"--kubeedge-version=v1.12.7 is ignored", "--tarballpath=/tmp/x is ignored", "[install] Skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInitErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"bad address":  {[]string{"init", "--dry-run", "--advertise-address=cloud.example.com"}, "not an IP address"},
		"unknown skip": {[]string{"init", "--dry-run", "--skip-phases=bogus"}, "unknown phase(s) bogus"},
		"no kubeconfig": {[]string{"init", "--advertise-address=10.0.0.1", "--root", "/nonexistent-keadm-root",
			"--kube-config=/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig"},
		"args": {[]string{"init", "extra"}, "unknown command"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := runKeadmCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("keadm %v = %v, want %q\n%s", tt.args, err, tt.want, out)
			}
		})
	}
}

func TestInitPhaseDryRun(t *testing.T) {
	dir := t.TempDir()
	out, err := runKeadmCLI(t, "init", "phase", "certs", "--dry-run", "--advertise-address=10.0.0.1", "--root", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "[certs] would create "+filepath.Join(dir, "etc/kubeedge/ca/rootCA.key")+" (0600)") ||
		strings.Contains(out, "[crds]") {
		t.Errorf("output:\n%s", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("the dry run wrote into %s: %v", dir, entries)
	}
}

// fakeTokenAPIServer fakes the one request gettoken makes.
func fakeTokenAPIServer(t *testing.T, token string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/v1/namespaces/kubeedge/secrets/tokensecret" || token == "" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"secrets \"tokensecret\" not found"}`)
			return
		}
		fmt.Fprintf(w, `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"tokensecret","namespace":"kubeedge"},"type":"Opaque","data":{"tokendata":%q}}`,
			base64.StdEncoding.EncodeToString([]byte(token)))
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
contexts:
- name: c
  context:
    cluster: c
    user: u
current-context: c
users:
- name: u
  user:
    token: secret
`, srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

func TestGetToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.aaa.bbb.ccc"
	out, err := runKeadmCLI(t, "gettoken", "--kube-config", fakeTokenAPIServer(t, token))
	if err != nil {
		t.Fatal(err)
	}
	if out != token+"\n" {
		t.Errorf("gettoken printed %q, want the token and a newline", out)
	}

	_, err = runKeadmCLI(t, "gettoken", "--kube-config", fakeTokenAPIServer(t, ""))
	if err == nil || err.Error() != "no join token in kubeedge/tokensecret: is cloudcore running? run keadm init first" {
		t.Errorf("gettoken without a token = %v", err)
	}

	_, err = runKeadmCLI(t, "gettoken", "--kube-config", "/nonexistent/kubeconfig")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Errorf("gettoken with a missing kubeconfig = %v", err)
	}
}

func freeLocalPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
