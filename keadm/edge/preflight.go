package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/edge/edgecore"
	"github.com/cleanedge/kubeedge/keadm/preflight"
	"github.com/cleanedge/kubeedge/keadm/service"
)

// Names of join's own preflight checks (for --ignore-preflight-errors).
const (
	CheckEdgecoreRunning   = "Process-edgecore"
	CheckCloudCoreHere     = "CloudCoreInstalled"
	CheckToken             = "JoinToken"
	CheckNodeName          = "NodeName"
	CheckConfig            = "EdgeCoreConfig"
	CheckBinary            = "EdgeCoreBinary"
	CheckWebsocketReach    = "CloudCoreWebsocket"
	CheckCertPortReachable = "CloudCoreCertPort"
)

const reachHint = "This is the most common cause of a failed join: check that cloudcore is running, " +
	"that no firewall or cloud security group blocks TCP port %s from this machine to %s, and that %s is right (%s)"

func runPreflight(ctx context.Context, d *JoinData) error {
	c := &d.cfg
	if c.RuntimeType == RuntimeDocker {
		fmt.Fprintf(d.out, "[preflight] Note: --runtimetype docker is mapped to the CRI runtime at %s (there is no dockershim)\n",
			d.ec.Modules.Edged.RemoteRuntimeEndpoint)
	}
	if c.KubeEdgeVersion != "" {
		fmt.Fprintf(d.out, "[preflight] Note: --kubeedge-version %s is ignored: keadm installs the edgecore shipped with it (%s)\n",
			c.KubeEdgeVersion, c.EdgecoreBinary)
	}
	if c.WithMQTT {
		fmt.Fprintln(d.out, "[preflight] Note: --with-mqtt: no mosquitto container is deployed; devices need an MQTT broker at "+
			d.ec.Modules.EventBus.MqttServerExternal)
	}
	host, port, _ := net.SplitHostPort(c.CloudCoreIPPort)
	certPort := strconv.Itoa(c.CertPort)
	roots := c.Roots
	writable := []string{roots.Etc, roots.VarLib, roots.Log, roots.Bin, roots.Run, roots.Edged}
	if d.deps.ServiceKind == "systemd" {
		writable = append(writable, roots.UnitDir)
	}
	checks := []preflight.Checker{
		edgecoreCheck{d: d},
		cloudCoreHereCheck{path: roots.CloudCoreConfig()},
		checkFunc{CheckToken, func(context.Context) error { return d.checkToken() }},
		checkFunc{CheckNodeName, func(context.Context) error {
			if err := certs.ValidateNodeName(c.NodeName); err != nil {
				return fmt.Errorf("%w; pass --edgenode-name with lower-case letters, digits, '-' and '.'", err)
			}
			return nil
		}},
		checkFunc{CheckConfig, func(context.Context) error {
			if err := d.ec.Validate(); err != nil {
				return fmt.Errorf("the edgecore configuration join would write is invalid:\n%w", err)
			}
			return nil
		}},
		checkFunc{CheckBinary, func(context.Context) error { return checkBinary(c.EdgecoreBinary) }},
		preflight.IsPrivilegedUser{WritablePaths: writable},
		d.deps.Cloud.Reachable(CheckWebsocketReach, c.CloudCoreIPPort,
			fmt.Sprintf(reachHint, port, host, "--cloudcore-ipport", "cloudcore's websocket address, port 10000 by default")),
		d.deps.Cloud.Reachable(CheckCertPortReachable, c.CertAddress(),
			fmt.Sprintf(reachHint, certPort, host, "--certport", "CloudHub's HTTPS port, 10002 by default")),
	}
	return preflight.Run(ctx, checks, c.IgnorePreflight, d.out)
}

// checkFunc is a check returning at most one error.
type checkFunc struct {
	name string
	fn   func(context.Context) error
}

func (c checkFunc) Name() string { return c.name }
func (c checkFunc) Check(ctx context.Context) (warnings, errs []error) {
	if err := c.fn(ctx); err != nil {
		return nil, []error{err}
	}
	return nil, nil
}

func (d *JoinData) checkToken() error {
	if d.cfg.Token == "" {
		hub := edgecore.HubConfig(d.ec)
		if hub.Token != "" {
			return nil
		}
		if owner, ok := d.certOwner(hub); !ok || owner != d.cfg.NodeName {
			return fmt.Errorf("no --token given and no valid certificate of node %q at %s: get a token with `keadm gettoken` on the cloud and pass it with --token",
				d.cfg.NodeName, hub.CertFile)
		}
		return nil
	}
	_, err := certs.ParseToken(d.cfg.Token)
	return err
}

func checkBinary(path string) error {
	if path == "" {
		return errors.New("no edgecore binary next to keadm or in PATH: pass --edgecore-binary")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("edgecore binary: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("edgecore binary %s is not an executable file", path)
	}
	return nil
}

// edgecoreCheck fails if edgecore already runs, unless it runs from these
// roots for the same node (a re-run, which restarts it).
type edgecoreCheck struct{ d *JoinData }

func (edgecoreCheck) Name() string { return CheckEdgecoreRunning }

func (c edgecoreCheck) Check(ctx context.Context) (warnings, errs []error) {
	d := c.d
	st, err := d.deps.Services.Status(ctx, ServiceName)
	if err == nil && st.State == service.StateRunning {
		running := d.existingNode
		if running != "" && running == d.cfg.NodeName {
			return []error{fmt.Errorf("edgecore is already running (pid %d) for node %q: it will be restarted with the new configuration", st.PID, running)}, nil
		}
		who := ""
		if running != "" {
			who = fmt.Sprintf(" for node %q", running)
		}
		return nil, []error{fmt.Errorf("edgecore is already running (pid %d)%s; run keadm reset first (with the same --root)", st.PID, who)}
	}
	if !d.cfg.Roots.IsDefault() {
		// Other roots may hold other nodes' edgecores: only this root counts.
		return nil, nil
	}
	w, errs := preflight.ProcessNotRunning{Process: ServiceName, ProcRoot: d.deps.ProcRoot}.Check(ctx)
	for i, e := range errs {
		errs[i] = fmt.Errorf("%w; run keadm reset first", e)
	}
	return w, errs
}

// cloudCoreHereCheck fails if cloudcore is installed under the same roots:
// both would use the same certificate files.
type cloudCoreHereCheck struct{ path string }

func (cloudCoreHereCheck) Name() string { return CheckCloudCoreHere }

func (c cloudCoreHereCheck) Check(context.Context) (warnings, errs []error) {
	if _, err := os.Stat(c.path); err == nil {
		return nil, []error{fmt.Errorf("cloudcore is installed under the same root (%s): an edge node and cloudcore cannot share it; join with another --root", c.path)}
	}
	return nil, nil
}
