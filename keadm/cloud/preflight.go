package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// runPreflight checks the cluster and this machine before anything is
// written. Checks of what a skipped phase needs are left out: the cloudcore
// binary without install, the ports without start. If cloudcore is already
// running as the service, its ports are in use by it and are not checked.
func runPreflight(ctx context.Context, d *InitData) error {
	api := &apiServerCheck{client: d.deps.Client}
	checks := []preflight.Checker{
		api,
		preflight.IsPrivilegedUser{WritablePaths: d.writablePaths()},
		advertiseCheck{addrs: d.config.Modules.CloudHub.AdvertiseAddress},
	}
	if d.willRun("install") {
		checks = append(checks, binaryCheck{path: d.cfg.CloudcoreBinary})
	}
	if d.willRun("start") {
		st, err := d.deps.Services.Status(ctx, ServiceName)
		switch {
		case err == nil && st.State == service.StateRunning:
			d.printf("preflight", "cloudcore is already running (pid %d); its ports are not checked", st.PID)
		default:
			if err != nil && !errors.Is(err, service.ErrNotInstalled) {
				d.printf("preflight", "WARNING cannot tell whether cloudcore runs: %v", err)
			}
			checks = append(checks,
				preflight.PortOpen{Port: d.cfg.WebsocketPort},
				preflight.PortOpen{Port: d.cfg.HTTPSPort})
		}
	}
	err := preflight.Run(ctx, checks, d.cfg.IgnorePreflight, d.out)
	if api.version != "" {
		d.printf("preflight", "Kubernetes API server version %s", api.version)
	}
	return err
}

// writablePaths are the directories init writes to.
func (d *InitData) writablePaths() []string {
	r := d.cfg.Roots
	paths := []string{r.Etc}
	if d.willRun("install") {
		paths = append(paths, r.Bin)
	}
	if d.willRun("start") {
		paths = append(paths, r.Log, r.Run)
		if _, ok := d.deps.Services.(*service.Systemd); ok {
			paths = append(paths, r.UnitDir)
		}
	}
	return paths
}

// apiServerCheck asks the API server for its version.
type apiServerCheck struct {
	client  kubernetes.Interface
	version string
}

func (*apiServerCheck) Name() string { return "KubeAPIServer" }

func (c *apiServerCheck) Check(context.Context) (warnings, errs []error) {
	v, err := c.client.Discovery().ServerVersion()
	if err != nil {
		return nil, []error{fmt.Errorf("the Kubernetes API server does not answer: %w; check --kube-config and --master", err)}
	}
	c.version = v.GitVersion
	return nil, nil
}

// advertiseCheck fails on an advertise address that is not an IP and warns
// about one that is not an address of this machine (fine behind NAT or a
// load balancer, a typo otherwise).
type advertiseCheck struct {
	addrs []string
}

func (advertiseCheck) Name() string { return "AdvertiseAddress" }

func (c advertiseCheck) Check(context.Context) (warnings, errs []error) {
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				local[n.IP.String()] = true
			}
		}
	}
	for _, a := range c.addrs {
		ip := net.ParseIP(a)
		switch {
		case ip == nil:
			errs = append(errs, fmt.Errorf("advertise address %q is not an IP address (use --domainname for DNS names)", a))
		case len(local) > 0 && !local[ip.String()]:
			warnings = append(warnings, fmt.Errorf("advertise address %s is not an address of this machine; "+
				"edge nodes must reach cloudcore at it (through NAT or a load balancer)", a))
		}
	}
	return warnings, errs
}

// binaryCheck checks the cloudcore program to install.
type binaryCheck struct {
	path string
}

func (binaryCheck) Name() string { return "CloudcoreBinary" }

func (c binaryCheck) Check(context.Context) (warnings, errs []error) {
	if c.path == "" {
		return nil, []error{errors.New("no cloudcore binary next to keadm or on PATH; pass --cloudcore-binary")}
	}
	fi, err := os.Stat(c.path)
	switch {
	case err != nil:
		return nil, []error{fmt.Errorf("cloudcore binary: %w", err)}
	case !fi.Mode().IsRegular():
		return nil, []error{fmt.Errorf("cloudcore binary %s is not a regular file", c.path)}
	case fi.Mode().Perm()&0o111 == 0:
		return nil, []error{fmt.Errorf("cloudcore binary %s is not executable", c.path)}
	}
	return nil, nil
}
