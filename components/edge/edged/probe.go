package edged

// Container probes (liveness, readiness, startup) evaluated from the sync
// loop: each sync launches the probes that are due, each in its own
// goroutine; a probe whose verdict changes asks for a sync (Trigger), which
// reports readiness in the status and stops containers whose liveness or
// startup probe failed, so that the normal restart path restarts them.
//
// Probe state is kept per (pod, container, probe type) and belongs to one
// container ID: a restarted container starts over.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

// probeType is which of a container's probes.
type probeType int

const (
	probeLiveness probeType = iota
	probeReadiness
	probeStartup
)

func (t probeType) String() string {
	switch t {
	case probeLiveness:
		return "liveness"
	case probeReadiness:
		return "readiness"
	default:
		return "startup"
	}
}

// ProbeTarget is what one probe run checks.
type ProbeTarget struct {
	Pod         *corev1.Pod
	Container   *corev1.Container
	ContainerID string
	// PodIP is the default host of httpGet and tcpSocket probes.
	PodIP string
}

// Prober runs a probe once. It returns whether the probe succeeded and,
// when it did not, why.
type Prober interface {
	Probe(ctx context.Context, t ProbeTarget, p *corev1.Probe) (ok bool, msg string)
}

// NewProber returns the Prober Edged uses by default: exec through the
// CRI's ExecSync, httpGet and tcpSocket from the node.
func NewProber(rs runtime.RuntimeService) Prober {
	return &netProber{rs: rs, second: time.Second, transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as kubelet: probes do not verify certificates
		DisableKeepAlives: true,
		Proxy:             http.ProxyURL(nil),
	}}
}

type netProber struct {
	rs runtime.RuntimeService
	// second is the length of one timeoutSeconds (tests shorten it).
	second    time.Duration
	transport *http.Transport
}

// probeUserAgent is sent unless the probe sets User-Agent.
const probeUserAgent = "kube-probe/1.30"

// maxProbeBody is how much of an HTTP body is read for the message.
const maxProbeBody = 10 << 10

func (p *netProber) Probe(ctx context.Context, t ProbeTarget, pr *corev1.Probe) (bool, string) {
	secs := pr.TimeoutSeconds
	if secs <= 0 {
		secs = 1
	}
	timeout := time.Duration(secs) * p.second
	switch h := pr.ProbeHandler; {
	case h.Exec != nil:
		return p.exec(ctx, t, h.Exec.Command, int64(secs), timeout)
	case h.HTTPGet != nil:
		return p.http(ctx, t, h.HTTPGet, timeout)
	case h.TCPSocket != nil:
		return p.tcp(ctx, t, h.TCPSocket, timeout)
	case h.GRPC != nil:
		// Not supported: never fail a container for it.
		return true, "grpc probes are not supported by edged"
	default:
		return false, "probe has no handler"
	}
}

func (p *netProber) exec(ctx context.Context, t ProbeTarget, cmd []string, secs int64, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		resp *runtimeapi.ExecSyncResponse
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := p.rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: t.ContainerID, Cmd: cmd, Timeout: secs})
		ch <- result{resp, err}
	}()
	var r result
	select {
	case <-ctx.Done():
		r.err = ctx.Err()
	case r = <-ch:
	}
	if r.err != nil {
		if errors.Is(r.err, context.DeadlineExceeded) || status.Code(r.err) == codes.DeadlineExceeded {
			return false, fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))
		}
		return false, fmt.Sprintf("exec %q: %v", strings.Join(cmd, " "), r.err)
	}
	if r.resp.ExitCode != 0 {
		out := strings.TrimSpace(string(r.resp.Stdout) + string(r.resp.Stderr))
		if out == "" {
			out = fmt.Sprintf("command %q exited with %d", strings.Join(cmd, " "), r.resp.ExitCode)
		}
		return false, out
	}
	return true, ""
}

// probePort resolves a probe's port: a number, or the name of one of the
// container's ports.
func probePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	n := 0
	if port.Type == intstr.Int {
		n = int(port.IntVal)
	} else {
		found := false
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				n, found = int(cp.ContainerPort), true
				break
			}
		}
		if !found {
			v, err := strconv.Atoi(port.StrVal)
			if err != nil {
				return 0, fmt.Errorf("port %q not found in container %s", port.StrVal, c.Name)
			}
			n = v
		}
	}
	if n <= 0 || n > 65535 {
		return 0, fmt.Errorf("invalid port %d", n)
	}
	return n, nil
}

func (p *netProber) http(ctx context.Context, t ProbeTarget, g *corev1.HTTPGetAction, timeout time.Duration) (bool, string) {
	port, err := probePort(g.Port, t.Container)
	if err != nil {
		return false, err.Error()
	}
	host := g.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path)
	if err != nil {
		return false, fmt.Sprintf("probe URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", probeUserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}
	client := &http.Client{Transport: p.transport, Timeout: timeout, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if r.URL.Hostname() != via[0].URL.Hostname() {
			return http.ErrUseLastResponse // another host: the redirect itself counts
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("Get %q: %v", u.String(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

func (p *netProber) tcp(ctx context.Context, t ProbeTarget, s *corev1.TCPSocketAction, timeout time.Duration) (bool, string) {
	port, err := probePort(s.Port, t.Container)
	if err != nil {
		return false, err.Error()
	}
	host := s.Host
	if host == "" {
		host = t.PodIP
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), err)
	}
	_ = conn.Close()
	return true, ""
}

// Probe defaults, as the API server sets them.
const (
	defaultProbePeriod    = 10
	defaultProbeFailures  = 3
	defaultProbeSuccesses = 1
)

type probeResult int

const (
	resultUnknown probeResult = iota
	resultSuccess
	resultFailure
)

type probeKey struct {
	uid       types.UID
	container string
	typ       probeType
}

// probeWorker is the state of one probe of one container.
type probeWorker struct {
	containerID string
	startedAt   time.Time
	lastRun     time.Time // when the last probe was launched
	inflight    bool
	successes   int
	failures    int
	result      probeResult
	msg         string
	killed      bool // the container was stopped for this probe
}

// probeManager holds every probe's state. Probe goroutines record results
// under mu.
type probeManager struct {
	mu      sync.Mutex
	workers map[probeKey]*probeWorker
	wg      sync.WaitGroup
}

func newProbeManager() *probeManager {
	return &probeManager{workers: map[probeKey]*probeWorker{}}
}

func containerProbes(c *corev1.Container) map[probeType]*corev1.Probe {
	out := map[probeType]*corev1.Probe{}
	if c.LivenessProbe != nil {
		out[probeLiveness] = c.LivenessProbe
	}
	if c.ReadinessProbe != nil {
		out[probeReadiness] = c.ReadinessProbe
	}
	if c.StartupProbe != nil {
		out[probeStartup] = c.StartupProbe
	}
	return out
}

func initialResult(t probeType) probeResult {
	switch t {
	case probeLiveness:
		return resultSuccess
	case probeReadiness:
		return resultFailure
	default:
		return resultUnknown
	}
}

func probePeriod(p *corev1.Probe) time.Duration {
	s := p.PeriodSeconds
	if s <= 0 {
		s = defaultProbePeriod
	}
	return time.Duration(s) * time.Second
}

// resultLocked is the verdict of a probe for container id (ok is false when
// it has no state for that container).
func (m *probeManager) resultLocked(k probeKey, id string) (probeResult, bool) {
	w := m.workers[k]
	if w == nil || w.containerID != id {
		return resultUnknown, false
	}
	return w.result, true
}

// startedAndReady reports a running container's started and ready fields:
// started once its startup probe succeeded (at once without one), ready
// once started and its readiness probe succeeded (at once without one).
func (m *probeManager) startedAndReady(uid types.UID, c *corev1.Container, id string) (started, ready bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	started = true
	if c.StartupProbe != nil {
		r, _ := m.resultLocked(probeKey{uid, c.Name, probeStartup}, id)
		started = r == resultSuccess
	}
	ready = started
	if ready && c.ReadinessProbe != nil {
		r, _ := m.resultLocked(probeKey{uid, c.Name, probeReadiness}, id)
		ready = r == resultSuccess
	}
	return started, ready
}

// killVerdict reports whether container id must be stopped because its
// startup or liveness probe failed, and marks it so that it is asked once.
func (m *probeManager) killVerdict(uid types.UID, name, id string) (probeType, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range []probeType{probeStartup, probeLiveness} {
		w := m.workers[probeKey{uid, name, t}]
		if w != nil && w.containerID == id && w.result == resultFailure && !w.killed {
			w.killed = true
			return t, w.msg, true
		}
	}
	return 0, "", false
}

// unkill undoes killVerdict after the container could not be stopped.
func (m *probeManager) unkill(uid types.UID, name, id string, t probeType) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.workers[probeKey{uid, name, t}]; w != nil && w.containerID == id {
		w.killed = false
	}
}

// drop forgets the probes of a pod (keep nil), or those of its probes keep
// returns false for.
func (m *probeManager) drop(uid types.UID, keep func(probeKey) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.workers {
		if k.uid == uid && (keep == nil || !keep(k)) {
			delete(m.workers, k)
		}
	}
}

// forget drops the probes of pods keep returns false for.
func (m *probeManager) forget(keep func(uid string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.workers {
		if !keep(string(k.uid)) {
			delete(m.workers, k)
		}
	}
}

// record applies one probe run's outcome and reports whether the verdict
// changed.
func (m *probeManager) record(k probeKey, id string, p *corev1.Probe, ok bool, msg string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[k]
	if w == nil || w.containerID != id {
		return false
	}
	w.inflight = false
	before := w.result
	if ok {
		w.failures, w.msg = 0, ""
		w.successes++
		need := int(p.SuccessThreshold)
		if need <= 0 || k.typ != probeReadiness {
			need = defaultProbeSuccesses
		}
		if w.successes >= need {
			w.result = resultSuccess
		}
	} else {
		w.successes, w.msg = 0, msg
		w.failures++
		need := int(p.FailureThreshold)
		if need <= 0 {
			need = defaultProbeFailures
		}
		if w.failures >= need {
			w.result = resultFailure
		}
	}
	return w.result != before
}

// runProbes launches the due probes of the pod's running app containers
// (and waits for them when e.waitProbes is set). It lowers e.nextProbe to
// when a probe of the pod is due next.
func (e *Edged) runProbes(ctx context.Context, pod *corev1.Pod) {
	uid := pod.UID
	rp, err := e.rt.PodStatus(ctx, string(uid))
	if err != nil {
		return
	}
	sb := rp.Sandbox()
	if sb == nil || sb.State != runtime.SandboxReady {
		e.probes.drop(uid, nil)
		return
	}
	ip := sb.IP
	if pod.Spec.HostNetwork {
		ip = e.cfg.NodeIP
	}
	now := e.cfg.Now()
	active := map[probeKey]bool{}
	m := e.probes
	m.mu.Lock()
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var cur *runtime.ContainerStatus
		for _, rc := range rp.Containers {
			if rc.Name == c.Name && rc.SandboxID == sb.ID {
				cur = rc
				break
			}
		}
		if cur == nil || cur.State != runtime.ContainerRunning {
			continue
		}
		probes := containerProbes(c)
		// Create the state of every probe first: the gate below reads the
		// startup probe's.
		for t := range probes {
			k := probeKey{uid, c.Name, t}
			active[k] = true
			if w := m.workers[k]; w == nil || w.containerID != cur.ID {
				m.workers[k] = &probeWorker{containerID: cur.ID, startedAt: cur.StartedAt, result: initialResult(t)}
			}
		}
		startupDone := true
		if _, ok := probes[probeStartup]; ok {
			r, _ := m.resultLocked(probeKey{uid, c.Name, probeStartup}, cur.ID)
			startupDone = r == resultSuccess
		}
		for t, p := range probes {
			k := probeKey{uid, c.Name, t}
			w := m.workers[k]
			switch {
			case w.killed:
				continue
			case t == probeStartup && w.result == resultSuccess:
				continue // done for this container
			case t != probeStartup && !startupDone:
				continue // gated: the startup probe's success triggers a sync
			}
			due := w.startedAt.Add(time.Duration(p.InitialDelaySeconds) * time.Second)
			if !w.lastRun.IsZero() {
				due = w.lastRun.Add(probePeriod(p))
			}
			if w.inflight || now.Before(due) {
				e.noteProbeDue(due)
				continue
			}
			w.lastRun, w.inflight = now, true
			e.noteProbeDue(now.Add(probePeriod(p)))
			target := ProbeTarget{Pod: pod, Container: c, ContainerID: cur.ID, PodIP: ip}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				ok, msg := e.prober.Probe(ctx, target, p)
				if ctx.Err() != nil {
					m.mu.Lock()
					if w := m.workers[k]; w != nil && w.containerID == target.ContainerID {
						w.inflight = false
					}
					m.mu.Unlock()
					return
				}
				if !ok {
					e.log.V(1).Info("probe failed", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "probe", t.String(), "msg", msg)
				}
				if m.record(k, target.ContainerID, p, ok, msg) {
					e.Trigger()
				}
			}()
		}
	}
	m.mu.Unlock()
	m.drop(uid, func(k probeKey) bool { return active[k] })
	if e.waitProbes {
		m.wg.Wait()
	}
}

func (e *Edged) noteProbeDue(t time.Time) {
	if e.nextProbe.IsZero() || t.Before(e.nextProbe) {
		e.nextProbe = t
	}
}

// killFailedProbes stops the running app containers whose startup or
// liveness probe failed, with the probe's or the pod's grace period. It
// reports whether it stopped any.
func (e *Edged) killFailedProbes(ctx context.Context, pod *corev1.Pod, rp *runtime.PodRuntimeStatus, sandboxID string) (bool, error) {
	killed := false
	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, rc := range rp.Containers {
			if rc.Name != c.Name || rc.SandboxID != sandboxID {
				continue
			}
			if rc.State == runtime.ContainerRunning {
				t, msg, ok := e.probes.killVerdict(pod.UID, c.Name, rc.ID)
				if !ok {
					break
				}
				grace := gracePeriod(pod, rp)
				if p := containerProbes(c)[t]; p != nil && p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds >= 0 {
					grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
				}
				text := fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, t)
				e.log.Info(text, "pod", pod.Namespace+"/"+pod.Name, "probe", msg)
				if err := e.rt.StopContainer(ctx, rc.ID, grace); err != nil {
					e.probes.unkill(pod.UID, c.Name, rc.ID, t) // retried on the next sync
					errs = append(errs, err)
					break
				}
				if e.killMsgs[string(pod.UID)] == nil {
					e.killMsgs[string(pod.UID)] = map[string]string{}
				}
				e.killMsgs[string(pod.UID)][rc.ID] = text
				killed = true
			}
			break // only the newest attempt
		}
	}
	return killed, errors.Join(errs...)
}
