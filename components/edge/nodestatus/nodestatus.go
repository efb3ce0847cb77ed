// Package nodestatus registers the edge node with the cloud and reports its
// status (conditions, addresses, capacity, allocatable, nodeInfo) through
// EdgeHub, with upstream's messages: insert default/node/<name>, then patch
// default/nodepatch/<name> with a strategic-merge patch string.
package nodestatus

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/components/message"
	"github.com/cleanedge/kubeedge/components/version"
)

// Link is what the reporter needs from EdgeHub.
type Link interface {
	Request(ctx context.Context, m message.Message) (message.Message, error)
}

// Config of the reporter.
type Config struct {
	NodeName string
	// Namespace of the node resource path (edged.registerNodeNamespace).
	Namespace string
	Labels    map[string]string
	// NodeIP is reported as InternalIP; empty detects the default-route address.
	NodeIP string
	// UpdateFrequency is the status period (kubelet's nodeStatusUpdateFrequency).
	UpdateFrequency time.Duration
	MaxPods         int
	// RuntimeVersion returns nodeInfo.containerRuntimeVersion (e.g.
	// "containerd://1.6.20"), or "" while the runtime is not connected.
	RuntimeVersion func() string
}

// Reporter is the node status module.
type Reporter struct {
	cfg     Config
	link    Link
	log     logr.Logger
	factory message.Factory
	now     func() time.Time
	// retry is the wait before another registration attempt.
	retry time.Duration
}

// New builds a reporter.
func New(cfg Config, link Link, log logr.Logger) *Reporter {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.UpdateFrequency <= 0 {
		cfg.UpdateFrequency = 10 * time.Second
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
	return &Reporter{cfg: cfg, link: link, log: log, factory: message.DefaultFactory, now: time.Now, retry: time.Second}
}

// Name is the module name.
func (r *Reporter) Name() string { return "nodestatus" }

// Run registers the node, then reports status every UpdateFrequency until ctx
// ends. Failures are logged and retried on the next tick.
func (r *Reporter) Run(ctx context.Context) error {
	registered := false
	t := time.NewTicker(r.cfg.UpdateFrequency)
	defer t.Stop()
	for {
		if !registered {
			if err := r.register(ctx); err != nil {
				if ctx.Err() == nil {
					r.log.V(1).Info("node registration pending", "err", err)
				}
			} else {
				registered = true
			}
		}
		if registered {
			if err := r.report(ctx); err != nil && ctx.Err() == nil {
				r.log.V(1).Info("node status not reported", "err", err)
				if apierrors.IsNotFound(err) {
					registered = false // the Node was deleted: register again
				}
			}
		}
		wait := r.cfg.UpdateFrequency
		if !registered {
			wait = r.retry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (r *Reporter) request(ctx context.Context, op message.Operation, typ message.ResourceType, content any) (message.ObjectResponse, error) {
	m, err := r.factory.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: op,
		Resource: message.Resource{Namespace: r.cfg.Namespace, Type: typ, Name: r.cfg.NodeName}.String()}, content)
	if err != nil {
		return message.ObjectResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reply, err := r.link.Request(ctx, m)
	if err != nil {
		return message.ObjectResponse{}, err
	}
	var resp message.ObjectResponse
	if err := reply.DecodeContent(&resp); err != nil {
		return message.ObjectResponse{}, fmt.Errorf("reply to %s %s: %w", op, typ, err)
	}
	return resp, resp.Error()
}

func (r *Reporter) register(ctx context.Context) error {
	labels := map[string]string{
		"kubernetes.io/hostname":        r.cfg.NodeName,
		"kubernetes.io/os":              runtime.GOOS,
		"kubernetes.io/arch":            runtime.GOARCH,
		"node-role.kubernetes.io/edge":  "",
		"node-role.kubernetes.io/agent": "",
	}
	for k, v := range r.cfg.Labels {
		labels[k] = v
	}
	node := &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: r.cfg.NodeName, Labels: labels},
		Status:     r.status(),
	}
	_, err := r.request(ctx, message.OpInsert, message.ResNode, node)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", r.cfg.NodeName, err)
	}
	r.log.Info("node registered", "node", r.cfg.NodeName, "existed", err != nil)
	return nil
}

func (r *Reporter) report(ctx context.Context) error {
	patch, err := json.Marshal(map[string]any{"status": r.status()})
	if err != nil {
		return err
	}
	_, err = r.request(ctx, message.OpPatch, message.ResNodePatch, string(patch))
	return err
}

// status describes this machine now.
func (r *Reporter) status() corev1.NodeStatus {
	now := metav1.NewTime(r.now())
	cap := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(r.cfg.MaxPods), resource.DecimalSI),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	addrs := []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: r.cfg.NodeName}}
	if ip := r.nodeIP(); ip != "" {
		addrs = append([]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}, addrs...)
	}
	return corev1.NodeStatus{
		Capacity:    cap,
		Allocatable: cap.DeepCopy(),
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "EdgeHasSufficientMemory", "edge node has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "EdgeHasNoDiskPressure", "edge node has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "EdgeHasSufficientPID", "edge node has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "EdgeReady", "edgecore is posting ready status"),
		},
		Addresses: addrs,
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           kernelVersion(),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: r.runtimeVersion(),
			KubeletVersion:          "v1.22.17-kubeedge-" + version.Get().GitVersion,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
}

func (r *Reporter) runtimeVersion() string {
	if r.cfg.RuntimeVersion == nil {
		return ""
	}
	return r.cfg.RuntimeVersion()
}

func (r *Reporter) nodeIP() string {
	if r.cfg.NodeIP != "" {
		return r.cfg.NodeIP
	}
	// The source address of the default route, without sending anything.
	conn, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func kernelVersion() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}
