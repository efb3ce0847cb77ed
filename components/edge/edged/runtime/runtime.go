// Package runtime is Edged's container runtime layer: it turns a Kubernetes
// v1.Pod into CRI calls (k8s.io/cri-api v1) against containerd.
//
// The package has two halves:
//
//   - pure functions that build CRI configs from a pod: SandboxConfig,
//     ContainerConfig, ResolveEnv, ExpandVars, SpecHash, QOSClass and the
//     resource conversions. They read the filesystem only to create a
//     volumeMount's subPath directory.
//   - Runtime, which makes the calls the pod worker needs (EnsureImage,
//     RunSandbox, StartContainer, StopContainer, RemovePod, PodStatus,
//     ListPods) over two small interfaces, RuntimeService and ImageService.
//     Dial connects them to a real CRI socket; runtimetest.Fake implements
//     them in memory for unit tests.
//
// Pods are found again by the kubelet-style labels io.kubernetes.pod.uid,
// io.kubernetes.pod.name and io.kubernetes.pod.namespace on sandboxes and
// containers, so an edgecore restart adopts running pods (ListPods) instead of
// restarting them: all state lives in the runtime.
package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeService is the part of the CRI runtime service Edged uses. The
// generated gRPC client runtimeapi.RuntimeServiceClient satisfies it.
type RuntimeService interface {
	Version(ctx context.Context, in *runtimeapi.VersionRequest, opts ...grpc.CallOption) (*runtimeapi.VersionResponse, error)
	Status(ctx context.Context, in *runtimeapi.StatusRequest, opts ...grpc.CallOption) (*runtimeapi.StatusResponse, error)

	RunPodSandbox(ctx context.Context, in *runtimeapi.RunPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.RunPodSandboxResponse, error)
	StopPodSandbox(ctx context.Context, in *runtimeapi.StopPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error)
	RemovePodSandbox(ctx context.Context, in *runtimeapi.RemovePodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error)
	PodSandboxStatus(ctx context.Context, in *runtimeapi.PodSandboxStatusRequest, opts ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error)
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)

	CreateContainer(ctx context.Context, in *runtimeapi.CreateContainerRequest, opts ...grpc.CallOption) (*runtimeapi.CreateContainerResponse, error)
	StartContainer(ctx context.Context, in *runtimeapi.StartContainerRequest, opts ...grpc.CallOption) (*runtimeapi.StartContainerResponse, error)
	StopContainer(ctx context.Context, in *runtimeapi.StopContainerRequest, opts ...grpc.CallOption) (*runtimeapi.StopContainerResponse, error)
	RemoveContainer(ctx context.Context, in *runtimeapi.RemoveContainerRequest, opts ...grpc.CallOption) (*runtimeapi.RemoveContainerResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	ExecSync(ctx context.Context, in *runtimeapi.ExecSyncRequest, opts ...grpc.CallOption) (*runtimeapi.ExecSyncResponse, error)
}

// ImageService is the part of the CRI image service Edged uses. The
// generated gRPC client runtimeapi.ImageServiceClient satisfies it.
type ImageService interface {
	ListImages(ctx context.Context, in *runtimeapi.ListImagesRequest, opts ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error)
	ImageStatus(ctx context.Context, in *runtimeapi.ImageStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error)
	PullImage(ctx context.Context, in *runtimeapi.PullImageRequest, opts ...grpc.CallOption) (*runtimeapi.PullImageResponse, error)
	RemoveImage(ctx context.Context, in *runtimeapi.RemoveImageRequest, opts ...grpc.CallOption) (*runtimeapi.RemoveImageResponse, error)
}

// DefaultCgroupFS is where the cgroup hierarchies are mounted.
const DefaultCgroupFS = "/sys/fs/cgroup"

// Options tune a Runtime.
type Options struct {
	// CgroupFS is the cgroup mount root RemovePod cleans up under (default
	// /sys/fs/cgroup; tests point it at a temp dir).
	CgroupFS string
}

// Runtime makes the CRI calls of Edged's pod worker.
type Runtime struct {
	rs   RuntimeService
	is   ImageService
	opts Options
	conn *grpc.ClientConn

	// Name, Version and APIVersion are what the runtime's Version call
	// reported (filled by Dial).
	Name, Version, APIVersion string
}

// New wraps the given services (a real client or runtimetest.Fake).
func New(rs RuntimeService, is ImageService, opts Options) *Runtime {
	if opts.CgroupFS == "" {
		opts.CgroupFS = DefaultCgroupFS
	}
	return &Runtime{rs: rs, is: is, opts: opts}
}

// EndpointPath returns the socket path of a CRI endpoint given as
// unix:///path or as a bare absolute path.
func EndpointPath(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "unix://"):
		p := strings.TrimPrefix(endpoint, "unix://")
		if !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("CRI endpoint %q: want unix:///absolute/path", endpoint)
		}
		return p, nil
	case strings.HasPrefix(endpoint, "/"):
		return endpoint, nil
	default:
		return "", fmt.Errorf("CRI endpoint %q: only unix sockets are supported (unix:///path or /path)", endpoint)
	}
}

// Dial connects to the CRI endpoint (unix:///path or /path), checks that it
// speaks CRI v1 and that the runtime reports RuntimeReady. NetworkReady is
// not required: host-network pods run without it (see Runtime.Status).
func Dial(ctx context.Context, endpoint string) (*Runtime, error) {
	path, err := EndpointPath(endpoint)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI client for %s: %w", endpoint, err)
	}
	r := New(runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn), Options{})
	r.conn = conn
	ver, err := r.rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("CRI version at %s: %w", endpoint, err)
	}
	if ver.RuntimeApiVersion != "v1" {
		_ = conn.Close()
		return nil, fmt.Errorf("CRI at %s speaks %q, want v1", endpoint, ver.RuntimeApiVersion)
	}
	r.Name, r.Version, r.APIVersion = ver.RuntimeName, ver.RuntimeVersion, ver.RuntimeApiVersion
	st, err := r.Status(ctx)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if !st.RuntimeReady {
		_ = conn.Close()
		return nil, fmt.Errorf("CRI at %s: runtime not ready: %s", endpoint, st.Message)
	}
	return r, nil
}

// Close closes the connection Dial opened (a no-op for New).
func (r *Runtime) Close() error {
	if r.conn == nil {
		return nil
	}
	return r.conn.Close()
}

// RuntimeService returns the wrapped runtime service (for calls this package
// does not cover, such as stats).
func (r *Runtime) RuntimeService() RuntimeService { return r.rs }

// ImageService returns the wrapped image service.
func (r *Runtime) ImageService() ImageService { return r.is }

// RuntimeStatus is the runtime's readiness.
type RuntimeStatus struct {
	RuntimeReady, NetworkReady bool
	// Message explains the conditions that are not ready.
	Message string
}

// Status asks the runtime for its RuntimeReady and NetworkReady conditions.
func (r *Runtime) Status(ctx context.Context) (RuntimeStatus, error) {
	resp, err := r.rs.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return RuntimeStatus{}, fmt.Errorf("CRI status: %w", err)
	}
	var st RuntimeStatus
	var msgs []string
	for _, c := range resp.GetStatus().GetConditions() {
		switch c.Type {
		case runtimeapi.RuntimeReady:
			st.RuntimeReady = c.Status
		case runtimeapi.NetworkReady:
			st.NetworkReady = c.Status
		}
		if !c.Status {
			msgs = append(msgs, fmt.Sprintf("%s=false reason:%s message:%s", c.Type, c.Reason, c.Message))
		}
	}
	st.Message = strings.Join(msgs, "; ")
	return st, nil
}

// IsNotFound reports whether err is a CRI NotFound error.
func IsNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
}

func toTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
