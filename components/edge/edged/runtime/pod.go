package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SandboxState is a pod sandbox's state.
type SandboxState string

// Sandbox states.
const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// ContainerState is a container's state.
type ContainerState string

// Container states.
const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// SandboxStatus summarises one sandbox of a pod.
type SandboxStatus struct {
	ID      string
	Attempt uint32
	State   SandboxState
	// IP is the pod IP (empty for host-network pods and stopped sandboxes);
	// AdditionalIPs are further ones (dual stack).
	IP            string
	AdditionalIPs []string
	CreatedAt     time.Time
	Labels        map[string]string
	Annotations   map[string]string
}

// ContainerStatus summarises one container (one attempt) of a pod.
type ContainerStatus struct {
	ID, SandboxID string
	Name          string
	Attempt       uint32
	State         ContainerState
	// ExitCode, Reason (Completed, Error, OOMKilled) and Message are set
	// once the container exited.
	ExitCode                         int32
	Reason, Message                  string
	CreatedAt, StartedAt, FinishedAt time.Time
	Image, ImageRef                  string
	// Hash is the SpecHash the container was created with.
	Hash string
	// RestartCount is the highest attempt among the pod's containers of this
	// name (the same for every attempt of it).
	RestartCount int32
	Labels       map[string]string
	Annotations  map[string]string
}

// PodRuntimeStatus is what the runtime knows about one pod.
type PodRuntimeStatus struct {
	UID, Name, Namespace string
	// Sandboxes, newest first.
	Sandboxes []*SandboxStatus
	// Containers of all sandboxes, by name, newest attempt first.
	Containers []*ContainerStatus
}

// Sandbox returns the newest ready sandbox, else the newest one, else nil.
func (s *PodRuntimeStatus) Sandbox() *SandboxStatus {
	for _, sb := range s.Sandboxes {
		if sb.State == SandboxReady {
			return sb
		}
	}
	if len(s.Sandboxes) > 0 {
		return s.Sandboxes[0]
	}
	return nil
}

// Container returns the newest attempt of the named container, or nil.
func (s *PodRuntimeStatus) Container(name string) *ContainerStatus {
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// RunSandbox creates the pod's log directory and runs its sandbox with
// SandboxConfig(pod, opts). It returns the sandbox ID and the pod IP (empty
// for host-network pods, whose IP is the node's).
func (r *Runtime) RunSandbox(ctx context.Context, pod *corev1.Pod, opts SandboxOptions) (sandboxID, podIP string, err error) {
	return r.RunSandboxConfig(ctx, SandboxConfig(pod, opts))
}

// RunSandboxConfig runs a sandbox from a prepared config (see RunSandbox).
// A failed RunPodSandbox can leave a NOTREADY sandbox behind (P7); it is
// removed so that the same attempt can be retried.
func (r *Runtime) RunSandboxConfig(ctx context.Context, cfg *runtimeapi.PodSandboxConfig) (sandboxID, podIP string, err error) {
	if cfg.LogDirectory != "" {
		if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
			return "", "", fmt.Errorf("pod log directory: %w", err)
		}
	}
	resp, err := r.rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		r.removeFailedSandboxes(ctx, cfg.GetMetadata())
		return "", "", fmt.Errorf("run sandbox of pod %s/%s: %w", cfg.GetMetadata().GetNamespace(), cfg.GetMetadata().GetName(), err)
	}
	st, err := r.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: resp.PodSandboxId})
	if err != nil {
		return resp.PodSandboxId, "", fmt.Errorf("status of sandbox %s: %w", resp.PodSandboxId, err)
	}
	return resp.PodSandboxId, st.GetStatus().GetNetwork().GetIp(), nil
}

func (r *Runtime) removeFailedSandboxes(ctx context.Context, md *runtimeapi.PodSandboxMetadata) {
	if md.GetUid() == "" {
		return
	}
	list, err := r.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY},
		LabelSelector: map[string]string{LabelPodUID: md.GetUid()},
	}})
	if err != nil {
		return
	}
	for _, sb := range list.Items {
		if sb.GetMetadata().GetAttempt() != md.GetAttempt() {
			continue
		}
		_, _ = r.rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
		_, _ = r.rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
	}
}

// StartContainer creates the container in the sandbox and starts it. The
// sandbox config is the one the sandbox was run with. When the start fails
// the created container's ID is returned with the error: the container stays
// (exited or created) so that its status shows the failure and the next
// attempt gets a new name.
func (r *Runtime) StartContainer(ctx context.Context, sandboxID string, sandboxConfig *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) (string, error) {
	created, err := r.rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sandboxID, Config: cfg, SandboxConfig: sandboxConfig,
	})
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", cfg.GetMetadata().GetName(), err)
	}
	if _, err := r.rs.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		return created.ContainerId, fmt.Errorf("start container %s (%s): %w", cfg.GetMetadata().GetName(), created.ContainerId, err)
	}
	return created.ContainerId, nil
}

// StopContainer stops a container: SIGTERM (or its stop signal), then
// SIGKILL after grace (rounded up to whole seconds; 0 kills at once). A
// container that is already gone is not an error.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	timeout := int64(math.Ceil(grace.Seconds()))
	if timeout < 0 {
		timeout = 0
	}
	_, err := r.rs.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: timeout})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer removes a (stopped) container; a missing one is not an
// error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	_, err := r.rs.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// StopPod stops all running containers of the pod in parallel, each with
// grace (the CRI's StopPodSandbox kills without grace, so the pod worker
// calls this before RemovePod).
func (r *Runtime) StopPod(ctx context.Context, uid string, grace time.Duration) error {
	list, err := r.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{LabelPodUID: uid},
	}})
	if err != nil {
		return fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(list.Containers))
	for i, c := range list.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.StopContainer(ctx, c.Id, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RemovePod stops and removes the sandbox (the runtime kills and removes
// its containers), then removes the pod's cgroup directories under every
// controller, which the runtime leaves behind (P8). A sandbox that is
// already gone is not an error.
func (r *Runtime) RemovePod(ctx context.Context, sandboxID string) error {
	st, err := r.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
	switch {
	case IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("status of sandbox %s: %w", sandboxID, err)
	}
	cgroupParent := st.GetStatus().GetAnnotations()[AnnotationCgroupParent]
	if _, err := r.rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sandboxID}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("stop sandbox %s: %w", sandboxID, err)
	}
	if _, err := r.rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sandboxID}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove sandbox %s: %w", sandboxID, err)
	}
	if cgroupParent != "" && !r.sandboxUsesCgroup(ctx, cgroupParent) {
		if err := RemoveCgroup(ctx, r.opts.CgroupFS, cgroupParent); err != nil {
			return err
		}
	}
	return nil
}

// sandboxUsesCgroup reports whether another sandbox (another attempt of the
// same pod) still uses the cgroup parent; if in doubt it says yes.
func (r *Runtime) sandboxUsesCgroup(ctx context.Context, parent string) bool {
	list, err := r.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return true
	}
	for _, sb := range list.Items {
		if sb.Annotations[AnnotationCgroupParent] == parent {
			return true
		}
	}
	return false
}

// PodStatus summarises the pod's sandboxes and containers, found by the
// io.kubernetes.pod.uid label. A pod the runtime does not know has an empty
// status, not an error.
func (r *Runtime) PodStatus(ctx context.Context, uid string) (*PodRuntimeStatus, error) {
	sel := map[string]string{LabelPodUID: uid}
	sbs, err := r.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %s: %w", uid, err)
	}
	ctrs, err := r.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	pods, err := r.summarise(ctx, sbs.Items, ctrs.Containers)
	if err != nil {
		return nil, err
	}
	if p := pods[uid]; p != nil {
		return p, nil
	}
	return &PodRuntimeStatus{UID: uid}, nil
}

// ListPods returns every pod the runtime has, by UID, with the same summary
// as PodStatus. Edged uses it after a restart to adopt the running pods.
func (r *Runtime) ListPods(ctx context.Context) ([]*PodRuntimeStatus, error) {
	sbs, err := r.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := r.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	pods, err := r.summarise(ctx, sbs.Items, ctrs.Containers)
	if err != nil {
		return nil, err
	}
	out := make([]*PodRuntimeStatus, 0, len(pods))
	for _, p := range pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].UID < out[j].UID
	})
	return out, nil
}

// summarise groups sandboxes and containers by pod UID (label, else the
// sandbox's metadata) and fills the details from the status calls. Objects
// removed between the list and the status call are skipped.
func (r *Runtime) summarise(ctx context.Context, sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) (map[string]*PodRuntimeStatus, error) {
	pods := map[string]*PodRuntimeStatus{}
	get := func(uid, name, namespace string) *PodRuntimeStatus {
		p := pods[uid]
		if p == nil {
			p = &PodRuntimeStatus{UID: uid}
			pods[uid] = p
		}
		if p.Name == "" {
			p.Name, p.Namespace = name, namespace
		}
		return p
	}
	sandboxUID := map[string]string{}
	for _, sb := range sandboxes {
		uid := sb.Labels[LabelPodUID]
		if uid == "" {
			uid = sb.GetMetadata().GetUid()
		}
		if uid == "" {
			continue
		}
		sandboxUID[sb.Id] = uid
		s := &SandboxStatus{
			ID: sb.Id, Attempt: sb.GetMetadata().GetAttempt(), State: sandboxState(sb.State),
			CreatedAt: toTime(sb.CreatedAt), Labels: sb.Labels, Annotations: sb.Annotations,
		}
		if s.State == SandboxReady {
			st, err := r.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id})
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("status of sandbox %s: %w", sb.Id, err)
			}
			s.State = sandboxState(st.GetStatus().GetState())
			if n := st.GetStatus().GetNetwork(); n != nil {
				s.IP = n.Ip
				for _, ip := range n.AdditionalIps {
					s.AdditionalIPs = append(s.AdditionalIPs, ip.Ip)
				}
			}
		}
		p := get(uid, sb.GetMetadata().GetName(), sb.GetMetadata().GetNamespace())
		p.Sandboxes = append(p.Sandboxes, s)
	}
	for _, c := range containers {
		uid := c.Labels[LabelPodUID]
		if uid == "" {
			uid = sandboxUID[c.PodSandboxId]
		}
		if uid == "" {
			continue
		}
		st, err := r.rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("status of container %s: %w", c.Id, err)
		}
		cs := st.GetStatus()
		if cs == nil {
			continue
		}
		p := get(uid, c.Labels[LabelPodName], c.Labels[LabelPodNamespace])
		p.Containers = append(p.Containers, &ContainerStatus{
			ID: c.Id, SandboxID: c.PodSandboxId,
			Name: cs.GetMetadata().GetName(), Attempt: cs.GetMetadata().GetAttempt(),
			State: containerState(cs.State), ExitCode: cs.ExitCode, Reason: cs.Reason, Message: cs.Message,
			CreatedAt: toTime(cs.CreatedAt), StartedAt: toTime(cs.StartedAt), FinishedAt: toTime(cs.FinishedAt),
			Image: cs.GetImage().GetImage(), ImageRef: cs.ImageRef,
			Hash: cs.Annotations[AnnotationContainerHash], Labels: cs.Labels, Annotations: cs.Annotations,
		})
	}
	for _, p := range pods {
		sort.SliceStable(p.Sandboxes, func(i, j int) bool {
			a, b := p.Sandboxes[i], p.Sandboxes[j]
			if a.Attempt != b.Attempt {
				return a.Attempt > b.Attempt
			}
			return a.CreatedAt.After(b.CreatedAt)
		})
		sort.SliceStable(p.Containers, func(i, j int) bool {
			a, b := p.Containers[i], p.Containers[j]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			if a.Attempt != b.Attempt {
				return a.Attempt > b.Attempt
			}
			return a.CreatedAt.After(b.CreatedAt)
		})
		highest := map[string]uint32{}
		for _, c := range p.Containers {
			if c.Attempt > highest[c.Name] {
				highest[c.Name] = c.Attempt
			}
		}
		for _, c := range p.Containers {
			c.RestartCount = int32(min(highest[c.Name], math.MaxInt32))
		}
	}
	return pods, nil
}

func sandboxState(s runtimeapi.PodSandboxState) SandboxState {
	if s == runtimeapi.PodSandboxState_SANDBOX_READY {
		return SandboxReady
	}
	return SandboxNotReady
}

func containerState(s runtimeapi.ContainerState) ContainerState {
	switch s {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return ContainerCreated
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return ContainerRunning
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return ContainerExited
	}
	return ContainerUnknown
}
