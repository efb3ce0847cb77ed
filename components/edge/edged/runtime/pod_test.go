package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/edge/edged/runtime/runtimetest"
)

var (
	_ runtime.RuntimeService = (*runtimetest.Fake)(nil)
	_ runtime.ImageService   = (*runtimetest.Fake)(nil)
	_ runtime.RuntimeService = runtimeapi.RuntimeServiceClient(nil)
	_ runtime.ImageService   = runtimeapi.ImageServiceClient(nil)
)

const appImage = "localhost/kubeedge/app:v1"

func TestEnsureImage(t *testing.T) {
	pullFailure := status.Error(codes.Unavailable, "dial tcp 127.0.0.1:443: connection refused")
	tests := []struct {
		name      string
		image     string
		policy    corev1.PullPolicy
		present   bool
		pullErr   error
		statusErr error
		wantPull  bool
		check     func(*testing.T, error)
	}{
		{name: "Never, present", image: appImage, policy: corev1.PullNever, present: true},
		{name: "Never, missing", image: appImage, policy: corev1.PullNever, check: func(t *testing.T, err error) {
			var nf *runtime.ImageNotPresentError
			if !errors.Is(err, runtime.ErrImageNotPresent) || !errors.As(err, &nf) || nf.Image != appImage ||
				err.Error() != "image "+appImage+" not present and imagePullPolicy is Never" {
				t.Errorf("error = %v", err)
			}
		}},
		{name: "IfNotPresent, present: no pull", image: appImage, policy: corev1.PullIfNotPresent, present: true},
		{name: "IfNotPresent, missing: pull", image: appImage, policy: corev1.PullIfNotPresent, wantPull: true},
		{name: "Always, present: pull", image: appImage, policy: corev1.PullAlways, present: true, wantPull: true},
		{name: "empty policy, tagged: IfNotPresent", image: appImage, present: true},
		{name: "empty policy, latest: Always", image: "localhost/kubeedge/app:latest", present: true, wantPull: true},
		{name: "empty policy, untagged: Always", image: "localhost:5000/app", present: true, wantPull: true},
		{name: "pull fails", image: appImage, policy: corev1.PullIfNotPresent, pullErr: pullFailure, wantPull: true, check: func(t *testing.T, err error) {
			var pe *runtime.PullError
			if !errors.As(err, &pe) || pe.Image != appImage || status.Code(err) != codes.Unavailable {
				t.Errorf("error = %v, want *PullError for %s wrapping the gRPC error", err, appImage)
			}
		}},
		{name: "image status fails", image: appImage, policy: corev1.PullIfNotPresent, statusErr: errors.New("boom"), check: func(t *testing.T, err error) {
			var pe *runtime.PullError
			if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "boom") {
				t.Errorf("error = %v, want a plain wrapped error", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := runtimetest.New()
			var id string
			if tt.present {
				id = fake.AddImage(tt.image)
			}
			fake.PullFunc = func(string) error { return tt.pullErr }
			if tt.statusErr != nil {
				fake.FailNext("ImageStatus", tt.statusErr)
			}
			rt := runtime.New(fake, fake, runtime.Options{})
			ref, err := rt.EnsureImage(context.Background(), tt.image, tt.policy, nil)
			if pulled := fake.CallCount("PullImage") > 0; pulled != tt.wantPull {
				t.Errorf("pulled = %v, want %v", pulled, tt.wantPull)
			}
			if tt.check != nil {
				tt.check(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ref, "sha256:") || (tt.present && ref != id) {
				t.Errorf("image ref = %q (present as %q)", ref, id)
			}
		})
	}
}

// podEnv is one pod on a fake runtime with temp log and cgroup roots.
type podEnv struct {
	fake     *runtimetest.Fake
	rt       *runtime.Runtime
	pod      *corev1.Pod
	sbOpts   runtime.SandboxOptions
	cgroupFS string
}

func newPodEnv(t *testing.T) *podEnv {
	t.Helper()
	fake := runtimetest.New()
	fake.AddImage(appImage)
	cgroupFS := t.TempDir()
	e := &podEnv{
		fake: fake, rt: runtime.New(fake, fake, runtime.Options{CgroupFS: cgroupFS}), cgroupFS: cgroupFS,
		pod:    testPod(),
		sbOpts: runtime.SandboxOptions{PodLogsRoot: filepath.Join(t.TempDir(), "pods"), CgroupRoot: "/ke"},
	}
	return e
}

func (e *podEnv) start(t *testing.T, ctx context.Context, sandboxID, name string, attempt uint32) string {
	t.Helper()
	var c *corev1.Container
	for i := range e.pod.Spec.Containers {
		if e.pod.Spec.Containers[i].Name == name {
			c = &e.pod.Spec.Containers[i]
		}
	}
	cfg, err := runtime.ContainerConfig(e.pod, c, runtime.ContainerOptions{Attempt: attempt})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.rt.StartContainer(ctx, sandboxID, runtime.SandboxConfig(e.pod, e.sbOpts), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPodLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	clock := time.Unix(1700000000, 0)
	e.fake.SetClock(func() time.Time { clock = clock.Add(time.Second); return clock })

	sandboxID, ip, err := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	if ip == "" {
		t.Error("no pod IP")
	}
	logDir := filepath.Join(e.sbOpts.PodLogsRoot, "prod_web_uid-1")
	if fi, err := os.Stat(logDir); err != nil || !fi.IsDir() {
		t.Fatalf("pod log directory: %v", err)
	}
	appID := e.start(t, ctx, sandboxID, "app", 0)
	e.start(t, ctx, sandboxID, "side", 0)

	st, err := e.rt.PodStatus(ctx, "uid-1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "web" || st.Namespace != "prod" || len(st.Sandboxes) != 1 || st.Sandbox().ID != sandboxID ||
		st.Sandbox().State != runtime.SandboxReady || st.Sandbox().IP != ip {
		t.Fatalf("pod status %+v, sandbox %+v", st, st.Sandbox())
	}
	app := st.Container("app")
	if app == nil || app.ID != appID || app.State != runtime.ContainerRunning || app.StartedAt.IsZero() ||
		app.RestartCount != 0 || app.Hash != runtime.SpecHash(&e.pod.Spec.Containers[0]) || app.SandboxID != sandboxID {
		t.Fatalf("app status %+v", app)
	}

	// The process dies: exited, 137, reason Error; then attempt 1.
	if err := e.fake.ExitContainer(appID, 137); err != nil {
		t.Fatal(err)
	}
	st, _ = e.rt.PodStatus(ctx, "uid-1")
	if app = st.Container("app"); app.State != runtime.ContainerExited || app.ExitCode != 137 || app.Reason != "Error" || !app.FinishedAt.After(app.StartedAt) {
		t.Fatalf("app after kill %+v", app)
	}
	app1ID := e.start(t, ctx, sandboxID, "app", 1)
	st, _ = e.rt.PodStatus(ctx, "uid-1")
	app = st.Container("app")
	if app.ID != app1ID || app.Attempt != 1 || app.State != runtime.ContainerRunning || app.RestartCount != 1 {
		t.Fatalf("app after restart %+v", app)
	}
	var names []string
	for _, c := range st.Containers {
		names = append(names, c.Name+"/"+string(c.State)+"/"+string(rune('0'+c.RestartCount)))
	}
	if got := strings.Join(names, " "); got != "app/Running/1 app/Exited/1 side/Running/0" {
		t.Errorf("containers %s", got)
	}

	// Graceful stop: 143.
	if err := e.rt.StopContainer(ctx, app1ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ = e.rt.PodStatus(ctx, "uid-1")
	if app = st.Container("app"); app.State != runtime.ContainerExited || app.ExitCode != 143 {
		t.Fatalf("app after stop %+v", app)
	}
	if err := e.rt.StopContainer(ctx, "gone", time.Second); err != nil {
		t.Errorf("stopping a missing container: %v", err)
	}

	// RemovePod: no sandbox, no container, no pod cgroup under any controller.
	for _, d := range []string{"memory/ke/poduid-1/" + appID, "cpu,cpuacct/ke/poduid-1/x/y", "pids/ke/poduid-1", "memory/ke/podother"} {
		if err := os.MkdirAll(filepath.Join(e.cgroupFS, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(e.cgroupFS, "cpu")); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RemovePod(ctx, sandboxID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Sandboxes()) + len(e.fake.Containers()); n != 0 {
		t.Errorf("%d sandboxes/containers left", n)
	}
	left, _ := filepath.Glob(filepath.Join(e.cgroupFS, "*", "ke", "*"))
	if len(left) != 1 || filepath.Base(left[0]) != "podother" {
		t.Errorf("cgroup dirs left: %v", left)
	}
	st, err = e.rt.PodStatus(ctx, "uid-1")
	if err != nil || len(st.Sandboxes) != 0 || len(st.Containers) != 0 || st.Sandbox() != nil || st.Container("app") != nil {
		t.Errorf("status after removal %+v %v", st, err)
	}
	if err := e.rt.RemovePod(ctx, sandboxID); err != nil {
		t.Errorf("second RemovePod: %v", err)
	}
}

func TestRunSandboxRetriesAfterFailure(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	// A failed run that left a NOTREADY sandbox of the same attempt behind.
	id, _, err := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext("RunPodSandbox", status.Error(codes.Unknown, "cni plugin not initialized"))
	if _, _, err := e.rt.RunSandbox(ctx, e.pod, e.sbOpts); err == nil || !strings.Contains(err.Error(), "cni plugin not initialized") {
		t.Fatalf("RunSandbox = %v, want the injected failure", err)
	}
	if n := len(e.fake.Sandboxes()); n != 0 {
		t.Fatalf("%d sandboxes left after the failure", n)
	}
	if _, _, err := e.rt.RunSandbox(ctx, e.pod, e.sbOpts); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestStartContainerFailures(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	sandboxID, _, err := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	sbCfg := runtime.SandboxConfig(e.pod, e.sbOpts)
	cfg, _ := runtime.ContainerConfig(e.pod, &e.pod.Spec.Containers[0], runtime.ContainerOptions{})

	e.fake.FailNext("StartContainer", status.Error(codes.Unknown, "exec format error"))
	id, err := e.rt.StartContainer(ctx, sandboxID, sbCfg, cfg)
	if err == nil || id == "" || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("StartContainer = %q, %v", id, err)
	}
	st, _ := e.rt.PodStatus(ctx, "uid-1")
	if c := st.Container("app"); c == nil || c.ID != id || c.State != runtime.ContainerCreated {
		t.Errorf("failed container status %+v", c)
	}
	// Same name and attempt again: the runtime refuses (reserved name).
	if _, err := e.rt.StartContainer(ctx, sandboxID, sbCfg, cfg); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("second create with the same attempt: %v", err)
	}
	// A missing image fails at create, without an ID.
	cfg.Image.Image = "localhost/kubeedge/missing:v1"
	cfg.Metadata.Attempt = 1
	if id, err := e.rt.StartContainer(ctx, sandboxID, sbCfg, cfg); err == nil || id != "" {
		t.Errorf("create with a missing image = %q, %v", id, err)
	}
}

func TestStopPod(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	sandboxID, _, _ := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	e.start(t, ctx, sandboxID, "app", 0)
	e.start(t, ctx, sandboxID, "side", 0)
	if err := e.rt.StopPod(ctx, "uid-1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := e.rt.PodStatus(ctx, "uid-1")
	for _, c := range st.Containers {
		if c.State != runtime.ContainerExited || c.ExitCode != 143 {
			t.Errorf("container %s after StopPod: %s %d", c.Name, c.State, c.ExitCode)
		}
	}
	if st.Sandbox().State != runtime.SandboxReady {
		t.Errorf("StopPod stopped the sandbox")
	}
}

func TestListPods(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	sb1, _, _ := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	e.start(t, ctx, sb1, "app", 0)

	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "prod", UID: types.UID("uid-2")},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "db", Image: appImage}}},
	}
	sb2, ip2, err := e.rt.RunSandbox(ctx, other, e.sbOpts)
	if err != nil || ip2 != "" {
		t.Fatalf("host-network sandbox: ip %q, %v", ip2, err)
	}
	cfg, _ := runtime.ContainerConfig(other, &other.Spec.Containers[0], runtime.ContainerOptions{})
	if _, err := e.rt.StartContainer(ctx, sb2, runtime.SandboxConfig(other, e.sbOpts), cfg); err != nil {
		t.Fatal(err)
	}
	// A sandbox made by someone else, without our labels: grouped by its
	// metadata UID.
	if _, err := e.fake.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "foreign", Namespace: "x", Uid: "uid-3"},
	}}); err != nil {
		t.Fatal(err)
	}

	pods, err := e.rt.ListPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods {
		s := p.Namespace + "/" + p.Name + "/" + p.UID + ":"
		for _, c := range p.Containers {
			s += c.Name + "=" + string(c.State)
		}
		got = append(got, s)
	}
	if want := "prod/db/uid-2:db=Running prod/web/uid-1:app=Running x/foreign/uid-3:"; strings.Join(got, " ") != want {
		t.Errorf("ListPods = %s, want %s", strings.Join(got, " "), want)
	}

	// Listing errors are returned.
	e.fake.FailNext("ListContainers", status.Error(codes.Unavailable, "down"))
	if _, err := e.rt.ListPods(ctx); status.Code(err) != codes.Unavailable {
		t.Errorf("ListPods with a failing runtime: %v", err)
	}
}

func TestRemovePodKeepsCgroupOfAnotherAttempt(t *testing.T) {
	ctx := context.Background()
	e := newPodEnv(t)
	old, _, _ := e.rt.RunSandbox(ctx, e.pod, e.sbOpts)
	opts := e.sbOpts
	opts.Attempt = 1
	if _, _, err := e.rt.RunSandbox(ctx, e.pod, opts); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.cgroupFS, "memory", "ke", "poduid-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RemovePod(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("cgroup of the live attempt removed: %v", err)
	}
	st, _ := e.rt.PodStatus(ctx, "uid-1")
	if len(st.Sandboxes) != 1 || st.Sandbox().Attempt != 1 {
		t.Errorf("sandboxes %+v", st.Sandboxes)
	}
}

func TestRemoveCgroup(t *testing.T) {
	fs := t.TempDir()
	for _, d := range []string{"memory/ke/podA/c1/nested", "blkio/ke/podA", "ke/podA/c2", "memory/ke/podB"} {
		if err := os.MkdirAll(filepath.Join(fs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A regular file (not a cgroup) inside is never deleted: rmdir fails.
	if err := os.WriteFile(filepath.Join(fs, "blkio", "ke", "podA", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := runtime.RemoveCgroup(context.Background(), fs, "/ke/podA")
	if err == nil || !strings.Contains(err.Error(), "blkio") {
		t.Errorf("RemoveCgroup = %v, want an error about blkio", err)
	}
	for _, d := range []string{"memory/ke/podA", "ke/podA"} {
		if _, err := os.Stat(filepath.Join(fs, d)); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
	for _, d := range []string{"memory/ke/podB", "blkio/ke/podA/file", "memory/ke"} {
		if _, err := os.Stat(filepath.Join(fs, d)); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
	if err := runtime.RemoveCgroup(context.Background(), fs, "/"); err != nil {
		t.Errorf("RemoveCgroup(/) = %v, want a no-op", err)
	}
}
