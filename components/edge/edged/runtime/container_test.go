package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

func TestContainerConfig(t *testing.T) {
	vol := t.TempDir()
	pod := testPod()
	pod.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), SupplementalGroups: []int64{5}}
	c := &pod.Spec.Containers[0]
	c.Command = []string{"/app", "--name=$(NAME)"}
	c.Args = []string{"$(MSG)", "$$(MSG)", "$(UNSET)"}
	c.WorkingDir = "/work"
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "data", MountPath: "/data", ReadOnly: true},
		{Name: "data", MountPath: "/logs", SubPathExpr: "logs/$(NAME)", MountPropagation: ptr(corev1.MountPropagationHostToContainer)},
	}
	c.SecurityContext = &corev1.SecurityContext{
		RunAsUser: ptr(int64(0)), ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}
	env := []corev1.EnvVar{{Name: "NAME", Value: "web"}, {Name: "MSG", Value: "hi"}}

	got, err := runtime.ContainerConfig(pod, c, runtime.ContainerOptions{
		Attempt: 3, ImageRef: "sha256:abc", Env: env,
		VolumePaths: map[string]string{"data": vol}, TerminationMessageFile: "/var/lib/edged/pods/uid-1/app/term",
		MemoryCapacity: 4 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	realVol, _ := filepath.EvalSymlinks(vol)
	want := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: "app", Attempt: 3},
		Image:      &runtimeapi.ImageSpec{Image: "sha256:abc", UserSpecifiedImage: "localhost/kubeedge/app:v1"},
		Command:    []string{"/app", "--name=web"},
		Args:       []string{"hi", "$(MSG)", "$(UNSET)"},
		WorkingDir: "/work",
		Envs:       []*runtimeapi.KeyValue{{Key: "NAME", Value: []byte("web")}, {Key: "MSG", Value: []byte("hi")}},
		Mounts: []*runtimeapi.Mount{
			{ContainerPath: "/data", HostPath: vol, Readonly: true},
			{ContainerPath: "/logs", HostPath: filepath.Join(realVol, "logs", "web"), Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			{ContainerPath: "/dev/termination-log", HostPath: "/var/lib/edged/pods/uid-1/app/term"},
		},
		Labels: map[string]string{
			runtime.LabelPodName: "web", runtime.LabelPodNamespace: "prod", runtime.LabelPodUID: "uid-1", runtime.LabelContainerName: "app",
		},
		Annotations: map[string]string{
			runtime.AnnotationContainerHash:          runtime.SpecHash(c),
			runtime.AnnotationRestartCount:           "3",
			runtime.AnnotationTerminationMessagePath: "/dev/termination-log",
			runtime.AnnotationTerminationPolicy:      "File",
			runtime.AnnotationPodGracePeriod:         "30",
		},
		LogPath: "app/3.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{
				CpuShares: 256, CpuPeriod: 100000, CpuQuota: 150000, MemoryLimitInBytes: 128 << 20, OomScoreAdj: 985,
			},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
				},
				RunAsUser:          &runtimeapi.Int64Value{Value: 0},
				SupplementalGroups: []int64{5},
				ReadonlyRootfs:     true,
				NoNewPrivs:         true,
				Capabilities:       &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}},
			},
		},
	}
	if !proto.Equal(got, want) {
		t.Errorf("ContainerConfig =\n%v\nwant\n%v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(vol, "logs", "web")); err != nil || !fi.IsDir() {
		t.Errorf("subPath directory not created: %v", err)
	}
}

func TestContainerConfigErrors(t *testing.T) {
	vol := t.TempDir()
	tests := []struct {
		name    string
		mount   corev1.VolumeMount
		sc      *corev1.SecurityContext
		wantErr string
	}{
		{"unknown volume", corev1.VolumeMount{Name: "nope", MountPath: "/x"}, nil, "volume not prepared"},
		{"subPath with ..", corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "a/../../etc"}, nil, "must not contain '..'"},
		{"absolute subPath", corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "/etc"}, nil, "must be relative"},
		{"subPathExpr expanding to ..", corev1.VolumeMount{Name: "data", MountPath: "/x", SubPathExpr: "$(UP)/etc"}, nil, "must not contain '..'"},
		{"bidirectional without privileged", corev1.VolumeMount{Name: "data", MountPath: "/x", MountPropagation: ptr(corev1.MountPropagationBidirectional)}, nil, "needs a privileged container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			c := &pod.Spec.Containers[0]
			c.VolumeMounts = []corev1.VolumeMount{tt.mount}
			c.SecurityContext = tt.sc
			_, err := runtime.ContainerConfig(pod, c, runtime.ContainerOptions{
				Env: []corev1.EnvVar{{Name: "UP", Value: ".."}}, VolumePaths: map[string]string{"data": vol},
			})
			var ce *runtime.ConfigError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ce) {
				t.Fatalf("error = %v, want *ConfigError containing %q", err, tt.wantErr)
			}
		})
	}

	// Bidirectional is fine for a privileged container.
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/x", MountPropagation: ptr(corev1.MountPropagationBidirectional)}}
	cfg, err := runtime.ContainerConfig(pod, c, runtime.ContainerOptions{VolumePaths: map[string]string{"data": vol}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mounts[0].Propagation != runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL || !cfg.Linux.SecurityContext.Privileged {
		t.Errorf("mount %v, security context %v", cfg.Mounts[0], cfg.Linux.SecurityContext)
	}
}

func TestEnsureSubPath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mustMkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(filepath.Join(root, "existing", "dir"))
	if err := os.WriteFile(filepath.Join(root, "existing", "file.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("existing/dir", filepath.Join(root, "inside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "passwd")); err != nil {
		t.Fatal(err)
	}
	realRoot, _ := filepath.EvalSymlinks(root)

	tests := []struct {
		sub     string
		want    string // relative to the real root
		wantErr string
	}{
		{sub: "new/deep/dir", want: "new/deep/dir"},
		{sub: "existing/dir", want: "existing/dir"},
		{sub: "existing/file.txt", want: "existing/file.txt"},
		{sub: "./existing//dir/", want: "existing/dir"},
		{sub: "inside/sub", want: "existing/dir/sub"},
		{sub: "existing/file.txt/x", wantErr: "is not a directory"},
		{sub: "escape", wantErr: "outside"},
		{sub: "escape/x", wantErr: "outside"},
		{sub: "passwd", wantErr: "outside"},
		{sub: "../x", wantErr: "'..'"},
		{sub: "/abs", wantErr: "must be relative"},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			got, err := runtime.EnsureSubPath(root, tt.sub)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EnsureSubPath(%q) = %q, %v; want error containing %q", tt.sub, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(realRoot, tt.want); got != want {
				t.Errorf("EnsureSubPath(%q) = %q, want %q", tt.sub, got, want)
			}
			if _, err := os.Stat(got); err != nil {
				t.Error(err)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was created outside the volume: %v", entries)
	}
	if err := runtime.ValidateSubPath("a/..b/c..d"); err != nil {
		t.Errorf("names merely containing dots are fine: %v", err)
	}
	if err := runtime.ValidateSubPath("a/.."); !errors.Is(err, runtime.ErrSubPathEscape) {
		t.Errorf("ValidateSubPath(a/..) = %v, want ErrSubPathEscape", err)
	}
}

func TestSpecHash(t *testing.T) {
	base := func() *corev1.Container {
		return &corev1.Container{
			Name: "app", Image: "localhost/kubeedge/app:v1",
			Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
			Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("0.5")},
			},
		}
	}
	h := runtime.SpecHash(base())
	if h == "" || h != runtime.SpecHash(base()) {
		t.Fatalf("hash not stable: %q", h)
	}
	// The same quantity written differently, and maps built in another order.
	same := base()
	same.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	if got := runtime.SpecHash(same); got != h {
		t.Errorf("equivalent spec hashes to %q, want %q", got, h)
	}
	// Pinned value: a change means every running container would be
	// restarted after an upgrade of edgecore.
	const pinned = "c6a6ba47b44f15b6"
	if h != pinned {
		t.Errorf("SpecHash changed: %s (pinned %s) - update the pin only if the change is intended", h, pinned)
	}
	for name, edit := range map[string]func(*corev1.Container){
		"image":   func(c *corev1.Container) { c.Image = "localhost/kubeedge/app:v2" },
		"env":     func(c *corev1.Container) { c.Env[0].Value = "2" },
		"limits":  func(c *corev1.Container) { c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Mi") },
		"command": func(c *corev1.Container) { c.Command = []string{"/app"} },
	} {
		c := base()
		edit(c)
		if runtime.SpecHash(c) == h {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
}
