package v1alpha2

import (
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/components/apis/internal/configfile"
)

// NewDefault returns the configuration with upstream v1.12's defaults, except
// for the values upstream derives from the host at generation time, which
// are left empty for the caller to fill (FillHostDefaults, keadm join):
// edged.hostnameOverride, edged.nodeIP, edgeHub.websocket.server,
// edgeHub.quic.server and edgeHub.httpServer. The defaults therefore do not
// depend on the machine; they do not pass Validate until filled.
func NewDefault() *EdgeCore {
	const (
		etc     = DefaultEtcRoot
		caFile  = etc + "/ca/rootCA.crt"
		crtFile = etc + "/certs/server.crt"
		keyFile = etc + "/certs/server.key"
		cri     = "unix:///var/run/dockershim.sock"
	)
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	return &EdgeCore{
		APIVersion: APIVersion,
		Kind:       Kind,
		Database: Database{
			DriverName: "sqlite3",
			AliasName:  "default",
			DataSource: DefaultVarLibRoot + "/edgecore.db",
		},
		Modules: Modules{
			Edged: Edged{
				Enable: true,
				TailoredKubeletConfig: TailoredKubeletConfig{
					Address:                   "127.0.0.1",
					ReadOnlyPort:              10350,
					HealthzBindAddress:        "127.0.0.1",
					HealthzPort:               10248,
					CgroupDriver:              CgroupDriverCgroupfs,
					CgroupsPerQOS:             true,
					ClusterDNS:                []string{},
					MaxPods:                   110,
					PodPidsLimit:              -1,
					SyncFrequency:             dur(time.Minute),
					NodeStatusUpdateFrequency: dur(10 * time.Second),
					NodeStatusReportFrequency: dur(5 * time.Minute),
					NodeLeaseDurationSeconds:  40,
					ImageMinimumGCAge:         dur(2 * time.Minute),
					// KubeEdge lowers the kubelet's 85/80.
					ImageGCHighThresholdPercent:               80,
					ImageGCLowThresholdPercent:                40,
					RuntimeRequestTimeout:                     dur(2 * time.Minute),
					ResolvConf:                                "/etc/resolv.conf",
					VolumePluginDir:                           "/usr/libexec/kubernetes/kubelet-plugins/volume/exec/",
					ContentType:                               "application/json",
					ConfigMapAndSecretChangeDetectionStrategy: "Get",
					SerializeImagePulls:                       true,
					EvictionHard: map[string]string{
						"memory.available":  "100Mi",
						"nodefs.available":  "10%",
						"nodefs.inodesFree": "5%",
						"imagefs.available": "15%",
					},
					ContainerLogMaxSize:  "10Mi",
					ContainerLogMaxFiles: 5,
					RegisterNode:         true,
					RegisterWithTaints:   []corev1.Taint{},
				},
				RegisterNodeNamespace:     "default",
				KubeConfig:                etc + "/config/kubeconfig",
				ContainerRuntime:          ContainerRuntimeDocker,
				DockershimRootDirectory:   "/var/lib/dockershim",
				PodSandboxImage:           "kubeedge/pause:3.1",
				DockerEndpoint:            "unix:///var/run/docker.sock",
				ImagePullProgressDeadline: dur(time.Minute),
				NetworkPluginMTU:          1500,
				CNIConfDir:                "/etc/cni/net.d",
				CNIBinDir:                 "/opt/cni/bin",
				CNICacheDir:               "/var/lib/cni/cache",
				RootDirectory:             DefaultEdgedRoot,
				MasterServiceNamespace:    "default",
				RemoteRuntimeEndpoint:     cri,
				RemoteImageEndpoint:       cri,
				MaxContainerCount:         -1,
				MaxPerPodContainerCount:   1,
				MinimumGCAge:              dur(0),
				NonMasqueradeCIDR:         "10.0.0.0/8",
				NodeLabels:                map[string]string{},
				RegisterNode:              true,
				RegisterWithTaints:        []corev1.Taint{},
				RegisterSchedulable:       true,
				SeccompProfileRoot:        DefaultEdgedRoot + "/seccomp",
			},
			EdgeHub: EdgeHub{
				Enable:            true,
				Heartbeat:         15,
				MessageQPS:        30,
				MessageBurst:      60,
				ProjectID:         "e632aba927ea4ac2b575ec1603d56f10",
				TLSCAFile:         caFile,
				TLSCertFile:       crtFile,
				TLSPrivateKeyFile: keyFile,
				Quic: EdgeHubQUIC{
					HandshakeTimeout: 30,
					ReadDeadline:     15,
					WriteDeadline:    15,
				},
				WebSocket: EdgeHubWebSocket{
					Enable:           true,
					HandshakeTimeout: 30,
					ReadDeadline:     15,
					WriteDeadline:    15,
				},
				RotateCertificates: true,
			},
			EventBus: EventBus{
				Enable:               true,
				MqttSessionQueueSize: 100,
				MqttServerExternal:   "tcp://127.0.0.1:1883",
				MqttServerInternal:   "tcp://127.0.0.1:1884",
				MqttMode:             MqttModeExternal,
				TLS: EventBusTLS{
					TLSMqttCAFile:         caFile,
					TLSMqttCertFile:       crtFile,
					TLSMqttPrivateKeyFile: keyFile,
				},
			},
			MetaManager: MetaManager{
				Enable:             true,
				ContextSendGroup:   "hub",
				ContextSendModule:  "websocket",
				RemoteQueryTimeout: 60,
				MetaServer: MetaServer{
					Server:            "127.0.0.1:10550",
					TLSCaFile:         caFile,
					TLSCertFile:       crtFile,
					TLSPrivateKeyFile: keyFile,
				},
				DBPath: DefaultVarLibRoot + "/meta.db",
			},
			ServiceBus: ServiceBus{Server: "127.0.0.1", Port: 9060, Timeout: 60},
			DeviceTwin: DeviceTwin{Enable: true},
			EdgeStream: EdgeStream{
				TLSTunnelCAFile:         caFile,
				TLSTunnelCertFile:       crtFile,
				TLSTunnelPrivateKeyFile: keyFile,
				HandshakeTimeout:        30,
				ReadDeadline:            15,
				Server:                  "127.0.0.1:" + strconv.Itoa(DefaultTunnelPort),
				WriteDeadline:           15,
			},
		},
		FeatureGates: map[string]bool{},
	}
}

// NewMinimal returns what a minimal edgecore.yaml (--minconfig) decodes to,
// which is the defaults: a minimal file is the defaults with only the keys a
// user usually edits written out. Print it with MarshalMinimal.
func NewMinimal() *EdgeCore {
	return NewDefault()
}

// minimalKeys are the keys MarshalMinimal writes: those keadm join sets and
// a few commonly changed ones.
var minimalKeys = []string{
	"apiVersion",
	"kind",
	"database.dataSource",
	"modules.edged.hostnameOverride",
	"modules.edged.nodeIP",
	"modules.edged.nodeLabels",
	"modules.edged.registerNodeNamespace",
	"modules.edged.containerRuntime",
	"modules.edged.remoteRuntimeEndpoint",
	"modules.edged.remoteImageEndpoint",
	"modules.edged.podSandboxImage",
	"modules.edged.tailoredKubeletConfig.cgroupDriver",
	"modules.edgeHub.heartbeat",
	"modules.edgeHub.httpServer",
	"modules.edgeHub.tlsCaFile",
	"modules.edgeHub.tlsCertFile",
	"modules.edgeHub.tlsPrivateKeyFile",
	"modules.edgeHub.token",
	"modules.edgeHub.websocket",
	"modules.eventBus.mqttMode",
	"modules.eventBus.mqttQOS",
	"modules.eventBus.mqttRetain",
	"modules.eventBus.mqttServerExternal",
	"modules.eventBus.mqttServerInternal",
	"modules.metaManager.metaServer.enable",
	"modules.edgeStream.enable",
	"modules.edgeStream.server",
}

// FillHostDefaults fills, where empty, what upstream derives from the host
// when it builds its defaults: edged.hostnameOverride (hostname, lower-cased),
// edged.nodeIP (ip), and — pointing at ip, as upstream does —
// edgeHub.websocket.server (ip:10000), edgeHub.quic.server (ip:10001) and
// edgeHub.httpServer (https://ip:10002). Empty arguments fill nothing.
func (c *EdgeCore) FillHostDefaults(hostname, ip string) {
	e, h := &c.Modules.Edged, &c.Modules.EdgeHub
	fill := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	if hostname != "" {
		fill(&e.HostnameOverride, strings.ToLower(hostname))
	}
	if ip == "" {
		return
	}
	fill(&e.NodeIP, ip)
	fill(&h.WebSocket.Server, net.JoinHostPort(ip, strconv.Itoa(DefaultWebSocketPort)))
	fill(&h.Quic.Server, net.JoinHostPort(ip, strconv.Itoa(DefaultQUICPort)))
	fill(&h.HTTPServer, "https://"+net.JoinHostPort(ip, strconv.Itoa(DefaultHTTPSPort)))
}

// SetRoots moves the default file locations under other roots, so that
// several edge nodes (or a test) can run on one machine: every path under
// /etc/kubeedge (CA, certificates, kubeconfig) is moved under etc, every path
// under /var/lib/kubeedge (databases) under varlib, and every path under
// /var/lib/edged (edged's root directory, seccomp profiles) under edged.
// Paths already changed from their defaults are left alone, and so are
// system paths (CNI directories, resolv.conf, runtime sockets); an empty root
// leaves its paths alone. Every path is also an ordinary field that can be
// set directly.
func (c *EdgeCore) SetRoots(etc, varlib, edged string) {
	configfile.Reroot(etc, DefaultEtcRoot, c.etcPaths()...)
	configfile.Reroot(varlib, DefaultVarLibRoot, c.varLibPaths()...)
	configfile.Reroot(edged, DefaultEdgedRoot, c.edgedPaths()...)
}

// etcPaths are the fields holding files under /etc/kubeedge by default.
func (c *EdgeCore) etcPaths() []*string {
	m := &c.Modules
	h, b, s, t := &m.EdgeHub, &m.EventBus.TLS, &m.MetaManager.MetaServer, &m.EdgeStream
	return []*string{
		&m.Edged.KubeConfig,
		&h.TLSCAFile, &h.TLSCertFile, &h.TLSPrivateKeyFile,
		&b.TLSMqttCAFile, &b.TLSMqttCertFile, &b.TLSMqttPrivateKeyFile,
		&s.TLSCaFile, &s.TLSCertFile, &s.TLSPrivateKeyFile,
		&t.TLSTunnelCAFile, &t.TLSTunnelCertFile, &t.TLSTunnelPrivateKeyFile,
	}
}

// varLibPaths are the fields holding files under /var/lib/kubeedge by default.
func (c *EdgeCore) varLibPaths() []*string {
	return []*string{&c.Database.DataSource, &c.Modules.MetaManager.DBPath}
}

// edgedPaths are the fields holding files under /var/lib/edged by default.
func (c *EdgeCore) edgedPaths() []*string {
	e := &c.Modules.Edged
	return []*string{&e.RootDirectory, &e.SeccompProfileRoot}
}
