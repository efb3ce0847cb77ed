package edged

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/edge/edged/runtime/runtimetest"
	"github.com/cleanedge/kubeedge/components/message"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fakeStore struct {
	mu      sync.Mutex
	pods    map[string]*corev1.Pod
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func newStore() *fakeStore {
	return &fakeStore{pods: map[string]*corev1.Pod{}, cms: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

func (s *fakeStore) Pods() ([]*corev1.Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*corev1.Pod
	for _, p := range s.pods {
		out = append(out, p.DeepCopy())
	}
	return out, nil
}

func (s *fakeStore) ConfigMap(ns, name string) (*corev1.ConfigMap, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm, ok := s.cms[ns+"/"+name]
	if !ok {
		return nil, false, nil
	}
	return cm.DeepCopy(), true, nil
}

func (s *fakeStore) Secret(ns, name string) (*corev1.Secret, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[ns+"/"+name]
	if !ok {
		return nil, false, nil
	}
	return sec.DeepCopy(), true, nil
}

func (s *fakeStore) put(p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods[p.Namespace+"/"+p.Name] = p.DeepCopy()
}

func (s *fakeStore) del(p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pods, p.Namespace+"/"+p.Name)
}

func (s *fakeStore) putCM(cm *corev1.ConfigMap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cms[cm.Namespace+"/"+cm.Name] = cm.DeepCopy()
}

type fakeSender struct {
	mu   sync.Mutex
	msgs []message.Message
	fail bool
}

func (s *fakeSender) Send(m message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return os.ErrDeadlineExceeded
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *fakeSender) all() []message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message.Message(nil), s.msgs...)
}

type env struct {
	t      *testing.T
	clock  *fakeClock
	fake   *runtimetest.Fake
	rt     *runtime.Runtime
	store  *fakeStore
	sender *fakeSender
	cfg    Config
	e      *Edged
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	fake := runtimetest.New()
	fake.SetClock(clock.Now)
	rt := runtime.New(fake, fake, runtime.Options{CgroupFS: t.TempDir()})
	ev := &env{t: t, clock: clock, fake: fake, rt: rt, store: newStore(), sender: &fakeSender{}}
	ev.cfg = Config{NodeName: "edge-1", NodeIP: "192.168.1.10", RootDirectory: t.TempDir(), PodLogsRoot: t.TempDir(), Now: clock.Now}
	ev.e = New(ev.cfg, rt, ev.store, ev.sender, logr.Discard())
	return ev
}

func (ev *env) sync() {
	ev.t.Helper()
	if err := ev.e.syncAll(context.Background()); err != nil {
		ev.t.Fatal(err)
	}
}

// status returns the last pod status patch sent for the pod.
func (ev *env) status(name string) (*corev1.PodStatus, int) {
	ev.t.Helper()
	var last *corev1.PodStatus
	n := 0
	for _, m := range ev.sender.all() {
		if m.Route.Operation != message.OpPatch || m.Route.Resource != "default/podpatch/"+name {
			continue
		}
		if m.Route.Source != message.SourceEdged || m.Route.Group != message.GroupMeta {
			ev.t.Fatalf("route %+v", m.Route)
		}
		s, err := m.DecodeString()
		if err != nil {
			ev.t.Fatalf("podpatch content is not a JSON string: %v", err)
		}
		var patch struct {
			Metadata struct{ UID types.UID } `json:"metadata"`
			Status   corev1.PodStatus        `json:"status"`
		}
		if err := json.Unmarshal([]byte(s), &patch); err != nil {
			ev.t.Fatal(err)
		}
		last = &patch.Status
		n++
	}
	if last == nil {
		ev.t.Fatalf("no status sent for %s", name)
	}
	return last, n
}

func (ev *env) containers(state runtimeapi.ContainerState) []runtimetest.Container {
	var out []runtimetest.Container
	for _, c := range ev.fake.Containers() {
		if c.State == state {
			out = append(out, c)
		}
	}
	return out
}

func testPod(name string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "nginx:1.25"}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "edge-1", Containers: containers, RestartPolicy: corev1.RestartPolicyAlways},
	}
}

func containerStatus(t *testing.T, st *corev1.PodStatus, name string) corev1.ContainerStatus {
	t.Helper()
	for _, cs := range append(append([]corev1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	t.Fatalf("no status of container %s in %+v", name, st)
	return corev1.ContainerStatus{}
}

func condition(st *corev1.PodStatus, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func TestPodStartsAndReportsRunning(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	other := testPod("elsewhere")
	other.Spec.NodeName = "edge-2"
	ev.store.put(other)
	ev.sync()

	if n := len(ev.fake.Sandboxes()); n != 1 {
		t.Fatalf("sandboxes = %d, want 1", n)
	}
	running := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
	if len(running) != 1 {
		t.Fatalf("running containers = %d, want 1", len(running))
	}
	st, n := ev.status("web")
	if n != 1 || st.Phase != corev1.PodRunning {
		t.Fatalf("status %d sends, phase %s", n, st.Phase)
	}
	if !strings.HasPrefix(st.PodIP, "10.88.") || len(st.PodIPs) != 1 || st.HostIP != "192.168.1.10" {
		t.Fatalf("ips: %+v", st)
	}
	cs := containerStatus(t, st, "app")
	if !cs.Ready || cs.State.Running == nil || cs.ContainerID != "containerd://"+running[0].ID || cs.RestartCount != 0 || cs.ImageID == "" || cs.Started == nil || !*cs.Started {
		t.Fatalf("container status %+v", cs)
	}
	if condition(st, corev1.PodReady) != corev1.ConditionTrue || condition(st, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if st.StartTime == nil {
		t.Fatal("no startTime")
	}

	// Unchanged: nothing is resent.
	ev.clock.Advance(5 * time.Second)
	ev.sync()
	if _, n := ev.status("web"); n != 1 {
		t.Fatalf("status sent %d times, want 1", n)
	}
	for _, m := range ev.sender.all() {
		if strings.Contains(m.Route.Resource, "elsewhere") {
			t.Fatal("status of another node's pod sent")
		}
	}
}

func TestStatusRetriedAfterSendFailure(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	ev.sender.fail = true
	ev.sync()
	ev.sender.fail = false
	ev.sync()
	if st, n := ev.status("web"); n != 1 || st.Phase != corev1.PodRunning {
		t.Fatalf("sent %d, phase %s", n, st.Phase)
	}
}

func TestAdoptionDoesNotRestart(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	ev.sync()
	before := ev.fake.Containers()

	// edgecore restarts: a new Edged over the same runtime.
	e2 := New(ev.cfg, ev.rt, ev.store, ev.sender, logr.Discard())
	if err := e2.syncAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := ev.fake.Containers()
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("containers after restart: %+v", after)
	}
	if n := ev.fake.CallCount("RunPodSandbox"); n != 1 {
		t.Fatalf("RunPodSandbox called %d times", n)
	}
	if n := ev.fake.CallCount("StopContainer"); n != 0 {
		t.Fatalf("StopContainer called %d times", n)
	}
}

func TestRestartWithBackoff(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	ev.sync()

	exitRunning := func(code int32) {
		t.Helper()
		r := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
		if len(r) != 1 {
			t.Fatalf("running = %d", len(r))
		}
		if err := ev.fake.ExitContainer(r[0].ID, code); err != nil {
			t.Fatal(err)
		}
	}
	exitRunning(1)
	ev.clock.Advance(time.Second)
	ev.sync() // first restart: immediate
	st, _ := ev.status("web")
	cs := containerStatus(t, st, "app")
	if cs.RestartCount != 1 || cs.State.Running == nil || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Fatalf("after first restart: %+v", cs)
	}

	exitRunning(2)
	ev.clock.Advance(time.Second)
	ev.sync() // in back-off (10s)
	st, _ = ev.status("web")
	cs = containerStatus(t, st, "app")
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff || cs.RestartCount != 1 {
		t.Fatalf("want CrashLoopBackOff: %+v", cs)
	}
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 {
		t.Fatalf("last state %+v", cs.LastTerminationState)
	}
	if st.Phase != corev1.PodRunning || condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("phase %s, conditions %+v", st.Phase, st.Conditions)
	}
	ev.clock.Advance(10 * time.Second)
	ev.sync()
	st, _ = ev.status("web")
	cs = containerStatus(t, st, "app")
	if cs.RestartCount != 2 || cs.State.Running == nil {
		t.Fatalf("after back-off: %+v", cs)
	}

	// The next back-off is 20s.
	exitRunning(3)
	ev.clock.Advance(15 * time.Second)
	ev.sync()
	if st, _ = ev.status("web"); containerStatus(t, st, "app").State.Waiting == nil {
		t.Fatal("want back-off of 20s")
	}
	ev.clock.Advance(6 * time.Second)
	ev.sync()
	if st, _ = ev.status("web"); containerStatus(t, st, "app").RestartCount != 3 {
		t.Fatalf("want restart after 20s: %+v", containerStatus(t, st, "app"))
	}
}

func TestRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy    corev1.RestartPolicy
		code      int32
		restarted bool
		phase     corev1.PodPhase
	}{
		{corev1.RestartPolicyNever, 0, false, corev1.PodSucceeded},
		{corev1.RestartPolicyNever, 1, false, corev1.PodFailed},
		{corev1.RestartPolicyOnFailure, 0, false, corev1.PodSucceeded},
		{corev1.RestartPolicyOnFailure, 1, true, corev1.PodRunning},
		{corev1.RestartPolicyAlways, 0, true, corev1.PodRunning},
	} {
		t.Run(string(tc.policy)+"/"+string(rune('0'+tc.code)), func(t *testing.T) {
			ev := newEnv(t)
			ev.fake.AddImage("nginx:1.25")
			pod := testPod("job")
			pod.Spec.RestartPolicy = tc.policy
			ev.store.put(pod)
			ev.sync()
			c := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)[0]
			if err := ev.fake.ExitContainer(c.ID, tc.code); err != nil {
				t.Fatal(err)
			}
			ev.clock.Advance(time.Second)
			ev.sync()
			ev.sync()
			if got := len(ev.fake.Containers()) > 1; got != tc.restarted {
				t.Fatalf("restarted = %v, want %v", got, tc.restarted)
			}
			st, _ := ev.status("job")
			if st.Phase != tc.phase {
				t.Fatalf("phase %s, want %s", st.Phase, tc.phase)
			}
			cs := containerStatus(t, st, "app")
			if !tc.restarted && (cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.code) {
				t.Fatalf("state %+v", cs.State)
			}
		})
	}
}

func TestImageNeverPullMissing(t *testing.T) {
	ev := newEnv(t)
	pod := testPod("web", corev1.Container{Name: "app", Image: "registry.local/app:v1", ImagePullPolicy: corev1.PullNever})
	ev.store.put(pod)
	ev.sync()
	st, _ := ev.status("web")
	w := containerStatus(t, st, "app").State.Waiting
	if w == nil || w.Reason != ReasonErrImagePull || !strings.Contains(w.Message, "registry.local/app:v1") {
		t.Fatalf("waiting %+v", w)
	}
	if st.Phase != corev1.PodPending {
		t.Fatalf("phase %s", st.Phase)
	}
	ev.clock.Advance(2 * time.Second)
	ev.sync()
	st, _ = ev.status("web")
	w = containerStatus(t, st, "app").State.Waiting
	if w == nil || w.Reason != ReasonImagePullBackOff || !strings.Contains(w.Message, "registry.local/app:v1") {
		t.Fatalf("waiting %+v", w)
	}
	// The image arrives (imported); after the back-off the container starts.
	ev.fake.AddImage("registry.local/app:v1")
	ev.clock.Advance(10 * time.Second)
	ev.sync()
	st, _ = ev.status("web")
	if cs := containerStatus(t, st, "app"); cs.State.Running == nil {
		t.Fatalf("state %+v", cs.State)
	}
}

func TestPullFailure(t *testing.T) {
	ev := newEnv(t)
	ev.fake.PullFunc = func(string) error { return os.ErrNotExist }
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "example.com/missing:1"}))
	ev.sync()
	st, _ := ev.status("web")
	if w := containerStatus(t, st, "app").State.Waiting; w == nil || w.Reason != ReasonErrImagePull || !strings.Contains(w.Message, "example.com/missing:1") {
		t.Fatalf("waiting %+v", w)
	}
}

func TestConfigMapEnvAndVolume(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.putCM(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"greeting": "hello", "other": "x"}})
	mode := int32(0o600)
	pod := testPod("web", corev1.Container{
		Name: "app", Image: "nginx:1.25",
		Env: []corev1.EnvVar{{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/conf"}, {Name: "scratch", MountPath: "/tmp/s"}},
	})
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "greeting", Path: "sub/greeting.txt"}},
			DefaultMode:          &mode,
		}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	ev.store.put(pod)
	ev.sync()

	c := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
	if len(c) != 1 {
		t.Fatalf("running = %d", len(c))
	}
	found := false
	for _, kv := range c[0].Config.Envs {
		found = found || (kv.Key == "GREETING" && string(kv.Value) == "hello")
	}
	if !found {
		t.Fatalf("env %v", c[0].Config.Envs)
	}
	volDir := filepath.Join(ev.cfg.RootDirectory, "pods", "uid-web", "volumes", "kubernetes.io~configmap", "conf")
	file := filepath.Join(volDir, "sub", "greeting.txt")
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != "hello" {
		t.Fatalf("file = %q", got)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	mounted := false
	for _, m := range c[0].Config.Mounts {
		mounted = mounted || (m.ContainerPath == "/etc/conf" && m.HostPath == volDir)
	}
	if !mounted {
		t.Fatalf("mounts %+v", c[0].Config.Mounts)
	}
	if _, err := os.Stat(filepath.Join(ev.cfg.RootDirectory, "pods", "uid-web", "volumes", "kubernetes.io~empty-dir", "scratch")); err != nil {
		t.Fatal(err)
	}

	// Updated configmap: the file follows, the container keeps running.
	ev.store.putCM(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"greeting": "bonjour"}})
	ev.sync()
	if got := read(); got != "bonjour" {
		t.Fatalf("file after update = %q", got)
	}
	entries, _ := os.ReadDir(volDir)
	if len(entries) != 3 { // ..data, one ..data-* dir, sub
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("volume dir holds %v", names)
	}
	if n := len(ev.fake.Containers()); n != 1 {
		t.Fatalf("containers = %d", n)
	}
}

func TestMissingConfigMapKeyIsConfigError(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.putCM(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{}})
	ev.store.put(testPod("web", corev1.Container{
		Name: "app", Image: "nginx:1.25",
		Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope"}}}},
	}))
	ev.sync()
	st, _ := ev.status("web")
	if w := containerStatus(t, st, "app").State.Waiting; w == nil || w.Reason != ReasonConfigError {
		t.Fatalf("waiting %+v", w)
	}
	// Fixed: the container starts.
	ev.store.putCM(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"nope": "1"}})
	ev.sync()
	if st, _ = ev.status("web"); containerStatus(t, st, "app").State.Running == nil {
		t.Fatalf("not running: %+v", containerStatus(t, st, "app").State)
	}
}

func TestPodRemovedFromStore(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	pod := testPod("web")
	pod.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	ev.store.put(pod)
	ev.sync()
	ev.store.del(pod)
	ev.sync()
	if n := len(ev.fake.Sandboxes()) + len(ev.fake.Containers()); n != 0 {
		t.Fatalf("runtime still holds %d objects", n)
	}
	if _, err := os.Stat(filepath.Join(ev.cfg.RootDirectory, "pods", "uid-web")); !os.IsNotExist(err) {
		t.Fatalf("pod dir: %v", err)
	}
	for _, m := range ev.sender.all() {
		if m.Route.Operation == message.OpDelete {
			t.Fatal("delete sent for a pod the cloud already deleted")
		}
	}
}

func TestDeletionTimestamp(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	pod := testPod("web")
	ev.store.put(pod)
	ev.sync()
	now := metav1.NewTime(ev.clock.Now())
	grace := int64(5)
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, &grace
	ev.store.put(pod)
	ev.sync()
	if n := len(ev.fake.Sandboxes()) + len(ev.fake.Containers()); n != 0 {
		t.Fatalf("runtime still holds %d objects", n)
	}
	if n := ev.fake.CallCount("StopContainer"); n != 1 {
		t.Fatalf("StopContainer called %d times (graceful stop expected)", n)
	}
	var deletes []message.Message
	for _, m := range ev.sender.all() {
		if m.Route.Operation == message.OpDelete {
			deletes = append(deletes, m)
		}
	}
	if len(deletes) != 1 {
		t.Fatalf("deletes = %d", len(deletes))
	}
	d := deletes[0]
	if d.Route.Resource != "default/pod/web" || d.Route.Source != message.SourceEdged || d.Route.Group != message.GroupMeta {
		t.Fatalf("route %+v", d.Route)
	}
	var opts metav1.DeleteOptions
	if err := d.DecodeContent(&opts); err != nil {
		t.Fatal(err)
	}
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 || opts.Preconditions == nil || *opts.Preconditions.UID != pod.UID {
		t.Fatalf("options %+v", opts)
	}
	// Not resent on every sync.
	ev.sync()
	if n := len(ev.sender.all()); n != 2 {
		t.Fatalf("messages = %d", n)
	}
}

func TestSpecChangeRecreatesContainer(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.fake.AddImage("nginx:1.26")
	pod := testPod("web")
	ev.store.put(pod)
	ev.sync()
	old := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)[0]
	pod.Spec.Containers[0].Image = "nginx:1.26"
	ev.store.put(pod)
	ev.sync()
	running := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
	if len(running) != 1 || running[0].ID == old.ID || running[0].Config.Metadata.Attempt != 1 {
		t.Fatalf("running %+v", running)
	}
	if len(ev.fake.Sandboxes()) != 1 {
		t.Fatal("sandbox recreated")
	}
	st, _ := ev.status("web")
	if cs := containerStatus(t, st, "app"); cs.Image != "nginx:1.26" || cs.RestartCount != 1 {
		t.Fatalf("status %+v", cs)
	}
}

func TestSandboxDiedIsRecreated(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	ev.sync()
	sb := ev.fake.Sandboxes()[0]
	if _, err := ev.fake.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID}); err != nil {
		t.Fatal(err)
	}
	ev.sync()
	var ready []runtimetest.Sandbox
	for _, s := range ev.fake.Sandboxes() {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			ready = append(ready, s)
		}
	}
	if len(ready) != 1 || ready[0].Config.Metadata.Attempt != 1 {
		t.Fatalf("ready sandboxes %+v", ready)
	}
	r := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
	if len(r) != 1 || r[0].SandboxID != ready[0].ID {
		t.Fatalf("running %+v", r)
	}
	st, _ := ev.status("web")
	if st.PodIP != ready[0].IP || containerStatus(t, st, "app").RestartCount != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestInitContainersRunFirst(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.fake.AddImage("busybox:1.36")
	pod := testPod("web")
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36"}}
	ev.store.put(pod)
	ev.sync()
	r := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)
	if len(r) != 1 || r[0].Config.Metadata.Name != "init" {
		t.Fatalf("running %+v", r)
	}
	st, _ := ev.status("web")
	if st.Phase != corev1.PodPending || condition(st, corev1.PodInitialized) != corev1.ConditionFalse {
		t.Fatalf("status %+v", st)
	}
	if w := containerStatus(t, st, "app").State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Fatalf("app %+v", w)
	}
	if err := ev.fake.ExitContainer(r[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	ev.sync()
	st, _ = ev.status("web")
	if st.Phase != corev1.PodRunning || condition(st, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Fatalf("status %+v", st)
	}
	if cs := containerStatus(t, st, "init"); cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
		t.Fatalf("init %+v", cs.State)
	}
}

func TestHostNetworkPodIP(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	pod := testPod("host")
	pod.Spec.HostNetwork = true
	ev.store.put(pod)
	ev.sync()
	st, _ := ev.status("host")
	if st.PodIP != "192.168.1.10" || st.Phase != corev1.PodRunning {
		t.Fatalf("status %+v", st)
	}
}

func TestRunSyncsAndStops(t *testing.T) {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	cfg := ev.cfg
	cfg.ResyncPeriod = 10 * time.Millisecond
	e := New(cfg, ev.rt, ev.store, ev.sender, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.After(5 * time.Second)
	for len(ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)) == 0 {
		select {
		case <-deadline:
			t.Fatal("pod not started")
		case <-time.After(5 * time.Millisecond):
		}
	}
	e.Trigger()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
