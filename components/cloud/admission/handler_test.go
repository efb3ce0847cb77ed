package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cleanedge/kubeedge/certs"
)

func nodes(names ...string) NodeLister {
	m := map[string]*corev1.Node{
		"master": {ObjectMeta: metav1.ObjectMeta{Name: "master", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}},
	}
	for _, n := range names {
		m[n] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{EdgeNodeLabel: ""}}}
	}
	return func(name string) (*corev1.Node, bool) { n, ok := m[name]; return n, ok }
}

func review(t *testing.T, p *corev1.Pod, op admissionv1.Operation, ns string) []byte {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns,
			Operation: op,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, h http.Handler, body []byte) (int, admissionv1.AdmissionReview) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, MutatePodsPath, bytes.NewReader(body)))
	var out admissionv1.AdmissionReview
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("decode response %s: %v", rec.Body, err)
		}
	}
	return rec.Code, out
}

func TestHandler(t *testing.T) {
	h := &Handler{Nodes: nodes("edge-1")}
	edgeByName := pod(func(p *corev1.Pod) { p.Spec.NodeName = "edge-1" })
	tests := []struct {
		name      string
		body      []byte
		wantCode  int
		wantPatch bool
	}{
		{"edge pod patched", review(t, edgeByName, admissionv1.Create, "default"), 200, true},
		{"edge selector patched", review(t, pod(edgeSelector), admissionv1.Create, "default"), 200, true},
		{"cloud pod allowed unchanged", review(t, pod(func(p *corev1.Pod) { p.Spec.NodeName = "master" }), admissionv1.Create, "default"), 200, false},
		{"unknown node unchanged", review(t, pod(func(p *corev1.Pod) { p.Spec.NodeName = "ghost" }), admissionv1.Create, "default"), 200, false},
		{"kube-system unchanged", review(t, edgeByName, admissionv1.Create, "kube-system"), 200, false},
		{"update unchanged", review(t, edgeByName, admissionv1.Update, "default"), 200, false},
		{"garbage", []byte("{"), 400, false},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := post(t, h, tt.body)
			if code != tt.wantCode {
				t.Fatalf("code = %d, want %d", code, tt.wantCode)
			}
			if code != 200 {
				return
			}
			if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
				t.Errorf("response type %s/%s", out.APIVersion, out.Kind)
			}
			r := out.Response
			if r == nil || !r.Allowed || r.UID != "uid-1" {
				t.Fatalf("response = %+v, want allowed with the request UID", r)
			}
			if got := len(r.Patch) > 0; got != tt.wantPatch {
				t.Fatalf("patch = %s, want patch %v", r.Patch, tt.wantPatch)
			}
			if tt.wantPatch && (r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch) {
				t.Errorf("patchType = %v", r.PatchType)
			}
		})
	}
}

func TestHandlerUndecodablePodIsAdmitted(t *testing.T) {
	body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"default","object":{"spec":"nope"}}}`)
	code, out := post(t, &Handler{Nodes: nodes("edge-1")}, body)
	if code != 200 || out.Response == nil || !out.Response.Allowed || len(out.Response.Patch) != 0 {
		t.Fatalf("code %d response %+v", code, out.Response)
	}
}

func TestNodeListerIsEdge(t *testing.T) {
	l := nodes("edge-1")
	for name, want := range map[string]bool{"edge-1": true, "master": false, "ghost": false, "": false} {
		if got := l.IsEdge(name); got != want {
			t.Errorf("IsEdge(%q) = %v, want %v", name, got, want)
		}
	}
	if NodeLister(nil).IsEdge("edge-1") {
		t.Error("nil lister decided edge")
	}
	client := fake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Labels: map[string]string{EdgeNodeLabel: ""}}})
	cl := ClientNodes(client, time.Second)
	if !cl.IsEdge("edge-1") || cl.IsEdge("ghost") {
		t.Error("ClientNodes decided wrong")
	}
}

func TestServer(t *testing.T) {
	ca, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueServer(certs.ServerCertOptions{AdvertiseAddresses: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: "127.0.0.1:0", TLS: kp, Handler: &Handler{Nodes: nodes("edge-1")}}
	if s.Name() != ModuleName {
		t.Errorf("Name = %q", s.Name())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	url := "https://" + s.ListenAddr().String() + MutatePodsPath
	resp, err := c.Post(url, "application/json", bytes.NewReader(review(t, pod(edgeSelector), admissionv1.Create, "default")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil || len(out.Response.Patch) == 0 {
		t.Fatalf("response %d %s: %v", resp.StatusCode, body, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestServerNeedsCertificate(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0", Handler: &Handler{}}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("Run without a certificate succeeded")
	}
}

func TestEnsureWebhookConfiguration(t *testing.T) {
	ctx := context.Background()
	client := fake.NewSimpleClientset()
	url := "https://10.0.0.1:10005" + MutatePodsPath
	ca := []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
	if err := EnsureWebhookConfiguration(ctx, client, url, ca); err != nil {
		t.Fatal(err)
	}
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	got, err := api.Get(ctx, WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Webhooks) != 1 {
		t.Fatalf("webhooks = %d", len(got.Webhooks))
	}
	w := got.Webhooks[0]
	switch {
	case w.ClientConfig.URL == nil || *w.ClientConfig.URL != url || w.ClientConfig.Service != nil:
		t.Errorf("clientConfig = %+v", w.ClientConfig)
	case !bytes.Equal(w.ClientConfig.CABundle, ca):
		t.Errorf("caBundle = %q", w.ClientConfig.CABundle)
	case *w.FailurePolicy != admissionregv1.Ignore, *w.SideEffects != admissionregv1.SideEffectClassNone, *w.TimeoutSeconds != 5:
		t.Errorf("policy = %v %v %v", *w.FailurePolicy, *w.SideEffects, *w.TimeoutSeconds)
	case len(w.AdmissionReviewVersions) != 1 || w.AdmissionReviewVersions[0] != "v1":
		t.Errorf("admissionReviewVersions = %v", w.AdmissionReviewVersions)
	case len(w.Rules) != 1 || w.Rules[0].Operations[0] != admissionregv1.Create || w.Rules[0].Resources[0] != "pods" ||
		w.Rules[0].APIGroups[0] != "" || w.Rules[0].APIVersions[0] != "v1":
		t.Errorf("rules = %+v", w.Rules)
	}
	sel := w.NamespaceSelector.MatchExpressions
	if len(sel) != 1 || sel[0].Key != "kubernetes.io/metadata.name" || sel[0].Operator != metav1.LabelSelectorOpNotIn || sel[0].Values[0] != "kube-system" {
		t.Errorf("namespaceSelector = %+v", sel)
	}

	// A second call with a new address and CA updates in place; a third is a no-op.
	url2 := "https://10.0.0.2:10005" + MutatePodsPath
	got.Webhooks[0].TimeoutSeconds = new(int32(30))
	if _, err := api.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureWebhookConfiguration(ctx, client, url2, []byte("other")); err != nil {
		t.Fatal(err)
	}
	got, _ = api.Get(ctx, WebhookConfigurationName, metav1.GetOptions{})
	if !equality.Semantic.DeepEqual(got.Webhooks, WebhookConfiguration(url2, []byte("other")).Webhooks) {
		t.Errorf("not updated: %+v", got.Webhooks)
	}
	client.ClearActions()
	if err := EnsureWebhookConfiguration(ctx, client, url2, []byte("other")); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unchanged configuration: unexpected %s", a.GetVerb())
		}
	}
	if err := EnsureWebhookConfiguration(ctx, client, "", ca); err == nil {
		t.Error("empty url accepted")
	}
}
