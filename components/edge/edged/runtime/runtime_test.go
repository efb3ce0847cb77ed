package runtime_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/edge/edged/runtime/runtimetest"
)

func TestEndpointPath(t *testing.T) {
	for _, tt := range []struct{ in, want, wantErr string }{
		{in: "unix:///run/containerd/containerd.sock", want: "/run/containerd/containerd.sock"},
		{in: "/run/containerd/containerd.sock", want: "/run/containerd/containerd.sock"},
		{in: "unix://relative.sock", wantErr: "absolute"},
		{in: "tcp://127.0.0.1:1234", wantErr: "only unix sockets"},
		{in: "", wantErr: "only unix sockets"},
	} {
		got, err := runtime.EndpointPath(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("EndpointPath(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EndpointPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// criServer serves a Fake's Version and Status over gRPC, enough for Dial.
type criServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	fake       *runtimetest.Fake
	apiVersion atomic.Value // string overriding the reported API version
}

func (s *criServer) Version(ctx context.Context, in *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	v, err := s.fake.Version(ctx, in)
	if api, _ := s.apiVersion.Load().(string); err == nil && api != "" {
		v.RuntimeApiVersion = api
	}
	return v, err
}

func (s *criServer) Status(ctx context.Context, in *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return s.fake.Status(ctx, in)
}

func serveCRI(t *testing.T, srv *criServer) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(g, srv)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	return sock
}

func TestDial(t *testing.T) {
	ctx := context.Background()
	fake := runtimetest.New()
	srv := &criServer{fake: fake}
	sock := serveCRI(t, srv)

	for _, endpoint := range []string{"unix://" + sock, sock} {
		rt, err := runtime.Dial(ctx, endpoint)
		if err != nil {
			t.Fatalf("Dial(%s): %v", endpoint, err)
		}
		if rt.Name != "fake" || rt.APIVersion != "v1" {
			t.Errorf("version %q %q", rt.Name, rt.APIVersion)
		}
		if err := rt.Close(); err != nil {
			t.Error(err)
		}
	}

	fake.SetReady(true, false)
	rt, err := runtime.Dial(ctx, sock)
	if err != nil {
		t.Fatalf("Dial with the network not ready: %v", err)
	}
	st, err := rt.Status(ctx)
	if err != nil || !st.RuntimeReady || st.NetworkReady || !strings.Contains(st.Message, "NetworkPluginNotReady") {
		t.Errorf("Status = %+v, %v", st, err)
	}
	_ = rt.Close()

	fake.SetReady(false, false)
	if _, err := runtime.Dial(ctx, sock); err == nil || !strings.Contains(err.Error(), "runtime not ready") {
		t.Errorf("Dial with the runtime not ready: %v", err)
	}
	fake.SetReady(true, true)

	srv.apiVersion.Store("v1alpha2")
	if _, err := runtime.Dial(ctx, sock); err == nil || !strings.Contains(err.Error(), "want v1") {
		t.Errorf("Dial to a v1alpha2 runtime: %v", err)
	}

	if _, err := runtime.Dial(ctx, filepath.Join(filepath.Dir(sock), "absent.sock")); err == nil {
		t.Error("Dial to a missing socket succeeded")
	}
}
