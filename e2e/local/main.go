// Command local brings up the README's local cloud on this machine and leaves
// it running: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// on loopback, with an admin kubeconfig. `local down` stops it.
//
//	go run ./e2e/local up   --dir _output/local
//	go run ./e2e/local down --dir _output/local
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cleanedge/kubeedge/e2e/framework"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: local up|down [--dir DIR]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "_output/local", "directory for state, logs and the kubeconfig")
	_ = fs.Parse(os.Args[2:])
	abs, err := filepath.Abs(*dir)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		switch os.Args[1] {
		case "up":
			err = up(ctx, os.Stdout, abs)
		case "down":
			err = down(os.Stdout, abs)
		default:
			err = fmt.Errorf("unknown command %q: use up or down", os.Args[1])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context, out io.Writer, dir string) error {
	cpDir := filepath.Join(dir, "controlplane")
	if running(cpDir) {
		return fmt.Errorf("a local cloud is already running from %s: stop it with `make stop`", dir)
	}
	_ = os.RemoveAll(cpDir)
	if err := os.MkdirAll(cpDir, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(out, "starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler ...")
	start := time.Now()
	cp, err := framework.StartControlPlane(ctx, framework.ControlPlaneOptions{Dir: cpDir, Controllers: true, Detach: true})
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := os.Symlink(cp.Kubeconfig, kubeconfig+".tmp"); err != nil {
		return err
	}
	if err := os.Rename(kubeconfig+".tmp", kubeconfig); err != nil {
		return err
	}
	kubectl := filepath.Join(dir, "kubectl")
	_ = os.Remove(kubectl)
	if err := os.Symlink(cp.Binaries.Kubectl, kubectl); err != nil {
		return err
	}
	fmt.Fprintf(out, `
local cloud is up in %s (API server %s)

  look at it:   %s --kubeconfig %s get namespaces
                export KUBECONFIG=%s
  logs:         %s/*.log
  stop it:      make stop
`, time.Since(start).Round(100*time.Millisecond), cp.URL, kubectl, kubeconfig, kubeconfig, cpDir)
	return nil
}

func down(out io.Writer, dir string) error {
	pids, err := readPIDs(filepath.Join(dir, "controlplane"))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "nothing running from %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(pids) - 1; i >= 0; i-- {
		fmt.Fprintf(out, "stopping %s (pid %d)\n", pids[i].name, pids[i].pid)
		if err := framework.StopPID(pids[i].pid, 15*time.Second); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, "controlplane", framework.PIDFile))
}

type pidEntry struct {
	name string
	pid  int
}

func readPIDs(dir string) ([]pidEntry, error) {
	f, err := os.Open(filepath.Join(dir, framework.PIDFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []pidEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, pid, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s: bad line %q", f.Name(), sc.Text())
		}
		out = append(out, pidEntry{name, n})
	}
	return out, sc.Err()
}

func running(dir string) bool {
	pids, err := readPIDs(dir)
	if err != nil {
		return false
	}
	for _, p := range pids {
		if syscall.Kill(p.pid, 0) == nil {
			return true
		}
	}
	return false
}
