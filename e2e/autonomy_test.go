//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	rsv1 "github.com/cleanedge/kubeedge/components/apis/reliablesyncs/v1alpha1"
	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/e2e/framework"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

// Link timing of this test: the edge sends a keepalive every 5 s and drops a
// link silent for 4 heartbeats (20 s); the cloud drops a session without a
// keepalive for 15 s and marks the node NotReady 20 s after that.
const (
	autonomyHeartbeat   = 5
	autonomyKeepalive   = 15
	autonomyNodeGrace   = 20
	autonomyNode        = "edge-1"
	autonomyNamespace   = "default"
	autonomyPartitionAt = 65 * time.Second
)

// Edge autonomy and reliable delivery, through the real binaries, a real
// control plane and containerd, with a TCP proxy between edgecore and
// cloudcore. The subtests share the cloud and the node, in order:
//
//   - partition: the link is blackholed for over a minute while the cloud
//     and the edge both change things; after it heals the node converges
//     to exactly the cloud's state, and pods nobody touched kept running;
//   - edgecore killed (SIGKILL) in a burst of configmap updates: meta.db
//     is intact, the last version arrives, no version goes backwards, no
//     acknowledged version is lost;
//   - cloudcore killed (SIGKILL) in a burst: the edge converges;
//   - the link reset (TCP RST) twice in a burst: the same guarantees;
//   - offline start: edgecore restarted while cloudcore is down serves
//     from meta.db and keeps the pods;
//   - a configmap deleted, link up, after the last pod using it (as after
//     a rollout to a new configmap): it leaves the node too;
//   - containerd restarted: the pods are Running again, not restarted, and
//     the node keeps managing them.
func TestAutonomy(t *testing.T) {
	ctx := framework.Context(t)
	e := startAutonomyEnv(ctx, t)

	t.Run("partition", func(t *testing.T) { testPartition(ctx, t, e) })
	t.Run("edgecore killed during a burst", func(t *testing.T) { testEdgecoreCrash(ctx, t, e) })
	t.Run("cloudcore killed during a burst", func(t *testing.T) { testCloudcoreCrash(ctx, t, e) })
	t.Run("link reset during a burst", func(t *testing.T) { testLinkReset(ctx, t, e) })
	t.Run("offline start", func(t *testing.T) { testOfflineStart(ctx, t, e) })
	t.Run("configmap deleted after its last pod", func(t *testing.T) { testUnusedConfigDeleted(ctx, t, e) })
	t.Run("containerd restart", func(t *testing.T) { testContainerdRestart(ctx, t, e) })

	// Last: meta.db, read after a clean stop, passes the store's full check
	// and holds what the cloud says the node should hold.
	e.stopEdgecore(t, syscall.SIGTERM)
	if err := store.Check(e.metaDB()); err != nil {
		t.Fatalf("meta.db after a clean stop: %v", err)
	}
	db, err := store.Open(e.metaDB(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want, _, err := e.cloudObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[objKey]edgeObject{}
	for _, typ := range []message.ResourceType{message.ResPod, message.ResConfigMap, message.ResSecret} {
		objs, err := db.ListType(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			got[objKey{typ, o.Key.Namespace, o.Key.Name}] = edgeObject{uid: o.UID, rv: o.ResourceVersion}
		}
	}
	if d := diffObjects(want, got); len(d) > 0 {
		t.Errorf("meta.db differs from the cloud:\n  %s", strings.Join(d, "\n  "))
	}
}

// autonomyEnv is the cloud, the edge node behind its proxy and the
// containerd the subtests share.
type autonomyEnv struct {
	dir       string
	c         *cloud
	client    kubernetes.Interface
	dyn       dynamic.Interface
	proxy     *framework.Proxy
	ctr       *framework.Containerd
	ctrOpts   framework.ContainerdOptions
	root      string // edge-1's keadm root
	token     string
	edgecore  string
	cloudcore string
	metaAddr  string
	meta      kubernetes.Interface // the node's local API (metaServer)
	// startContainerd starts containerd on the shared state and makes it e.ctr.
	startContainerd func(ctx context.Context) error
	// notReadyOK names a pod whose Ready condition divergence does not
	// look at (it is checked on its own).
	notReadyOK string
}

func startAutonomyEnv(ctx context.Context, t *testing.T) *autonomyEnv {
	dir := framework.ArtifactDir(t)
	e := &autonomyEnv{dir: dir}
	const cgroupRoot = "/kubeedge"

	// containerd in a short directory of ours (unix socket paths are
	// limited), so that it can be restarted on the same state.
	ctrDir, err := os.MkdirTemp("", "ke-ctr-")
	if err != nil {
		t.Fatal(err)
	}
	n := time.Now().UnixNano() % 100
	e.ctrOpts = framework.ContainerdOptions{LogDir: dir, StateDir: ctrDir, Images: []string{"app"},
		Bridge: fmt.Sprintf("ke-auto%d", n), Subnet: fmt.Sprintf("10.199.%d.0/24", n)}
	var started []*framework.Containerd
	t.Cleanup(func() {
		// Newest first: it removes the pods; older ones have exited.
		for i := len(started) - 1; i >= 0; i-- {
			if err := started[i].Stop(context.Background(), cgroupRoot); err != nil && i == len(started)-1 {
				t.Errorf("stop containerd: %v", err)
			}
		}
		_ = os.RemoveAll(ctrDir)
	})
	e.startContainerd = func(ctx context.Context) error {
		c, err := framework.StartContainerd(ctx, e.ctrOpts)
		if err != nil {
			return err
		}
		started = append(started, c)
		e.ctr = c
		return nil
	}
	if err := e.startContainerd(ctx); err != nil {
		t.Fatalf("start containerd: %v (log in %s)", err, dir)
	}

	e.c = initCloud(ctx, t, dir)
	e.client = e.c.cp.Client
	if e.dyn, err = dynamic.NewForConfig(e.c.cp.Config); err != nil {
		t.Fatal(err)
	}
	if e.cloudcore, err = framework.ProjectBinary("cloudcore"); err != nil {
		t.Fatal(err)
	}
	if e.edgecore, err = framework.ProjectBinary("edgecore"); err != nil {
		t.Fatal(err)
	}
	// Faster link-loss detection, then a restart to apply it.
	cfgPath := layout.Under(e.c.root).CloudCoreConfig()
	cc, err := v1alpha1.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cc.Modules.CloudHub.KeepaliveInterval = autonomyKeepalive
	cc.Modules.CloudHub.NodeStatusGracePeriod = autonomyNodeGrace
	writeConfig(t, cfgPath, cc.Marshal)
	e.stopCloudcore(t, syscall.SIGTERM)
	e.startCloudcore(ctx, t)
	e.token = e.c.token(ctx, t)

	// edge-1 reaches the cloud through the proxy (127.0.0.1 is in the
	// cloud's certificate).
	e.proxy = framework.StartProxy(t, e.c.wsAddr)
	e.root = filepath.Join(dir, autonomyNode)
	resetOnCleanup(t, dir, e.root)
	e.startEdgecore(ctx, t, "--remote-runtime-endpoint", e.ctr.Endpoint)
	// The local API on a free port and a faster heartbeat; a re-run of join
	// keeps them and restarts edgecore.
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e.metaAddr = "127.0.0.1:" + strconv.Itoa(port)
	ecPath := layout.Under(e.root).EdgeCoreConfig()
	ec, err := v1alpha2.Load(ecPath)
	if err != nil {
		t.Fatal(err)
	}
	ec.Modules.EdgeHub.Heartbeat = autonomyHeartbeat
	ec.Modules.MetaManager.MetaServer.Enable = true
	ec.Modules.MetaManager.MetaServer.Server = e.metaAddr
	writeConfig(t, ecPath, ec.Marshal)
	e.startEdgecore(ctx, t)
	if e.meta, err = kubernetes.NewForConfig(&rest.Config{Host: "http://" + e.metaAddr, Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	waitReady(ctx, t, e.client, autonomyNode, true, 60*time.Second)

	e.deployWorkload(ctx, t)
	e.waitConverged(ctx, t, "the workload to run on "+autonomyNode, 120*time.Second)
	return e
}

func writeConfig(t *testing.T, path string, marshal func() ([]byte, error)) {
	t.Helper()
	b, err := marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *autonomyEnv) metaDB() string { return layout.Under(e.root).MetaDB() }

// startCloudcore re-runs keadm init as initCloud ran it: it starts
// cloudcore if it is not running.
func (e *autonomyEnv) startCloudcore(ctx context.Context, t *testing.T) {
	t.Helper()
	framework.MustRun(ctx, t, "keadm", "init", "--kube-config", e.c.cp.Kubeconfig, "--advertise-address", "127.0.0.1",
		"--root", e.c.root, "--websocket-port", strconv.Itoa(e.c.wsPort), "--https-port", strconv.Itoa(e.c.httpsPort),
		"--cloudcore-binary", e.cloudcore)
}

func (e *autonomyEnv) stopCloudcore(t *testing.T, sig syscall.Signal) {
	t.Helper()
	stopPID(t, pidOf(t, e.c.root, "cloudcore"), sig)
}

// startEdgecore (re-)runs keadm join against the proxy; it (re)starts
// edgecore and, unless told to skip it, waits until it is connected.
func (e *autonomyEnv) startEdgecore(ctx context.Context, t *testing.T, extra ...string) {
	t.Helper()
	args := append([]string{"join", "--cloudcore-ipport", e.proxy.Addr, "--certport", strconv.Itoa(e.c.httpsPort),
		"--token", e.token, "--edgenode-name", autonomyNode, "--root", e.root, "--edgecore-binary", e.edgecore}, extra...)
	framework.MustRun(ctx, t, "keadm", args...)
}

func (e *autonomyEnv) stopEdgecore(t *testing.T, sig syscall.Signal) {
	t.Helper()
	stopPID(t, pidOf(t, e.root, "edgecore"), sig)
}

func stopPID(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
	for i := 0; i < 300 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("pid %d still runs 15 s after signal %d", pid, sig)
	}
}

// linkStatus is what edgecore reports in its status file.
func (e *autonomyEnv) linkStatus() (edgecore.LinkStatus, error) {
	var st edgecore.LinkStatus
	b, err := os.ReadFile(layout.Under(e.root).EdgeCoreStatus())
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// The workload: a Deployment of 3 replicas using a configmap (env and
// volume) and a secret, and two single pods bound to the node, each with a
// configmap of its own.
func (e *autonomyEnv) deployWorkload(ctx context.Context, t *testing.T) {
	t.Helper()
	cms := e.client.CoreV1().ConfigMaps(autonomyNamespace)
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"msg": "hello", "greeting.txt": "v1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "doomed-config"}, Data: map[string]string{"msg": "doomed"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "burst-config"}, Data: map[string]string{"n": "start"}},
	} {
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-secret"}, Data: map[string][]byte{"token": []byte("s3cr3t")}}
	if _, err := e.client.CoreV1().Secrets(autonomyNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	web := appContainer("web-config", "/config/greeting.txt,/secret/token")
	web.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/config"}, {Name: "secret", MountPath: "/secret", ReadOnly: true}}
	web.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// The service account token volume is mounted too, as on
					// any node: kube-root-ca.crt goes to the node.
					NodeSelector: map[string]string{"kubernetes.io/hostname": autonomyNode},
					Containers:   []corev1.Container{web},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{
							ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
						{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-secret"}}},
					},
				},
			},
		},
	}
	if _, err := e.client.AppsV1().Deployments(autonomyNamespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{boundPod("doomed", "doomed-config", false), boundPod("burst", "burst-config", true)} {
		if _, err := e.client.CoreV1().Pods(autonomyNamespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// appContainer runs the app with MSG from configMap's "msg" key.
func appContainer(configMap, showFiles string) corev1.Container {
	c := corev1.Container{
		Name: "app", Image: "localhost/kubeedge/app:v1", ImagePullPolicy: corev1.PullNever,
		Env: []corev1.EnvVar{{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap}, Key: "msg", Optional: ptr.To(true)}}}},
	}
	if showFiles != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: "SHOW_FILES", Value: showFiles})
	}
	return c
}

// boundPod is a pod bound to the node (no scheduler) using configMap, in
// its environment or, with volume, also mounted at /config.
func boundPod(name, configMap string, volume bool) *corev1.Pod {
	c := appContainer(configMap, "")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: autonomyNode, AutomountServiceAccountToken: ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](5)},
	}
	if volume {
		c.Env = append(c.Env, corev1.EnvVar{Name: "SHOW_FILES", Value: "/config/n"})
		c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/config"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}}}
	}
	p.Spec.Containers = []corev1.Container{c}
	return p
}

// objKey names a pod, configmap or secret.
type objKey struct {
	typ       message.ResourceType
	namespace string
	name      string
}

func (k objKey) String() string { return string(k.typ) + " " + k.namespace + "/" + k.name }

// edgeObject is what is compared of an object on both sides.
type edgeObject struct {
	uid, rv  string
	deleting bool
}

// podRefs lists the configmaps and secrets a pod needs on its node (what
// the cloud sends with it).
func podRefs(p *corev1.Pod) []objKey {
	var out []objKey
	add := func(typ message.ResourceType, name string) {
		k := objKey{typ, p.Namespace, name}
		if name != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, v := range p.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add(message.ResConfigMap, v.ConfigMap.Name)
		case v.Secret != nil:
			add(message.ResSecret, v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(message.ResConfigMap, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add(message.ResSecret, s.Secret.Name)
				}
			}
		}
	}
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		for _, env := range c.Env {
			if env.ValueFrom != nil && env.ValueFrom.ConfigMapKeyRef != nil {
				add(message.ResConfigMap, env.ValueFrom.ConfigMapKeyRef.Name)
			}
			if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
				add(message.ResSecret, env.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, env := range c.EnvFrom {
			if env.ConfigMapRef != nil {
				add(message.ResConfigMap, env.ConfigMapRef.Name)
			}
			if env.SecretRef != nil {
				add(message.ResSecret, env.SecretRef.Name)
			}
		}
	}
	for _, s := range p.Spec.ImagePullSecrets {
		add(message.ResSecret, s.Name)
	}
	return out
}

// cloudObjects is what the node should hold according to the API server:
// the pods bound to it and the configmaps and secrets they use.
func (e *autonomyEnv) cloudObjects(ctx context.Context) (map[objKey]edgeObject, []corev1.Pod, error) {
	pods, err := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + autonomyNode})
	if err != nil {
		return nil, nil, err
	}
	out := map[objKey]edgeObject{}
	for _, p := range pods.Items {
		out[objKey{message.ResPod, p.Namespace, p.Name}] = edgeObject{uid: string(p.UID), rv: p.ResourceVersion, deleting: p.DeletionTimestamp != nil}
		for _, r := range podRefs(&p) {
			if _, done := out[r]; done {
				continue
			}
			var m metav1.Object
			if r.typ == message.ResConfigMap {
				m, err = e.client.CoreV1().ConfigMaps(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
			} else {
				m, err = e.client.CoreV1().Secrets(r.namespace).Get(ctx, r.name, metav1.GetOptions{})
			}
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return nil, nil, err
			}
			out[r] = edgeObject{uid: string(m.GetUID()), rv: m.GetResourceVersion()}
		}
	}
	return out, pods.Items, nil
}

// edgeObjects is what the node holds, from its local API.
func (e *autonomyEnv) edgeObjects(ctx context.Context) (map[objKey]edgeObject, error) {
	out := map[objKey]edgeObject{}
	add := func(typ message.ResourceType, m metav1.Object) {
		out[objKey{typ, m.GetNamespace(), m.GetName()}] = edgeObject{uid: string(m.GetUID()), rv: m.GetResourceVersion(),
			deleting: m.GetDeletionTimestamp() != nil}
	}
	pods, err := e.meta.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("edge-local API: %w", err)
	}
	for i := range pods.Items {
		add(message.ResPod, &pods.Items[i])
	}
	cms, err := e.meta.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("edge-local API: %w", err)
	}
	for i := range cms.Items {
		add(message.ResConfigMap, &cms.Items[i])
	}
	secrets, err := e.meta.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("edge-local API: %w", err)
	}
	for i := range secrets.Items {
		add(message.ResSecret, &secrets.Items[i])
	}
	return out, nil
}

// diffObjects compares the node's objects with the cloud's: the same set,
// the same UIDs, configmaps and secrets at the cloud's resourceVersion. A
// pod's resourceVersion in the cloud moves on with every status report the
// node makes, which the cloud does not echo back: the node's must only not
// be newer, and agree on whether the pod is being deleted.
func diffObjects(want, got map[objKey]edgeObject) []string {
	var out []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s (rv %s) missing on the node", k, w.rv))
		case g.uid != w.uid:
			out = append(out, fmt.Sprintf("%s: node has uid %s, cloud %s", k, g.uid, w.uid))
		case k.typ != message.ResPod && g.rv != w.rv:
			out = append(out, fmt.Sprintf("%s: node has rv %s, cloud %s", k, g.rv, w.rv))
		case k.typ == message.ResPod && rvLess(w.rv, g.rv):
			out = append(out, fmt.Sprintf("%s: node has rv %s, newer than the cloud's %s", k, g.rv, w.rv))
		case k.typ == message.ResPod && g.deleting != w.deleting:
			out = append(out, fmt.Sprintf("%s: being deleted on the node %v, in the cloud %v", k, g.deleting, w.deleting))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s (rv %s) still on the node, not in the cloud", k, g.rv))
		}
	}
	sort.Strings(out)
	return out
}

// runningContainer is a running container as containerd reports it.
type runningContainer struct {
	id      string
	podUID  string
	attempt uint32
	started int64
}

// running lists the running containers by "<pod>/<container>".
func (e *autonomyEnv) running(ctx context.Context) (map[string]runningContainer, error) {
	list, err := e.ctr.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, err
	}
	out := map[string]runningContainer{}
	for _, c := range list.Containers {
		st, err := e.ctr.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			return nil, err
		}
		key := c.Labels["io.kubernetes.pod.name"] + "/" + c.Labels["io.kubernetes.container.name"]
		out[key] = runningContainer{id: c.Id, podUID: c.Labels["io.kubernetes.pod.uid"], attempt: c.Metadata.GetAttempt(),
			started: st.GetStatus().GetStartedAt()}
	}
	return out, nil
}

// sandboxPods lists the pod UIDs that have a sandbox in containerd.
func (e *autonomyEnv) sandboxPods(ctx context.Context) (map[string]string, error) {
	list, err := e.ctr.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, sb := range list.Items {
		out[sb.Labels["io.kubernetes.pod.uid"]] = sb.Metadata.GetName()
	}
	return out, nil
}

// divergence lists every way the node differs from the cloud: the node is
// Ready; it holds exactly the cloud's objects (diffObjects); every pod is
// Running and Ready in the API server with the container IDs and restart
// counts containerd has; no other pod has a sandbox; and the cloud's
// record of what the node acknowledged (ObjectSync) matches. Empty means
// converged.
func (e *autonomyEnv) divergence(ctx context.Context) ([]string, error) {
	var out []string
	ready, cond, err := nodeReady(ctx, e.client, autonomyNode)
	if err != nil {
		return nil, err
	}
	if !ready {
		out = append(out, fmt.Sprintf("node not Ready: %+v", cond))
	}
	if st, err := e.linkStatus(); err != nil || !st.Connected {
		out = append(out, fmt.Sprintf("edgecore not connected to cloudcore: %+v (%v)", st, err))
	}
	dep, err := e.client.AppsV1().Deployments(autonomyNamespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	wantReady := *dep.Spec.Replicas
	if e.notReadyOK != "" {
		wantReady--
	}
	if dep.Status.ReadyReplicas < wantReady || dep.Status.Replicas != *dep.Spec.Replicas {
		out = append(out, fmt.Sprintf("deployment web: %d replicas, %d ready, want %d", dep.Status.Replicas, dep.Status.ReadyReplicas, *dep.Spec.Replicas))
	}
	all, err := e.client.CoreV1().Pods(autonomyNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range all.Items {
		if p.Spec.NodeName == "" {
			out = append(out, fmt.Sprintf("pod %s not scheduled", p.Name))
		}
	}
	want, pods, err := e.cloudObjects(ctx)
	if err != nil {
		return nil, err
	}
	got, err := e.edgeObjects(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, diffObjects(want, got)...)
	run, err := e.running(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	uids := map[string]bool{}
	for _, p := range pods {
		uids[string(p.UID)] = true
		if p.DeletionTimestamp != nil {
			out = append(out, fmt.Sprintf("pod %s is being deleted", p.Name))
			continue
		}
		podReady := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				podReady = true
			}
		}
		if p.Status.Phase != corev1.PodRunning || !podReady && p.Name != e.notReadyOK {
			out = append(out, fmt.Sprintf("pod %s: phase %s, Ready %v in the API server", p.Name, p.Status.Phase, podReady))
		}
		if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
			out = append(out, fmt.Sprintf("pod %s: %d container statuses", p.Name, len(p.Status.ContainerStatuses)))
		}
		for _, cs := range p.Status.ContainerStatuses {
			rc, ok := run[p.Name+"/"+cs.Name]
			switch {
			case !ok || rc.podUID != string(p.UID):
				out = append(out, fmt.Sprintf("pod %s: container %s not running in containerd", p.Name, cs.Name))
			case cs.ContainerID != "containerd://"+rc.id:
				out = append(out, fmt.Sprintf("pod %s: API server says container %s, containerd runs %s", p.Name, cs.ContainerID, rc.id))
			case cs.RestartCount != int32(rc.attempt):
				out = append(out, fmt.Sprintf("pod %s: API server says restartCount %d, containerd runs attempt %d", p.Name, cs.RestartCount, rc.attempt))
			case cs.State.Running == nil:
				out = append(out, fmt.Sprintf("pod %s: container %s not running in the API server: %+v", p.Name, cs.Name, cs.State))
			}
		}
	}
	sbs, err := e.sandboxPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	for uid, name := range sbs {
		if !uids[uid] {
			out = append(out, fmt.Sprintf("pod %s (uid %s) still has a sandbox on the node", name, uid))
		}
	}
	syncs, err := e.objectSyncs(ctx)
	if err != nil {
		return nil, err
	}
	for k, w := range want {
		rv, ok := syncs[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("no ObjectSync for %s", k))
		case k.typ != message.ResPod && rv != w.rv:
			out = append(out, fmt.Sprintf("ObjectSync of %s says rv %s, cloud %s", k, rv, w.rv))
		}
	}
	for k, rv := range syncs {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("stale ObjectSync for %s (rv %s)", k, rv))
		}
	}
	sort.Strings(out[min(len(out), 1):])
	return out, nil
}

// objectSyncs reads what the cloud recorded as acknowledged by the node:
// resourceVersion by object.
func (e *autonomyEnv) objectSyncs(ctx context.Context) (map[objKey]string, error) {
	list, err := e.dyn.Resource(rsv1.ObjectSyncs).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[objKey]string{}
	for _, u := range list.Items {
		node, _, ok := rsv1.ParseName(u.GetName())
		if !ok || node != autonomyNode {
			continue
		}
		kind := nestedString(u.Object, "spec", "objectKind")
		name := nestedString(u.Object, "spec", "objectName")
		rv := nestedString(u.Object, "status", "objectResourceVersion")
		typ := map[string]message.ResourceType{"Pod": message.ResPod, "ConfigMap": message.ResConfigMap, "Secret": message.ResSecret}[kind]
		if typ == "" {
			continue
		}
		out[objKey{typ, u.GetNamespace(), name}] = rv
	}
	return out, nil
}

func nestedString(obj map[string]any, fields ...string) string {
	s, _, _ := unstructured.NestedString(obj, fields...)
	return s
}

// waitConverged waits until the node agrees with the cloud in every way
// divergence checks, and returns how long that took.
func (e *autonomyEnv) waitConverged(ctx context.Context, t *testing.T, what string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last []string
	err := framework.WaitFor(ctx, what, 500*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		d, err := e.divergence(ctx)
		if err != nil {
			return false, err
		}
		last = d
		return len(d) == 0, nil
	})
	if err != nil {
		t.Fatalf("%v; still differing:\n  %s", err, strings.Join(last, "\n  "))
	}
	return time.Since(start)
}

// webPods returns the Deployment's pods, by name.
func (e *autonomyEnv) webPods(ctx context.Context, t *testing.T) []corev1.Pod {
	t.Helper()
	pods := podsWithLabel(ctx, t, e.c, "app=web")
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// testPartition blackholes the link for over a minute while both sides
// change things, heals it, and checks that the node converges to exactly
// the cloud's state.
func testPartition(ctx context.Context, t *testing.T, e *autonomyEnv) {
	client := e.client
	cms := client.CoreV1().ConfigMaps(autonomyNamespace)
	pods := client.CoreV1().Pods(autonomyNamespace)
	web := e.webPods(ctx, t)
	if len(web) != 3 {
		t.Fatalf("%d web pods, want 3", len(web))
	}
	deleted, killed := web[0], web[1]
	before, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Pods the partition must not touch.
	untouched := []string{web[2].Name, "burst"}
	doomed, err := pods.Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	webConfig, err := cms.Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	e.proxy.Blackhole()
	cut := time.Now()
	t.Logf("link blackholed at %s", cut.Format("15:04:05"))
	queued := 0
	// At once, before either side notices: the cloud sends into the void.
	webConfig.Data["greeting.txt"] = "v2"
	if webConfig, err = cms.Update(ctx, webConfig, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	queued++

	// Both sides notice the dead link.
	var edgeLost, cloudLost time.Duration
	err = waitUntil(ctx, "both sides to notice the dead link", time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if st, err := e.linkStatus(); err == nil && !st.Connected && edgeLost == 0 {
			edgeLost = time.Since(cut)
		}
		if _, cond, err := nodeReady(ctx, client, autonomyNode); err == nil && cond != nil && cond.Status != corev1.ConditionTrue && cloudLost == 0 {
			cloudLost = time.Since(cut)
		}
		return edgeLost > 0 && cloudLost > 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dead link noticed: edgecore after %s, the cloud marked the node NotReady after %s", edgeLost.Round(time.Second), cloudLost.Round(time.Second))

	// The cloud changes things while the node is away.
	newConfig := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new-config"}, Data: map[string]string{"msg": "new"}}
	if _, err := cms.Create(ctx, newConfig, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	newcomer, err := pods.Create(ctx, boundPod("newcomer", "new-config", false), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	webConfig.Data["greeting.txt"] = "v3"
	if webConfig, err = cms.Update(ctx, webConfig, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "doomed", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "doomed-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, deleted.Name, metav1.DeleteOptions{}); err != nil { // graceful: the node must finish it
		t.Fatal(err)
	}
	queued += 5
	// With upstream's timings (keepaliveInterval 30 s + nodeStatusGracePeriod
	// 40 s against kube-controller-manager's node-monitor-grace-period), the
	// node lifecycle controller notices a silent node first and marks its
	// pods not Ready; with this test's faster timings cloudcore does first
	// and it never does. Do here what it does (MarkPodsNotReady) to one
	// pod: once back, the node must report it Ready again.
	marked, err := pods.Get(ctx, web[2].Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range marked.Status.Conditions {
		if c.Type == corev1.PodReady {
			marked.Status.Conditions[i].Status = corev1.ConditionFalse
			marked.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	if _, err := pods.UpdateStatus(ctx, marked, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The edge changes things while the cloud is away: a container dies
	// and the node restarts it on its own.
	killedID := before[killed.Name+"/app"].id
	if err := e.ctr.KillContainer(ctx, killedID); err != nil {
		t.Fatal(err)
	}
	err = waitUntil(ctx, "the node to restart the killed container on its own", 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		run, err := e.running(ctx)
		rc := run[killed.Name+"/app"]
		return err == nil && rc.id != "" && rc.id != killedID, err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The node serves what it has meanwhile.
	if cm, err := e.meta.CoreV1().ConfigMaps(autonomyNamespace).Get(ctx, "web-config", metav1.GetOptions{}); err != nil || cm.Data["greeting.txt"] != "v1" {
		t.Errorf("during the partition the node serves web-config %v (err %v), want its last version, v1", cm.Data, err)
	}

	if wait := autonomyPartitionAt - time.Since(cut); wait > 0 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(wait):
		}
	}
	if ready, _, _ := nodeReady(ctx, client, autonomyNode); ready {
		t.Fatal("the node became Ready while the link was blackholed")
	}
	// What the cloud believes of the pods now (the node lifecycle controller
	// marks a NotReady node's pods not Ready): after the heal the node must
	// report them Ready again.
	_, onNode, err := e.cloudObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var notReady []string
	for _, p := range onNode {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
				notReady = append(notReady, p.Name)
			}
		}
	}
	t.Logf("before the heal the API server shows %d of %d pods on the node not Ready: %v", len(notReady), len(onNode), notReady)
	e.proxy.Heal()
	outage := time.Since(cut)
	healed := time.Now()
	var relinked time.Duration
	go func() {
		for relinked == 0 && time.Since(healed) < 2*time.Minute {
			if st, err := e.linkStatus(); err == nil && st.Connected {
				relinked = time.Since(healed)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	e.notReadyOK = marked.Name
	defer func() { e.notReadyOK = "" }()
	took := e.waitConverged(ctx, t, "the node to converge after the partition healed", 150*time.Second)
	t.Logf("partition of %s with %d changes queued in the cloud and 1 on the node; after it healed edgecore reconnected in %s and the node converged in %s",
		outage.Round(time.Second), queued, relinked.Round(100*time.Millisecond), took.Round(100*time.Millisecond))

	// What the partition must not have touched kept running.
	after, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range untouched {
		b, a := before[name+"/app"], after[name+"/app"]
		if a.id != b.id || a.started != b.started {
			t.Errorf("pod %s was restarted by the partition: container %s started %d, now %s started %d", name, b.id, b.started, a.id, a.started)
		}
	}
	// The container the node restarted is reported as such, in the same pod.
	p, err := pods.Get(ctx, killed.Name, metav1.GetOptions{})
	if err != nil || p.UID != killed.UID || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].RestartCount < 1 {
		t.Errorf("pod %s whose container died during the partition: %+v (err %v), want restartCount ≥ 1", killed.Name, p.Status.ContainerStatuses, err)
	}
	// Gone: the deleted pods, their containers and the configmap.
	for _, gone := range []string{deleted.Name, doomed.Name} {
		if _, err := pods.Get(ctx, gone, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s still in the API server (%v)", gone, err)
		}
	}
	if _, err := e.meta.CoreV1().ConfigMaps(autonomyNamespace).Get(ctx, "doomed-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("doomed-config still served by the node (%v)", err)
	}
	if p, err := pods.Get(ctx, newcomer.Name, metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodRunning {
		t.Errorf("pod created during the partition: %v %v", p.Status.Phase, err)
	}
	// The pod the cloud marked not Ready while the node was away runs and
	// passes its readiness probe: the node must say so again.
	err = waitUntil(ctx, "pod "+marked.Name+" to be reported Ready again", 20*time.Second, time.Second, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, marked.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		var edgeView []corev1.PodCondition
		if p, err := e.meta.CoreV1().Pods(autonomyNamespace).Get(ctx, marked.Name, metav1.GetOptions{}); err == nil {
			edgeView = p.Status.Conditions
		}
		t.Errorf("%v: the node never reports again a status it reported before the partition, although the cloud's "+
			"differs (the node's copy of the pod shows the cloud's conditions %+v)", err, edgeView)
		// Let the next subtests start from a converged node.
		if err := pods.Delete(ctx, marked.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.notReadyOK = ""
		e.waitConverged(ctx, t, "the node to converge once the stuck pod is replaced", 90*time.Second)
	}

	// The update made during the partition reached the pods' volumes.
	for _, p := range e.webPods(ctx, t) {
		err = waitUntil(ctx, "the mounted file of "+p.Name+" to show v3", 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
			a, err := getApp(ctx, p.Status.PodIP)
			return err == nil && a.Files["/config/greeting.txt"] == "v3", err
		})
		if err != nil {
			t.Error(err)
		}
	}
}

// burst updates burst-config n times, pausing between updates, records
// each version in h, and calls at(i) before update i.
func (e *autonomyEnv) burst(ctx context.Context, h *history, n int, pause time.Duration, at func(i int)) error {
	cms := e.client.CoreV1().ConfigMaps(autonomyNamespace)
	cm, err := cms.Get(ctx, "burst-config", metav1.GetOptions{})
	if err != nil {
		return err
	}
	key := objKey{message.ResConfigMap, autonomyNamespace, "burst-config"}.String()
	for i := range n {
		at(i)
		cm.Data["n"] = strconv.Itoa(i)
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return err
		}
		h.Wrote(key, cm.ResourceVersion)
		time.Sleep(pause)
	}
	return nil
}

// watchBurst records, until stop is closed, the version of burst-config
// the node holds (every 20 ms) and the one the cloud holds as acknowledged
// by the node (every 200 ms).
func (e *autonomyEnv) watchBurst(ctx context.Context, h *history, stop <-chan struct{}) *sync.WaitGroup {
	key := objKey{message.ResConfigMap, autonomyNamespace, "burst-config"}.String()
	var wg sync.WaitGroup
	poll := func(every time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				f()
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	poll(20*time.Millisecond, func() {
		at := time.Now()
		cm, err := e.meta.CoreV1().ConfigMaps(autonomyNamespace).Get(ctx, "burst-config", metav1.GetOptions{})
		switch {
		case err == nil:
			h.Observed(key, cm.ResourceVersion, at)
		case apierrors.IsNotFound(err):
			h.Observed(key, "", at)
		}
	})
	poll(200*time.Millisecond, func() {
		syncs, err := e.objectSyncs(ctx)
		if rv, ok := syncs[objKey{message.ResConfigMap, autonomyNamespace, "burst-config"}]; err == nil && ok && rv != "" {
			h.Acked(key, rv)
		}
	})
	return &wg
}

// waitBurstDelivered waits until the node holds the last version written.
func (e *autonomyEnv) waitBurstDelivered(ctx context.Context, t *testing.T, h *history, timeout time.Duration) time.Duration {
	t.Helper()
	key := objKey{message.ResConfigMap, autonomyNamespace, "burst-config"}.String()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := framework.WaitFor(ctx, "the node to hold the burst's last version", 100*time.Millisecond, nil, func(context.Context) (bool, error) {
		return h.LastSeen(key) == h.LastWritten(key), nil
	})
	if err != nil {
		t.Fatalf("%v: node has %s, cloud %s", err, h.LastSeen(key), h.LastWritten(key))
	}
	return time.Since(start)
}

func (e *autonomyEnv) checkHistory(t *testing.T, h *history) {
	t.Helper()
	t.Logf("history: %s", h.Summary())
	for _, v := range h.Check() {
		t.Error(v)
	}
}

// testEdgecoreCrash kills edgecore with SIGKILL in the middle of a burst of
// 200 updates of a configmap a pod on the node uses.
func testEdgecoreCrash(ctx context.Context, t *testing.T, e *autonomyEnv) {
	h := e.burstHistory(ctx, t)
	before, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wg := e.watchBurst(ctx, h, stop)
	kill := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.burst(ctx, h, 200, 10*time.Millisecond, func(i int) {
			if i == 80 {
				close(kill)
			}
		})
	}()
	<-kill
	e.stopEdgecore(t, syscall.SIGKILL)
	killedAt := time.Now()
	// meta.db of a killed edgecore is intact.
	if err := store.Check(e.metaDB()); err != nil {
		t.Errorf("meta.db after SIGKILL: %v", err)
	}
	e.startEdgecore(ctx, t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	took := e.waitBurstDelivered(ctx, t, h, 60*time.Second)
	close(stop)
	wg.Wait()
	t.Logf("edgecore killed during the burst: back and holding the last version %s after the kill (%s after the burst ended)",
		time.Since(killedAt).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	e.checkHistory(t, h)

	e.waitConverged(ctx, t, "the node to converge after edgecore's restart", 60*time.Second)
	after, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range before {
		if a := after[name]; a.id != b.id || a.started != b.started {
			t.Errorf("container %s restarted by edgecore's crash: %s → %s", name, b.id, a.id)
		}
	}
	// The pod sees the last version in its volume.
	p, err := e.client.CoreV1().Pods(autonomyNamespace).Get(ctx, "burst", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = waitUntil(ctx, "the burst pod's file to show 199", 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		a, err := getApp(ctx, p.Status.PodIP)
		return err == nil && a.Files["/config/n"] == "199", err
	})
	if err != nil {
		t.Error(err)
	}
}

// burstHistory starts a history of burst-config at its current version.
func (e *autonomyEnv) burstHistory(ctx context.Context, t *testing.T) *history {
	t.Helper()
	h := newHistory()
	cm, err := e.client.CoreV1().ConfigMaps(autonomyNamespace).Get(ctx, "burst-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.Wrote(objKey{message.ResConfigMap, autonomyNamespace, "burst-config"}.String(), cm.ResourceVersion)
	return h
}

// testCloudcoreCrash kills cloudcore with SIGKILL in the middle of a burst
// of updates and starts it again.
func testCloudcoreCrash(ctx context.Context, t *testing.T, e *autonomyEnv) {
	h := e.burstHistory(ctx, t)
	stop := make(chan struct{})
	wg := e.watchBurst(ctx, h, stop)
	kill := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.burst(ctx, h, 100, 20*time.Millisecond, func(i int) {
			if i == 40 {
				close(kill)
			}
		})
	}()
	<-kill
	e.stopCloudcore(t, syscall.SIGKILL)
	killedAt := time.Now()
	if err := <-done; err != nil { // the API server takes the rest
		t.Fatal(err)
	}
	e.startCloudcore(ctx, t)
	took := e.waitBurstDelivered(ctx, t, h, 90*time.Second)
	close(stop)
	wg.Wait()
	t.Logf("cloudcore killed during the burst: the node held the last version %s after the kill (%s after cloudcore was started again)",
		time.Since(killedAt).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	e.checkHistory(t, h)
	e.waitConverged(ctx, t, "the node to converge after cloudcore's restart", 60*time.Second)
}

// testOfflineStart restarts edgecore while cloudcore is down: it starts,
// serves the node's objects from meta.db and keeps the pods running.
func testOfflineStart(ctx context.Context, t *testing.T, e *autonomyEnv) {
	before, err := e.edgeObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runBefore, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.stopCloudcore(t, syscall.SIGTERM)
	// A change the node can only get once the cloud is back.
	cms := e.client.CoreV1().ConfigMaps(autonomyNamespace)
	cm, err := cms.Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting.txt"] = "v4"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.stopEdgecore(t, syscall.SIGTERM)
	start := time.Now()
	// Nothing to check against and nothing to wait for: the cloud is down.
	e.startEdgecore(ctx, t, "--skip-phases", "preflight,wait")
	var got map[objKey]edgeObject
	err = waitUntil(ctx, "the node's local API to serve", 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		got, err = e.edgeObjects(ctx)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("edgecore started offline and served %d objects from meta.db after %s", len(got), time.Since(start).Round(100*time.Millisecond))
	if d := diffObjects(before, got); len(d) > 0 {
		t.Errorf("offline, the node serves other objects than before:\n  %s", strings.Join(d, "\n  "))
	}
	// A while offline: the pods keep running, nothing is restarted.
	time.Sleep(10 * time.Second)
	if st, err := e.linkStatus(); err != nil || st.Connected {
		t.Errorf("edgecore reports %+v (%v) with cloudcore down", st, err)
	}
	run, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(containerIDs(run)) != fmt.Sprint(containerIDs(runBefore)) {
		t.Errorf("containers changed across an offline restart of edgecore:\nbefore %v\nafter  %v", containerIDs(runBefore), containerIDs(run))
	}
	if !alive(pidOf(t, e.root, "edgecore")) {
		t.Fatal("edgecore exited while offline")
	}

	e.startCloudcore(ctx, t)
	took := e.waitConverged(ctx, t, "the node to converge once cloudcore is back", 90*time.Second)
	t.Logf("cloudcore back: the node converged in %s", took.Round(100*time.Millisecond))
	run, err = e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(containerIDs(run)) != fmt.Sprint(containerIDs(runBefore)) {
		t.Errorf("containers changed when the cloud came back:\nbefore %v\nafter  %v", containerIDs(runBefore), containerIDs(run))
	}
}

func containerIDs(run map[string]runningContainer) map[string]string {
	out := map[string]string{}
	for k, c := range run {
		out[k] = c.id
	}
	return out
}

// testContainerdRestart stops containerd (its containers keep running
// under their shims) and starts it again on the same state.
func testContainerdRestart(ctx context.Context, t *testing.T, e *autonomyEnv) {
	before, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ctr.Process().Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	time.Sleep(5 * time.Second) // edged notices
	if err := e.startContainerd(ctx); err != nil {
		t.Fatalf("restart containerd: %v", err)
	}
	took := e.waitConverged(ctx, t, "the pods to be Running after containerd's restart", 90*time.Second)
	t.Logf("containerd down for 5 s: pods Running and Ready %s after it was back", took.Round(100*time.Millisecond))
	after, err := e.running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(containerIDs(after)) != fmt.Sprint(containerIDs(before)) {
		t.Errorf("containers changed across containerd's restart (down at %s):\nbefore %v\nafter  %v",
			down.Format("15:04:05"), containerIDs(before), containerIDs(after))
	}
	// The node works with the new containerd: a container that dies is
	// restarted and reported.
	if err := e.ctr.KillContainer(ctx, after["burst/app"].id); err != nil {
		t.Fatal(err)
	}
	err = waitUntil(ctx, "the node to restart the killed container", 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		run, err := e.running(ctx)
		return err == nil && run["burst/app"].attempt > after["burst/app"].attempt, err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitConverged(ctx, t, "the restarted container to be reported", 60*time.Second)
}

// testLinkReset resets the link twice in a burst of updates.
func testLinkReset(ctx context.Context, t *testing.T, e *autonomyEnv) {
	h := e.burstHistory(ctx, t)
	stop := make(chan struct{})
	wg := e.watchBurst(ctx, h, stop)
	// Reset the link at update 20, and again as soon as edgecore is back
	// on a new connection.
	var resets []time.Time
	var relinks []time.Duration
	accepted := e.proxy.Accepted()
	err := e.burst(ctx, h, 150, 20*time.Millisecond, func(i int) {
		if i < 20 || len(resets) == 2 {
			return
		}
		if len(resets) == 1 {
			st, err := e.linkStatus()
			if err != nil || !st.Connected || !st.Since.After(resets[0]) {
				return
			}
			relinks = append(relinks, st.Since.Sub(resets[0]))
		}
		e.proxy.Reset()
		resets = append(resets, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	took := e.waitBurstDelivered(ctx, t, h, 90*time.Second)
	close(stop)
	wg.Wait()
	if st, err := e.linkStatus(); err == nil && len(resets) == 2 {
		relinks = append(relinks, st.Since.Sub(resets[1]))
	}
	t.Logf("link reset %d times during the burst: %d new connections, edgecore back after %v; the node held the last version %s after the burst ended",
		len(resets), e.proxy.Accepted()-accepted, relinks, took.Round(100*time.Millisecond))
	if len(resets) < 2 {
		t.Errorf("edgecore did not reconnect within the burst after the first reset")
	}
	e.checkHistory(t, h)
	e.waitConverged(ctx, t, "the node to converge after the resets", 60*time.Second)
}

// testUnusedConfigDeleted deletes, while the link is up, a configmap after
// the last pod that used it, as one does after rolling out a new version of
// a configuration: the node must not keep it.
func testUnusedConfigDeleted(ctx context.Context, t *testing.T, e *autonomyEnv) {
	cms := e.client.CoreV1().ConfigMaps(autonomyNamespace)
	pods := e.client.CoreV1().Pods(autonomyNamespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "old-config"}, Data: map[string]string{"msg": "old"}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, boundPod("old", "old-config", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitConverged(ctx, t, "pod old to run", 60*time.Second)
	if err := pods.Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := waitUntil(ctx, "pod old gone from the node", 60*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := e.meta.CoreV1().Pods(autonomyNamespace).Get(ctx, "old", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "old-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	err = waitUntil(ctx, "old-config gone from the node", 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := e.meta.CoreV1().ConfigMaps(autonomyNamespace).Get(ctx, "old-config", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		syncs, _ := e.objectSyncs(ctx)
		_, recorded := syncs[objKey{message.ResConfigMap, autonomyNamespace, "old-config"}]
		t.Errorf("%v: a configmap deleted in the cloud is still served by the node %s later (ObjectSync still recorded: %v)",
			err, time.Since(deleted).Round(time.Second), recorded)
		// A reconnect's sync deletes it: let the next subtests start clean.
		e.proxy.Reset()
		e.waitConverged(ctx, t, "the node to converge after a reconnect", 90*time.Second)
		return
	}
	t.Logf("old-config left the node %s after its deletion", time.Since(deleted).Round(100*time.Millisecond))
}

// waitUntil is framework.WaitFor bounded by timeout.
func waitUntil(ctx context.Context, what string, timeout, every time.Duration, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return framework.WaitFor(ctx, what, every, nil, check)
}
