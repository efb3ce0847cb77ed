package edged

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fastProber is the default prober with timeoutSeconds of 10ms.
func fastProber(ev *env) *netProber {
	p := NewProber(ev.rt.RuntimeService()).(*netProber)
	p.second = 10 * time.Millisecond
	return p
}

func probeEnv(t *testing.T) *env {
	ev := newEnv(t)
	ev.fake.AddImage("nginx:1.25")
	ev.e.prober = fastProber(ev)
	ev.e.waitProbes = true
	return ev
}

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestHTTPProbe(t *testing.T) {
	var gotHost, gotHeader, gotUA atomic.Value
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		gotHeader.Store(r.Header.Get("X-Probe"))
		gotUA.Store(r.UserAgent())
		switch r.URL.Path {
		case "/slow":
			time.Sleep(60 * time.Millisecond)
		case "/away":
			http.Redirect(w, r, "http://other.invalid/", http.StatusFound)
			return
		}
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			code = 200
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("body"))
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	ev := newEnv(t)
	p := fastProber(ev)
	host, port := hostPort(t, srv.URL)
	_, tlsPort := hostPort(t, tlsSrv.URL)
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	target := ProbeTarget{Container: c, PodIP: host}
	get := func(g corev1.HTTPGetAction) *corev1.Probe {
		secs := int32(50) // 500ms with fastProber
		if g.Path == "/slow" {
			secs = 1 // 10ms
		}
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &g}, TimeoutSeconds: secs}
	}
	for _, tc := range []struct {
		name string
		g    corev1.HTTPGetAction
		ok   bool
	}{
		{"200", corev1.HTTPGetAction{Path: "/200", Port: intstr.FromInt32(int32(port))}, true},
		{"204 by port name", corev1.HTTPGetAction{Path: "204", Port: intstr.FromString("http")}, true},
		{"399", corev1.HTTPGetAction{Path: "/399", Port: intstr.FromInt32(int32(port))}, true},
		{"redirect to another host", corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(int32(port))}, true},
		{"400", corev1.HTTPGetAction{Path: "/400", Port: intstr.FromInt32(int32(port))}, false},
		{"500", corev1.HTTPGetAction{Path: "/500", Port: intstr.FromInt32(int32(port))}, false},
		{"unknown port name", corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("nope")}, false},
		{"timeout", corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, false},
		{"https", corev1.HTTPGetAction{Path: "/200", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS}, true},
		{"explicit host", corev1.HTTPGetAction{Host: host, Path: "/200", Port: intstr.FromInt32(int32(port))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := target
			if tc.g.Host != "" {
				tg.PodIP = "192.0.2.1" // unroutable: the explicit host must be used
			}
			ok, msg := p.Probe(context.Background(), tg, get(tc.g))
			if ok != tc.ok {
				t.Fatalf("ok = %v (%s), want %v", ok, msg, tc.ok)
			}
			if !ok && msg == "" {
				t.Fatal("no failure message")
			}
		})
	}
	g := corev1.HTTPGetAction{Path: "/200", Port: intstr.FromInt32(int32(port)), HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "svc.example"}, {Name: "X-Probe", Value: "yes"}}}
	if ok, msg := p.Probe(context.Background(), target, get(g)); !ok {
		t.Fatal(msg)
	}
	if gotHost.Load() != "svc.example" || gotHeader.Load() != "yes" || !strings.HasPrefix(gotUA.Load().(string), "kube-probe/") {
		t.Fatalf("host %v header %v ua %v", gotHost.Load(), gotHeader.Load(), gotUA.Load())
	}
}

func TestTCPProbe(t *testing.T) {
	ev := newEnv(t)
	p := fastProber(ev)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	_, port := hostPort(t, ln.Addr().String())
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "svc", ContainerPort: int32(port)}}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("svc")}}}
	if ok, msg := p.Probe(context.Background(), ProbeTarget{Container: c, PodIP: "127.0.0.1"}, probe); !ok {
		t.Fatalf("open port: %s", msg)
	}
	_ = ln.Close()
	if ok, _ := p.Probe(context.Background(), ProbeTarget{Container: c, PodIP: "127.0.0.1"}, probe); ok {
		t.Fatal("closed port succeeded")
	}
}

func TestExecProbe(t *testing.T) {
	ev := newEnv(t)
	var mu sync.Mutex
	var gotCmd []string
	ev.fake.ExecFunc = func(id string, cmd []string) ([]byte, []byte, int32) {
		mu.Lock()
		gotCmd = cmd
		mu.Unlock()
		switch cmd[0] {
		case "fail":
			return []byte("not healthy\n"), nil, 1
		case "hang":
			time.Sleep(60 * time.Millisecond)
		}
		return nil, nil, 0
	}
	ev.fake.AddImage("nginx:1.25")
	ev.store.put(testPod("web"))
	ev.sync()
	id := ev.containers(runtimeapi.ContainerState_CONTAINER_RUNNING)[0].ID
	p := fastProber(ev)
	exec := func(cmd ...string) (bool, string) {
		return p.Probe(context.Background(), ProbeTarget{Container: &corev1.Container{Name: "app"}, ContainerID: id},
			&corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}})
	}
	if ok, msg := exec("ok", "-x"); !ok {
		t.Fatal(msg)
	}
	mu.Lock()
	if strings.Join(gotCmd, " ") != "ok -x" {
		t.Fatalf("cmd %v", gotCmd)
	}
	mu.Unlock()
	if ok, msg := exec("fail"); ok || msg != "not healthy" {
		t.Fatalf("fail: %v %q", ok, msg)
	}
	if ok, msg := exec("hang"); ok || !strings.Contains(msg, "timed out") {
		t.Fatalf("hang: %v %q", ok, msg)
	}
	_ = ev.fake.ExitContainer(id, 0)
	if ok, _ := exec("ok"); ok {
		t.Fatal("exec in a stopped container succeeded")
	}
}

// execPod is a pod whose app container has the given probes, all exec
// probes answered by the command's first word through codes.
type execCodes struct {
	mu    sync.Mutex
	codes map[string]int32
	calls map[string]int
}

func (c *execCodes) set(cmd string, code int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[cmd] = code
}

func (c *execCodes) count(cmd string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[cmd]
}

func installExec(ev *env) *execCodes {
	c := &execCodes{codes: map[string]int32{}, calls: map[string]int{}}
	ev.fake.ExecFunc = func(_ string, cmd []string) ([]byte, []byte, int32) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls[cmd[0]]++
		return nil, []byte(cmd[0] + " says no"), c.codes[cmd[0]]
	}
	return c
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1}
}

func TestLivenessFailureRestartsContainer(t *testing.T) {
	ev := probeEnv(t)
	codes := installExec(ev)
	live := execProbe("live")
	live.InitialDelaySeconds, live.FailureThreshold = 5, 2
	grace := int64(7)
	live.TerminationGracePeriodSeconds = &grace
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", LivenessProbe: live}))
	codes.set("live", 1)
	ev.sync()
	ev.clock.Advance(4 * time.Second)
	ev.sync()
	if n := codes.count("live"); n != 0 {
		t.Fatalf("probed %d times before initialDelaySeconds", n)
	}
	ev.clock.Advance(time.Second)
	ev.sync() // failure 1
	ev.clock.Advance(500 * time.Millisecond)
	ev.sync() // not due
	if n := codes.count("live"); n != 1 {
		t.Fatalf("probed %d times, want 1", n)
	}
	if n := ev.fake.CallCount("StopContainer"); n != 0 {
		t.Fatalf("stopped after one failure (threshold 2)")
	}
	ev.clock.Advance(500 * time.Millisecond)
	ev.sync() // failure 2: verdict
	ev.sync() // stopped and restarted
	if n := ev.fake.CallCount("StopContainer"); n != 1 {
		t.Fatalf("StopContainer called %d times", n)
	}
	st, _ := ev.status("web")
	cs := containerStatus(t, st, "app")
	if cs.RestartCount != 1 || cs.State.Running == nil {
		t.Fatalf("status %+v", cs)
	}
	lt := cs.LastTerminationState.Terminated
	if lt == nil || lt.Message != "Container app failed liveness probe, will be restarted" || lt.ExitCode != 143 {
		t.Fatalf("last termination %+v", lt)
	}
	// The new container starts over: healthy, it is not stopped again.
	codes.set("live", 0)
	for i := 0; i < 10; i++ {
		ev.clock.Advance(time.Second)
		ev.sync()
	}
	if n := ev.fake.CallCount("StopContainer"); n != 1 {
		t.Fatalf("StopContainer called %d times", n)
	}
}

func TestReadinessProbe(t *testing.T) {
	ev := probeEnv(t)
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	ready := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: host, Path: "/healthz", Port: intstr.FromString("web")}}}
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", ReadinessProbe: ready,
		Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}))
	check := func(want bool) {
		t.Helper()
		st, _ := ev.status("web")
		cs := containerStatus(t, st, "app")
		wantC := corev1.ConditionFalse
		if want {
			wantC = corev1.ConditionTrue
		}
		if cs.Ready != want || condition(st, corev1.PodReady) != wantC || condition(st, corev1.ContainersReady) != wantC {
			t.Fatalf("ready %v, conditions %+v; want %v", cs.Ready, st.Conditions, want)
		}
		if cs.State.Running == nil || st.Phase != corev1.PodRunning {
			t.Fatalf("state %+v phase %s", cs.State, st.Phase)
		}
	}
	ev.sync()
	check(true)
	code.Store(503)
	for i := 0; i < 2; i++ {
		ev.clock.Advance(10 * time.Second)
		ev.sync()
		check(true) // below failureThreshold 3
	}
	ev.clock.Advance(10 * time.Second)
	ev.sync()
	check(false)
	st, _ := ev.status("web")
	if !strings.Contains(conditionMsg(st, corev1.PodReady), "app") {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	code.Store(200)
	ev.clock.Advance(10 * time.Second)
	ev.sync()
	check(true)
	if n := ev.fake.CallCount("StopContainer"); n != 0 {
		t.Fatal("readiness failure stopped the container")
	}
}

func conditionMsg(st *corev1.PodStatus, typ corev1.PodConditionType) string {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

func TestReadinessSuccessThreshold(t *testing.T) {
	ev := probeEnv(t)
	codes := installExec(ev)
	ready := execProbe("ready")
	ready.SuccessThreshold = 2
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", ReadinessProbe: ready}))
	ev.sync()
	st, _ := ev.status("web")
	if containerStatus(t, st, "app").Ready {
		t.Fatal("ready after one success (threshold 2)")
	}
	ev.clock.Advance(time.Second)
	ev.sync()
	st, _ = ev.status("web")
	if !containerStatus(t, st, "app").Ready || codes.count("ready") != 2 {
		t.Fatalf("not ready after two successes (%d probes)", codes.count("ready"))
	}
}

func TestStartupProbeGatesLiveness(t *testing.T) {
	ev := probeEnv(t)
	codes := installExec(ev)
	startup := execProbe("startup")
	startup.FailureThreshold = 30
	live := execProbe("live")
	live.FailureThreshold = 1
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", StartupProbe: startup, LivenessProbe: live}))
	codes.set("startup", 1)
	codes.set("live", 1)
	for i := 0; i < 5; i++ {
		ev.sync()
		ev.clock.Advance(time.Second)
	}
	st, _ := ev.status("web")
	cs := containerStatus(t, st, "app")
	if codes.count("live") != 0 || codes.count("startup") != 5 || ev.fake.CallCount("StopContainer") != 0 {
		t.Fatalf("live probed %d, startup %d", codes.count("live"), codes.count("startup"))
	}
	if cs.Started == nil || *cs.Started || cs.Ready || condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("before startup: %+v", cs)
	}
	codes.set("startup", 0)
	codes.set("live", 0)
	ev.sync() // startup succeeds
	ev.sync() // liveness now runs
	st, _ = ev.status("web")
	cs = containerStatus(t, st, "app")
	if cs.Started == nil || !*cs.Started || !cs.Ready || codes.count("live") != 1 {
		t.Fatalf("after startup: %+v (live probed %d)", cs, codes.count("live"))
	}
	ev.clock.Advance(10 * time.Second)
	ev.sync()
	if n := codes.count("startup"); n != 6 {
		t.Fatalf("startup probed %d times after it succeeded", n)
	}
	codes.set("live", 1)
	ev.clock.Advance(time.Second)
	ev.sync()
	ev.sync()
	st, _ = ev.status("web")
	if cs = containerStatus(t, st, "app"); cs.RestartCount != 1 {
		t.Fatalf("liveness did not restart: %+v", cs)
	}
}

func TestStartupProbeFailureRestarts(t *testing.T) {
	ev := probeEnv(t)
	codes := installExec(ev)
	startup := execProbe("startup")
	startup.FailureThreshold = 2
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", StartupProbe: startup}))
	codes.set("startup", 1)
	ev.sync()
	ev.clock.Advance(time.Second)
	ev.sync()
	ev.sync()
	st, _ := ev.status("web")
	cs := containerStatus(t, st, "app")
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil ||
		cs.LastTerminationState.Terminated.Message != "Container app failed startup probe, will be restarted" {
		t.Fatalf("status %+v", cs)
	}
}

func TestProbesForgottenWithPod(t *testing.T) {
	ev := probeEnv(t)
	installExec(ev)
	pod := testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("live")})
	ev.store.put(pod)
	ev.sync()
	if n := len(ev.e.probes.workers); n != 2 {
		t.Fatalf("workers = %d", n)
	}
	if ev.e.nextProbe.IsZero() || ev.e.nextProbe.Sub(ev.clock.Now()) != time.Second {
		t.Fatalf("next probe at %v", ev.e.nextProbe)
	}
	ev.store.del(pod)
	ev.sync()
	if n := len(ev.e.probes.workers); n != 0 {
		t.Fatalf("workers = %d after the pod went", n)
	}
}

func TestProbeChangeTriggersSync(t *testing.T) {
	ev := probeEnv(t)
	installExec(ev)
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", ReadinessProbe: execProbe("ready")}))
	ev.sync()
	select {
	case <-ev.e.kick:
	default:
		t.Fatal("readiness change did not trigger a sync")
	}
	ev.clock.Advance(time.Second)
	ev.sync()
	select {
	case <-ev.e.kick:
		t.Fatal("unchanged result triggered a sync")
	default:
	}
}

func TestLivenessKillRetriedWhenStopFails(t *testing.T) {
	ev := probeEnv(t)
	codes := installExec(ev)
	live := execProbe("live")
	live.FailureThreshold = 1
	ev.store.put(testPod("web", corev1.Container{Name: "app", Image: "nginx:1.25", LivenessProbe: live}))
	codes.set("live", 1)
	ev.sync() // verdict
	ev.fake.FailNext("StopContainer", context.DeadlineExceeded)
	_ = ev.e.syncAll(context.Background()) // stop fails
	ev.sync()                              // retried: stopped and restarted
	st, _ := ev.status("web")
	if cs := containerStatus(t, st, "app"); cs.RestartCount != 1 || cs.State.Running == nil {
		t.Fatalf("status %+v", cs)
	}
}
