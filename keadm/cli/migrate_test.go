package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanedge/kubeedge/keadm/migrate"
)

func TestMigrateHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"keadm-migrate-help.golden":         {"migrate", "--help"},
		"keadm-migrate-devices-help.golden": {"migrate", "devices", "--help"},
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

// runSplit runs keadm with separate stdout and stderr.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRootCommand(&out, &errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestMigrateDevicesFromFile(t *testing.T) {
	in := filepath.Join("..", "..", "migrate", "testdata", "input")
	stdout, stderr, err := runSplit(t, "migrate", "devices", "-f", filepath.Join(in, "led-light-device-model.yaml"),
		"--from-file", filepath.Join(in, "led-light-device-instance.yaml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, _ := os.ReadFile(filepath.Join("..", "..", "migrate", "testdata", "golden", "led-light.yaml"))
	if stdout != string(want) {
		t.Errorf("stdout is not the converted YAML:\n%s", stdout)
	}
	if !strings.HasSuffix(stderr, "migrated 2, unchanged 0, failed 0\n") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// An unconvertible object: reported, kept, and a non-zero exit.
	bad := filepath.Join("..", "..", "migrate", "testdata", "errors", "bad-slaveid.yaml")
	stdout, stderr, err = runSplit(t, "migrate", "devices", "-f", bad, "-f", filepath.Join(in, "led-light-device-model.yaml"))
	var fe *migrate.FailedError
	if !errors.As(err, &fe) || fe.Failed != 1 {
		t.Errorf("error %v, want one failed object", err)
	}
	for _, want := range []string{"Device default/bad-tcp (" + bad + "): failed: spec.protocol.modbus.tcp.slaveID:", "migrated 1, unchanged 0, failed 1\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "slaveID: one") || !strings.Contains(stdout, "apiVersion: devices.kubeedge.io/v1alpha2") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestMigrateDevicesFlagErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"output without files": {[]string{"migrate", "devices", "-o", "x.yaml"}, "--output is only used with --from-file"},
		"backup with files":    {[]string{"migrate", "devices", "-f", "a.yaml", "--backup-dir", "/tmp/b"}, "--backup-dir is only used"},
		"missing kubeconfig":   {[]string{"migrate", "devices", "--kube-config", "/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig"},
		"args":                 {[]string{"migrate", "devices", "extra"}, "unknown command"},
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

// A cluster without the devices CRDs: nothing to migrate, exit 0.
func TestMigrateDevicesNotServed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"the server could not find the requested resource"}`)
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: secret\n", srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	out, err := runKeadmCLI(t, "migrate", "devices", "--kube-config", kubeconfig, "--root", root)
	if err != nil || out != migrate.NotServedMessage+"\n" {
		t.Errorf("keadm migrate devices = %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("wrote %v", entries)
	}
}
