package edgecontroller

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/message"
)

func edgeNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelEdge: ""}}}
}

func podOn(node, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Image: "localhost/kubeedge/app:v1",
			Env: []corev1.EnvVar{{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "msg"}}}},
		}}},
	}
}

// next waits for the next message to node, skipping other nodes' messages.
func next(t *testing.T, rec *recorder, node string) message.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-rec.ch:
			if s.node == node {
				return s.msg
			}
		case <-deadline:
			t.Fatalf("no message for %s", node)
		}
	}
}

func noMessage(t *testing.T, rec *recorder) {
	t.Helper()
	select {
	case s := <-rec.ch:
		t.Fatalf("unexpected message to %s: %s %s", s.node, s.msg.Route.Operation, s.msg.Route.Resource)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestPodsGoToTheirEdgeNode(t *testing.T) {
	c, client, rec, _ := start(t)
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, edgeNode("edge-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cloud-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "7"},
		Data: map[string]string{"msg": "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // informers see the nodes

	// A pod on a cloud node goes nowhere.
	if _, err := client.CoreV1().Pods("default").Create(ctx, podOn("cloud-1", "cloudpod"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	noMessage(t, rec)

	// A pod on edge-1: first the configmap it uses, then the pod.
	if _, err := client.CoreV1().Pods("default").Create(ctx, podOn("edge-1", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := next(t, rec, "edge-1")
	if cm.Route.Resource != "default/configmap/cfg" || cm.Route.Operation != message.OpInsert || cm.Route.Source != message.SourceEdgeController {
		t.Fatalf("first message %+v", cm.Route)
	}
	pod := next(t, rec, "edge-1")
	if pod.Route.Resource != "default/pod/web" || pod.Route.Operation != message.OpInsert {
		t.Fatalf("second message %+v", pod.Route)
	}
	var got corev1.Pod
	if err := pod.DecodeContent(&got); err != nil || got.Kind != "Pod" || got.Spec.NodeName != "edge-1" {
		t.Fatalf("pod content %+v %v", got.TypeMeta, err)
	}

	// The configmap changes: the node using it hears of it.
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default", ResourceVersion: "8"},
		Data: map[string]string{"msg": "bye"}}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	upd := next(t, rec, "edge-1")
	if upd.Route.Resource != "default/configmap/cfg" || upd.Route.Operation != message.OpUpdate || upd.Header.ResourceVersion == "" {
		t.Fatalf("configmap update %+v %+v", upd.Route, upd.Header)
	}

	// Queries: a used configmap is answered, an unused one is not.
	q := request(t, message.OpQuery, message.ResConfigMap, "cfg", nil)
	q.Route.Resource = "default/configmap/cfg"
	c.HandleMessage("edge-1", q)
	ans := next(t, rec, "edge-1")
	var cmGot corev1.ConfigMap
	if ans.Header.ParentID != q.Header.ID || ans.DecodeContent(&cmGot) != nil || cmGot.Data["msg"] != "bye" {
		t.Fatalf("query answer %+v", ans)
	}
	other := request(t, message.OpQuery, message.ResSecret, "x", nil)
	other.Route.Resource = "default/secret/other"
	c.HandleMessage("edge-1", other)
	noMessage(t, rec)

	// Deleting the pod sends a delete.
	if err := client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	del := next(t, rec, "edge-1")
	if del.Route.Resource != "default/pod/web" || del.Route.Operation != message.OpDelete {
		t.Fatalf("delete %+v", del.Route)
	}
}

func TestPodStatusOnlyFromItsNode(t *testing.T) {
	c, client, rec, _ := start(t)
	ctx := context.Background()
	for _, n := range []string{"edge-1", "edge-2"} {
		if _, err := client.CoreV1().Nodes().Create(ctx, edgeNode(n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, podOn("edge-1", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for len(rec.ch) > 0 {
		<-rec.ch
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"phase": "Running", "podIP": "10.88.0.5"}})
	patchMsg := func() message.Message {
		m := request(t, message.OpPatch, message.ResPodPatch, "web", string(patch))
		return m
	}

	// edge-2 may not report for edge-1's pod.
	m := patchMsg()
	c.HandleMessage("edge-2", m)
	if r := reply(t, rec, m); !apierrors.IsForbidden(r.Error()) {
		t.Fatalf("patch from another node: %v", r.Error())
	}
	p, _ := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if p.Status.Phase == corev1.PodRunning {
		t.Fatal("status changed by another node")
	}

	m = patchMsg()
	c.HandleMessage("edge-1", m)
	if r := reply(t, rec, m); r.Error() != nil {
		t.Fatalf("patch from its node: %v", r.Error())
	}
	p, _ = client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "10.88.0.5" {
		t.Fatalf("status = %+v", p.Status)
	}

	// The edge confirms termination: the pod goes away (only from its node).
	del := request(t, message.OpDelete, message.ResPod, "web", metav1.DeleteOptions{})
	c.HandleMessage("edge-2", del)
	if r := reply(t, rec, del); !apierrors.IsForbidden(r.Error()) {
		t.Fatalf("delete from another node: %v", r.Error())
	}
	del = request(t, message.OpDelete, message.ResPod, "web", metav1.DeleteOptions{})
	c.HandleMessage("edge-1", del)
	if r := reply(t, rec, del); r.Error() != nil {
		t.Fatalf("delete: %v", r.Error())
	}
	if _, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod still there: %v", err)
	}
}
