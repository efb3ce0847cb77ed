package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeRunner records commands and answers from a table keyed by the joined
// command line.
type fakeRunner struct {
	calls   []string
	answers map[string]answer
}

type answer struct {
	out string
	err error
}

func (f *fakeRunner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, line)
	a := f.answers[line]
	return []byte(a.out), a.err
}

func newSystemd(t *testing.T, answers map[string]answer) (*Systemd, *fakeRunner, string) {
	dir := t.TempDir()
	r := &fakeRunner{answers: answers}
	return NewSystemd(Options{Runner: r, UnitDir: dir}), r, dir
}

func TestSystemdInstall(t *testing.T) {
	s, r, dir := newSystemd(t, nil)
	spec := Spec{
		Name:   "edgecore",
		Binary: "/usr/local/bin/edgecore",
		Args:   []string{"--config", "/etc/kubeedge/config/edgecore.yaml"},
		Env:    []string{"CHECK_EDGECORE_ENVIRONMENT=false"},
	}
	if err := s.Install(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	want := `[Unit]
Description=edgecore.service

[Service]
Type=simple
ExecStart=/usr/local/bin/edgecore --config /etc/kubeedge/config/edgecore.yaml
Restart=always
RestartSec=10
KillMode=process
Environment="CHECK_EDGECORE_ENVIRONMENT=false"

[Install]
WantedBy=multi-user.target
`
	path := filepath.Join(dir, "edgecore.service")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("unit file:\n%s\nwant:\n%s", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("unit file mode %v, want 0644", fi.Mode().Perm())
	}
	wantCalls := []string{"systemctl daemon-reload", "systemctl enable edgecore.service"}
	if !slices.Equal(r.calls, wantCalls) {
		t.Errorf("calls = %v, want %v", r.calls, wantCalls)
	}

	// Spec.UnitDir overrides the manager's directory.
	other := t.TempDir()
	spec.UnitDir = other
	if err := s.Install(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(other, "edgecore.service")); err != nil {
		t.Error(err)
	}
}

func TestSystemdInstallErrors(t *testing.T) {
	boom := errors.New("exit status 1")
	s, r, _ := newSystemd(t, map[string]answer{"systemctl enable x.service": {err: boom}})
	err := s.Install(context.Background(), Spec{Name: "x", Binary: "/bin/x"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "systemctl enable x.service") {
		t.Errorf("Install = %v", err)
	}
	if err := s.Install(context.Background(), Spec{Name: "x", Binary: "x"}); err == nil {
		t.Error("Install accepted a relative binary")
	}
	if len(r.calls) != 2 {
		t.Errorf("calls = %v", r.calls)
	}
}

func TestUnitFileQuoting(t *testing.T) {
	unit := UnitFile(Spec{
		Name:   "x",
		Binary: "/opt/my dir/x",
		Args:   []string{"--name=a\"b", "100%", "$HOME", "", ";", `back\slash`},
		Env:    []string{"A=b c", `Q="x"`, "P=50%"},
	})
	for _, want := range []string{
		`ExecStart="/opt/my dir/x" "--name=a\"b" 100%% $$HOME "" \; "back\\slash"`,
		`Environment="A=b c"`,
		`Environment="Q=\"x\""`,
		`Environment="P=50%%"`,
	} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit does not contain %s:\n%s", want, unit)
		}
	}
}

func TestSystemdStartStop(t *testing.T) {
	s, r, _ := newSystemd(t, nil)
	ctx := context.Background()
	if err := s.Start(ctx, "cloudcore"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx, "cloudcore"); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl start cloudcore.service", "systemctl stop cloudcore.service"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("calls = %v, want %v", r.calls, want)
	}

	boom := errors.New("Job for cloudcore.service failed")
	s, _, _ = newSystemd(t, map[string]answer{"systemctl start cloudcore.service": {err: boom}})
	if err := s.Start(ctx, "cloudcore"); !errors.Is(err, boom) {
		t.Errorf("Start = %v, want wrapped runner error", err)
	}
}

func TestSystemdStatus(t *testing.T) {
	exit3 := errors.New("exit status 3")
	tests := []struct {
		name    string
		answers map[string]answer
		want    Status
		wantErr bool
	}{
		{
			name: "active",
			answers: map[string]answer{
				"systemctl is-active edgecore.service":                       {out: "active\n"},
				"systemctl show --property=MainPID --value edgecore.service": {out: "4242\n"},
			},
			want: Status{Name: "edgecore", State: StateRunning, PID: 4242, Manager: "systemd", Detail: "active"},
		},
		{
			name:    "inactive exits non-zero",
			answers: map[string]answer{"systemctl is-active edgecore.service": {out: "inactive\n", err: exit3}},
			want:    Status{Name: "edgecore", State: StateStopped, Manager: "systemd", Detail: "inactive"},
		},
		{
			name:    "failed",
			answers: map[string]answer{"systemctl is-active edgecore.service": {out: "failed\n", err: exit3}},
			want:    Status{Name: "edgecore", State: StateStopped, Manager: "systemd", Detail: "failed"},
		},
		{
			name:    "systemctl missing",
			answers: map[string]answer{"systemctl is-active edgecore.service": {err: errors.New("executable file not found")}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newSystemd(t, tt.answers)
			got, err := s.Status(context.Background(), "edgecore")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Status error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("Status = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSystemdUninstall(t *testing.T) {
	s, r, dir := newSystemd(t, nil)
	ctx := context.Background()
	// Not installed: nothing to do.
	if err := s.Uninstall(ctx, "edgecore"); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 0 {
		t.Errorf("calls for a missing unit = %v", r.calls)
	}
	if err := s.Install(ctx, Spec{Name: "edgecore", Binary: "/usr/local/bin/edgecore"}); err != nil {
		t.Fatal(err)
	}
	r.calls = nil
	if err := s.Uninstall(ctx, "edgecore"); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl stop edgecore.service", "systemctl disable edgecore.service", "systemctl daemon-reload"}
	if !slices.Equal(r.calls, want) {
		t.Errorf("calls = %v, want %v", r.calls, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "edgecore.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file not removed: %v", err)
	}
}

func TestExecRunner(t *testing.T) {
	out, err := ExecRunner{}.Run(context.Background(), "sh", "-c", "echo hello")
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Errorf("Run = %q, %v", out, err)
	}
	_, err = ExecRunner{}.Run(context.Background(), "sh", "-c", "echo oops >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Run of a failing command = %v", err)
	}
}
