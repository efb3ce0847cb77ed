//go:build e2e

// Package e2e holds the end-to-end tests. They run against the real parts the
// framework starts (etcd, kube-apiserver, containerd) and the binaries built by
// `make build`; run them with `make test-e2e`.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/e2e/framework"
)

const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.kubeedge.io
spec:
  group: smoke.kubeedge.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
`

// The control plane serves namespaces, CRDs and their objects, nodes and pods.
func TestSmokeControlPlane(t *testing.T) {
	cp := framework.ControlPlaneForTest(t, framework.ControlPlaneOptions{})
	ctx := framework.Context(t)
	client := cp.Client

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "smoke"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}

	// A CRD, established, then an object of it, listed back.
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var crd unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(widgetCRD), &crd.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	err = framework.WaitFor(ctx, "CRD widgets established", 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	widgets := dyn.Resource(schema.GroupVersionResource{Group: "smoke.kubeedge.io", Version: "v1", Resource: "widgets"}).Namespace("smoke")
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "smoke.kubeedge.io/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"}, "spec": map[string]any{"size": int64(3)},
	}}
	// The discovery of a new CRD's REST mapping can lag its Established condition.
	err = framework.WaitFor(ctx, "create widget w1", 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		_, err := widgets.Create(ctx, w, metav1.CreateOptions{})
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := widgets.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].GetName() != "w1" {
		t.Fatalf("list widgets: %v %+v", err, list)
	}
	if size, _, _ := unstructured.NestedInt64(list.Items[0].Object, "spec", "size"); size != 3 {
		t.Errorf("widget size = %d, want 3", size)
	}

	// A Node and a Pod bound to it.
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-smoke", Labels: map[string]string{"node-role.kubernetes.io/edge": ""}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110"),
		}},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "smoke"},
		Spec: corev1.PodSpec{
			NodeName:   "edge-smoke",
			Containers: []corev1.Container{{Name: "app", Image: "localhost/kubeedge/app:v1"}},
		},
	}
	if _, err := client.CoreV1().Pods("smoke").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/edge"})
	if err != nil || len(nodes.Items) != 1 || nodes.Items[0].Name != "edge-smoke" {
		t.Fatalf("list edge nodes: %v %+v", err, nodes)
	}
	pods, err := client.CoreV1().Pods("smoke").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=edge-smoke"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Name != "web" {
		t.Fatalf("list pods on edge-smoke: %v %+v", err, pods)
	}
}

// The real containerd runs a pod from a project-built image through CRI, and
// the app answers HTTP at its pod IP.
func TestSmokeContainerd(t *testing.T) {
	const cgroupRoot = "/kubeedge-e2e-smoke"
	ctr := framework.ContainerdForTest(t, framework.ContainerdOptions{Images: []string{"app"}}, cgroupRoot)
	ctx := framework.Context(t)

	ver, err := ctr.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || ver.RuntimeName != "containerd" || ver.RuntimeApiVersion != "v1" {
		t.Fatalf("CRI version: %+v %v", ver, err)
	}
	const image = "localhost/kubeedge/app:v1"
	img, err := ctr.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil || img.Image == nil {
		t.Fatalf("image %s not imported: %+v %v", image, img, err)
	}

	uid := fmt.Sprintf("smoke-%d", time.Now().UnixNano())
	logDir := filepath.Join(ctr.PodLogDir, "smoke_web_"+uid)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sbConfig := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Uid: uid, Namespace: "smoke"},
		Hostname:     "web",
		LogDirectory: logDir,
		Labels:       map[string]string{"io.kubernetes.pod.name": "web"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupRoot + "/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
			}},
		},
	}
	sb, err := ctr.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbConfig})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	sbStatus, err := ctr.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	podIP := sbStatus.GetStatus().GetNetwork().GetIp()
	if podIP == "" {
		t.Fatalf("sandbox has no IP: %+v", sbStatus.GetStatus())
	}

	created, err := ctr.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sb.PodSandboxId,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Envs:     []*runtimeapi.KeyValue{{Key: "MSG", Value: []byte("hello from the edge")}},
			LogPath:  "app/0.log",
			Linux:    &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}},
		},
		SandboxConfig: sbConfig,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := ctr.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}

	var answer struct {
		Hostname string `json:"hostname"`
		Msg      string `json:"msg"`
	}
	httpClient := &http.Client{Timeout: 2 * time.Second}
	err = framework.WaitFor(ctx, "app at "+podIP+":8080", 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+podIP+":8080/", nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, json.Unmarshal(body, &answer)
	})
	if err != nil {
		t.Fatal(err)
	}
	if answer.Msg != "hello from the edge" || answer.Hostname != "web" {
		t.Errorf("app answered %+v, want msg %q from hostname web", answer, "hello from the edge")
	}

	st, err := ctr.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: created.ContainerId})
	if err != nil || st.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container status: %+v %v", st.GetStatus(), err)
	}

	// Stop and remove: nothing of the pod is left in containerd.
	if _, err := ctr.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if _, err := ctr.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	left, err := ctr.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(left.Containers) != 0 {
		t.Errorf("containers left after removal: %v %v", left, err)
	}
}
