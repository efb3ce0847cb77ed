package v1alpha1

import (
	"github.com/cleanedge/kubeedge/components/apis/internal/configfile"
)

// NewDefault returns the configuration with upstream v1.12's defaults, except
// that cloudHub.advertiseAddress is empty: upstream fills it with the host's
// first IP at generation time; here the caller does (FillHostDefaults), so
// that the defaults do not depend on the machine.
func NewDefault() *CloudCore {
	const (
		etc     = DefaultEtcRoot
		caFile  = etc + "/ca/rootCA.crt"
		caKey   = etc + "/ca/rootCA.key"
		crtFile = etc + "/certs/server.crt"
		keyFile = etc + "/certs/server.key"
	)
	return &CloudCore{
		APIVersion:   APIVersion,
		Kind:         Kind,
		CommonConfig: CommonConfig{TunnelPort: DefaultEdgedPort},
		KubeAPIConfig: KubeAPIConfig{
			ContentType: "application/vnd.kubernetes.protobuf",
			QPS:         100,
			Burst:       200,
		},
		Modules: Modules{
			CloudHub: CloudHub{
				Enable:            true,
				KeepaliveInterval: 30,
				NodeLimit:         1000,
				TLSCAFile:         caFile,
				TLSCAKeyFile:      caKey,
				TLSCertFile:       crtFile,
				TLSPrivateKeyFile: keyFile,
				WriteTimeout:      30,
				Quic: CloudHubQUIC{
					Address:            "0.0.0.0",
					Port:               DefaultQUICPort,
					MaxIncomingStreams: 10000,
				},
				UnixSocket: CloudHubUnixSocket{
					Enable:  true,
					Address: "unix://" + DefaultVarLibRoot + "/kubeedge.sock",
				},
				WebSocket:               CloudHubWebSocket{Enable: true, Address: "0.0.0.0", Port: DefaultWebSocketPort},
				HTTPS:                   CloudHubHTTPS{Enable: true, Address: "0.0.0.0", Port: DefaultHTTPSPort},
				AdvertiseAddress:        []string{},
				DNSNames:                []string{""},
				EdgeCertSigningDuration: 365,
				TokenRefreshDuration:    12,
				NodeStatusGracePeriod:   40,
			},
			EdgeController: EdgeController{
				Enable:              true,
				NodeUpdateFrequency: 10,
				Buffer: EdgeControllerBuffer{
					UpdatePodStatus:            1024,
					UpdateNodeStatus:           1024,
					QueryConfigMap:             1024,
					QuerySecret:                1024,
					QueryService:               1024,
					QueryEndpoints:             1024,
					PodEvent:                   1,
					ConfigMapEvent:             1,
					SecretEvent:                1,
					ServiceEvent:               1,
					EndpointsEvent:             1,
					RulesEvent:                 1,
					RuleEndpointsEvent:         1,
					QueryPersistentVolume:      1024,
					QueryPersistentVolumeClaim: 1024,
					QueryVolumeAttachment:      1024,
					CreateNode:                 1024,
					PatchNode:                  1024,
					QueryNode:                  1024,
					UpdateNode:                 1024,
					PatchPod:                   1024,
					DeletePod:                  1024,
					CreateLease:                1024,
					QueryLease:                 1024,
					ServiceAccountToken:        1024,
				},
				Load: EdgeControllerLoad{
					UpdatePodStatusWorkers:            1,
					UpdateNodeStatusWorkers:           1,
					QueryConfigMapWorkers:             4,
					QuerySecretWorkers:                4,
					QueryServiceWorkers:               4,
					QueryEndpointsWorkers:             4,
					QueryPersistentVolumeWorkers:      4,
					QueryPersistentVolumeClaimWorkers: 4,
					QueryVolumeAttachmentWorkers:      4,
					CreateNodeWorkers:                 4,
					PatchNodeWorkers:                  4,
					QueryNodeWorkers:                  4,
					UpdateNodeWorkers:                 4,
					PatchPodWorkers:                   4,
					DeletePodWorkers:                  4,
					CreateLeaseWorkers:                4,
					QueryLeaseWorkers:                 4,
					UpdateRuleStatusWorkers:           4,
					ServiceAccountTokenWorkers:        4,
				},
			},
			DeviceController: DeviceController{
				Enable: true,
				Buffer: DeviceControllerBuffer{UpdateDeviceStatus: 1024, DeviceEvent: 1, DeviceModelEvent: 1},
				Load:   DeviceControllerLoad{UpdateDeviceStatusWorkers: 1},
			},
			NodeUpgradeJobController: NodeUpgradeJobController{
				Buffer: NodeUpgradeJobControllerBuffer{UpdateNodeUpgradeJobStatus: 1024, NodeUpgradeJobEvent: 1},
				Load:   NodeUpgradeJobControllerLoad{NodeUpgradeJobWorkers: 1},
			},
			SyncController:    SyncController{Enable: true},
			DynamicController: DynamicController{},
			CloudStream: CloudStream{
				TLSTunnelCAFile:         caFile,
				TLSTunnelCertFile:       crtFile,
				TLSTunnelPrivateKeyFile: keyFile,
				TunnelPort:              DefaultTunnelPort,
				TLSStreamCAFile:         etc + "/ca/streamCA.crt",
				TLSStreamCertFile:       etc + "/certs/stream.crt",
				TLSStreamPrivateKeyFile: etc + "/certs/stream.key",
				StreamPort:              DefaultStreamPort,
			},
			Router:           Router{Address: "0.0.0.0", Port: DefaultRouterPort, RestTimeout: 60},
			IptablesManager:  IptablesManager{Enable: true, Mode: IptablesModeInternal},
			EdgePodAdmission: EdgePodAdmission{Enable: true, Address: "0.0.0.0", Port: DefaultAdmissionPort},
		},
		FeatureGates: map[string]bool{},
	}
}

// NewMinimal returns what a minimal cloudcore.yaml (--minconfig) decodes to,
// which is the defaults: a minimal file is the defaults with only the keys a
// user usually edits written out. Print it with MarshalMinimal.
func NewMinimal() *CloudCore {
	return NewDefault()
}

// minimalKeys are the keys MarshalMinimal writes.
var minimalKeys = []string{
	"apiVersion",
	"kind",
	"kubeAPIConfig.master",
	"kubeAPIConfig.kubeConfig",
	"modules.cloudHub.advertiseAddress",
	"modules.cloudHub.dnsNames",
	"modules.cloudHub.nodeLimit",
	"modules.cloudHub.tlsCAFile",
	"modules.cloudHub.tlsCAKeyFile",
	"modules.cloudHub.tlsCertFile",
	"modules.cloudHub.tlsPrivateKeyFile",
	"modules.cloudHub.unixsocket",
	"modules.cloudHub.websocket",
	"modules.cloudHub.https",
	"modules.cloudStream.enable",
	"modules.dynamicController.enable",
	"modules.router.enable",
}

// FillHostDefaults fills what upstream derives from the host when it builds
// its defaults: cloudHub.advertiseAddress becomes [ip] if it is empty.
func (c *CloudCore) FillHostDefaults(ip string) {
	if len(c.Modules.CloudHub.AdvertiseAddress) == 0 && ip != "" {
		c.Modules.CloudHub.AdvertiseAddress = []string{ip}
	}
}

// SetRoot moves the default file locations under other roots, so that
// several cloudcores (or a test) can run on one machine: every path under
// /etc/kubeedge (CA, certificates) is moved under etc, and every path under
// /var/lib/kubeedge (the CSI unix socket) under varlib. Paths that were
// already changed from their defaults are left alone; an empty root leaves
// its paths alone. Every path is also an ordinary field that can be set
// directly.
func (c *CloudCore) SetRoot(etc, varlib string) {
	configfile.Reroot(etc, DefaultEtcRoot, c.etcPaths()...)
	configfile.Reroot(varlib, DefaultVarLibRoot, c.varLibPaths()...)
}

// etcPaths are the fields holding files under /etc/kubeedge by default.
func (c *CloudCore) etcPaths() []*string {
	h, s := &c.Modules.CloudHub, &c.Modules.CloudStream
	return []*string{
		&c.KubeAPIConfig.KubeConfig,
		&h.TLSCAFile, &h.TLSCAKeyFile, &h.TLSCertFile, &h.TLSPrivateKeyFile,
		&s.TLSTunnelCAFile, &s.TLSTunnelCertFile, &s.TLSTunnelPrivateKeyFile,
		&s.TLSStreamCAFile, &s.TLSStreamCertFile, &s.TLSStreamPrivateKeyFile,
	}
}

// varLibPaths are the fields holding files under /var/lib/kubeedge by default.
func (c *CloudCore) varLibPaths() []*string {
	return []*string{&c.Modules.CloudHub.UnixSocket.Address}
}
