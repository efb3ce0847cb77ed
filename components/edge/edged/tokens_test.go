package edged

import (
	"context"
	"errors"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeTokens struct {
	calls int
	fail  bool
	last  *authenticationv1.TokenRequest
}

func (f *fakeTokens) ServiceAccountToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.calls++
	f.last = req
	if f.fail {
		return nil, errors.New("cloud unreachable")
	}
	out := req.DeepCopy()
	out.Status.Token = ns + "/" + sa + "/" + string(rune('0'+f.calls))
	out.Status.ExpirationTimestamp = metav1.NewTime(time.Unix(1000, 0).Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
	return out, nil
}

func TestTokenCache(t *testing.T) {
	now := time.Unix(1000, 0)
	src := &fakeTokens{}
	c := newTokenCache(src, func() time.Time { return now })
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	proj := &corev1.ServiceAccountTokenProjection{Path: "token"}

	tok, err := c.get(pod, proj)
	if err != nil || tok != "default/default/1" {
		t.Fatalf("first token %q %v", tok, err)
	}
	if ref := src.last.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.Name != "web" || ref.UID != "u1" {
		t.Fatalf("token not bound to the pod: %+v", ref)
	}
	// Cached until 80 % of its life (3607 s).
	now = now.Add(2000 * time.Second)
	if tok, _ := c.get(pod, proj); tok != "default/default/1" || src.calls != 1 {
		t.Fatalf("not cached: %q after %d calls", tok, src.calls)
	}
	// Refreshed after 80 %; while the cloud is away the old one is served until it expires.
	now = now.Add(1000 * time.Second)
	src.fail = true
	if tok, err := c.get(pod, proj); err != nil || tok != "default/default/1" {
		t.Fatalf("offline: %q %v", tok, err)
	}
	now = now.Add(1000 * time.Second)
	if _, err := c.get(pod, proj); err == nil {
		t.Fatal("an expired token was served")
	}
	src.fail = false
	if tok, _ := c.get(pod, proj); tok != "default/default/4" {
		t.Fatalf("refreshed token %q", tok)
	}
	c.forget("u1")
	if len(c.tokens) != 0 {
		t.Fatal("tokens of a removed pod kept")
	}
}
