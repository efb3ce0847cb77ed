package edged

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TokenSource issues a bound service account token (the cloud does it for
// us: upstream's `query <ns>/serviceaccounttoken/<sa>`).
type TokenSource interface {
	ServiceAccountToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// tokenCache keeps each projected token until 80 % of its life has passed,
// as kubelet does, so a sync every few seconds does not ask the cloud each
// time, and a token keeps being served while the cloud is unreachable.
type tokenCache struct {
	src TokenSource
	now func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token     string
	issued    time.Time
	expires   time.Time
	refreshAt time.Time
}

func newTokenCache(src TokenSource, now func() time.Time) *tokenCache {
	if src == nil {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &tokenCache{src: src, now: now, tokens: map[string]cachedToken{}}
}

// tokenFile is the file of a projected serviceAccountToken source.
func (e *Edged) tokenFile(pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, def *int32) (map[string]volumeFile, error) {
	tok, err := e.tokens.get(pod, p)
	if err != nil {
		return nil, err
	}
	mode := fileMode(nil, def)
	return map[string]volumeFile{p.Path: {data: []byte(tok), mode: mode}}, nil
}

func (c *tokenCache) get(pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := fmt.Sprintf("%s/%s/%s/%d", pod.UID, p.Path, p.Audience, ptr.Deref(p.ExpirationSeconds, 0))
	now := c.now()
	c.mu.Lock()
	cached, ok := c.tokens[key]
	c.mu.Unlock()
	if ok && now.Before(cached.refreshAt) {
		return cached.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(ptr.Deref(p.ExpirationSeconds, 3607)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.src.ServiceAccountToken(ctx, pod.Namespace, sa, req)
	if err != nil || out == nil || out.Status.Token == "" {
		if ok && now.Before(cached.expires) {
			return cached.token, nil // offline: the old token is still valid
		}
		if err == nil {
			err = fmt.Errorf("empty token")
		}
		return "", fmt.Errorf("service account token for %s/%s: %w", pod.Namespace, sa, err)
	}
	expires := out.Status.ExpirationTimestamp.Time
	if out.Status.ExpirationTimestamp.IsZero() {
		expires = now.Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second)
	}
	t := cachedToken{token: out.Status.Token, issued: now, expires: expires,
		refreshAt: now.Add(time.Duration(float64(expires.Sub(now)) * 0.8))}
	c.mu.Lock()
	c.tokens[key] = t
	c.mu.Unlock()
	return t.token, nil
}

// forget drops the tokens of a pod that is gone.
func (c *tokenCache) forget(uid string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.tokens {
		if len(k) > len(uid) && k[:len(uid)+1] == uid+"/" {
			delete(c.tokens, k)
		}
	}
}
