package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
)

// fakeClock is a manual clock: waiters fire only when the test advances time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
}

type waiter struct {
	d        time.Duration
	deadline time.Time
	ch       chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{d: d, deadline: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- c.now
		return w.ch
	}
	c.waiters = append(c.waiters, w)
	return w.ch
}

// Advance moves time forward and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireDueLocked()
}

func (c *fakeClock) fireDueLocked() {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.deadline.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// Fire waits until someone waits for exactly d, then advances time to that
// waiter's deadline so that it fires.
func (c *fakeClock) Fire(t *testing.T, d time.Duration) {
	t.Helper()
	eventually(t, fmt.Sprintf("a waiter for %s", d), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		// The most recent waiter: older ones for the same duration may have
		// been abandoned, and fire along with it.
		for _, w := range slices.Backward(c.waiters) {
			if w.d == d {
				if w.deadline.After(c.now) {
					c.now = w.deadline
				}
				c.fireDueLocked()
				return true
			}
		}
		return false
	})
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recorder collects events from modules in the order they happen.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// fakeModule runs fn; runs counts calls to Run (1 for the first).
type fakeModule struct {
	name string
	fn   func(ctx context.Context, run int) error

	mu   sync.Mutex
	runs int
}

func (m *fakeModule) Name() string { return m.name }

func (m *fakeModule) Run(ctx context.Context) error {
	m.mu.Lock()
	m.runs++
	n := m.runs
	m.mu.Unlock()
	return m.fn(ctx, n)
}

func (m *fakeModule) Runs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs
}

// readyModule is a fakeModule that is ready when its channel is closed.
type readyModule struct {
	*fakeModule
	ready chan struct{}
}

func (m *readyModule) Ready() <-chan struct{} { return m.ready }

// blocking returns a module body that records start and stop and blocks until
// its context is cancelled.
func blocking(rec *recorder, name string) func(context.Context, int) error {
	return func(ctx context.Context, _ int) error {
		rec.add("start " + name)
		<-ctx.Done()
		rec.add("stop " + name)
		return ctx.Err()
	}
}

const (
	readyTimeout = time.Hour
	stopTimeout  = 2 * time.Hour
)

func newTestHost(t *testing.T, clock Clock, log logr.Logger) *Host {
	return New(Options{
		Logger:       log,
		ReadyTimeout: readyTimeout,
		StopTimeout:  stopTimeout,
		Backoff:      Backoff{Initial: time.Second, Max: 3 * time.Second, Factor: 2, ResetAfter: 10 * time.Second},
		Clock:        clock,
	})
}

// runHost starts h.Run in the background and returns its result channel.
func runHost(ctx context.Context, h *Host) <-chan error {
	res := make(chan error, 1)
	go func() { res <- h.Run(ctx) }()
	return res
}

func waitResult(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func states(h *Host) map[string]State {
	m := map[string]State{}
	for _, s := range h.Status() {
		m[s.Name] = s.State
	}
	return m
}

func stateIs(h *Host, name string, want State) func() bool {
	return func() bool { return states(h)[name] == want }
}

func TestStartOrderReadinessAndReverseStop(t *testing.T) {
	rec := &recorder{}
	a := &readyModule{&fakeModule{name: "a", fn: blocking(rec, "a")}, make(chan struct{})}
	b := &readyModule{&fakeModule{name: "b", fn: blocking(rec, "b")}, make(chan struct{})}
	c := &fakeModule{name: "c", fn: blocking(rec, "c")}

	h := newTestHost(t, newFakeClock(), testr.New(t))
	if err := h.Add(a, b, c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := runHost(ctx, h)

	eventually(t, "a to start", func() bool { return slices.Contains(rec.get(), "start a") })
	// Run is blocked waiting for a: b and c cannot have been started.
	if got := states(h); got["a"] != StateStarting || got["b"] != StatePending || got["c"] != StatePending {
		t.Fatalf("states before a is ready = %v", got)
	}
	close(a.ready)
	eventually(t, "b to start", func() bool { return slices.Contains(rec.get(), "start b") })
	eventually(t, "a running", stateIs(h, "a", StateRunning))
	if got := states(h)["c"]; got != StatePending {
		t.Fatalf("c = %s before b is ready, want pending", got)
	}
	select {
	case <-h.Ready():
		t.Fatal("host ready before all modules are ready")
	default:
	}
	close(b.ready)
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("host never became ready")
	}
	eventually(t, "c running", stateIs(h, "c", StateRunning))

	cancel()
	if err := waitResult(t, res); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if got := rec.get(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	for _, s := range h.Status() {
		if s.State != StateStopped || s.Restarts != 0 || s.LastError != nil {
			t.Errorf("status %+v, want stopped without restarts or error", s)
		}
	}
}

func TestRestartWithBackoff(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fail    func() error
		wantErr func(error) bool
	}{
		{
			name:    "error",
			fail:    func() error { return boom },
			wantErr: func(err error) bool { return errors.Is(err, boom) },
		},
		{
			name: "panic",
			fail: func() error { panic("kaboom") },
			wantErr: func(err error) bool {
				var pe *PanicError
				return errors.As(err, &pe) && pe.Value == "kaboom" && len(pe.Stack) > 0
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			m := &fakeModule{name: "flaky", fn: func(ctx context.Context, run int) error {
				if run <= 4 {
					return tt.fail()
				}
				<-ctx.Done()
				return nil
			}}
			h := newTestHost(t, clock, testr.New(t))
			if err := h.Add(m); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := runHost(ctx, h)

			// 1s, 2s, then capped at 3s.
			for i, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
				eventually(t, fmt.Sprintf("failure %d", i+1), func() bool { return m.Runs() == i+1 })
				eventually(t, "backoff state", stateIs(h, "flaky", StateBackoff))
				clock.Fire(t, d)
			}
			eventually(t, "flaky running", func() bool { return m.Runs() == 5 && states(h)["flaky"] == StateRunning })
			st := h.Status()[0]
			if st.Restarts != 4 || !tt.wantErr(st.LastError) {
				t.Errorf("status = %+v, want 4 restarts and the failure as last error", st)
			}
			cancel()
			if err := waitResult(t, res); err != nil {
				t.Fatalf("Run = %v", err)
			}
		})
	}
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	clock := newFakeClock()
	fail := make(chan struct{})
	m := &fakeModule{name: "m", fn: func(ctx context.Context, run int) error {
		switch run {
		case 1:
			return errors.New("early failure")
		case 2:
			<-fail
			return errors.New("late failure")
		}
		<-ctx.Done()
		return nil
	}}
	h := newTestHost(t, clock, testr.New(t))
	if err := h.Add(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := runHost(ctx, h)

	clock.Fire(t, time.Second)
	eventually(t, "second run", func() bool { return m.Runs() == 2 })
	clock.Advance(11 * time.Second) // longer than ResetAfter
	close(fail)
	// Without the reset the delay would be 2s.
	clock.Fire(t, time.Second)
	eventually(t, "third run", func() bool { return m.Runs() == 3 })
	cancel()
	if err := waitResult(t, res); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestFinishedModuleIsNotRestarted(t *testing.T) {
	rec := &recorder{}
	oneshot := &fakeModule{name: "oneshot", fn: func(context.Context, int) error { rec.add("oneshot"); return nil }}
	// A Readier that finishes without becoming ready must not block start-up.
	setup := &readyModule{&fakeModule{name: "init", fn: func(context.Context, int) error { return nil }}, make(chan struct{})}
	server := &fakeModule{name: "server", fn: blocking(rec, "server")}

	h := newTestHost(t, newFakeClock(), testr.New(t))
	if err := h.Add(oneshot, setup, server); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := runHost(ctx, h)
	<-h.Ready()
	eventually(t, "oneshot finished", stateIs(h, "oneshot", StateFinished))
	eventually(t, "init finished", stateIs(h, "init", StateFinished))
	eventually(t, "server running", stateIs(h, "server", StateRunning))
	if oneshot.Runs() != 1 || setup.Runs() != 1 {
		t.Errorf("runs = %d, %d; want 1, 1", oneshot.Runs(), setup.Runs())
	}
	cancel()
	if err := waitResult(t, res); err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := map[string]State{"oneshot": StateFinished, "init": StateFinished, "server": StateStopped}
	if got := states(h); !mapsEqual(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]State) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRunReturnsWhenAllModulesFinish(t *testing.T) {
	h := newTestHost(t, newFakeClock(), testr.New(t))
	for _, n := range []string{"x", "y"} {
		if err := h.Add(&fakeModule{name: n, fn: func(context.Context, int) error { return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitResult(t, runHost(context.Background(), h)); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestReadyTimeout(t *testing.T) {
	rec := &recorder{}
	clock := newFakeClock()
	a := &fakeModule{name: "a", fn: blocking(rec, "a")}
	slow := &readyModule{&fakeModule{name: "slow", fn: func(ctx context.Context, run int) error {
		if run == 1 {
			return errors.New("cannot bind")
		}
		return blocking(rec, "slow")(ctx, run)
	}}, make(chan struct{})}
	c := &fakeModule{name: "c", fn: blocking(rec, "c")}

	h := newTestHost(t, clock, testr.New(t))
	if err := h.Add(a, slow, c); err != nil {
		t.Fatal(err)
	}
	res := runHost(context.Background(), h)
	clock.Fire(t, time.Second) // restart after "cannot bind"
	eventually(t, "slow restarted", func() bool { return slices.Contains(rec.get(), "start slow") })
	clock.Fire(t, readyTimeout)

	err := waitResult(t, res)
	if err == nil || !strings.Contains(err.Error(), `module "slow" not ready after 1h0m0s`) ||
		!strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf("Run = %v, want a ready timeout naming slow and its last error", err)
	}
	want := []string{"start a", "start slow", "stop slow", "stop a"}
	if got := rec.get(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if got := states(h)["c"]; got != StatePending {
		t.Errorf("c = %s, want pending", got)
	}
}

func TestStopTimeout(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	stuck := &fakeModule{name: "stuck", fn: func(context.Context, int) error { <-release; return nil }}
	ok := &fakeModule{name: "ok", fn: func(ctx context.Context, _ int) error { <-ctx.Done(); return nil }}
	// The stuck module returns after the test: do not log to t.
	h := newTestHost(t, clock, logr.Discard())
	if err := h.Add(ok, stuck); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := runHost(ctx, h)
	<-h.Ready()
	cancel()
	clock.Fire(t, stopTimeout)
	err := waitResult(t, res)
	close(release)
	if err == nil || !strings.Contains(err.Error(), `module "stuck" did not stop within 2h0m0s`) {
		t.Fatalf("Run = %v, want stop timeout naming stuck", err)
	}
	if got := states(h)["ok"]; got != StateStopped {
		t.Errorf("ok = %s, want stopped", got)
	}
}

func TestCancelDuringStartup(t *testing.T) {
	rec := &recorder{}
	never := &readyModule{&fakeModule{name: "never", fn: blocking(rec, "never")}, make(chan struct{})}
	next := &fakeModule{name: "next", fn: blocking(rec, "next")}
	h := newTestHost(t, newFakeClock(), testr.New(t))
	if err := h.Add(never, next); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := runHost(ctx, h)
	eventually(t, "never started", func() bool { return slices.Contains(rec.get(), "start never") })
	cancel()
	if err := waitResult(t, res); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := states(h); got["never"] != StateStopped || got["next"] != StatePending {
		t.Errorf("states = %v, want never stopped and next never started", got)
	}
	select {
	case <-h.Ready():
		t.Error("host ready after an aborted start-up")
	default:
	}
}

func TestAddErrors(t *testing.T) {
	h := newTestHost(t, newFakeClock(), testr.New(t))
	m := &fakeModule{name: "m", fn: func(context.Context, int) error { return nil }}
	if err := h.Add(m); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(&fakeModule{name: "m"}); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("duplicate Add = %v, want ErrDuplicateName", err)
	}
	if err := h.Add(&fakeModule{}); err == nil {
		t.Error("Add with empty name succeeded")
	}
	if err := h.Add(nil); err == nil {
		t.Error("Add(nil) succeeded")
	}
	if err := h.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(&fakeModule{name: "late"}); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("Add after Run = %v, want ErrAlreadyRunning", err)
	}
	if err := h.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
}

func TestRealClockDefaults(t *testing.T) {
	// Short real durations: the module fails once, is restarted, then stops.
	h := New(Options{Logger: testr.New(t), Backoff: Backoff{Initial: time.Millisecond}})
	m := &fakeModule{name: "m", fn: func(ctx context.Context, run int) error {
		if run == 1 {
			return errors.New("first run fails")
		}
		return nil
	}}
	if err := h.Add(m); err != nil {
		t.Fatal(err)
	}
	if err := waitResult(t, runHost(context.Background(), h)); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if st := h.Status()[0]; st.State != StateFinished || st.Restarts != 1 {
		t.Errorf("status = %+v, want finished after 1 restart", st)
	}
}
