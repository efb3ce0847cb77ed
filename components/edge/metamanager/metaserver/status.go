package metaserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// writeJSON answers v as JSON with the given code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`)
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeStatus answers a Kubernetes API error as a Status object.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := statusOf(err)
	writeJSON(w, int(st.Code), st)
}

func statusOf(err *apierrors.StatusError) metav1.Status {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	return st
}

func notFound(r *resource, name string) *apierrors.StatusError {
	return apierrors.NewNotFound(schema.GroupResource{Group: r.group, Resource: r.plural}, name)
}

// notFoundPath answers a URL that names no served resource, as the apiserver does.
func notFoundPath(path string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: fmt.Sprintf("the server could not find the requested resource (%s)", path),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: "404 page not found"}}},
	}}
}

func badRequest(format string, args ...any) *apierrors.StatusError {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

func readOnly(method, path string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed, Reason: metav1.StatusReasonMethodNotAllowed,
		Message: fmt.Sprintf("%s %s is not allowed: the edge-local API (metaServer) is read-only; it serves get, list and watch from the node's meta.db, and changes must be made through the cloud's kube-apiserver", method, path),
	}}
}

func tooManyWatches(limit int) *apierrors.StatusError {
	return apierrors.NewTooManyRequests(fmt.Sprintf("too many concurrent watches on the edge-local API (limit %d, modules.metaManager.metaServer); retry later", limit), 1)
}

func internalError(err error) *apierrors.StatusError {
	return apierrors.NewInternalError(err)
}

// expired is the watch error that makes client-go reflectors list again.
func expired(msg string) *apierrors.StatusError {
	return apierrors.NewResourceExpired(msg)
}
