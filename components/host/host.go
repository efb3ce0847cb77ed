// Package host runs the modules of a daemon (cloudcore, edgecore).
//
// A Host starts modules one after the other in the order they were added and
// waits for each to become ready before starting the next. A module that fails
// (returns an error or panics) is restarted with exponential backoff; a module
// that returns nil is finished and stays stopped. When the context given to
// Run is cancelled, the modules are stopped in reverse order.
//
// The host never exits the process: every failure is reported through the
// logger, Status or the error returned by Run.
package host

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// Module is one component of a daemon.
//
// Run blocks until ctx is cancelled (return nil or ctx.Err()) or the module
// fails (return an error: the host restarts it) or has nothing left to do
// (return nil: the host considers it finished and does not restart it).
type Module interface {
	Name() string
	Run(ctx context.Context) error
}

// Readier is implemented by modules that need time to become ready after they
// are started. The host calls Ready after it has started Run (and again after
// every restart); the module is ready when the returned channel is closed. A
// module that does not implement Readier, or returns a nil channel, is ready as
// soon as it has been started. Ready must be safe for concurrent use with Run.
type Readier interface {
	Ready() <-chan struct{}
}

// Clock is the source of time of a Host. Tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Backoff controls how failed modules are restarted. The first restart waits
// Initial, each following one Factor times longer, never more than Max. Once a
// module has run for ResetAfter without failing, the delay starts again at
// Initial.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Factor     float64
	ResetAfter time.Duration
}

// Defaults used for zero fields of Options.
const (
	DefaultReadyTimeout   = 2 * time.Minute
	DefaultStopTimeout    = 30 * time.Second
	DefaultBackoffInitial = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultBackoffFactor  = 2.0
)

// Options configure a Host. Zero values select the defaults.
type Options struct {
	// Logger receives module failures and state changes. Default: klog.
	Logger logr.Logger
	// ReadyTimeout is how long Run waits for each module to become ready
	// during start-up.
	ReadyTimeout time.Duration
	// StopTimeout is how long Run waits for each module to return once its
	// context has been cancelled.
	StopTimeout time.Duration
	// Backoff controls restarts of failed modules. ResetAfter defaults to
	// twice Max.
	Backoff Backoff
	// Clock defaults to the wall clock.
	Clock Clock
}

func (o Options) withDefaults() Options {
	if o.Logger.GetSink() == nil {
		o.Logger = klog.Background()
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = DefaultBackoffInitial
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = DefaultBackoffMax
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = o.Backoff.Initial
	}
	if o.Backoff.Factor < 1 {
		o.Backoff.Factor = DefaultBackoffFactor
	}
	if o.Backoff.ResetAfter <= 0 {
		o.Backoff.ResetAfter = 2 * o.Backoff.Max
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return o
}

// State is the lifecycle state of a module.
type State string

// Module states reported by Status.
const (
	StatePending  State = "pending"  // not started yet
	StateStarting State = "starting" // Run called, not ready yet
	StateRunning  State = "running"  // ready
	StateBackoff  State = "backoff"  // failed, waiting to be restarted
	StateFinished State = "finished" // returned nil on its own; not restarted
	StateStopping State = "stopping" // context cancelled, waiting for Run to return
	StateStopped  State = "stopped"  // returned after its context was cancelled
)

// ModuleStatus is a snapshot of one module for diagnostics.
type ModuleStatus struct {
	Name     string
	State    State
	Restarts int
	// LastError is the most recent failure, nil if the module never failed.
	LastError error
}

// PanicError is the error a module's Run is converted to when it panics.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Errors returned by Add and Run.
var (
	ErrAlreadyRunning = errors.New("host is already running or has run")
	ErrDuplicateName  = errors.New("duplicate module name")
)

// Host starts, supervises and stops modules. Create it with New.
type Host struct {
	opts Options
	log  logr.Logger

	mu      sync.Mutex
	units   []*unit
	started bool

	ready chan struct{}
}

// unit is the host's bookkeeping for one module. Fields after mu are guarded
// by Host.mu.
type unit struct {
	mod    Module
	name   string
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor returns

	readyOnce sync.Once
	ready     chan struct{} // closed on first readiness (or finish)

	state    State
	restarts int
	lastErr  error
}

// New returns a Host configured by opts.
func New(opts Options) *Host {
	opts = opts.withDefaults()
	return &Host{
		opts:  opts,
		log:   opts.Logger.WithName("host"),
		ready: make(chan struct{}),
	}
}

// Add appends modules; they are started in the order added. It fails for a
// nil module, an empty or duplicate name, or once Run has been called.
func (h *Host) Add(mods ...Module) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return ErrAlreadyRunning
	}
	for _, m := range mods {
		if m == nil {
			return errors.New("add module: nil module")
		}
		name := m.Name()
		if name == "" {
			return fmt.Errorf("add module %T: empty name", m)
		}
		for _, u := range h.units {
			if u.name == name {
				return fmt.Errorf("add module %q: %w", name, ErrDuplicateName)
			}
		}
		h.units = append(h.units, &unit{
			mod:   m,
			name:  name,
			done:  make(chan struct{}),
			ready: make(chan struct{}),
			state: StatePending,
		})
	}
	return nil
}

// Ready returns a channel that is closed once every module has become ready
// (or finished) during start-up.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Status returns a snapshot of every module in declared order.
func (h *Host) Status() []ModuleStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ModuleStatus, len(h.units))
	for i, u := range h.units {
		out[i] = ModuleStatus{Name: u.name, State: u.state, Restarts: u.restarts, LastError: u.lastErr}
	}
	return out
}

// Run starts the modules and supervises them until ctx is cancelled, then
// stops them in reverse order. It returns nil after a clean stop, also when
// ctx is cancelled during start-up. It returns an error when a module does
// not become ready within the ready timeout (after stopping the modules
// already started) or when modules do not return within the stop timeout.
// If every module finishes on its own, Run returns nil. Run can be called
// only once.
func (h *Host) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.started {
		h.mu.Unlock()
		return ErrAlreadyRunning
	}
	h.started = true
	units := h.units
	h.mu.Unlock()

	var started []*unit
	for _, u := range units {
		// Each module gets its own context so that modules can be stopped
		// one by one; values of ctx are kept.
		uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		u.cancel = cancel
		started = append(started, u)
		go h.supervise(uctx, u)

		if err := h.waitReady(ctx, u); err != nil {
			return errors.Join(err, h.stop(started))
		}
		if ctx.Err() != nil {
			return h.stop(started)
		}
	}
	close(h.ready)
	h.log.V(1).Info("All modules ready", "count", len(units))

	allDone := make(chan struct{})
	go func() {
		for _, u := range units {
			<-u.done
		}
		close(allDone)
	}()
	select {
	case <-ctx.Done():
	case <-allDone:
		h.log.V(1).Info("All modules finished")
	}
	return h.stop(started)
}

// waitReady blocks until u is ready, ctx is cancelled (nil: a clean stop
// follows) or the ready timeout expires.
func (h *Host) waitReady(ctx context.Context, u *unit) error {
	select {
	case <-u.ready:
		return nil
	default:
	}
	timeout := h.opts.Clock.After(h.opts.ReadyTimeout)
	select {
	case <-u.ready:
		return nil
	case <-ctx.Done():
		return nil
	case <-timeout:
		h.mu.Lock()
		last := u.lastErr
		h.mu.Unlock()
		if last != nil {
			return fmt.Errorf("module %q not ready after %s: last error: %w", u.name, h.opts.ReadyTimeout, last)
		}
		return fmt.Errorf("module %q not ready after %s", u.name, h.opts.ReadyTimeout)
	}
}

// stop cancels the units in reverse order, waiting up to the stop timeout for
// each, and returns an error naming the units that did not return in time.
func (h *Host) stop(units []*unit) error {
	var errs []error
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		select {
		case <-u.done:
			continue
		default:
		}
		h.mu.Lock()
		if u.state != StateFinished && u.state != StateStopped {
			u.state = StateStopping
		}
		h.mu.Unlock()
		u.cancel()
		select {
		case <-u.done:
			h.mu.Lock()
			if u.state == StateStopping {
				u.state = StateStopped
			}
			h.mu.Unlock()
		case <-h.opts.Clock.After(h.opts.StopTimeout):
			h.log.Error(nil, "Module did not stop in time", "module", u.name, "timeout", h.opts.StopTimeout)
			errs = append(errs, fmt.Errorf("module %q did not stop within %s", u.name, h.opts.StopTimeout))
		}
	}
	return errors.Join(errs...)
}

func (h *Host) setState(u *unit, s State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A unit being stopped only moves on to stopped.
	if u.state == StateStopping && s != StateStopped {
		return
	}
	u.state = s
}

func (u *unit) markReady() { u.readyOnce.Do(func() { close(u.ready) }) }

// supervise runs u until ctx is cancelled or u finishes, restarting it with
// backoff when it fails.
func (h *Host) supervise(ctx context.Context, u *unit) {
	defer close(u.done)
	log := h.log.WithValues("module", u.name)
	clock := h.opts.Clock
	bo := h.opts.Backoff
	delay := bo.Initial

	for {
		h.setState(u, StateStarting)
		log.V(1).Info("Starting module")
		begin := clock.Now()
		exited := make(chan error, 1)
		go func() { exited <- runModule(ctx, u.mod) }()

		var readyCh <-chan struct{}
		if r, ok := u.mod.(Readier); ok {
			readyCh = r.Ready()
		}
		if readyCh == nil {
			h.setState(u, StateRunning)
			u.markReady()
		}

		var err error
	wait:
		for {
			select {
			case <-readyCh:
				readyCh = nil
				h.setState(u, StateRunning)
				u.markReady()
				log.V(1).Info("Module ready")
			case err = <-exited:
				break wait
			}
		}

		if ctx.Err() != nil {
			h.mu.Lock()
			if err != nil && !errors.Is(err, context.Canceled) {
				u.lastErr = err
			}
			u.state = StateStopped
			h.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error(err, "Module returned an error while stopping")
			}
			return
		}
		if err == nil {
			h.setState(u, StateFinished)
			u.markReady()
			log.Info("Module finished")
			return
		}

		if clock.Now().Sub(begin) >= bo.ResetAfter {
			delay = bo.Initial
		}
		h.mu.Lock()
		u.lastErr = err
		u.state = StateBackoff
		h.mu.Unlock()
		var pe *PanicError
		if errors.As(err, &pe) {
			log.Error(err, "Module panicked, restarting", "backoff", delay, "stack", string(pe.Stack))
		} else {
			log.Error(err, "Module failed, restarting", "backoff", delay)
		}

		select {
		case <-ctx.Done():
			h.setState(u, StateStopped)
			return
		case <-clock.After(delay):
		}
		h.mu.Lock()
		u.restarts++
		h.mu.Unlock()
		delay = min(time.Duration(float64(delay)*bo.Factor), bo.Max)
	}
}

// runModule calls m.Run and converts a panic into a *PanicError.
func runModule(ctx context.Context, m Module) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return m.Run(ctx)
}

// Func is a Module made of a name and a run function.
func Func(name string, run func(ctx context.Context) error) Module { return funcModule{name, run} }

type funcModule struct {
	name string
	run  func(ctx context.Context) error
}

func (f funcModule) Name() string                  { return f.name }
func (f funcModule) Run(ctx context.Context) error { return f.run(ctx) }
