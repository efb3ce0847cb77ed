package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cleanedge/kubeedge/keadm/layout"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// Deps is everything init acts on.
type Deps struct {
	// Client talks to the cluster (secrets, namespace, version).
	Client kubernetes.Interface
	// Dynamic creates the CRDs.
	Dynamic dynamic.Interface
	// Services installs and starts cloudcore.
	Services service.Manager
	// Disk maps the files init writes to where they are written.
	Disk Disk
	// Waiter waits for cloudcore to answer.
	Waiter Waiter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HostIP returns this machine's address when no advertise address is
	// known; nil means the first global unicast IP of the interfaces.
	HostIP func() (string, error)
	// PollInterval is how often waits poll; 0 means 500ms.
	PollInterval time.Duration
}

func (d Deps) withDefaults() (Deps, error) {
	var missing []string
	if d.Client == nil {
		missing = append(missing, "Client")
	}
	if d.Dynamic == nil {
		missing = append(missing, "Dynamic")
	}
	if d.Services == nil {
		missing = append(missing, "Services")
	}
	if d.Disk == nil {
		missing = append(missing, "Disk")
	}
	if d.Waiter == nil {
		missing = append(missing, "Waiter")
	}
	if len(missing) > 0 {
		return d, fmt.Errorf("init dependencies missing: %v", missing)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.HostIP == nil {
		d.HostIP = HostIP
	}
	if d.PollInterval <= 0 {
		d.PollInterval = 500 * time.Millisecond
	}
	return d, nil
}

// NewDeps returns the dependencies of a real run of cfg, or of a dry run if
// cfg.DryRun is set. The returned cleanup removes what a dry run left in its
// temporary directory; call it when done.
func NewDeps(cfg InitConfig, out io.Writer) (deps Deps, cleanup func(), err error) {
	cfg = cfg.WithDefaults()
	if out == nil {
		out = io.Discard
	}
	if cfg.DryRun {
		return NewDryRunDeps(cfg, out)
	}
	client, dyn, err := Clients(cfg.KubeConfig, cfg.Master)
	if err != nil {
		return Deps{}, nil, err
	}
	return Deps{
		Client:   client,
		Dynamic:  dyn,
		Services: serviceManager(cfg.Roots, &prefixWriter{w: out, prefix: "[start] "}),
		Disk:     HostDisk{},
		Waiter:   HTTPWaiter{},
	}, func() {}, nil
}

// Clients builds the Kubernetes and dynamic clients from a kubeconfig file
// and an optional master URL.
func Clients(kubeconfig, master string) (kubernetes.Interface, dynamic.Interface, error) {
	if kubeconfig == "" && master == "" {
		return nil, nil, errors.New("no kubeconfig: pass --kube-config (or --master)")
	}
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, nil, fmt.Errorf("kubeconfig %s: %w (pass --kube-config)", kubeconfig, err)
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags(master, kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	rc.Timeout = 30 * time.Second
	rc.QPS, rc.Burst = 50, 100 // init makes a few dozen requests; the default 5/s throttles them
	rc.UserAgent = "keadm"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return client, dyn, nil
}

// serviceManager returns the manager of cloudcore for roots (see service.ForRoots).
func serviceManager(roots layout.Roots, out io.Writer) service.Manager {
	m, _ := service.ForRoots(roots, out)
	return m
}

// DryRunServerVersion is what the dry run's fake API server says it is.
const DryRunServerVersion = "(dry run: no cluster contacted)"

// NewDryRunDeps returns dependencies that change nothing: an empty fake
// cluster that establishes CRDs at once, a service manager that records
// (reading the real state), files written under a temporary directory and a
// waiter that only says what it would wait for.
func NewDryRunDeps(cfg InitConfig, out io.Writer) (Deps, func(), error) {
	cfg = cfg.WithDefaults()
	dir, err := os.MkdirTemp("", "keadm-init-dryrun-")
	if err != nil {
		return Deps{}, nil, fmt.Errorf("dry run: %w", err)
	}
	return Deps{
		Client:   FakeClient(),
		Dynamic:  FakeDynamic(),
		Services: &RecordingServices{Real: serviceManager(cfg.Roots, io.Discard)},
		Disk:     OverlayDisk{Dir: dir},
		Waiter:   DryRunWaiter{Out: out},
	}, func() { _ = os.RemoveAll(dir) }, nil
}

// FakeClient returns an empty fake cluster whose version is
// DryRunServerVersion.
func FakeClient() *kubefake.Clientset {
	c := kubefake.NewClientset()
	if fd, ok := c.Discovery().(*fakediscovery.FakeDiscovery); ok {
		fd.FakedServerVersion = &version.Info{GitVersion: DryRunServerVersion}
	}
	return c
}

// CRDResource is the resource of CustomResourceDefinitions.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// FakeDynamic returns an empty fake dynamic client that knows CRDs and marks
// every CRD it stores as Established, as an API server does.
func FakeDynamic(objects ...runtime.Object) *dynamicfake.FakeDynamicClient {
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{CRDResource: "CustomResourceDefinitionList"}, objects...)
	establish := func(action k8stesting.Action) (bool, runtime.Object, error) {
		var obj runtime.Object
		switch a := action.(type) {
		case k8stesting.CreateAction:
			obj = a.GetObject()
		case k8stesting.UpdateAction:
			obj = a.GetObject()
		}
		if u, ok := obj.(*unstructured.Unstructured); ok {
			_ = unstructured.SetNestedSlice(u.Object, []any{
				map[string]any{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
				map[string]any{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
			}, "status", "conditions")
		}
		return false, nil, nil
	}
	c.PrependReactor("create", CRDResource.Resource, establish)
	c.PrependReactor("update", CRDResource.Resource, establish)
	return c
}

// HostIP returns the first global unicast IPv4 address of this machine,
// else the first global unicast IPv6 address.
func HostIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	var v6 string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String(), nil
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	if v6 != "" {
		return v6, nil
	}
	return "", errors.New("no global unicast address on any interface; pass --advertise-address")
}

// RecordingServices is a service manager for dry runs: it records Install,
// Start and Stop and asks Real (if set) only for Status.
type RecordingServices struct {
	Real      service.Manager
	Installed []service.Spec
	Started   []string
	Stopped   []string
}

var _ service.Manager = (*RecordingServices)(nil)

// Install records spec.
func (r *RecordingServices) Install(_ context.Context, spec service.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	r.Installed = append(r.Installed, spec.WithDefaults())
	return nil
}

// Start records name.
func (r *RecordingServices) Start(_ context.Context, name string) error {
	r.Started = append(r.Started, name)
	return nil
}

// Stop records name.
func (r *RecordingServices) Stop(_ context.Context, name string) error {
	r.Stopped = append(r.Stopped, name)
	return nil
}

// Status asks Real, else says the service is not installed.
func (r *RecordingServices) Status(ctx context.Context, name string) (service.Status, error) {
	if r.Real != nil {
		return r.Real.Status(ctx, name)
	}
	return service.Status{Name: name, State: service.StateStopped, Manager: "recording"},
		fmt.Errorf("%s: %w", name, service.ErrNotInstalled)
}

// Uninstall does nothing.
func (r *RecordingServices) Uninstall(context.Context, string) error { return nil }

// prefixWriter prefixes every line written through it.
type prefixWriter struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if !p.midLine {
			out = append(out, p.prefix...)
			p.midLine = true
		}
		out = append(out, c)
		if c == '\n' {
			p.midLine = false
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
