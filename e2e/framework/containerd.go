package framework

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PauseImage is the sandbox image, built by `make images` from e2e/images/pause.
const PauseImage = "localhost/kubeedge/pause:3.9"

// ContainerdOptions configure StartContainerd.
type ContainerdOptions struct {
	// LogDir receives containerd.log. Required.
	LogDir string
	// Bridge is the CNI bridge name (at most 15 characters); Subnet its pod
	// range (a /24). Empty picks distinct random ones, so containerds can run side by side.
	Bridge string
	Subnet string
	// Images are tarball names from `make images` to import besides pause.
	Images []string
	// Detach leaves containerd running after this program exits (make run).
	Detach bool
	// StateDir, if set, is used for root, state and socket (keep it short:
	// unix socket paths are limited to 107 bytes); otherwise a temp dir is made.
	StateDir string
}

// Containerd is a running containerd with the CRI plugin and CNI networking.
type Containerd struct {
	// Dir holds config, root, state, socket, CNI config and pod logs.
	Dir string
	// Socket is the CRI endpoint path; Endpoint is it as a unix:// URL.
	Socket, Endpoint string
	// PodLogDir is where pod log directories should go.
	PodLogDir string
	Runtime   runtimeapi.RuntimeServiceClient
	Images    runtimeapi.ImageServiceClient
	Bridge    string

	bins       ContainerdBinaries
	proc       *Process
	conn       *grpc.ClientConn
	ownDir     bool
	unregister func()
	stopOnce   sync.Once
	stopErr    error
}

var containerdConfig = template.Must(template.New("config").Parse(`version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"
# This machine's root lacks CAP_SYS_RESOURCE: containerd must not lower its own
# oom score, and CRI must clamp the sandbox's negative oom_score_adj.
oom_score = 0

[grpc]
  address = "{{.Socket}}"
[ttrpc]
  address = ""
[debug]
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.Pause}}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_cgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIDir}}"
    conf_dir = "{{.Dir}}/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`))

var cniConfig = template.Must(template.New("cni").Parse(`{
  "cniVersion": "0.4.0",
  "name": "kubeedge-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "{{.Bridge}}", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "{{.Subnet}}"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "{{.Dir}}/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`))

// StartContainerd writes a config for this machine, starts containerd, waits
// until CRI reports RuntimeReady and NetworkReady, and imports the pause image
// and opts.Images. On error everything it started is stopped again.
func StartContainerd(ctx context.Context, opts ContainerdOptions) (c *Containerd, err error) {
	if opts.LogDir == "" {
		return nil, errors.New("containerd: LogDir is required")
	}
	bins, err := FindContainerd()
	if err != nil {
		return nil, err
	}
	// Distinct defaults per instance, so that test runs side by side (a
	// developer's and CI's, or two containerds in one test) do not share a
	// bridge or a pod range.
	n := rand.IntN(200)
	if opts.Bridge == "" {
		opts.Bridge = fmt.Sprintf("ke-e2e%d", n)
	}
	if len(opts.Bridge) > 15 {
		return nil, fmt.Errorf("containerd: bridge name %q is longer than 15 characters", opts.Bridge)
	}
	if opts.Subnet == "" {
		opts.Subnet = fmt.Sprintf("10.%d.%d.0/24", 200+n/100, n%100)
	}
	images := []string{}
	for _, name := range append([]string{"pause"}, opts.Images...) {
		tarball, err := ImageTarball(name)
		if err != nil {
			return nil, err
		}
		images = append(images, tarball)
	}

	c = &Containerd{Dir: opts.StateDir, bins: bins, Bridge: opts.Bridge}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "ke-ctr-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = c.Stop(context.Background())
			c = nil
		}
	}()
	c.Socket = filepath.Join(c.Dir, "containerd.sock")
	c.Endpoint = "unix://" + c.Socket
	c.PodLogDir = filepath.Join(c.Dir, "pods")
	for _, d := range []string{"root", "state", "cni/net.d", "pods"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	data := map[string]string{"Dir": c.Dir, "Socket": c.Socket, "Pause": PauseImage, "CNIDir": bins.CNIDir,
		"Bridge": opts.Bridge, "Subnet": opts.Subnet}
	// The CNI config must exist before containerd starts: a file moved in later
	// is not always noticed.
	if err := renderFile(filepath.Join(c.Dir, "cni", "net.d", "10-kubeedge-e2e.conflist"), cniConfig, data); err != nil {
		return nil, err
	}
	configPath := filepath.Join(c.Dir, "config.toml")
	if err := renderFile(configPath, containerdConfig, data); err != nil {
		return nil, err
	}
	if !opts.Detach {
		c.unregister = OnInterrupt(func() { _ = c.removePods(context.Background()) })
	}
	c.proc, err = StartProcess("containerd", filepath.Join(opts.LogDir, "containerd.log"), bins.Containerd,
		[]string{"--config", configPath}, ProcessOptions{Detach: opts.Detach})
	if err != nil {
		return nil, err
	}
	if opts.Detach {
		// What StopDetachedContainerd needs, later, from another process.
		state := fmt.Sprintf("%d %s\n", c.proc.PID(), opts.Bridge)
		if err := os.WriteFile(filepath.Join(c.Dir, detachedStateFile), []byte(state), 0o644); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c.conn, err = grpc.NewClient(c.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI client for %s: %w", c.Endpoint, err)
	}
	c.Runtime = runtimeapi.NewRuntimeServiceClient(c.conn)
	c.Images = runtimeapi.NewImageServiceClient(c.conn)
	err = WaitFor(ctx, "containerd CRI RuntimeReady and NetworkReady", 100*time.Millisecond, c.proc, func(ctx context.Context) (bool, error) {
		st, err := c.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			return false, err
		}
		ready := map[string]bool{}
		for _, cond := range st.GetStatus().GetConditions() {
			ready[cond.Type] = cond.Status
		}
		return ready[runtimeapi.RuntimeReady] && ready[runtimeapi.NetworkReady], nil
	})
	if err != nil {
		return nil, err
	}
	for _, tarball := range images {
		if err := c.ImportImage(ctx, tarball); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ImportImage imports an OCI image tarball into the k8s.io namespace, the one
// CRI reads.
func (c *Containerd) ImportImage(ctx context.Context, tarball string) error {
	out, err := exec.CommandContext(ctx, c.bins.Ctr, "-a", c.Socket, "-n", "k8s.io", "images", "import", tarball).CombinedOutput()
	if err != nil {
		return fmt.Errorf("import %s into containerd: %w: %s", tarball, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Process returns the containerd process (for restart and crash tests).
func (c *Containerd) Process() *Process { return c.proc }

// removePods stops and removes every pod sandbox through CRI: this kills the
// shims, unmounts, deletes network namespaces and releases IPs.
func (c *Containerd) removePods(ctx context.Context) error {
	if c.Runtime == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	list, err := c.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := c.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.Id, err))
		}
		if _, err := c.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.Id, err))
		}
	}
	return errors.Join(errs...)
}

// Stop removes all pods, stops containerd, and deletes its directory, its
// bridge and the pod cgroups under cgroupRoots. Safe to call twice.
func (c *Containerd) Stop(ctx context.Context, cgroupRoots ...string) error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.proc != nil {
			if exited, _ := c.proc.Exited(); !exited {
				if err := c.removePods(ctx); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if c.conn != nil {
			_ = c.conn.Close()
		}
		if c.proc != nil {
			if err := c.proc.Stop(15 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if c.unregister != nil {
			c.unregister()
		}
		_ = exec.Command("ip", "link", "del", c.Bridge).Run() // absent if no pod ever ran
		for _, root := range cgroupRoots {
			removeCgroups(root)
		}
		if c.ownDir {
			if err := os.RemoveAll(c.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// removeCgroups removes the pod cgroup directories runc leaves under a cgroup
// parent (one per controller on cgroup v1), then the parent itself.
func removeCgroups(parent string) {
	parent = strings.Trim(parent, "/")
	if parent == "" {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	if d := filepath.Join("/sys/fs/cgroup", parent); isDir(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		pods, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, p := range pods {
			if isDir(p) {
				_ = os.Remove(p)
			}
		}
		_ = os.Remove(d)
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func renderFile(path string, t *template.Template, data any) error {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// KillContainer sends SIGKILL to a container's task (a crash, for restart tests).
func (c *Containerd) KillContainer(ctx context.Context, id string) error {
	out, err := exec.CommandContext(ctx, c.bins.Ctr, "-a", c.Socket, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kill container %s: %w: %s", id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

const detachedStateFile = "detached"

// StopDetachedContainerd stops a containerd started with Detach in stateDir
// (by an earlier process, e.g. `make run`): it removes every pod through CRI,
// stops containerd, and deletes its bridge, the pod cgroups under cgroupRoots
// and stateDir.
func StopDetachedContainerd(ctx context.Context, stateDir string, cgroupRoots ...string) error {
	b, err := os.ReadFile(filepath.Join(stateDir, detachedStateFile))
	if err != nil {
		return err
	}
	var pid int
	var bridge string
	if _, err := fmt.Sscanf(string(b), "%d %s", &pid, &bridge); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(stateDir, detachedStateFile), err)
	}
	c := &Containerd{Dir: stateDir, Socket: filepath.Join(stateDir, "containerd.sock"), Bridge: bridge}
	var errs []error
	if conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
		c.Runtime = runtimeapi.NewRuntimeServiceClient(conn)
		if err := c.removePods(ctx); err != nil {
			errs = append(errs, err)
		}
		_ = conn.Close()
	}
	if err := StopPID(pid, 15*time.Second); err != nil {
		errs = append(errs, err)
	}
	_ = exec.Command("ip", "link", "del", bridge).Run()
	for _, root := range cgroupRoots {
		removeCgroups(root)
	}
	return errors.Join(append(errs, os.RemoveAll(stateDir))...)
}
