package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
)

// maxReviewBytes bounds an AdmissionReview request body (the API server's own
// request limit is 3 MiB; a pod is far smaller).
const maxReviewBytes = 3 << 20

// ExcludedNamespace is never mutated (the webhook configuration excludes it
// too; the handler checks again).
const ExcludedNamespace = metav1.NamespaceSystem

// NodeLister looks a node up by name.
type NodeLister func(name string) (*corev1.Node, bool)

// IsEdge reports whether the named node exists and carries EdgeNodeLabel.
func (l NodeLister) IsEdge(name string) bool {
	if l == nil || name == "" {
		return false
	}
	n, ok := l(name)
	if !ok || n == nil {
		return false
	}
	_, edge := n.Labels[EdgeNodeLabel]
	return edge
}

// ListerNodes adapts a client-go node lister (an informer's cache).
func ListerNodes(l listersv1.NodeLister) NodeLister {
	return func(name string) (*corev1.Node, bool) {
		n, err := l.Get(name)
		return n, err == nil
	}
}

// ClientNodes looks nodes up with a GET each (no cache), each bounded by
// timeout. A failed lookup counts as "not found": the pod is left unchanged.
func ClientNodes(client kubernetes.Interface, timeout time.Duration) NodeLister {
	return func(name string) (*corev1.Node, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return n, err == nil
	}
}

// Handler serves AdmissionReview v1 requests for pod creation and answers
// with the JSON patch from Mutate. It always allows the pod: a request it
// cannot make sense of is answered without a patch.
type Handler struct {
	// Nodes decides which nodes are edge nodes.
	Nodes NodeLister
	// Logger; the zero value discards.
	Logger logr.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxReviewBytes {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, "decode AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	resp := h.Review(review.Request)
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	data, err := json.Marshal(&out)
	if err != nil {
		http.Error(w, "encode AdmissionReview: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// Review answers one admission request. The answer always allows.
func (h *Handler) Review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create ||
		req.SubResource != "" || req.Namespace == ExcludedNamespace {
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.Logger.Error(err, "cannot decode the pod; admitting it unchanged", "namespace", req.Namespace, "uid", req.UID)
		return resp
	}
	ops, changed := Mutate(&pod, h.Nodes.IsEdge)
	if !changed {
		return resp
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		h.Logger.Error(fmt.Errorf("encode patch: %w", err), "admitting the pod unchanged", "namespace", req.Namespace)
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.PatchType = &pt
	resp.Patch = patch
	h.Logger.V(2).Info("edge pod tolerates unreachable/not-ready forever",
		"namespace", req.Namespace, "pod", podName(&pod), "node", pod.Spec.NodeName)
	return resp
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName
}
