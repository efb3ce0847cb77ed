//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/e2e/framework"
)

// criEnvSource serves one ConfigMap to runtime.ResolveEnv.
type criEnvSource map[string]map[string]string

func (s criEnvSource) ConfigMap(namespace, name string) (map[string]string, error) {
	if m, ok := s[namespace+"/"+name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("configmap %s/%s: %w", namespace, name, runtime.ErrNotFound)
}

func (s criEnvSource) Secret(namespace, name string) (map[string][]byte, error) {
	return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, runtime.ErrNotFound)
}

type appAnswer struct {
	Hostname string            `json:"hostname"`
	PID      int               `json:"pid"`
	Msg      string            `json:"msg"`
	Files    map[string]string `json:"files"`
}

func waitForApp(ctx context.Context, t *testing.T, ip string) appAnswer {
	t.Helper()
	var answer appAnswer
	client := &http.Client{Timeout: 2 * time.Second}
	err := framework.WaitFor(ctx, "app at "+ip+":8080", 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":8080/", nil)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return true, json.Unmarshal(body, &answer)
	})
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

func waitForContainer(ctx context.Context, t *testing.T, rt *runtime.Runtime, uid, name, what string, ok func(*runtime.ContainerStatus) bool) *runtime.ContainerStatus {
	t.Helper()
	var last *runtime.ContainerStatus
	err := framework.WaitFor(ctx, what, 20*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		st, err := rt.PodStatus(ctx, uid)
		if err != nil {
			return false, err
		}
		last = st.Container(name)
		return last != nil && ok(last), nil
	})
	if err != nil {
		t.Fatalf("%v; last status %+v", err, last)
	}
	return last
}

// Edged's CRI layer runs a real pod on containerd: image check, sandbox and
// container configs from a v1.Pod (env from a ConfigMap, a host directory
// mount, a memory limit), a crash with exit code 137, a restart as attempt 1,
// adoption by a fresh client, and a removal that leaves nothing behind.
func TestCRIRuntime(t *testing.T) {
	const (
		cgroupRoot = "/kubeedge-e2e-cri"
		image      = "localhost/kubeedge/app:v1"
	)
	ctr := framework.ContainerdForTest(t, framework.ContainerdOptions{Images: []string{"app"}}, cgroupRoot)
	ctx := framework.Context(t)

	rt, err := runtime.Dial(ctx, ctr.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Name != "containerd" || rt.APIVersion != "v1" {
		t.Errorf("runtime %s %s API %s", rt.Name, rt.Version, rt.APIVersion)
	}

	// Images: present (no pull), absent with Never, absent with a failing pull.
	imageRef, err := rt.EnsureImage(ctx, image, corev1.PullIfNotPresent, nil)
	if err != nil || !strings.HasPrefix(imageRef, "sha256:") {
		t.Fatalf("EnsureImage(%s) = %q, %v", image, imageRef, err)
	}
	const missing = "localhost/kubeedge/missing:v1"
	if _, err := rt.EnsureImage(ctx, missing, corev1.PullNever, nil); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Errorf("EnsureImage(%s, Never) = %v, want ErrImageNotPresent", missing, err)
	}
	pullCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = rt.EnsureImage(pullCtx, missing, corev1.PullIfNotPresent, nil)
	cancel()
	var pullErr *runtime.PullError
	if !errors.As(err, &pullErr) || pullErr.Image != missing {
		t.Errorf("EnsureImage(%s, IfNotPresent) = %v, want *PullError", missing, err)
	}

	// The pod.
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "hello.txt"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	uid := fmt.Sprintf("cri-%d", time.Now().UnixNano())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "e2e", UID: types.UID(uid), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dataDir}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Env: []corev1.EnvVar{
					{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}, Key: "greeting"}}},
					{Name: "SHOW_FILES", Value: "/data/hello.txt"},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
	src := criEnvSource{"e2e/app-config": {"greeting": "hello from a configmap"}}
	sbOpts := runtime.SandboxOptions{PodLogsRoot: ctr.PodLogDir, CgroupRoot: cgroupRoot}
	sbConfig := runtime.SandboxConfig(pod, sbOpts)
	app := &pod.Spec.Containers[0]
	containerConfig := func(attempt uint32) *runtimeapi.ContainerConfig {
		t.Helper()
		env, err := runtime.ResolveEnv(pod, app, src)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := runtime.ContainerConfig(pod, app, runtime.ContainerOptions{
			Attempt: attempt, ImageRef: imageRef, Env: env,
			VolumePaths: map[string]string{"data": dataDir}, MemoryCapacity: 8 << 30,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	start := time.Now()
	sandboxID, podIP, err := rt.RunSandbox(ctx, pod, sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	if podIP == "" {
		t.Fatal("sandbox has no IP")
	}
	id0, err := rt.StartContainer(ctx, sandboxID, sbConfig, containerConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	answer := waitForApp(ctx, t, podIP)
	t.Logf("pod %s answering at %s %v after RunSandbox", uid, podIP, time.Since(start).Round(time.Millisecond))
	if answer.Hostname != "web" || answer.Msg != "hello from a configmap" || answer.Files["/data/hello.txt"] != "hello from the host" {
		t.Errorf("app answered %+v", answer)
	}

	// The memory limit reached the container's cgroup (cgroup v1 layout).
	limitFile := filepath.Join("/sys/fs/cgroup/memory", cgroupRoot, "pod"+uid, id0, "memory.limit_in_bytes")
	if b, err := os.ReadFile(limitFile); err == nil {
		if got := strings.TrimSpace(string(b)); got != "67108864" {
			t.Errorf("%s = %s, want 67108864", limitFile, got)
		}
	} else if _, statErr := os.Stat("/sys/fs/cgroup/memory"); statErr == nil {
		t.Errorf("memory limit: %v", err)
	}
	// The container log is where kubelet would put it.
	logFile := filepath.Join(ctr.PodLogDir, "e2e_web_"+uid, "app", "0.log")
	if b, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(b), "listening on :8080") {
		t.Errorf("container log %s: %v %q", logFile, err, b)
	}

	st, err := rt.PodStatus(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if sb := st.Sandbox(); sb == nil || sb.ID != sandboxID || sb.State != runtime.SandboxReady || sb.IP != podIP {
		t.Fatalf("sandbox status %+v", sb)
	}
	if c := st.Container("app"); c == nil || c.ID != id0 || c.State != runtime.ContainerRunning || c.RestartCount != 0 ||
		c.Hash != runtime.SpecHash(app) || c.StartedAt.IsZero() {
		t.Fatalf("app status %+v", c)
	}

	// SIGKILL the app: exited with 137.
	bins, err := framework.FindContainerd()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, bins.Ctr, "-a", ctr.Socket, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id0).CombinedOutput(); err != nil {
		t.Fatalf("ctr task kill: %v: %s", err, out)
	}
	killed := time.Now()
	c := waitForContainer(ctx, t, rt, uid, "app", "app exited", func(c *runtime.ContainerStatus) bool { return c.State == runtime.ContainerExited })
	t.Logf("exit seen %v after the kill", time.Since(killed).Round(time.Millisecond))
	if c.ExitCode != 137 || c.Reason != "Error" || c.FinishedAt.IsZero() {
		t.Errorf("killed app status %+v, want exit code 137, reason Error", c)
	}

	// Restart as attempt 1.
	id1, err := rt.StartContainer(ctx, sandboxID, sbConfig, containerConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	if answer = waitForApp(ctx, t, podIP); answer.Msg != "hello from a configmap" {
		t.Errorf("restarted app answered %+v", answer)
	}
	c = waitForContainer(ctx, t, rt, uid, "app", "app running again", func(c *runtime.ContainerStatus) bool { return c.State == runtime.ContainerRunning })
	if c.ID != id1 || c.Attempt != 1 || c.RestartCount != 1 {
		t.Errorf("restarted app status %+v, want attempt and restart count 1", c)
	}
	if _, err := os.Stat(filepath.Join(ctr.PodLogDir, "e2e_web_"+uid, "app", "1.log")); err != nil {
		t.Errorf("log of attempt 1: %v", err)
	}

	// A fresh client (edgecore restarted) adopts the pod as it is.
	rt2, err := runtime.Dial(ctx, ctr.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	pods, err := rt2.ListPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *runtime.PodRuntimeStatus
	for _, p := range pods {
		if p.UID == uid {
			found = p
		}
	}
	if found == nil || found.Name != "web" || found.Namespace != "e2e" || found.Sandbox().IP != podIP ||
		len(found.Containers) != 2 || found.Container("app").ID != id1 || found.Container("app").RestartCount != 1 {
		t.Fatalf("ListPods: pod %s = %+v", uid, found)
	}

	// Graceful stop: the app handles SIGTERM and exits 0 well within the grace.
	stopStart := time.Now()
	if err := rt.StopContainer(ctx, id1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopStart); took > 5*time.Second {
		t.Errorf("StopContainer took %v: SIGTERM not delivered?", took)
	}
	c = waitForContainer(ctx, t, rt, uid, "app", "app stopped", func(c *runtime.ContainerStatus) bool { return c.State == runtime.ContainerExited })
	if c.ExitCode != 0 || c.Reason != "Completed" {
		t.Errorf("stopped app: exit code %d reason %q, want 0 Completed", c.ExitCode, c.Reason)
	}

	// RemovePod: no sandbox, no container, no pod cgroup under any controller.
	if err := rt.RemovePod(ctx, sandboxID); err != nil {
		t.Fatal(err)
	}
	sbs, err := ctr.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil || len(sbs.Items) != 0 {
		t.Errorf("sandboxes left: %v %v", sbs, err)
	}
	ctrs, err := ctr.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(ctrs.Containers) != 0 {
		t.Errorf("containers left: %v %v", ctrs, err)
	}
	left, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupRoot, "pod"+uid))
	if unified := filepath.Join("/sys/fs/cgroup", cgroupRoot, "pod"+uid); fileExists(unified) {
		left = append(left, unified)
	}
	if len(left) != 0 {
		t.Errorf("pod cgroups left: %v", left)
	}
	if st, err := rt.PodStatus(ctx, uid); err != nil || len(st.Sandboxes)+len(st.Containers) != 0 {
		t.Errorf("pod status after removal: %+v %v", st, err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
