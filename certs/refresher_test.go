package certs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/certs/certstest"
)

var _ Clock = (*certstest.FakeClock)(nil)
var _ Clock = RealClock{}

// flakyStore fails its first failFirst saves, then records tokens on saved.
type flakyStore struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	saved     chan string
}

func newFlakyStore(failFirst int) *flakyStore {
	return &flakyStore{failFirst: failFirst, saved: make(chan string, 100)}
}

func (s *flakyStore) SaveToken(_ context.Context, token string) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if n <= s.failFirst {
		return fmt.Errorf("apiserver unavailable (attempt %d)", n)
	}
	s.saved <- token
	return nil
}

// logSink collects log lines as text.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) log(msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(append([]any{msg}, kv...)...))
}

func (l *logSink) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	clock  *certstest.FakeClock
	store  *flakyStore
	ca     *CA
	done   chan error
	cancel context.CancelFunc
}

func startRefresher(t *testing.T, r *TokenRefresher, store *flakyStore) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h := &harness{t: t, ctx: ctx, clock: r.Clock.(*certstest.FakeClock), store: store, ca: r.CA, done: make(chan error, 1), cancel: cancel}
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

// waitThenAdvance waits until Run sleeps, checks it sleeps for want, and wakes it.
func (h *harness) waitThenAdvance(want time.Duration) {
	h.t.Helper()
	if err := h.clock.BlockUntil(h.ctx, 1); err != nil {
		h.t.Fatalf("refresher never waited: %v", err)
	}
	w := h.clock.Waiters()
	if got := w[0].Sub(h.clock.Now()); got != want {
		h.t.Fatalf("refresher waits %v, want %v", got, want)
	}
	h.clock.Advance(want)
}

// expectToken waits for a saved token and checks it verifies and expires at wantExp.
func (h *harness) expectToken(wantExp time.Time) string {
	h.t.Helper()
	select {
	case tok := <-h.store.saved:
		pt, err := ParseToken(tok)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := VerifyToken(h.ca, pt.JWT, wantExp.Add(-time.Second)); err != nil {
			h.t.Fatalf("saved token does not verify just before %v: %v", wantExp, err)
		}
		if err := VerifyToken(h.ca, pt.JWT, wantExp.Add(time.Second)); !errors.Is(err, ErrTokenExpired) {
			h.t.Fatalf("saved token still valid after %v: %v", wantExp, err)
		}
		if exp := decodePart(h.t, strings.Split(pt.JWT, ".")[1])["exp"]; exp != float64(wantExp.Unix()) {
			h.t.Fatalf("exp = %v, want %d", exp, wantExp.Unix())
		}
		return tok
	case <-h.ctx.Done():
		h.t.Fatal("no token saved")
		return ""
	}
}

func TestTokenRefresherRecovers(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
		backoffs  []time.Duration
	}{
		{name: "no failures", failFirst: 0},
		{name: "three failures", failFirst: 3, backoffs: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "capped backoff", failFirst: 6, backoffs: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := certstest.NewFakeClock(t0)
			store := newFlakyStore(tt.failFirst)
			logs := &logSink{}
			r := &TokenRefresher{
				Store: store, CA: mustCA(t), Clock: clock,
				Interval: time.Hour, TTL: 3 * time.Hour,
				RetryMin: time.Second, RetryMax: 5 * time.Second,
				Logger: logs.log,
			}
			h := startRefresher(t, r, store)
			now := t0
			for _, b := range tt.backoffs {
				h.waitThenAdvance(b)
				now = now.Add(b)
			}
			var tokens []string
			tokens = append(tokens, h.expectToken(now.Add(3*time.Hour)))
			// Later ticks keep refreshing at Interval, with the backoff reset.
			for range 3 {
				h.waitThenAdvance(time.Hour)
				now = now.Add(time.Hour)
				tokens = append(tokens, h.expectToken(now.Add(3*time.Hour)))
			}
			text := logs.text()
			for _, tok := range tokens {
				if strings.Contains(text, tok) || strings.Contains(text, strings.SplitN(tok, ".", 2)[1]) {
					t.Fatal("token logged")
				}
			}
			if tt.failFirst > 0 && (!strings.Contains(text, "refresh failed") || !strings.Contains(text, "recovered")) {
				t.Errorf("logs lack failure/recovery:\n%s", text)
			}
		})
	}
}

func TestTokenRefresherDefaults(t *testing.T) {
	clock := certstest.NewFakeClock(t0)
	store := newFlakyStore(1)
	r := &TokenRefresher{Store: store, CA: mustCA(t), Clock: clock}
	h := startRefresher(t, r, store)
	h.waitThenAdvance(time.Second) // default RetryMin
	h.expectToken(t0.Add(time.Second + 24*time.Hour))
	h.waitThenAdvance(12 * time.Hour) // default Interval
	h.expectToken(t0.Add(time.Second + 36*time.Hour))
}

func TestTokenRefresherBackoffBoundedByInterval(t *testing.T) {
	clock := certstest.NewFakeClock(t0)
	store := newFlakyStore(3)
	r := &TokenRefresher{Store: store, CA: mustCA(t), Clock: clock, Interval: 3 * time.Second, RetryMin: 2 * time.Second, RetryMax: time.Minute}
	h := startRefresher(t, r, store)
	h.waitThenAdvance(2 * time.Second)
	h.waitThenAdvance(3 * time.Second) // 4s backoff capped at the interval
	h.waitThenAdvance(3 * time.Second)
	h.expectToken(t0.Add(8*time.Second + 6*time.Second))
}

func TestTokenRefresherStops(t *testing.T) {
	clock := certstest.NewFakeClock(t0)
	store := newFlakyStore(1 << 30) // never succeeds
	r := &TokenRefresher{Store: store, CA: mustCA(t), Clock: clock}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestTokenRefresherMisconfigured(t *testing.T) {
	tests := []struct {
		name string
		r    TokenRefresher
	}{
		{"no store", TokenRefresher{CA: mustCA(t)}},
		{"no CA", TokenRefresher{Store: newFlakyStore(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Run(context.Background()); err == nil {
				t.Fatal("want error")
			}
		})
	}
}
