// Package v1alpha1 is the cloudcore configuration file, cloudcore.yaml:
// kind CloudCore, apiVersion cloudcore.config.kubeedge.io/v1alpha1, with the
// keys, spellings and defaults of upstream KubeEdge v1.12 so that files
// written by upstream tools (keadm, the Helm chart) load unchanged.
//
// Start from NewDefault, read a file with Load or Decode (defaults, then the
// file, strictly), check it with Validate, write it with Marshal. Decoding is
// stricter than upstream's: an unknown key, a value of the wrong type, or the
// wrong kind/apiVersion is an error naming the field. Keys are otherwise
// matched as upstream matches them (exactly, else case-insensitively).
//
// Durations are plain integers in the unit upstream uses for each field
// (seconds, hours or days; each field says which). Fields marked
// "Extension" are not in upstream's schema; upstream ignores them.
package v1alpha1

import "time"

// Identification of the document.
const (
	// APIVersion is the apiVersion this package writes.
	APIVersion = "cloudcore.config.kubeedge.io/v1alpha1"
	// APIVersionHelm is the apiVersion upstream's Helm chart writes; it is
	// accepted on read (upstream v1.12 has only the v1alpha1 type and does not
	// check the string) and kept as read.
	APIVersionHelm = "cloudcore.config.kubeedge.io/v1alpha2"
	// Kind is the document kind.
	Kind = "CloudCore"
)

// Default locations.
const (
	// DefaultConfigFile is where cloudcore reads its configuration by default.
	DefaultConfigFile = "/etc/kubeedge/config/cloudcore.yaml"
	// DefaultEtcRoot is the root of configuration, CA and certificates.
	DefaultEtcRoot = "/etc/kubeedge"
	// DefaultVarLibRoot is the root of state (the CSI unix socket).
	DefaultVarLibRoot = "/var/lib/kubeedge"
)

// Default ports.
const (
	DefaultWebSocketPort = 10000 // CloudHub websocket (TLS)
	DefaultQUICPort      = 10001 // CloudHub QUIC (UDP)
	DefaultHTTPSPort     = 10002 // CloudHub HTTPS: /ca.crt, /edge.crt, /nodeupgrade
	DefaultStreamPort    = 10003 // CloudStream stream server
	DefaultTunnelPort    = 10004 // CloudStream tunnel server, dialled by edgeStream
	DefaultRouterPort    = 9443  // Router REST endpoint
	DefaultEdgedPort     = 10350 // edged's port that the iptables manager redirects to
	DefaultAdmissionPort = 10005 // extension: the edge-pod admission webhook
)

// CloudCore is the whole cloudcore.yaml.
type CloudCore struct {
	// APIVersion is cloudcore.config.kubeedge.io/v1alpha1 (or .../v1alpha2 as
	// written by the Helm chart).
	APIVersion string `json:"apiVersion"`
	// Kind is CloudCore.
	Kind string `json:"kind"`
	// CommonConfig holds settings shared by several modules.
	CommonConfig CommonConfig `json:"commonConfig"`
	// KubeAPIConfig says how to reach the Kubernetes API server.
	KubeAPIConfig KubeAPIConfig `json:"kubeAPIConfig"`
	// Modules configures each cloudcore module.
	Modules Modules `json:"modules"`
	// FeatureGates switches named features on or off. Default: empty.
	FeatureGates map[string]bool `json:"featureGates"`
}

// CommonConfig holds settings shared by several modules.
type CommonConfig struct {
	// TunnelPort is the port that the iptables manager maps, on each edge
	// node's IP, to the CloudStream tunnel, so that kube-apiserver's
	// logs/exec/metrics requests for edge pods reach cloudcore. Default 10350.
	TunnelPort int32 `json:"tunnelPort"`
}

// KubeAPIConfig says how to reach the Kubernetes API server. With master and
// kubeConfig both empty, the in-cluster configuration is used.
type KubeAPIConfig struct {
	// Master is the API server URL; overrides the server in kubeConfig.
	// Default "".
	Master string `json:"master"`
	// ContentType of requests to the API server.
	// Default "application/vnd.kubernetes.protobuf".
	ContentType string `json:"contentType"`
	// QPS is the client's sustained request rate limit. Default 100.
	QPS int32 `json:"qps"`
	// Burst is the client's request burst limit. Default 200.
	Burst int32 `json:"burst"`
	// KubeConfig is the path of a kubeconfig file. Default "".
	KubeConfig string `json:"kubeConfig"`
}

// Modules configures each cloudcore module.
type Modules struct {
	// CloudHub accepts edge connections.
	CloudHub CloudHub `json:"cloudHub"`
	// EdgeController syncs pods, nodes and their dependencies with edges.
	EdgeController EdgeController `json:"edgeController"`
	// DeviceController syncs devices and device models with edges.
	DeviceController DeviceController `json:"deviceController"`
	// NodeUpgradeJobController runs NodeUpgradeJob objects.
	NodeUpgradeJobController NodeUpgradeJobController `json:"nodeUpgradeJobController"`
	// SyncController reconciles ObjectSync/ClusterObjectSync records.
	SyncController SyncController `json:"syncController"`
	// DynamicController serves list/watch for the edge metaServer.
	DynamicController DynamicController `json:"dynamicController"`
	// CloudStream carries logs/exec/metrics to edge nodes.
	CloudStream CloudStream `json:"cloudStream"`
	// Router serves the rule REST endpoint.
	Router Router `json:"router"`
	// IptablesManager maps commonConfig.tunnelPort to the stream server.
	IptablesManager IptablesManager `json:"iptablesManager"`
	// EdgePodAdmission (extension) keeps pods on unreachable edge nodes from
	// being evicted: a mutating webhook makes the default 300 s tolerations of
	// the unreachable/not-ready NoExecute taints unlimited for pods bound for
	// edge nodes. Upstream has no such module and ignores the key.
	EdgePodAdmission EdgePodAdmission `json:"edgePodAdmission"`
}

// EdgePodAdmission is the webhook the API server calls on pod creation.
type EdgePodAdmission struct {
	// Enable serves the webhook and registers it. Default true.
	Enable bool `json:"enable"`
	// Address and Port of the HTTPS listener. Default 0.0.0.0:10005. The API
	// server calls https://<first advertiseAddress>:<port>/mutate-pods.
	Address string `json:"address"`
	Port    int32  `json:"port"`
}

// CloudHub accepts edge connections (websocket and/or QUIC), serves the CA
// and edge certificates over HTTPS, and the CSI driver over a unix socket.
type CloudHub struct {
	// Enable runs CloudHub. Default true.
	Enable bool `json:"enable"`
	// KeepaliveInterval is the number of seconds without a keepalive from an
	// edge after which its session is dropped. Default 30.
	KeepaliveInterval int32 `json:"keepaliveInterval"`
	// NodeLimit is the maximum number of concurrent edge sessions.
	// Default 1000.
	NodeLimit int32 `json:"nodeLimit"`
	// TLSCAFile is the CA certificate. Default /etc/kubeedge/ca/rootCA.crt.
	// (Spelled tlsCAFile here; edgecore spells its field tlsCaFile.)
	TLSCAFile string `json:"tlsCAFile"`
	// TLSCAKeyFile is the CA private key. Default /etc/kubeedge/ca/rootCA.key.
	TLSCAKeyFile string `json:"tlsCAKeyFile"`
	// TLSCertFile is CloudHub's serving certificate.
	// Default /etc/kubeedge/certs/server.crt.
	TLSCertFile string `json:"tlsCertFile"`
	// TLSPrivateKeyFile is the serving certificate's key.
	// Default /etc/kubeedge/certs/server.key.
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile"`
	// WriteTimeout is the write timeout towards edges, in seconds. Default 30.
	WriteTimeout int32 `json:"writeTimeout"`
	// Quic is the QUIC server.
	Quic CloudHubQUIC `json:"quic"`
	// UnixSocket is the server the CSI driver talks to. Note the all
	// lower-case key "unixsocket".
	UnixSocket CloudHubUnixSocket `json:"unixsocket"`
	// WebSocket is the websocket server.
	WebSocket CloudHubWebSocket `json:"websocket"`
	// HTTPS is the certificate server (/ca.crt, /edge.crt, /nodeupgrade).
	HTTPS CloudHubHTTPS `json:"https"`
	// AdvertiseAddress are the IPs edges use to reach cloudcore; they are put
	// in the serving certificate's SANs. Required, at least one. Upstream
	// defaults to the host's first IP; here the default is empty and the
	// caller fills it (see FillHostDefaults).
	AdvertiseAddress []string `json:"advertiseAddress"`
	// DNSNames are extra DNS SANs of the serving certificate. Default [""].
	DNSNames []string `json:"dnsNames"`
	// EdgeCertSigningDuration is the validity of edge certificates CloudHub
	// signs, in days (upstream stores a count of days in a Go Duration
	// field). Default 365.
	EdgeCertSigningDuration int64 `json:"edgeCertSigningDuration"`
	// TokenRefreshDuration is the interval between join-token rotations, in
	// hours. Default 12.
	TokenRefreshDuration int64 `json:"tokenRefreshDuration"`
	// NodeStatusGracePeriod is the number of seconds without any message
	// from an edge node after which the cloud marks it NotReady.
	// Extension (not in upstream). Default 40.
	NodeStatusGracePeriod int32 `json:"nodeStatusGracePeriod"`
}

// EdgeCertValidity is EdgeCertSigningDuration as a time.Duration.
func (h *CloudHub) EdgeCertValidity() time.Duration {
	return time.Duration(h.EdgeCertSigningDuration) * 24 * time.Hour
}

// TokenRefreshInterval is TokenRefreshDuration as a time.Duration.
func (h *CloudHub) TokenRefreshInterval() time.Duration {
	return time.Duration(h.TokenRefreshDuration) * time.Hour
}

// CloudHubWebSocket is CloudHub's websocket server (TLS).
type CloudHubWebSocket struct {
	// Enable serves websocket. Default true.
	Enable bool `json:"enable"`
	// Address is the IP to listen on. Default 0.0.0.0.
	Address string `json:"address"`
	// Port to listen on. Default 10000.
	Port int32 `json:"port"`
}

// CloudHubQUIC is CloudHub's QUIC server.
type CloudHubQUIC struct {
	// Enable serves QUIC. Default false.
	Enable bool `json:"enable"`
	// Address is the IP to listen on. Default 0.0.0.0.
	Address string `json:"address"`
	// Port to listen on (UDP). Default 10001.
	Port int32 `json:"port"`
	// MaxIncomingStreams per connection. Default 10000.
	MaxIncomingStreams int32 `json:"maxIncomingStreams"`
}

// CloudHubHTTPS is CloudHub's HTTPS certificate server.
type CloudHubHTTPS struct {
	// Enable serves HTTPS. Default true.
	Enable bool `json:"enable"`
	// Address is the IP to listen on. Default 0.0.0.0.
	Address string `json:"address"`
	// Port to listen on. Default 10002.
	Port int32 `json:"port"`
}

// CloudHubUnixSocket is the unix socket server used by the CSI driver.
type CloudHubUnixSocket struct {
	// Enable serves the socket. Default true.
	Enable bool `json:"enable"`
	// Address is a unix:// URL.
	// Default unix:///var/lib/kubeedge/kubeedge.sock.
	Address string `json:"address"`
}

// EdgeController syncs pods, nodes and their dependencies with edges.
type EdgeController struct {
	// Enable runs EdgeController. Default true.
	Enable bool `json:"enable"`
	// NodeUpdateFrequency is the node status update interval, in seconds.
	// Default 10.
	NodeUpdateFrequency int32 `json:"nodeUpdateFrequency"`
	// Buffer sizes the internal channels.
	Buffer EdgeControllerBuffer `json:"buffer"`
	// Load sizes the worker pools.
	Load EdgeControllerLoad `json:"load"`
}

// EdgeControllerBuffer sizes EdgeController's channels: 1024 for requests
// from edges, 1 for watch events.
type EdgeControllerBuffer struct {
	UpdatePodStatus            int32 `json:"updatePodStatus"`
	UpdateNodeStatus           int32 `json:"updateNodeStatus"`
	QueryConfigMap             int32 `json:"queryConfigMap"`
	QuerySecret                int32 `json:"querySecret"`
	QueryService               int32 `json:"queryService"`
	QueryEndpoints             int32 `json:"queryEndpoints"`
	PodEvent                   int32 `json:"podEvent"`
	ConfigMapEvent             int32 `json:"configMapEvent"`
	SecretEvent                int32 `json:"secretEvent"`
	ServiceEvent               int32 `json:"serviceEvent"`
	EndpointsEvent             int32 `json:"endpointsEvent"`
	RulesEvent                 int32 `json:"rulesEvent"`
	RuleEndpointsEvent         int32 `json:"ruleEndpointsEvent"`
	QueryPersistentVolume      int32 `json:"queryPersistentVolume"`
	QueryPersistentVolumeClaim int32 `json:"queryPersistentVolumeClaim"`
	QueryVolumeAttachment      int32 `json:"queryVolumeAttachment"`
	CreateNode                 int32 `json:"createNode"`
	PatchNode                  int32 `json:"patchNode"`
	QueryNode                  int32 `json:"queryNode"`
	UpdateNode                 int32 `json:"updateNode"`
	PatchPod                   int32 `json:"patchPod"`
	DeletePod                  int32 `json:"deletePod"`
	CreateLease                int32 `json:"createLease"`
	QueryLease                 int32 `json:"queryLease"`
	ServiceAccountToken        int32 `json:"serviceAccountToken"`
}

// EdgeControllerLoad sizes EdgeController's worker pools: 1 for status
// updates, 4 for the rest. Two keys are capitalised upstream and must be
// written so: UpdateRuleStatusWorkers, ServiceAccountTokenWorkers.
type EdgeControllerLoad struct {
	UpdatePodStatusWorkers            int32 `json:"updatePodStatusWorkers"`
	UpdateNodeStatusWorkers           int32 `json:"updateNodeStatusWorkers"`
	QueryConfigMapWorkers             int32 `json:"queryConfigMapWorkers"`
	QuerySecretWorkers                int32 `json:"querySecretWorkers"`
	QueryServiceWorkers               int32 `json:"queryServiceWorkers"`
	QueryEndpointsWorkers             int32 `json:"queryEndpointsWorkers"`
	QueryPersistentVolumeWorkers      int32 `json:"queryPersistentVolumeWorkers"`
	QueryPersistentVolumeClaimWorkers int32 `json:"queryPersistentVolumeClaimWorkers"`
	QueryVolumeAttachmentWorkers      int32 `json:"queryVolumeAttachmentWorkers"`
	CreateNodeWorkers                 int32 `json:"createNodeWorkers"`
	PatchNodeWorkers                  int32 `json:"patchNodeWorkers"`
	QueryNodeWorkers                  int32 `json:"queryNodeWorkers"`
	UpdateNodeWorkers                 int32 `json:"updateNodeWorkers"`
	PatchPodWorkers                   int32 `json:"patchPodWorkers"`
	DeletePodWorkers                  int32 `json:"deletePodWorkers"`
	CreateLeaseWorkers                int32 `json:"createLeaseWorkers"`
	QueryLeaseWorkers                 int32 `json:"queryLeaseWorkers"`
	UpdateRuleStatusWorkers           int32 `json:"UpdateRuleStatusWorkers"`
	ServiceAccountTokenWorkers        int32 `json:"ServiceAccountTokenWorkers"`
}

// DeviceController syncs devices and device models with edges.
type DeviceController struct {
	// Enable runs DeviceController. Default true.
	Enable bool `json:"enable"`
	// Buffer sizes the internal channels.
	Buffer DeviceControllerBuffer `json:"buffer"`
	// Load sizes the worker pools.
	Load DeviceControllerLoad `json:"load"`
}

// DeviceControllerBuffer sizes DeviceController's channels.
type DeviceControllerBuffer struct {
	// UpdateDeviceStatus default 1024.
	UpdateDeviceStatus int32 `json:"updateDeviceStatus"`
	// DeviceEvent default 1.
	DeviceEvent int32 `json:"deviceEvent"`
	// DeviceModelEvent default 1.
	DeviceModelEvent int32 `json:"deviceModelEvent"`
}

// DeviceControllerLoad sizes DeviceController's worker pools.
type DeviceControllerLoad struct {
	// UpdateDeviceStatusWorkers default 1.
	UpdateDeviceStatusWorkers int32 `json:"updateDeviceStatusWorkers"`
}

// NodeUpgradeJobController runs NodeUpgradeJob objects.
type NodeUpgradeJobController struct {
	// Enable runs the controller. Default false.
	Enable bool `json:"enable"`
	// Buffer sizes the internal channels.
	Buffer NodeUpgradeJobControllerBuffer `json:"buffer"`
	// Load sizes the worker pools.
	Load NodeUpgradeJobControllerLoad `json:"load"`
}

// NodeUpgradeJobControllerBuffer sizes NodeUpgradeJobController's channels.
type NodeUpgradeJobControllerBuffer struct {
	// UpdateNodeUpgradeJobStatus default 1024.
	UpdateNodeUpgradeJobStatus int32 `json:"updateNodeUpgradeJobStatus"`
	// NodeUpgradeJobEvent default 1.
	NodeUpgradeJobEvent int32 `json:"nodeUpgradeJobEvent"`
}

// NodeUpgradeJobControllerLoad sizes NodeUpgradeJobController's worker pools.
type NodeUpgradeJobControllerLoad struct {
	// NodeUpgradeJobWorkers default 1.
	NodeUpgradeJobWorkers int32 `json:"nodeUpgradeJobWorkers"`
}

// SyncController reconciles ObjectSync/ClusterObjectSync records.
type SyncController struct {
	// Enable runs SyncController. Default true.
	Enable bool `json:"enable"`
}

// DynamicController serves list/watch of any resource to edges; the edge
// metaServer needs it.
type DynamicController struct {
	// Enable runs DynamicController. Default false.
	Enable bool `json:"enable"`
}

// CloudStream carries kube-apiserver's logs/exec/metrics requests to edges:
// the stream server receives them (via the iptables redirect), the tunnel
// server holds edgeStream connections.
type CloudStream struct {
	// Enable runs CloudStream. Default false.
	Enable bool `json:"enable"`
	// TLSTunnelCAFile is the CA for the tunnel server.
	// Default /etc/kubeedge/ca/rootCA.crt.
	TLSTunnelCAFile string `json:"tlsTunnelCAFile"`
	// TLSTunnelCertFile is the tunnel server's certificate.
	// Default /etc/kubeedge/certs/server.crt.
	TLSTunnelCertFile string `json:"tlsTunnelCertFile"`
	// TLSTunnelPrivateKeyFile is its key. Default /etc/kubeedge/certs/server.key.
	TLSTunnelPrivateKeyFile string `json:"tlsTunnelPrivateKeyFile"`
	// TunnelPort is the tunnel server's port. Default 10004.
	TunnelPort int32 `json:"tunnelPort"`
	// TLSStreamCAFile is the CA that signs kube-apiserver's client
	// certificate. Default /etc/kubeedge/ca/streamCA.crt.
	TLSStreamCAFile string `json:"tlsStreamCAFile"`
	// TLSStreamCertFile is the stream server's certificate.
	// Default /etc/kubeedge/certs/stream.crt.
	TLSStreamCertFile string `json:"tlsStreamCertFile"`
	// TLSStreamPrivateKeyFile is its key. Default /etc/kubeedge/certs/stream.key.
	TLSStreamPrivateKeyFile string `json:"tlsStreamPrivateKeyFile"`
	// StreamPort is the stream server's port. Default 10003.
	StreamPort int32 `json:"streamPort"`
}

// Router serves the rule REST endpoint.
type Router struct {
	// Enable runs Router. Default false.
	Enable bool `json:"enable"`
	// Address is the IP to listen on. Default 0.0.0.0.
	Address string `json:"address"`
	// Port to listen on. Default 9443.
	Port int32 `json:"port"`
	// RestTimeout is the request timeout, in seconds. Default 60.
	RestTimeout int32 `json:"restTimeout"`
}

// IptablesMode says where the iptables manager runs.
type IptablesMode string

// Iptables manager modes.
const (
	// IptablesModeInternal runs it inside cloudcore (host network).
	IptablesModeInternal IptablesMode = "internal"
	// IptablesModeExternal means it is deployed separately.
	IptablesModeExternal IptablesMode = "external"
)

// IptablesManager maps commonConfig.tunnelPort on edge IPs to the stream
// server.
type IptablesManager struct {
	// Enable runs the iptables manager. Default true.
	Enable bool `json:"enable"`
	// Mode is internal or external. Default internal.
	Mode IptablesMode `json:"mode"`
}
