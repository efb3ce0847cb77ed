package v1alpha2

import (
	"github.com/cleanedge/kubeedge/components/apis/internal/configfile"
)

// Validate checks the configuration and returns every problem found, joined
// with errors.Join; each is a *FieldError naming the field and the fix.
// Settings of disabled modules are not checked. edgeHub.token may be empty:
// a node that already has its certificate does not need it.
func (c *EdgeCore) Validate() error {
	var p configfile.Problems
	if c.APIVersion != APIVersion {
		p.Addf("apiVersion", "got %q, want %q", c.APIVersion, APIVersion)
	}
	if c.Kind != Kind {
		p.Addf("kind", "got %q, want %q", c.Kind, Kind)
	}
	m := &c.Modules
	if m.Edged.Enable || m.EdgeHub.Enable {
		// The node name: edged registers it, EdgeHub sends it when connecting.
		p.DNSSubdomain("modules.edged.hostnameOverride", m.Edged.HostnameOverride,
			"set the node name: lower-case letters, digits, '-' and '.', e.g. edge-node-1")
	}
	if m.Edged.Enable {
		validateEdged(&p, &m.Edged)
	}
	if m.EdgeHub.Enable {
		validateEdgeHub(&p, &m.EdgeHub)
	}
	if b := m.EventBus; b.Enable {
		const path = "modules.eventBus."
		p.Range(path+"mqttMode", int64(b.MqttMode), 0, 2, "0 internal broker, 1 both, 2 external broker")
		p.Range(path+"mqttQOS", int64(b.MqttQOS), 0, 2, "MQTT QoS level")
		p.Positive(path+"mqttSessionQueueSize", int64(b.MqttSessionQueueSize), "sessions")
		brokers := []string{"tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"}
		if b.MqttMode != MqttModeInternal {
			p.URL(path+"mqttServerExternal", b.MqttServerExternal, brokers, "tcp://127.0.0.1:1883")
		}
		if b.MqttMode != MqttModeExternal {
			p.URL(path+"mqttServerInternal", b.MqttServerInternal, brokers, "tcp://127.0.0.1:1884")
		}
		if b.TLS.Enable {
			p.File(path+"eventBusTLS.tlsMqttCAFile", b.TLS.TLSMqttCAFile)
			p.File(path+"eventBusTLS.tlsMqttCertFile", b.TLS.TLSMqttCertFile)
			p.File(path+"eventBusTLS.tlsMqttPrivateKeyFile", b.TLS.TLSMqttPrivateKeyFile)
		}
	}
	if mm := m.MetaManager; mm.Enable {
		const path = "modules.metaManager."
		p.NotEmpty(path+"contextSendGroup", mm.ContextSendGroup, `set "hub"`)
		p.NotEmpty(path+"contextSendModule", mm.ContextSendModule, `set "websocket"`)
		p.Positive(path+"remoteQueryTimeout", int64(mm.RemoteQueryTimeout), "seconds")
		p.File(path+"dbPath", mm.DBPath)
		if s := mm.MetaServer; s.Enable {
			p.HostPort(path+"metaServer.server", s.Server, "127.0.0.1:10550")
		}
	}
	if s := m.ServiceBus; s.Enable {
		p.NotEmpty("modules.serviceBus.server", s.Server, "set the address to listen on, e.g. 127.0.0.1")
		p.Port("modules.serviceBus.port", int64(s.Port))
		p.Positive("modules.serviceBus.timeout", int64(s.Timeout), "seconds")
	}
	if s := m.EdgeStream; s.Enable {
		const path = "modules.edgeStream."
		p.HostPort(path+"server", s.Server, "192.168.1.2:10004 (the cloudcore host and CloudStream's tunnelPort)")
		p.Positive(path+"handshakeTimeout", int64(s.HandshakeTimeout), "seconds")
		p.Positive(path+"readDeadline", int64(s.ReadDeadline), "seconds")
		p.Positive(path+"writeDeadline", int64(s.WriteDeadline), "seconds")
		p.File(path+"tlsTunnelCAFile", s.TLSTunnelCAFile)
		p.File(path+"tlsTunnelCertFile", s.TLSTunnelCertFile)
		p.File(path+"tlsTunnelPrivateKeyFile", s.TLSTunnelPrivateKeyFile)
	}
	return p.Err()
}

func validateEdged(p *configfile.Problems, e *Edged) {
	const path = "modules.edged."
	if e.NodeIP != "" {
		p.IP(path+"nodeIP", e.NodeIP)
	}
	p.DNSLabel(path+"registerNodeNamespace", e.RegisterNodeNamespace, `set a namespace name such as "default"`)
	p.OneOf(path+"containerRuntime", e.ContainerRuntime, ContainerRuntimeRemote, ContainerRuntimeDocker)
	p.NotEmpty(path+"remoteRuntimeEndpoint", e.RemoteRuntimeEndpoint, "set the CRI socket, e.g. unix:///run/containerd/containerd.sock")
	p.NotEmpty(path+"remoteImageEndpoint", e.RemoteImageEndpoint, "set the CRI socket, e.g. unix:///run/containerd/containerd.sock")
	p.NotEmpty(path+"podSandboxImage", e.PodSandboxImage, "set the pause image, e.g. kubeedge/pause:3.1")
	p.AbsDir(path+"rootDirectory", e.RootDirectory)
	p.Labels(path+"nodeLabels", e.NodeLabels)
	if e.ImagePullProgressDeadline.Duration < 0 {
		p.Addf(path+"imagePullProgressDeadline", "must not be negative, got %s", e.ImagePullProgressDeadline.Duration)
	}

	k := &e.TailoredKubeletConfig
	const kpath = path + "tailoredKubeletConfig."
	p.OneOf(kpath+"cgroupDriver", k.CgroupDriver, CgroupDriverCgroupfs, CgroupDriverSystemd)
	p.IP(kpath+"address", k.Address)
	p.PortOrZero(kpath+"readOnlyPort", int64(k.ReadOnlyPort), "disable edged's read-only server")
	p.PortOrZero(kpath+"healthzPort", int64(k.HealthzPort), "disable the healthz server")
	if k.HealthzPort != 0 {
		p.IP(kpath+"healthzBindAddress", k.HealthzBindAddress)
	}
	for _, ip := range k.ClusterDNS {
		p.IP(kpath+"clusterDNS", ip)
	}
	p.Positive(kpath+"maxPods", int64(k.MaxPods), "pods this node can run")
	p.Positive(kpath+"nodeStatusUpdateFrequency", int64(k.NodeStatusUpdateFrequency.Duration), "a duration such as 10s")
	p.Positive(kpath+"nodeStatusReportFrequency", int64(k.NodeStatusReportFrequency.Duration), "a duration such as 5m")
	p.Positive(kpath+"syncFrequency", int64(k.SyncFrequency.Duration), "a duration such as 1m")
	p.Positive(kpath+"runtimeRequestTimeout", int64(k.RuntimeRequestTimeout.Duration), "a duration such as 2m")
	p.Positive(kpath+"nodeLeaseDurationSeconds", int64(k.NodeLeaseDurationSeconds), "seconds")
	p.Range(kpath+"imageGCHighThresholdPercent", int64(k.ImageGCHighThresholdPercent), 0, 100, "percent of disk")
	p.Range(kpath+"imageGCLowThresholdPercent", int64(k.ImageGCLowThresholdPercent), 0, 100, "percent of disk")
	if k.ImageGCLowThresholdPercent >= k.ImageGCHighThresholdPercent {
		p.Addf(kpath+"imageGCLowThresholdPercent", "must be less than imageGCHighThresholdPercent (%d), got %d",
			k.ImageGCHighThresholdPercent, k.ImageGCLowThresholdPercent)
	}
	p.OneOf(kpath+"configMapAndSecretChangeDetectionStrategy", k.ConfigMapAndSecretChangeDetectionStrategy, "Get", "Cache", "Watch")
}

func validateEdgeHub(p *configfile.Problems, h *EdgeHub) {
	const path = "modules.edgeHub."
	p.Positive(path+"heartbeat", int64(h.Heartbeat), "seconds between keepalives")
	p.Positive(path+"messageQPS", int64(h.MessageQPS), "edge-to-cloud messages per second")
	p.Positive(path+"messageBurst", int64(h.MessageBurst), "edge-to-cloud message burst")
	p.File(path+"tlsCaFile", h.TLSCAFile)
	p.File(path+"tlsCertFile", h.TLSCertFile)
	p.File(path+"tlsPrivateKeyFile", h.TLSPrivateKeyFile)
	p.URL(path+"httpServer", h.HTTPServer, []string{"https"}, "https://192.168.1.2:10002 (cloudcore's address and CloudHub's https port)")
	if !h.WebSocket.Enable && !h.Quic.Enable {
		p.Addf(path+"websocket.enable", "websocket and quic are both disabled; enable one to connect to the cloud")
	}
	if w := h.WebSocket; w.Enable {
		p.HostPort(path+"websocket.server", w.Server, "192.168.1.2:10000 (cloudcore's address and CloudHub's websocket port)")
		p.Positive(path+"websocket.handshakeTimeout", int64(w.HandshakeTimeout), "seconds")
		p.Positive(path+"websocket.readDeadline", int64(w.ReadDeadline), "seconds")
		p.Positive(path+"websocket.writeDeadline", int64(w.WriteDeadline), "seconds")
	}
	if q := h.Quic; q.Enable {
		p.HostPort(path+"quic.server", q.Server, "192.168.1.2:10001 (cloudcore's address and CloudHub's quic port)")
		p.Positive(path+"quic.handshakeTimeout", int64(q.HandshakeTimeout), "seconds")
		p.Positive(path+"quic.readDeadline", int64(q.ReadDeadline), "seconds")
		p.Positive(path+"quic.writeDeadline", int64(q.WriteDeadline), "seconds")
	}
}
