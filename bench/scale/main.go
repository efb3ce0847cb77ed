// Command scale measures one cloudcore holding many edge nodes, and the time
// from `keadm join` to Node Ready. It starts a real control plane, sets up the
// cloud with keadm init, raises cloudHub.nodeLimit, connects simulated nodes
// (bench/edgeload: real bootstrap, real TLS, real keepalives) in steps, and
// prints cloudcore's RSS and CPU at each step.
//
//	go run ./bench/scale -nodes 1000,5000
//
// Needs `make deps build`. Figures go to docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/bench/edgeload"
	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
	"github.com/cleanedge/kubeedge/e2e/framework"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

func main() {
	steps := flag.String("nodes", "1000,5000", "comma-separated node counts to measure at")
	settle := flag.Duration("settle", 20*time.Second, "wait after each step before measuring")
	window := flag.Duration("window", 30*time.Second, "CPU measurement window")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *steps, *settle, *window, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func keadm(ctx context.Context, args ...string) (string, error) {
	bin, err := framework.ProjectBinary("keadm")
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("keadm %s: %w\n%s", args[0], err, out)
	}
	return string(out), nil
}

func run(ctx context.Context, stepList string, settle, window time.Duration, keep bool) error {
	var steps []int
	for _, s := range strings.Split(stepList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-nodes: %q is not a positive count", s)
		}
		steps = append(steps, n)
	}
	dir, err := os.MkdirTemp("", "kubeedge-scale-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	cp, err := framework.StartControlPlane(ctx, framework.ControlPlaneOptions{Dir: filepath.Join(dir, "cp")})
	if err != nil {
		return err
	}
	defer cp.Stop()

	wsPort, _ := framework.FreePort()
	httpsPort, _ := framework.FreePort()
	root := filepath.Join(dir, "cloud")
	cloudcoreBin, err := framework.ProjectBinary("cloudcore")
	if err != nil {
		return err
	}
	if _, err := keadm(ctx, "init", "--kube-config", cp.Kubeconfig, "--advertise-address", "127.0.0.1", "--root", root,
		"--websocket-port", strconv.Itoa(wsPort), "--https-port", strconv.Itoa(httpsPort), "--cloudcore-binary", cloudcoreBin); err != nil {
		return err
	}
	defer keadm(context.Background(), "reset", "--force", "--root", root)

	// Raise the session limit (upstream default 1000) and restart cloudcore.
	l := layout.Under(root)
	cfg, err := v1alpha1.Load(l.CloudCoreConfig())
	if err != nil {
		return err
	}
	cfg.Modules.CloudHub.NodeLimit = int32(steps[len(steps)-1] + 100)
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.CloudCoreConfig(), b, 0o600); err != nil {
		return err
	}
	if pid, err := readPID(l.PIDFile("cloudcore")); err == nil {
		_ = framework.StopPID(pid, 15*time.Second)
	}
	cc, err := framework.StartProcess("cloudcore", filepath.Join(dir, "cloudcore-bench.log"), cloudcoreBin,
		[]string{"--config", l.CloudCoreConfig()}, framework.ProcessOptions{})
	if err != nil {
		return err
	}
	defer cc.Stop(15 * time.Second)
	httpsURL := "https://127.0.0.1:" + strconv.Itoa(httpsPort)
	if err := framework.WaitFor(ctx, "cloudcore", 200*time.Millisecond, cc, func(ctx context.Context) (bool, error) {
		_, err := keadm(ctx, "gettoken", "--kube-config", cp.Kubeconfig)
		if err != nil {
			return false, err
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(wsPort), time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	}); err != nil {
		return err
	}
	token, err := keadm(ctx, "gettoken", "--kube-config", cp.Kubeconfig)
	if err != nil {
		return err
	}
	token = strings.TrimSpace(token)

	fmt.Printf("machine: %d CPUs; cloudcore pid %d\n", runtime.NumCPU(), cc.PID())
	base, _ := rss(cc.PID())
	fmt.Printf("%-8s %-12s %-14s %-16s %s\n", "nodes", "RSS (MiB)", "KiB per node", "CPU (% of core)", "connect time")
	fmt.Printf("%-8d %-12.1f %-14s %-16s %s\n", 0, float64(base)/1024, "-", "-", "-")

	fleet := edgeload.New(edgeload.Config{
		Server: "127.0.0.1:" + strconv.Itoa(wsPort), HTTPServer: httpsURL, Token: token, Dir: filepath.Join(dir, "sim"),
	}, logr.Discard())
	defer fleet.Stop()
	have := 0
	for _, n := range steps {
		start := time.Now()
		if err := fleet.Grow(ctx, n-have); err != nil {
			return fmt.Errorf("grow to %d nodes: %w", n, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err := fleet.WaitConnected(wctx, n)
		cancel()
		if err != nil {
			return err
		}
		took := time.Since(start)
		have = n
		time.Sleep(settle)
		cpu, err := cpuPercent(cc.PID(), window)
		if err != nil {
			return err
		}
		r, _ := rss(cc.PID())
		fmt.Printf("%-8d %-12.1f %-14.1f %-16.1f %s\n", n, float64(r)/1024, float64(r-base)/float64(n), cpu, took.Round(100*time.Millisecond))
	}
	fleet.Stop()

	// Time from keadm join to Node Ready, with a real edgecore.
	edgecoreBin, err := framework.ProjectBinary("edgecore")
	if err != nil {
		return err
	}
	eroot := filepath.Join(dir, "edge")
	start := time.Now()
	if _, err := keadm(ctx, "join", "--cloudcore-ipport", "127.0.0.1:"+strconv.Itoa(wsPort), "--certport", strconv.Itoa(httpsPort),
		"--token", token, "--edgenode-name", "bench-edge", "--root", eroot, "--edgecore-binary", edgecoreBin); err != nil {
		return err
	}
	defer keadm(context.Background(), "reset", "--force", "--root", eroot)
	joined := time.Since(start)
	err = framework.WaitFor(ctx, "bench-edge Ready", 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		n, err := cp.Client.CoreV1().Nodes().Get(ctx, "bench-edge", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("keadm join: returned after %s; node Ready %s after join started\n", joined.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	// edgecore's own footprint with no pods, after a few status reports.
	time.Sleep(settle)
	if pid, err := readPID(layout.Under(eroot).PIDFile("edgecore")); err == nil {
		if r, err := rss(pid); err == nil {
			fmt.Printf("edgecore RSS (no pods, connected): %.1f MiB\n", float64(r)/1024)
		}
	}
	return nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// rss returns a process's resident set in KiB.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// cpuTicks returns utime+stime of a process in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, nil
}

func cpuPercent(pid int, window time.Duration) (float64, error) {
	a, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	b, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ on Linux
	return float64(b-a) / hz / window.Seconds() * 100, nil
}
