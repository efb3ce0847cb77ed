package framework

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ArtifactDir returns a directory for one test's logs and state under
// $KUBEEDGE_E2E_ARTIFACTS (default <tmp>/kubeedge-e2e). It is removed when the
// test passes and kept, with its path logged, when the test fails.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("KUBEEDGE_E2E_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "kubeedge-e2e")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatalf("artifact dir: %v", err)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir, err := os.MkdirTemp(base, name+"-")
	if err != nil {
		t.Fatalf("artifact dir: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs and state of this failed test kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// Context returns a context that ends with the test (or its deadline).
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, has := d.Deadline(); has {
			ctx, cancel = context.WithDeadline(context.Background(), deadline.Add(-10*time.Second))
		}
	}
	t.Cleanup(cancel)
	return ctx
}

// ControlPlaneForTest starts a control plane for t and stops it in t.Cleanup.
// A missing control plane fails the test with the make target that builds it.
func ControlPlaneForTest(t testing.TB, opts ControlPlaneOptions) *ControlPlane {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(ArtifactDir(t), "controlplane")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cp, err := StartControlPlane(Context(t), opts)
	if err != nil {
		t.Fatalf("start control plane: %v (logs in %s)", err, opts.Dir)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return cp
}

// ContainerdForTest starts containerd for t and, in t.Cleanup, removes its pods,
// stops it and deletes its state, bridge and the cgroups under cgroupRoots.
func ContainerdForTest(t testing.TB, opts ContainerdOptions, cgroupRoots ...string) *Containerd {
	t.Helper()
	if opts.LogDir == "" {
		opts.LogDir = ArtifactDir(t)
	}
	c, err := StartContainerd(Context(t), opts)
	if err != nil {
		t.Fatalf("start containerd: %v (log in %s)", err, opts.LogDir)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background(), cgroupRoots...); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
	})
	return c
}
