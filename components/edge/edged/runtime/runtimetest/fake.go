// Package runtimetest provides Fake, an in-memory CRI runtime and image
// service implementing runtime.RuntimeService and runtime.ImageService, for
// unit tests of Edged's pod worker and of the runtime package.
//
// It follows containerd's observable behaviour where tests depend on it:
// NotFound gRPC errors for unknown IDs, reserved names for a live
// sandbox/container of the same name and attempt, StopPodSandbox killing the
// containers (exit code 137), RemovePodSandbox removing them, and exit
// reasons Completed/Error.
package runtimetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sandbox is a fake sandbox.
type Sandbox struct {
	ID        string
	Config    *runtimeapi.PodSandboxConfig
	State     runtimeapi.PodSandboxState
	IP        string
	CreatedAt int64
}

// Container is a fake container.
type Container struct {
	ID, SandboxID string
	Config        *runtimeapi.ContainerConfig
	ImageRef      string
	State         runtimeapi.ContainerState
	ExitCode      int32
	Reason        string
	CreatedAt     int64
	StartedAt     int64
	FinishedAt    int64
}

// Fake is an in-memory CRI runtime. The zero value is not usable; use New.
// All methods are safe for concurrent use.
type Fake struct {
	mu         sync.Mutex
	now        func() time.Time
	seq        int
	sandboxes  map[string]*Sandbox
	containers map[string]*Container
	images     map[string]*runtimeapi.Image // by ID
	calls      []string
	failNext   map[string][]error

	runtimeNotReady, networkNotReady bool

	// PullFunc, when set, decides PullImage: a nil error adds the image.
	// Set it before the fake is used.
	PullFunc func(image string) error
	// ExecFunc, when set, answers ExecSync. Set it before the fake is used.
	ExecFunc func(containerID string, cmd []string) (stdout, stderr []byte, exitCode int32)
}

// SetReady sets the RuntimeReady and NetworkReady conditions Status reports
// (both true initially).
func (f *Fake) SetReady(runtimeReady, networkReady bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runtimeNotReady, f.networkNotReady = !runtimeReady, !networkReady
}

// New returns an empty fake with a wall clock.
func New() *Fake {
	return &Fake{
		now:        time.Now,
		sandboxes:  map[string]*Sandbox{},
		containers: map[string]*Container{},
		images:     map[string]*runtimeapi.Image{},
		failNext:   map[string][]error{},
	}
}

// SetClock replaces the clock used for created/started/finished times.
func (f *Fake) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// AddImage makes an image present, as if imported; it returns its ID.
func (f *Fake) AddImage(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addImageLocked(name)
}

func (f *Fake) addImageLocked(name string) string {
	if img := f.findImageLocked(name); img != nil {
		return img.Id
	}
	id := fmt.Sprintf("sha256:%064x", len(f.images)+1)
	f.images[id] = &runtimeapi.Image{Id: id, RepoTags: []string{name}, Size: 1 << 20, Spec: &runtimeapi.ImageSpec{Image: name}}
	return id
}

func (f *Fake) findImageLocked(ref string) *runtimeapi.Image {
	if img, ok := f.images[ref]; ok {
		return img
	}
	for _, img := range f.images {
		for _, t := range img.RepoTags {
			if t == ref {
				return img
			}
		}
	}
	return nil
}

// FailNext makes the next call of method (e.g. "RunPodSandbox") fail with
// err; several calls queue several failures.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = append(f.failNext[method], err)
}

// Calls returns the method names called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// CallCount counts the calls of method.
func (f *Fake) CallCount(method string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == method {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Sandboxes returns copies of all sandboxes, sorted by creation.
func (f *Fake) Sandboxes() []Sandbox {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Sandbox, 0, len(f.sandboxes))
	for _, s := range f.sandboxes {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Containers returns copies of all containers, sorted by creation.
func (f *Fake) Containers() []Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Container, 0, len(f.containers))
	for _, c := range f.containers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ExitContainer makes a running container exit with code, as if its process
// ended (137 for a SIGKILL, 0 for success).
func (f *Fake) ExitContainer(id string, code int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return notFound("container", id)
	}
	f.exitLocked(c, code)
	return nil
}

func (f *Fake) exitLocked(c *Container, code int32) {
	if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		return
	}
	c.State = runtimeapi.ContainerState_CONTAINER_EXITED
	c.ExitCode = code
	c.FinishedAt = f.now().UnixNano()
	c.Reason = "Error"
	if code == 0 {
		c.Reason = "Completed"
	}
}

// begin records a call and returns an injected failure, if any. Callers
// hold f.mu.
func (f *Fake) begin(method string) error {
	f.calls = append(f.calls, method)
	if q := f.failNext[method]; len(q) > 0 {
		f.failNext[method] = q[1:]
		return q[0]
	}
	return nil
}

func (f *Fake) nextID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%04d", prefix, f.seq)
}

func notFound(kind, id string) error {
	return status.Errorf(codes.NotFound, "%s %q not found", kind, id)
}

func matchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Version implements runtime.RuntimeService.
func (f *Fake) Version(_ context.Context, _ *runtimeapi.VersionRequest, _ ...grpc.CallOption) (*runtimeapi.VersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Version"); err != nil {
		return nil, err
	}
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fake", RuntimeVersion: "0.1.0", RuntimeApiVersion: "v1"}, nil
}

// Status implements runtime.RuntimeService.
func (f *Fake) Status(_ context.Context, _ *runtimeapi.StatusRequest, _ ...grpc.CallOption) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Status"); err != nil {
		return nil, err
	}
	cond := func(t string, notReady bool, reason string) *runtimeapi.RuntimeCondition {
		c := &runtimeapi.RuntimeCondition{Type: t, Status: !notReady}
		if notReady {
			c.Reason = reason
		}
		return c
	}
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		cond(runtimeapi.RuntimeReady, f.runtimeNotReady, "FakeRuntimeNotReady"),
		cond(runtimeapi.NetworkReady, f.networkNotReady, "NetworkPluginNotReady"),
	}}}, nil
}

// RunPodSandbox implements runtime.RuntimeService.
func (f *Fake) RunPodSandbox(_ context.Context, in *runtimeapi.RunPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.RunPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("RunPodSandbox"); err != nil {
		return nil, err
	}
	md := in.GetConfig().GetMetadata()
	if md.GetName() == "" || md.GetUid() == "" || md.GetNamespace() == "" {
		return nil, status.Error(codes.InvalidArgument, "sandbox metadata needs name, uid and namespace")
	}
	for _, s := range f.sandboxes {
		smd := s.Config.GetMetadata()
		if smd.GetName() == md.GetName() && smd.GetNamespace() == md.GetNamespace() && smd.GetUid() == md.GetUid() && smd.GetAttempt() == md.GetAttempt() {
			return nil, status.Errorf(codes.Unknown, "failed to reserve sandbox name %q: name is reserved for %q",
				fmt.Sprintf("%s_%s_%s_%d", md.GetName(), md.GetNamespace(), md.GetUid(), md.GetAttempt()), s.ID)
		}
	}
	s := &Sandbox{ID: f.nextID("sandbox"), Config: proto.Clone(in.Config).(*runtimeapi.PodSandboxConfig), State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: f.now().UnixNano()}
	if in.GetConfig().GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE {
		s.IP = fmt.Sprintf("10.88.%d.%d", f.seq/250, f.seq%250+2)
	}
	f.sandboxes[s.ID] = s
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: s.ID}, nil
}

// StopPodSandbox implements runtime.RuntimeService: its containers are
// killed (137) and the sandbox becomes NOTREADY.
func (f *Fake) StopPodSandbox(_ context.Context, in *runtimeapi.StopPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("StopPodSandbox"); err != nil {
		return nil, err
	}
	s, ok := f.sandboxes[in.PodSandboxId]
	if !ok {
		return nil, notFound("sandbox", in.PodSandboxId)
	}
	for _, c := range f.containers {
		if c.SandboxID == s.ID && c.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			if c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
				c.State = runtimeapi.ContainerState_CONTAINER_EXITED
				c.Reason = "Error"
				c.FinishedAt = f.now().UnixNano()
				continue
			}
			f.exitLocked(c, 137)
		}
	}
	s.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox implements runtime.RuntimeService: the sandbox and its
// containers are removed, running or not.
func (f *Fake) RemovePodSandbox(_ context.Context, in *runtimeapi.RemovePodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("RemovePodSandbox"); err != nil {
		return nil, err
	}
	if _, ok := f.sandboxes[in.PodSandboxId]; !ok {
		return nil, notFound("sandbox", in.PodSandboxId)
	}
	for id, c := range f.containers {
		if c.SandboxID == in.PodSandboxId {
			delete(f.containers, id)
		}
	}
	delete(f.sandboxes, in.PodSandboxId)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// PodSandboxStatus implements runtime.RuntimeService.
func (f *Fake) PodSandboxStatus(_ context.Context, in *runtimeapi.PodSandboxStatusRequest, _ ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("PodSandboxStatus"); err != nil {
		return nil, err
	}
	s, ok := f.sandboxes[in.PodSandboxId]
	if !ok {
		return nil, notFound("sandbox", in.PodSandboxId)
	}
	st := &runtimeapi.PodSandboxStatus{
		Id: s.ID, Metadata: s.Config.Metadata, State: s.State, CreatedAt: s.CreatedAt,
		Labels: s.Config.Labels, Annotations: s.Config.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: s.Config.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: s.IP}
	}
	return &runtimeapi.PodSandboxStatusResponse{Status: st}, nil
}

// ListPodSandbox implements runtime.RuntimeService.
func (f *Fake) ListPodSandbox(_ context.Context, in *runtimeapi.ListPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ListPodSandbox"); err != nil {
		return nil, err
	}
	filter := in.GetFilter()
	out := &runtimeapi.ListPodSandboxResponse{}
	for _, s := range f.sandboxes {
		if filter.GetId() != "" && filter.GetId() != s.ID {
			continue
		}
		if filter.GetState() != nil && filter.GetState().State != s.State {
			continue
		}
		if !matchLabels(s.Config.Labels, filter.GetLabelSelector()) {
			continue
		}
		out.Items = append(out.Items, &runtimeapi.PodSandbox{
			Id: s.ID, Metadata: s.Config.Metadata, State: s.State, CreatedAt: s.CreatedAt,
			Labels: s.Config.Labels, Annotations: s.Config.Annotations,
		})
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Id < out.Items[j].Id })
	return out, nil
}

// CreateContainer implements runtime.RuntimeService.
func (f *Fake) CreateContainer(_ context.Context, in *runtimeapi.CreateContainerRequest, _ ...grpc.CallOption) (*runtimeapi.CreateContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("CreateContainer"); err != nil {
		return nil, err
	}
	s, ok := f.sandboxes[in.PodSandboxId]
	if !ok {
		return nil, notFound("sandbox", in.PodSandboxId)
	}
	if s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "sandbox %s is not ready", s.ID)
	}
	md := in.GetConfig().GetMetadata()
	if md.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "container metadata needs a name")
	}
	for _, c := range f.containers {
		if c.SandboxID == s.ID && c.Config.Metadata.Name == md.Name && c.Config.Metadata.Attempt == md.Attempt {
			return nil, status.Errorf(codes.Unknown, "failed to reserve container name %q: name is reserved for %q",
				fmt.Sprintf("%s_%s_%s_%s_%d", md.Name, s.Config.Metadata.Name, s.Config.Metadata.Namespace, s.Config.Metadata.Uid, md.Attempt), c.ID)
		}
	}
	img := f.findImageLocked(in.GetConfig().GetImage().GetImage())
	if img == nil {
		return nil, status.Errorf(codes.NotFound, "image %q not found", in.GetConfig().GetImage().GetImage())
	}
	c := &Container{
		ID: f.nextID("container"), SandboxID: s.ID, Config: proto.Clone(in.Config).(*runtimeapi.ContainerConfig), ImageRef: img.Id,
		State: runtimeapi.ContainerState_CONTAINER_CREATED, CreatedAt: f.now().UnixNano(),
	}
	f.containers[c.ID] = c
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

// StartContainer implements runtime.RuntimeService.
func (f *Fake) StartContainer(_ context.Context, in *runtimeapi.StartContainerRequest, _ ...grpc.CallOption) (*runtimeapi.StartContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("StartContainer"); err != nil {
		return nil, err
	}
	c, ok := f.containers[in.ContainerId]
	if !ok {
		return nil, notFound("container", in.ContainerId)
	}
	if c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not in created state", c.ID)
	}
	c.State = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.StartedAt = f.now().UnixNano()
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer implements runtime.RuntimeService: a running container exits
// with 143 (SIGTERM honoured) or, with Timeout 0, 137.
func (f *Fake) StopContainer(_ context.Context, in *runtimeapi.StopContainerRequest, _ ...grpc.CallOption) (*runtimeapi.StopContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("StopContainer"); err != nil {
		return nil, err
	}
	c, ok := f.containers[in.ContainerId]
	if !ok {
		return nil, notFound("container", in.ContainerId)
	}
	if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
		code := int32(143)
		if in.Timeout == 0 {
			code = 137
		}
		f.exitLocked(c, code)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer implements runtime.RuntimeService (running containers are
// removed too, like containerd's forced removal).
func (f *Fake) RemoveContainer(_ context.Context, in *runtimeapi.RemoveContainerRequest, _ ...grpc.CallOption) (*runtimeapi.RemoveContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("RemoveContainer"); err != nil {
		return nil, err
	}
	if _, ok := f.containers[in.ContainerId]; !ok {
		return nil, notFound("container", in.ContainerId)
	}
	delete(f.containers, in.ContainerId)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// ListContainers implements runtime.RuntimeService.
func (f *Fake) ListContainers(_ context.Context, in *runtimeapi.ListContainersRequest, _ ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ListContainers"); err != nil {
		return nil, err
	}
	filter := in.GetFilter()
	out := &runtimeapi.ListContainersResponse{}
	for _, c := range f.containers {
		if filter.GetId() != "" && filter.GetId() != c.ID {
			continue
		}
		if filter.GetPodSandboxId() != "" && filter.GetPodSandboxId() != c.SandboxID {
			continue
		}
		if filter.GetState() != nil && filter.GetState().State != c.State {
			continue
		}
		if !matchLabels(c.Config.Labels, filter.GetLabelSelector()) {
			continue
		}
		out.Containers = append(out.Containers, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.SandboxID, Metadata: c.Config.Metadata, Image: c.Config.Image,
			ImageRef: c.ImageRef, State: c.State, CreatedAt: c.CreatedAt,
			Labels: c.Config.Labels, Annotations: c.Config.Annotations,
		})
	}
	sort.Slice(out.Containers, func(i, j int) bool { return out.Containers[i].Id < out.Containers[j].Id })
	return out, nil
}

// ContainerStatus implements runtime.RuntimeService.
func (f *Fake) ContainerStatus(_ context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ContainerStatus"); err != nil {
		return nil, err
	}
	c, ok := f.containers[in.ContainerId]
	if !ok {
		return nil, notFound("container", in.ContainerId)
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: c.Config.Metadata, State: c.State,
		CreatedAt: c.CreatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
		ExitCode: c.ExitCode, Reason: c.Reason, Image: c.Config.Image, ImageRef: c.ImageRef,
		Labels: c.Config.Labels, Annotations: c.Config.Annotations, Mounts: c.Config.Mounts,
		LogPath: c.Config.LogPath,
	}}, nil
}

// ExecSync implements runtime.RuntimeService with ExecFunc (exit 0 and no
// output without it).
func (f *Fake) ExecSync(_ context.Context, in *runtimeapi.ExecSyncRequest, _ ...grpc.CallOption) (*runtimeapi.ExecSyncResponse, error) {
	f.mu.Lock()
	if err := f.begin("ExecSync"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	c, ok := f.containers[in.ContainerId]
	running := ok && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	exec := f.ExecFunc
	f.mu.Unlock()
	if !ok {
		return nil, notFound("container", in.ContainerId)
	}
	if !running {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", in.ContainerId)
	}
	if exec == nil {
		return &runtimeapi.ExecSyncResponse{}, nil
	}
	stdout, stderr, code := exec(in.ContainerId, in.Cmd)
	return &runtimeapi.ExecSyncResponse{Stdout: stdout, Stderr: stderr, ExitCode: code}, nil
}

// ListImages implements runtime.ImageService.
func (f *Fake) ListImages(_ context.Context, _ *runtimeapi.ListImagesRequest, _ ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ListImages"); err != nil {
		return nil, err
	}
	out := &runtimeapi.ListImagesResponse{}
	for _, img := range f.images {
		out.Images = append(out.Images, img)
	}
	sort.Slice(out.Images, func(i, j int) bool { return out.Images[i].Id < out.Images[j].Id })
	return out, nil
}

// ImageStatus implements runtime.ImageService: a missing image is a nil
// Image, not an error (as in CRI).
func (f *Fake) ImageStatus(_ context.Context, in *runtimeapi.ImageStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ImageStatus"); err != nil {
		return nil, err
	}
	return &runtimeapi.ImageStatusResponse{Image: f.findImageLocked(in.GetImage().GetImage())}, nil
}

// PullImage implements runtime.ImageService: PullFunc decides (no PullFunc:
// every pull succeeds).
func (f *Fake) PullImage(_ context.Context, in *runtimeapi.PullImageRequest, _ ...grpc.CallOption) (*runtimeapi.PullImageResponse, error) {
	f.mu.Lock()
	if err := f.begin("PullImage"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	pull := f.PullFunc
	f.mu.Unlock()
	name := in.GetImage().GetImage()
	if strings.TrimSpace(name) == "" {
		return nil, status.Error(codes.InvalidArgument, "image name is empty")
	}
	if pull != nil {
		if err := pull(name); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.PullImageResponse{ImageRef: f.addImageLocked(name)}, nil
}

// RemoveImage implements runtime.ImageService.
func (f *Fake) RemoveImage(_ context.Context, in *runtimeapi.RemoveImageRequest, _ ...grpc.CallOption) (*runtimeapi.RemoveImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("RemoveImage"); err != nil {
		return nil, err
	}
	if img := f.findImageLocked(in.GetImage().GetImage()); img != nil {
		delete(f.images, img.Id)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
