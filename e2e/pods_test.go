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
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

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
	t.Cleanup(func() { _ = framework.RunCommand(context.Background(), t, "keadm", "reset", "--force", "--root", root) })
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
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                 map[string]string{"kubernetes.io/hostname": "edge-1"},
					AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{
						Name: "app", Image: "localhost/kubeedge/app:v1", ImagePullPolicy: corev1.PullNever,
						Env: []corev1.EnvVar{
							{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "msg"}}},
							{Name: "SHOW_FILES", Value: "/config/greeting.txt"},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/config"}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}},
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
		if a.Msg != "hello from the edge" || a.Files["/config/greeting.txt"] != "v1" {
			t.Errorf("app at %s answered %+v", ip, a)
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
}
