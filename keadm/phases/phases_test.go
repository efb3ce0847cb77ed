package phases

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// data is the workflow data of the tests: phases append their path to it.
type data struct {
	ran   []string
	noCA  bool
	flags string
}

func record(path string) func(context.Context, *data) error {
	return func(_ context.Context, d *data) error {
		d.ran = append(d.ran, path)
		return nil
	}
}

// workflow is a small init-like tree.
func workflow() []Phase[*data] {
	return []Phase[*data]{
		{Name: "preflight", Short: "Running pre-flight checks", Run: record("preflight")},
		{Name: "certs", Short: "Creating certificates", Phases: []Phase[*data]{
			{Name: "ca", Short: "Creating the CA", Run: record("certs/ca"),
				RunIf: func(d *data) (bool, error) { return !d.noCA, nil }},
			{Name: "server", Short: "Creating the server certificate", Run: record("certs/server")},
		}},
		{Name: "crds", Short: "Installing CRDs", Run: record("crds"), Hidden: true},
		{Name: "start", Short: "Starting cloudcore", Run: record("start")},
	}
}

func TestNames(t *testing.T) {
	r := &Runner[*data]{Phases: workflow()}
	want := []string{"preflight", "certs", "certs/ca", "certs/server", "crds", "start"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		skip []string
		data data
		want []string
	}{
		{name: "all", want: []string{"preflight", "certs/ca", "certs/server", "crds", "start"}},
		{name: "skip leaf", skip: []string{"certs/ca", "start"}, want: []string{"preflight", "certs/server", "crds"}},
		{name: "skip parent", skip: []string{"certs"}, want: []string{"preflight", "crds", "start"}},
		{name: "run-if false", data: data{noCA: true}, want: []string{"preflight", "certs/server", "crds", "start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner[*data]{Phases: workflow(), SkipPhases: tt.skip}
			d := tt.data
			if err := r.Run(context.Background(), &d); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.ran, tt.want) {
				t.Errorf("ran %v, want %v", d.ran, tt.want)
			}
		})
	}
}

func TestUnknownSkipPhase(t *testing.T) {
	r := &Runner[*data]{Phases: workflow(), SkipPhases: []string{"certs", "cert/ca", "bogus"}}
	err := r.Run(context.Background(), &data{})
	if err == nil {
		t.Fatal("Run succeeded with unknown skip phases")
	}
	for _, want := range []string{"cert/ca, bogus", "valid phases are: preflight, certs, certs/ca, certs/server, crds, start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestInvalidTree(t *testing.T) {
	tests := map[string][]Phase[*data]{
		"empty name": {{Name: ""}},
		"slash":      {{Name: "a/b"}},
		"duplicate":  {{Name: "a"}, {Name: "x", Phases: []Phase[*data]{{Name: "y"}, {Name: "y"}}}},
	}
	for name, ps := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Runner[*data]{Phases: ps}
			if err := r.Run(context.Background(), &data{}); err == nil {
				t.Error("Run succeeded on an invalid tree")
			}
		})
	}
}

func TestErrorWrapping(t *testing.T) {
	errDisk := errors.New("disk full")
	ps := workflow()
	ps[1].Phases[1].Run = func(context.Context, *data) error { return errDisk }
	r := &Runner[*data]{Phases: ps}
	d := &data{}
	err := r.Run(context.Background(), d)
	if !errors.Is(err, errDisk) || err.Error() != "phase certs/server: disk full" {
		t.Fatalf("Run = %v, want %q wrapping errDisk", err, "phase certs/server: disk full")
	}
	if want := []string{"preflight", "certs/ca"}; !slices.Equal(d.ran, want) {
		t.Errorf("ran %v, want %v: the workflow must stop at the failure", d.ran, want)
	}

	ps = workflow()
	ps[0].RunIf = func(*data) (bool, error) { return false, errDisk }
	err = (&Runner[*data]{Phases: ps}).Run(context.Background(), &data{})
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "phase preflight: ") {
		t.Errorf("RunIf error = %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ps := workflow()
	ps[0].Run = func(context.Context, *data) error { cancel(); return nil }
	err := (&Runner[*data]{Phases: ps}).Run(ctx, &data{})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "phase certs: ") {
		t.Errorf("Run = %v, want phase certs: context canceled", err)
	}
}

func TestRunPhase(t *testing.T) {
	r := &Runner[*data]{Phases: workflow(), SkipPhases: []string{"certs/ca"}}
	d := &data{}
	if err := r.RunPhase(context.Background(), "certs", d); err != nil {
		t.Fatal(err)
	}
	if want := []string{"certs/server"}; !slices.Equal(d.ran, want) {
		t.Errorf("ran %v, want %v", d.ran, want)
	}
	if err := r.RunPhase(context.Background(), "nope", d); err == nil || !strings.Contains(err.Error(), `unknown phase "nope"`) {
		t.Errorf("RunPhase(nope) = %v", err)
	}
}

// fakeNow advances 120ms per call.
func fakeNow() func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time {
		t = t.Add(120 * time.Millisecond)
		return t
	}
}

func TestProgressGolden(t *testing.T) {
	var out bytes.Buffer
	r := &Runner[*data]{Phases: workflow(), SkipPhases: []string{"crds"}, Out: &out, Now: fakeNow()}
	if err := r.Run(context.Background(), &data{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "progress.golden", out.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestBindToCommand(t *testing.T) {
	newCmd := func() (*cobra.Command, *Runner[*data], *data, *bytes.Buffer) {
		d := &data{}
		var out bytes.Buffer
		r := &Runner[*data]{Phases: workflow(), Out: &out, Now: fakeNow()}
		var flagVal string
		cmd := &cobra.Command{Use: "init", SilenceUsage: true, SilenceErrors: true}
		cmd.Flags().StringVar(&flagVal, "advertise-address", "", "address")
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		BindToCommand(cmd, r, func(*cobra.Command, []string) (*data, error) {
			d.flags = flagVal
			return d, nil
		})
		return cmd, r, d, &out
	}

	tests := []struct {
		name      string
		args      []string
		want      []string
		wantFlags string
		wantErr   string
	}{
		{name: "whole workflow", args: []string{"--advertise-address=1.2.3.4"},
			want: []string{"preflight", "certs/ca", "certs/server", "crds", "start"}, wantFlags: "1.2.3.4"},
		{name: "skip phases", args: []string{"--skip-phases=certs,start"}, want: []string{"preflight", "crds"}},
		{name: "skip phases unknown", args: []string{"--skip-phases=cert"}, wantErr: "unknown phase(s) cert"},
		{name: "one phase", args: []string{"phase", "certs"}, want: []string{"certs/ca", "certs/server"}},
		{name: "nested phase with parent flag", args: []string{"phase", "certs", "ca", "--advertise-address=5.6.7.8"},
			want: []string{"certs/ca"}, wantFlags: "5.6.7.8"},
		{name: "hidden phase still runs", args: []string{"phase", "crds"}, want: []string{"crds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, _, d, _ := newCmd()
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Execute = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.ran, tt.want) {
				t.Errorf("ran %v, want %v", d.ran, tt.want)
			}
			if d.flags != tt.wantFlags {
				t.Errorf("flag value %q, want %q", d.flags, tt.wantFlags)
			}
		})
	}

	t.Run("help lists phases", func(t *testing.T) {
		cmd, _, _, out := newCmd()
		cmd.SetArgs([]string{"phase", "--help"})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"preflight", "certs", "start", "Running pre-flight checks"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("help does not mention %q:\n%s", want, out)
			}
		}
		if strings.Contains(out.String(), "crds") {
			t.Errorf("help mentions the hidden phase crds:\n%s", out)
		}
	})
}
