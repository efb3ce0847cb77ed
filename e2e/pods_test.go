//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/e2e/framework"
)

func getApp(ctx context.Context, ip string) (appAnswer, error) {
	var a appAnswer
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ip+":8080/", nil)
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return a, json.Unmarshal(b, &a)
}

// A Deployment pinned to an edge node runs there through CRI on real
// containerd: pods Running and Ready with IPs, the app answers with an env
// var from a configmap and a file from a configmap volume, an update of the
// configmap reaches the file, and scaling to zero leaves nothing behind.
func TestDeploymentOnEdge(t *testing.T) {
	ctx := framework.Context(t)
	dir := framework.ArtifactDir(t)
	const cgroupRoot = "/kubeedge"
	ctr := framework.ContainerdForTest(t, framework.ContainerdOptions{Images: []string{"app"}}, cgroupRoot)
	c := initCloud(ctx, t, dir)
	token := c.token(ctx, t)
	edgecore, err := framework.ProjectBinary("edgecore")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "edge-1")
	resetOnCleanup(t, dir, root)
	framework.MustRun(ctx, t, "keadm", "join", "--cloudcore-ipport", c.wsAddr, "--certport", strconv.Itoa(c.httpsPort),
		"--token", token, "--edgenode-name", "edge-1", "--root", root, "--edgecore-binary", edgecore,
		"--remote-runtime-endpoint", ctr.Endpoint)
	client := c.cp.Client
	waitReady(ctx, t, client, "edge-1", true, 60*time.Second)

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: "default"},
		Data: map[string]string{"msg": "hello from the edge", "greeting.txt": "v1"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-secret", Namespace: "default"},
		Data: map[string][]byte{"token": []byte("s3cr3t")}}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// The service account token volume is mounted, as on any node.
					NodeSelector: map[string]string{"kubernetes.io/hostname": "edge-1"},
					Containers: []corev1.Container{{
						Name: "app", Image: "localhost/kubeedge/app:v1", ImagePullPolicy: corev1.PullNever,
						Env: []corev1.EnvVar{
							{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "msg"}}},
							{Name: "SHOW_FILES", Value: "/config/greeting.txt,/secret/token," + saDir + "/token," + saDir + "/namespace," + saDir + "/ca.crt"},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/config"}, {Name: "secret", MountPath: "/secret", ReadOnly: true}},
						Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						LivenessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1, FailureThreshold: 2,
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "config", VolumeSource: corev1.VolumeSource{
							ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
						{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-secret"}}},
					},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var ips []string
	err = framework.WaitFor(ctx, "2 web pods Running and Ready with IPs", time.Second, nil, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		ips = ips[:0]
		for _, p := range pods.Items {
			ready := false
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if p.Spec.NodeName == "edge-1" && p.Status.Phase == corev1.PodRunning && ready && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
		return len(ips) == 2, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		a := waitForApp(ctx, t, ip)
		if a.Msg != "hello from the edge" || a.Files["/config/greeting.txt"] != "v1" || a.Files["/secret/token"] != "s3cr3t" {
			t.Errorf("app at %s answered %+v", ip, a)
		}
		if tok := a.Files[saDir+"/token"]; strings.Count(tok, ".") != 2 || a.Files[saDir+"/namespace"] != "default" ||
			!strings.Contains(a.Files[saDir+"/ca.crt"], "BEGIN CERTIFICATE") {
			t.Errorf("service account volume at %s: token %d bytes, namespace %q, ca.crt %d bytes",
				ip, len(tok), a.Files[saDir+"/namespace"], len(a.Files[saDir+"/ca.crt"]))
		}
	}

	// The configmap changes: the mounted file follows.
	cm.Data["greeting.txt"] = "v2"
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = framework.WaitFor(ctx, "the mounted file to show v2", time.Second, nil, func(ctx context.Context) (bool, error) {
		a, err := getApp(ctx, ips[0])
		return err == nil && a.Files["/config/greeting.txt"] == "v2", err
	})
	if err != nil {
		t.Fatal(err)
	}

	if n, err := client.CoreV1().Nodes().Get(ctx, "edge-1", metav1.GetOptions{}); err != nil ||
		!strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("node runtime version %q (%v), want containerd://…", n.Status.NodeInfo.ContainerRuntimeVersion, err)
	}

	// cloudcore's admission webhook made them stay through an outage.
	for _, p := range podsWithLabel(ctx, t, c, "app=web") {
		for _, tol := range p.Spec.Tolerations {
			if tol.Key == "node.kubernetes.io/unreachable" && tol.TolerationSeconds != nil {
				t.Errorf("pod %s tolerates an unreachable node for %ds only: it would be evicted", p.Name, *tol.TolerationSeconds)
			}
		}
	}

	t.Run("killed container restarts", func(t *testing.T) { testContainerRestart(ctx, t, c, ctr) })
	t.Run("failing liveness probe restarts", func(t *testing.T) { testLivenessRestart(ctx, t, c) })
	t.Run("missing image", func(t *testing.T) { testMissingImage(ctx, t, c) })
	t.Run("too much memory stays pending", func(t *testing.T) { testUnschedulable(ctx, t, c) })
	t.Run("deleted while edgecore was down", func(t *testing.T) {
		testDeletedWhileAway(ctx, t, c, ctr, root, token, edgecore)
	})

	// Scale to zero: pods gone from the API server and from containerd.
	scale, err := client.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 0
	if _, err := client.AppsV1().Deployments("default").UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = framework.WaitFor(ctx, "web pods gone from the API server and containerd", time.Second, nil, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		sbs, err := ctr.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 0 && len(sbs.Items) == 0, fmt.Errorf("%d pods, %d sandboxes", len(pods.Items), len(sbs.Items))
	})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing of the deleted pods is left in meta.db (read after a clean stop).
	db := stopAndOpenMetaDB(t, root)
	left, err := db.ListType(message.ResPod)
	if err != nil || len(left) != 0 {
		t.Errorf("pods left in meta.db after deletion: %v %v", left, err)
	}
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func podsWithLabel(ctx context.Context, t *testing.T, c *cloud, selector string) []corev1.Pod {
	t.Helper()
	pods, err := c.cp.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func testContainerRestart(ctx context.Context, t *testing.T, c *cloud, ctr *framework.Containerd) {
	pod := podsWithLabel(ctx, t, c, "app=web")[0]
	if len(pod.Status.ContainerStatuses) == 0 {
		t.Fatalf("pod %s has no container status", pod.Name)
	}
	id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
	if err := ctr.KillContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	err := framework.WaitFor(ctx, "restartCount of "+pod.Name+" to rise", time.Second, nil, func(ctx context.Context) (bool, error) {
		p, err := c.cp.Client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].State.Running != nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testLivenessRestart(ctx context.Context, t *testing.T, c *cloud) {
	pod := podsWithLabel(ctx, t, c, "app=web")[1]
	before := pod.Status.ContainerStatuses[0].RestartCount
	resp, err := http.Post("http://"+pod.Status.PodIP+":8080/fail", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var last string
	err = framework.WaitFor(ctx, "liveness restart of "+pod.Name, time.Second, nil, func(ctx context.Context) (bool, error) {
		p, err := c.cp.Client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.LastTerminationState.Terminated != nil {
			last = cs.LastTerminationState.Terminated.Message
		}
		return cs.RestartCount > before && strings.Contains(last, "liveness") && cs.Ready, nil
	})
	if err != nil {
		t.Fatalf("%v (last termination message %q)", err, last)
	}
}

// A pod deleted in the cloud while edgecore was down is removed from the
// node when edgecore comes back; the other pods' containers are adopted, not
// restarted.
func testDeletedWhileAway(ctx context.Context, t *testing.T, c *cloud, ctr *framework.Containerd, root, token, edgecore string) {
	client := c.cp.Client
	solo := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: "default", Labels: map[string]string{"app": "solo"}},
		Spec: corev1.PodSpec{NodeName: "edge-1", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "localhost/kubeedge/app:v1", ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, solo, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sandboxes := func(name string) int {
		sbs, err := ctr.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
			LabelSelector: map[string]string{"io.kubernetes.pod.name": name}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(sbs.Items)
	}
	err := framework.WaitFor(ctx, "solo running", time.Second, nil, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "solo", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	if err != nil {
		t.Fatal(err)
	}
	containerIDs := func() map[string]string {
		ids := map[string]string{}
		for _, p := range podsWithLabel(ctx, t, c, "app=web") {
			for _, cs := range p.Status.ContainerStatuses {
				ids[p.Name] = cs.ContainerID
			}
		}
		return ids
	}
	before := containerIDs()

	// edgecore goes down; meanwhile the pod is deleted in the cloud.
	pid := pidOf(t, root, "edgecore")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if err := client.CoreV1().Pods("default").Delete(ctx, "solo", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if sandboxes("solo") != 1 {
		t.Fatal("solo's sandbox is gone although edgecore is down")
	}

	// edgecore comes back (a re-run of join starts it).
	framework.MustRun(ctx, t, "keadm", "join", "--cloudcore-ipport", c.wsAddr, "--certport", strconv.Itoa(c.httpsPort),
		"--token", token, "--edgenode-name", "edge-1", "--root", root, "--edgecore-binary", edgecore)
	err = framework.WaitFor(ctx, "solo removed from the node", time.Second, nil, func(ctx context.Context) (bool, error) {
		return sandboxes("solo") == 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := containerIDs(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("containers changed across the edgecore restart:\nbefore %v\nafter  %v", before, after)
	}
}

func testMissingImage(ctx context.Context, t *testing.T, c *cloud) {
	const image = "localhost/kubeedge/does-not-exist:v1"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "badimage", Namespace: "default", Labels: map[string]string{"app": "badimage"}},
		Spec: corev1.PodSpec{NodeName: "edge-1", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
	if _, err := c.cp.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last string
	err := framework.WaitFor(ctx, "ErrImagePull/ImagePullBackOff for "+image, time.Second, nil, func(ctx context.Context) (bool, error) {
		p, err := c.cp.Client.CoreV1().Pods("default").Get(ctx, "badimage", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, err
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		last = w.Reason + ": " + w.Message
		return (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") && strings.Contains(w.Message, image), nil
	})
	if err != nil {
		t.Fatalf("%v (last: %s)", err, last)
	}
	if err := c.cp.Client.CoreV1().Pods("default").Delete(ctx, "badimage", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = framework.WaitFor(ctx, "badimage deleted", time.Second, nil, func(ctx context.Context) (bool, error) {
		return len(podsWithLabel(ctx, t, c, "app=badimage")) == 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testUnschedulable(ctx context.Context, t *testing.T, c *cloud) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "huge", Namespace: "default"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": "edge-1"}, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "localhost/kubeedge/app:v1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Ti")}}}}},
	}
	if _, err := c.cp.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := framework.WaitFor(ctx, "huge pod Unschedulable", 500*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		p, err := c.cp.Client.CoreV1().Pods("default").Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cp.Client.CoreV1().Pods("default").Delete(ctx, "huge", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}
