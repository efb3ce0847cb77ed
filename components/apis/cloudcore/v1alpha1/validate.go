package v1alpha1

import (
	"strings"

	"github.com/cleanedge/kubeedge/components/apis/internal/configfile"
)

// Validate checks the configuration and returns every problem found, joined
// with errors.Join; each is a *FieldError naming the field and the fix.
// Settings of disabled modules are not checked.
func (c *CloudCore) Validate() error {
	var p configfile.Problems
	if c.APIVersion != APIVersion && c.APIVersion != APIVersionHelm {
		p.Addf("apiVersion", "got %q, want %q", c.APIVersion, APIVersion)
	}
	if c.Kind != Kind {
		p.Addf("kind", "got %q, want %q", c.Kind, Kind)
	}
	p.Port("commonConfig.tunnelPort", int64(c.CommonConfig.TunnelPort))

	k := c.KubeAPIConfig
	p.NotEmpty("kubeAPIConfig.contentType", k.ContentType, "set application/vnd.kubernetes.protobuf or application/json")
	p.Positive("kubeAPIConfig.qps", int64(k.QPS), "requests per second to the API server")
	p.Positive("kubeAPIConfig.burst", int64(k.Burst), "request burst to the API server")
	if k.Master != "" {
		p.URL("kubeAPIConfig.master", k.Master, []string{"http", "https"}, "https://192.168.1.2:6443")
	}

	m := c.Modules
	if h := m.CloudHub; h.Enable {
		validateCloudHub(&p, &h)
	}
	if e := m.EdgeController; e.Enable {
		p.Positive("modules.edgeController.nodeUpdateFrequency", int64(e.NodeUpdateFrequency), "seconds")
		p.PositiveInts("modules.edgeController.buffer", e.Buffer, "a channel size")
		p.PositiveInts("modules.edgeController.load", e.Load, "a number of workers")
	}
	if d := m.DeviceController; d.Enable {
		p.PositiveInts("modules.deviceController.buffer", d.Buffer, "a channel size")
		p.PositiveInts("modules.deviceController.load", d.Load, "a number of workers")
	}
	if n := m.NodeUpgradeJobController; n.Enable {
		p.PositiveInts("modules.nodeUpgradeJobController.buffer", n.Buffer, "a channel size")
		p.PositiveInts("modules.nodeUpgradeJobController.load", n.Load, "a number of workers")
	}
	if s := m.CloudStream; s.Enable {
		const path = "modules.cloudStream."
		p.File(path+"tlsTunnelCAFile", s.TLSTunnelCAFile)
		p.File(path+"tlsTunnelCertFile", s.TLSTunnelCertFile)
		p.File(path+"tlsTunnelPrivateKeyFile", s.TLSTunnelPrivateKeyFile)
		p.Port(path+"tunnelPort", int64(s.TunnelPort))
		p.File(path+"tlsStreamCAFile", s.TLSStreamCAFile)
		p.File(path+"tlsStreamCertFile", s.TLSStreamCertFile)
		p.File(path+"tlsStreamPrivateKeyFile", s.TLSStreamPrivateKeyFile)
		p.Port(path+"streamPort", int64(s.StreamPort))
		if s.TunnelPort == s.StreamPort {
			p.Addf(path+"streamPort", "must differ from tunnelPort (%d); the defaults are 10003 and 10004", s.TunnelPort)
		}
	}
	if r := m.Router; r.Enable {
		p.IP("modules.router.address", r.Address)
		p.Port("modules.router.port", int64(r.Port))
		p.Positive("modules.router.restTimeout", int64(r.RestTimeout), "seconds")
	}
	if i := m.IptablesManager; i.Enable {
		p.OneOf("modules.iptablesManager.mode", string(i.Mode), string(IptablesModeInternal), string(IptablesModeExternal))
	}
	if a := m.EdgePodAdmission; a.Enable {
		p.IP("modules.edgePodAdmission.address", a.Address)
		p.Port("modules.edgePodAdmission.port", int64(a.Port))
	}
	return p.Err()
}

func validateCloudHub(p *configfile.Problems, h *CloudHub) {
	const path = "modules.cloudHub."
	if len(h.AdvertiseAddress) == 0 {
		p.Addf(path+"advertiseAddress", "must list at least one IP; set the address edges use to reach cloudcore, e.g. [192.168.1.2]")
	}
	for _, a := range h.AdvertiseAddress {
		p.IP(path+"advertiseAddress", a)
	}
	for _, n := range h.DNSNames {
		if n != "" {
			p.DNSSubdomain(path+"dnsNames", n, "set a DNS name such as cloudcore.example.com")
		}
	}
	p.Positive(path+"keepaliveInterval", int64(h.KeepaliveInterval), "seconds without a keepalive before a session is dropped")
	p.Positive(path+"nodeLimit", int64(h.NodeLimit), "maximum number of edge sessions")
	p.Positive(path+"writeTimeout", int64(h.WriteTimeout), "seconds")
	p.Positive(path+"edgeCertSigningDuration", h.EdgeCertSigningDuration, "days an edge certificate is valid")
	p.Positive(path+"tokenRefreshDuration", h.TokenRefreshDuration, "hours between token rotations")
	p.Positive(path+"nodeStatusGracePeriod", int64(h.NodeStatusGracePeriod), "seconds of silence before a node is NotReady")
	p.File(path+"tlsCAFile", h.TLSCAFile)
	p.File(path+"tlsCAKeyFile", h.TLSCAKeyFile)
	p.File(path+"tlsCertFile", h.TLSCertFile)
	p.File(path+"tlsPrivateKeyFile", h.TLSPrivateKeyFile)
	if !h.WebSocket.Enable && !h.Quic.Enable {
		p.Addf(path+"websocket.enable", "websocket and quic are both disabled; enable at least one so edges can connect")
	}
	if h.WebSocket.Enable {
		p.IP(path+"websocket.address", h.WebSocket.Address)
		p.Port(path+"websocket.port", int64(h.WebSocket.Port))
	}
	if h.Quic.Enable {
		p.IP(path+"quic.address", h.Quic.Address)
		p.Port(path+"quic.port", int64(h.Quic.Port))
		p.Positive(path+"quic.maxIncomingStreams", int64(h.Quic.MaxIncomingStreams), "streams per connection")
	}
	if h.HTTPS.Enable {
		p.IP(path+"https.address", h.HTTPS.Address)
		p.Port(path+"https.port", int64(h.HTTPS.Port))
	}
	if h.UnixSocket.Enable {
		if sock, ok := strings.CutPrefix(h.UnixSocket.Address, "unix://"); !ok || sock == "" {
			p.Addf(path+"unixsocket.address", "%q is not a unix:// address; set it like unix:///var/lib/kubeedge/kubeedge.sock", h.UnixSocket.Address)
		}
	}
}
