package edge

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

// Defaults of JoinConfig.
const (
	// DefaultCertPort is CloudHub's HTTPS (certificate) port, upstream --certport.
	DefaultCertPort = v1alpha2.DefaultHTTPSPort
	// DefaultRemoteRuntimeEndpoint is containerd's CRI socket. Upstream's
	// default is dockershim's, which this implementation does not have.
	DefaultRemoteRuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	// dockershimEndpoint is upstream's default CRI endpoint.
	dockershimEndpoint = "unix:///var/run/dockershim.sock"
	// DefaultWait is how long join waits for edgecore to connect.
	DefaultWait = 2 * time.Minute
	// ServiceName is the name of edgecore's service (edgecore.service).
	ServiceName = "edgecore"
)

// Runtime types accepted by --runtimetype.
const (
	RuntimeRemote = "remote"
	// RuntimeDocker is accepted for upstream compatibility and mapped to
	// RuntimeRemote: there is no dockershim, Docker is reached through CRI.
	RuntimeDocker = "docker"
)

// JoinConfig is what keadm join is asked to do. Empty fields take their
// defaults (Complete); fields documented as "kept on re-run" keep the value
// of an existing edgecore.yaml when empty.
type JoinConfig struct {
	// CloudCoreIPPort is host:port of CloudHub's websocket server (required,
	// upstream --cloudcore-ipport).
	CloudCoreIPPort string
	// CertPort is CloudHub's HTTPS port on the same host (default 10002,
	// upstream --certport).
	CertPort int
	// Token is the join token from `keadm gettoken`. It may be empty when
	// the node already holds a valid certificate (a re-run); kept on re-run.
	Token string
	// NodeName is the node's name: default the existing configuration's,
	// else the lower-cased hostname.
	NodeName string
	// Labels are added to edged.nodeLabels.
	Labels map[string]string
	// CgroupDriver is cgroupfs or systemd: default cgroupfs, kept on re-run.
	CgroupDriver string
	// RemoteRuntimeEndpoint is the CRI socket, also used as the image
	// endpoint: default DefaultRemoteRuntimeEndpoint, kept on re-run.
	RemoteRuntimeEndpoint string
	// RuntimeType is "remote" or "docker" (mapped to remote); default remote.
	RuntimeType string
	// Roots are where everything is written; zero means upstream's paths.
	Roots layout.Roots
	// EdgecoreBinary is the edgecore to install: default `edgecore` next to
	// the running keadm, else from PATH.
	EdgecoreBinary string
	// IgnorePreflight names preflight checks whose errors become warnings
	// ("all" for every check).
	IgnorePreflight []string
	// SkipPhases lists phases not to run (Join only; the CLI binds it to the
	// runner).
	SkipPhases []string
	// DryRun is informational: the caller passes DryRunDeps.
	DryRun bool
	// Wait bounds the wait for edgecore to connect (default 2m).
	Wait time.Duration
	// WithMQTT is upstream's --with-mqtt; no mosquitto container is deployed,
	// join only says so.
	WithMQTT bool
	// KubeEdgeVersion is upstream's --kubeedge-version; join installs the
	// edgecore shipped with keadm and only says so.
	KubeEdgeVersion string
	// ExtraConfig, if set, edits the configuration after the flags are
	// applied and before it is validated and written.
	ExtraConfig func(*v1alpha2.EdgeCore)
}

// host is the cloud host of CloudCoreIPPort.
func (c *JoinConfig) host() string {
	h, _, _ := net.SplitHostPort(c.CloudCoreIPPort)
	return h
}

// CertAddress is host:certport, the certificate server join fetches the CA from.
func (c *JoinConfig) CertAddress() string {
	return net.JoinHostPort(c.host(), strconv.Itoa(c.CertPort))
}

// validate checks the fields that need no machine state. It runs before any
// phase, so that a typo never half-joins a node.
func (c *JoinConfig) validate() error {
	var errs []error
	if c.CloudCoreIPPort == "" {
		errs = append(errs, errors.New("--cloudcore-ipport is required: the IP:port of cloudcore's websocket server, e.g. 192.168.1.2:10000"))
	} else if host, port, err := net.SplitHostPort(c.CloudCoreIPPort); err != nil || host == "" || !validPort(port) {
		errs = append(errs, fmt.Errorf("--cloudcore-ipport %q is not a host:port such as 192.168.1.2:10000", c.CloudCoreIPPort))
	}
	if c.CertPort != 0 && (c.CertPort < 1 || c.CertPort > 65535) {
		errs = append(errs, fmt.Errorf("--certport %d is not a port number (1-65535)", c.CertPort))
	}
	switch c.CgroupDriver {
	case "", v1alpha2.CgroupDriverCgroupfs, v1alpha2.CgroupDriverSystemd:
	default:
		errs = append(errs, fmt.Errorf("--cgroupdriver %q: use %s or %s", c.CgroupDriver, v1alpha2.CgroupDriverCgroupfs, v1alpha2.CgroupDriverSystemd))
	}
	switch c.RuntimeType {
	case "", RuntimeRemote, RuntimeDocker:
	default:
		errs = append(errs, fmt.Errorf("--runtimetype %q: use %s (CRI; %s is accepted and mapped to it)", c.RuntimeType, RuntimeRemote, RuntimeDocker))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("--labels: key %q: %s", k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(c.Labels[k]) {
			errs = append(errs, fmt.Errorf("--labels: value %q of %q: %s", c.Labels[k], k, msg))
		}
	}
	if c.Wait < 0 {
		errs = append(errs, fmt.Errorf("--wait %s must not be negative", c.Wait))
	}
	return errors.Join(errs...)
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// ParseLabels reads --labels values: "k=v" items, each possibly holding
// several comma-separated pairs ("k=v,k2=v2").
func ParseLabels(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range items {
		for pair := range strings.SplitSeq(item, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			k, v, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("--labels: %q is not key=value", pair)
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// buildConfig returns the edgecore.yaml join writes: the existing file's
// settings if there is one (existing non-nil), else the defaults under the
// roots, with what the flags set on top.
func (c *JoinConfig) buildConfig(existing *v1alpha2.EdgeCore, localIP string) *v1alpha2.EdgeCore {
	host := c.host()
	ec := existing
	if ec == nil {
		ec = v1alpha2.NewDefault()
		ec.SetRoots(c.Roots.Etc, c.Roots.VarLib, c.Roots.Edged)
		ec.Modules.EdgeHub.Quic.Server = net.JoinHostPort(host, strconv.Itoa(v1alpha2.DefaultQUICPort))
	}
	e, h := &ec.Modules.Edged, &ec.Modules.EdgeHub
	e.HostnameOverride = c.NodeName
	ec.FillHostDefaults(c.NodeName, localIP)

	h.WebSocket.Server = c.CloudCoreIPPort
	h.HTTPServer = "https://" + c.CertAddress()
	if c.Token != "" {
		h.Token = strings.TrimSpace(c.Token)
	}
	if c.CgroupDriver != "" {
		e.TailoredKubeletConfig.CgroupDriver = c.CgroupDriver
	}
	switch {
	case c.RemoteRuntimeEndpoint != "":
		e.RemoteRuntimeEndpoint = c.RemoteRuntimeEndpoint
	case e.RemoteRuntimeEndpoint == "" || e.RemoteRuntimeEndpoint == dockershimEndpoint:
		// Upstream's default: there is no dockershim here.
		e.RemoteRuntimeEndpoint = DefaultRemoteRuntimeEndpoint
	}
	// There is no dockershim: the runtime is always reached through CRI.
	e.ContainerRuntime = v1alpha2.ContainerRuntimeRemote
	e.RemoteImageEndpoint = e.RemoteRuntimeEndpoint
	if len(c.Labels) > 0 {
		if e.NodeLabels == nil {
			e.NodeLabels = map[string]string{}
		}
		maps.Copy(e.NodeLabels, c.Labels)
	}
	ec.Modules.EdgeStream.Server = net.JoinHostPort(host, strconv.Itoa(v1alpha2.DefaultTunnelPort))
	if c.ExtraConfig != nil {
		c.ExtraConfig(ec)
	}
	return ec
}
