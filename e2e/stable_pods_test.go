//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/cloud/admission"
	"github.com/cleanedge/kubeedge/e2e/framework"
)

// Pods bound for edge nodes tolerate unreachable/not-ready forever unless the
// user asks otherwise (upstream KubeEdge #4429); other pods keep the 300s default.
func TestStablePods(t *testing.T) {
	cp := framework.ControlPlaneForTest(t, framework.ControlPlaneOptions{Controllers: true})
	ctx := framework.Context(t)
	client := cp.Client

	edge := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-stable", Labels: map[string]string{
		admission.EdgeNodeLabel: "", corev1.LabelHostname: "edge-stable"}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, edge, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create edge node: %v", err)
	}

	ca, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := &admission.Server{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		TLS:     kp,
		Handler: &admission.Handler{Nodes: admission.ClientNodes(client, 2*time.Second)},
	}
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(srvCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("admission server: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("admission server: %v", err)
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, admission.MutatePodsPath)
	if err := admission.EnsureWebhookConfiguration(ctx, client, url, certs.EncodeCertPEM(ca.Cert.Raw)); err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	if err := admission.EnsureWebhookConfiguration(ctx, client, url, certs.EncodeCertPEM(ca.Cert.Raw)); err != nil {
		t.Fatal(err)
	}

	pods := client.CoreV1().Pods("default")
	edgePod := func(name string, tols ...corev1.Toleration) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{admission.EdgeNodeLabel: ""},
				Containers:   []corev1.Container{{Name: "c", Image: "busybox"}},
				Tolerations:  tols,
			},
		}
	}
	// The API server picks the webhook configuration up asynchronously: probe with dry runs.
	err = framework.WaitFor(ctx, "the webhook to mutate edge pods", 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		p, err := pods.Create(ctx, edgePod("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		return seconds(p, corev1.TaintNodeUnreachable) == "forever", nil
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("deployment pods tolerate forever", func(t *testing.T) {
		replicas := int32(2)
		labels := map[string]string{"app": "stable"}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "stable"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       edgePod("").Spec,
				},
			},
		}
		if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var list *corev1.PodList
		err := framework.WaitFor(ctx, "2 deployment pods", 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
			var err error
			list, err = pods.List(ctx, metav1.ListOptions{LabelSelector: "app=stable"})
			return err == nil && len(list.Items) == 2, err
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			p := &list.Items[i]
			for _, key := range admission.StableTaints {
				if got := seconds(p, key); got != "forever" {
					t.Errorf("pod %s toleration %s: %s, want forever", p.Name, key, got)
				}
			}
		}
	})

	t.Run("user tolerationSeconds kept", func(t *testing.T) {
		user := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(30))}
		p, err := pods.Create(ctx, edgePod("user-evict", user), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := seconds(p, corev1.TaintNodeUnreachable); got != "30" {
			t.Errorf("unreachable: %s, want 30", got)
		}
		if got := seconds(p, corev1.TaintNodeNotReady); got != "forever" {
			t.Errorf("not-ready: %s, want forever", got)
		}
	})

	t.Run("annotation keeps the default", func(t *testing.T) {
		p := edgePod("annotated")
		p.Annotations = map[string]string{admission.EvictAnnotation: "true"}
		p, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range admission.StableTaints {
			if got := seconds(p, key); got != "300" {
				t.Errorf("%s: %s, want 300", key, got)
			}
		}
	})

	t.Run("cloud pod keeps the default", func(t *testing.T) {
		p := edgePod("cloud")
		p.Spec.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": ""}
		p, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range admission.StableTaints {
			if got := seconds(p, key); got != "300" {
				t.Errorf("%s: %s, want 300", key, got)
			}
		}
	})
}

// seconds describes p's NoExecute toleration for key: "forever", the seconds,
// or "none" / "several".
func seconds(p *corev1.Pod, key string) string {
	var found []corev1.Toleration
	for _, t := range p.Spec.Tolerations {
		if t.Key == key && t.Effect == corev1.TaintEffectNoExecute {
			found = append(found, t)
		}
	}
	switch {
	case len(found) == 0:
		return "none"
	case len(found) > 1:
		return "several"
	case found[0].TolerationSeconds == nil:
		return "forever"
	}
	return strconv.FormatInt(*found[0].TolerationSeconds, 10)
}
