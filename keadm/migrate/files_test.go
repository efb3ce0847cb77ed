package migrate

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanedge/kubeedge/keadm/layout"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./keadm/migrate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./keadm/migrate -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestFilesGolden(t *testing.T) {
	in := func(name string) string { return filepath.Join(inputDir, name) }
	tests := map[string]struct {
		files      []string
		dryRun     bool
		wantFailed int
	}{
		// A directory and files; the model of a device in another file.
		"convert": {files: []string{in("all-protocols.yaml"), in("CC2650-device-instance.yaml"), in("CC2650-device-model.yaml"),
			in("led-light-device-model.yaml"), in("led-light-device-instance.yaml")}},
		// Unconvertible devices are kept as they were, and so is the model
		// of one of them; the rest is converted.
		"failures":     {files: []string{"../../migrate/testdata/errors", "testdata/some-model.yaml", in("led-light-device-model.yaml")}, wantFailed: 3},
		"dry-run":      {files: []string{in("all-protocols.yaml")}, dryRun: true},
		"already-done": {files: []string{"testdata/files-convert.golden.yaml"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, progress bytes.Buffer
			res, err := RunFiles(Config{Files: tt.files, DryRun: tt.dryRun}, &stdout, &progress)
			if err != nil {
				t.Fatal(err)
			}
			res.PrintSummary(&progress)
			var fe *FailedError
			if err := res.Err(); (tt.wantFailed == 0 && err != nil) || (tt.wantFailed > 0 && (!errors.As(err, &fe) || fe.Failed != tt.wantFailed)) {
				t.Errorf("Err() = %v, want %d failed", err, tt.wantFailed)
			}
			if name == "already-done" {
				if _, _, f := res.Counts(); f != 0 || strings.Contains(progress.String(), ": migrated") {
					t.Errorf("converting converted output again:\n%s", progress.String())
				}
				want, _ := os.ReadFile("testdata/files-convert.golden.yaml")
				if stdout.String() != string(want) {
					t.Errorf("converting converted output again changed it:\n%s", stdout.String())
				}
				return
			}
			checkGolden(t, "files-"+name+".golden.yaml", stdout.Bytes())
			checkGolden(t, "files-"+name+".progress.golden", progress.Bytes())
		})
	}
}

func TestFilesOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.yaml")
	var stdout, progress bytes.Buffer
	in := filepath.Join(inputDir, "led-light-device-model.yaml")
	if _, err := RunFiles(Config{Files: []string{in}, Output: out}, &stdout, &progress); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("../../migrate/testdata/golden/led-light-device-model.yaml")
	if string(data) != string(want) || stdout.Len() != 0 {
		t.Errorf("output file:\n%s\nstdout:\n%s", data, stdout.String())
	}
	if !strings.HasSuffix(progress.String(), "wrote "+out+"\n") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestFilesErrors(t *testing.T) {
	empty := t.TempDir()
	_, err := RunFiles(Config{Files: []string{empty}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no *.yaml or *.yml file") {
		t.Errorf("empty directory: %v", err)
	}
	_, err = RunFiles(Config{Files: []string{"/nonexistent.yaml"}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.yaml") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(empty, "bad.yaml")
	os.WriteFile(bad, []byte("a: [\n"), 0o644)
	_, err = RunFiles(Config{Files: []string{bad}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml: document 1") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"files":             {Config{Files: []string{"a.yaml"}, Output: "b.yaml"}, ""},
		"cluster":           {Config{KubeConfig: "k", BackupDir: "/tmp/b"}, ""},
		"output is input":   {Config{Files: []string{"a.yaml"}, Output: "./a.yaml"}, "is also an input"},
		"backup with files": {Config{Files: []string{"a.yaml"}, BackupDir: "/b"}, "--backup-dir is only used"},
		"output without -f": {Config{Output: "b.yaml"}, "--output is only used with --from-file"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want))) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	cfg := Config{Roots: layout.Under("/r")}
	if got := cfg.BackupDirAt(testNow); got != "/r/var/lib/kubeedge/backup/devices-20240506-070809" {
		t.Errorf("default backup dir %s", got)
	}
}

func TestUnifiedDiff(t *testing.T) {
	tests := map[string]struct{ a, b, want string }{
		"equal": {"x\ny\n", "x\ny\n", ""},
		"change in the middle": {"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		"two hunks": {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\neleven\n",
			"--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -8,4 +8,4 @@\n 8\n 9\n 10\n-11\n+eleven\n"},
		"close changes join": {"1\n2\n3\n4\n5\n", "one\n2\n3\n4\nfive\n",
			"--- a\n+++ b\n@@ -1,5 +1,5 @@\n-1\n+one\n 2\n 3\n 4\n-5\n+five\n"},
		"insert into empty": {"", "x\n", "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n"},
		"delete all":        {"x\ny\n", "", "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := unifiedDiff("a", "b", tt.a, tt.b); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
