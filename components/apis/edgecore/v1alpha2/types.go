// Package v1alpha2 is the edgecore configuration file, edgecore.yaml: kind
// EdgeCore, apiVersion edgecore.config.kubeedge.io/v1alpha2, with the keys,
// spellings and defaults of upstream KubeEdge v1.12 so that files written by
// upstream tools (keadm join, edgecore --defaultconfig) load unchanged.
//
// Start from NewDefault, read a file with Load or Decode (defaults, then the
// file, strictly), check it with Validate, write it with Marshal. Decoding is
// stricter than upstream's: an unknown key, a value of the wrong type, or the
// wrong kind/apiVersion is an error naming the field. Keys are otherwise
// matched as upstream matches them (exactly, else case-insensitively), and
// unquoted numbers or booleans are accepted for string fields.
//
// Durations are integers of seconds where upstream uses integers, and
// Kubernetes duration strings ("10s", "5m0s") in the kubelet-derived fields,
// as upstream. Fields marked "Extension" are not in upstream's schema;
// upstream ignores them.
package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identification of the document.
const (
	// APIVersion is the only accepted apiVersion.
	APIVersion = "edgecore.config.kubeedge.io/v1alpha2"
	// Kind is the document kind.
	Kind = "EdgeCore"
)

// Default locations.
const (
	// DefaultConfigFile is where edgecore reads its configuration by default.
	DefaultConfigFile = "/etc/kubeedge/config/edgecore.yaml"
	// DefaultEtcRoot is the root of configuration, CA and certificates.
	DefaultEtcRoot = "/etc/kubeedge"
	// DefaultVarLibRoot is the root of edgecore's state (databases).
	DefaultVarLibRoot = "/var/lib/kubeedge"
	// DefaultEdgedRoot is edged's (the kubelet's) root directory.
	DefaultEdgedRoot = "/var/lib/edged"
)

// Ports of the cloud side the edge dials, used by FillHostDefaults.
const (
	DefaultWebSocketPort = 10000 // CloudHub websocket
	DefaultQUICPort      = 10001 // CloudHub QUIC
	DefaultHTTPSPort     = 10002 // CloudHub certificate server
	DefaultTunnelPort    = 10004 // CloudStream tunnel server
)

// EdgeCore is the whole edgecore.yaml.
type EdgeCore struct {
	// APIVersion is edgecore.config.kubeedge.io/v1alpha2.
	APIVersion string `json:"apiVersion"`
	// Kind is EdgeCore.
	Kind string `json:"kind"`
	// Database is upstream's SQLite database.
	Database Database `json:"database"`
	// Modules configures each edgecore module.
	Modules Modules `json:"modules"`
	// FeatureGates switches named features on or off (e.g.
	// requireAuthorization). Default: empty.
	FeatureGates map[string]bool `json:"featureGates"`
}

// Database is upstream's SQLite database. This implementation keeps its
// state in metaManager.dbPath instead; the section is kept so that upstream
// files load and upgrades can find the old database (dataSource).
type Database struct {
	// DriverName default "sqlite3".
	DriverName string `json:"driverName"`
	// AliasName default "default".
	AliasName string `json:"aliasName"`
	// DataSource is the database file. Default /var/lib/kubeedge/edgecore.db.
	DataSource string `json:"dataSource"`
}

// Modules configures each edgecore module.
type Modules struct {
	// Edged runs pods (a tailored kubelet).
	Edged Edged `json:"edged"`
	// EdgeHub connects to CloudHub.
	EdgeHub EdgeHub `json:"edgeHub"`
	// EventBus bridges MQTT and the modules.
	EventBus EventBus `json:"eventBus"`
	// MetaManager stores cloud objects locally.
	MetaManager MetaManager `json:"metaManager"`
	// ServiceBus forwards cloud REST calls to local services.
	ServiceBus ServiceBus `json:"serviceBus"`
	// DeviceTwin keeps device state.
	DeviceTwin DeviceTwin `json:"deviceTwin"`
	// DBTest is upstream's database test module.
	DBTest DBTest `json:"dbTest"`
	// EdgeStream serves logs/exec/metrics through the CloudStream tunnel.
	EdgeStream EdgeStream `json:"edgeStream"`
}

// Edged runs pods through a CRI runtime. Upstream inlines kubelet flags
// directly under "edged"; this type has the ones edged uses. A few more
// upstream flag keys are accepted and ignored (see ignoredEdgedKeys).
type Edged struct {
	// Enable runs edged. Default true.
	Enable bool `json:"enable"`
	// TailoredKubeletConfig is the kubelet configuration subset edged uses.
	TailoredKubeletConfig TailoredKubeletConfig `json:"tailoredKubeletConfig"`
	// CustomInterfaceName is a network interface whose IP becomes the node
	// IP, overriding nodeIP. Default "".
	CustomInterfaceName string `json:"customInterfaceName"`
	// RegisterNodeNamespace is the namespace of the node's objects.
	// Default "default".
	RegisterNodeNamespace string `json:"registerNodeNamespace"`

	// KubeConfig default /etc/kubeedge/config/kubeconfig (normally absent).
	KubeConfig string `json:"kubeConfig"`
	// HostnameOverride is the node name. Upstream defaults to the host name;
	// here the default is "" and the caller fills it (FillHostDefaults,
	// keadm join). Must be a DNS-1123 subdomain.
	HostnameOverride string `json:"hostnameOverride"`
	// NodeIP is the node's address reported to the cloud. Upstream defaults
	// to the IP of the host name; here "" and the caller fills it.
	NodeIP string `json:"nodeIP"`
	// ContainerRuntime is "remote" (CRI) or upstream's default "docker".
	ContainerRuntime string `json:"containerRuntime"`
	// RuntimeCgroups is the cgroup of the container runtime. Default "".
	RuntimeCgroups string `json:"runtimeCgroups"`
	// DockershimRootDirectory default /var/lib/dockershim (unused by CRI).
	DockershimRootDirectory string `json:"dockershimRootDirectory"`
	// PodSandboxImage is the pause image. Default kubeedge/pause:3.1.
	PodSandboxImage string `json:"podSandboxImage"`
	// DockerEndpoint default unix:///var/run/docker.sock (unused by CRI).
	DockerEndpoint string `json:"dockerEndpoint"`
	// ImagePullProgressDeadline cancels a pull without progress for this
	// long. Default 1m0s.
	ImagePullProgressDeadline metav1.Duration `json:"imagePullProgressDeadline"`
	// NetworkPluginName default "".
	NetworkPluginName string `json:"networkPluginName"`
	// NetworkPluginMTU default 1500.
	NetworkPluginMTU int32 `json:"networkPluginMTU"`
	// CNIConfDir default /etc/cni/net.d.
	CNIConfDir string `json:"cniConfDir"`
	// CNIBinDir default /opt/cni/bin.
	CNIBinDir string `json:"cniBinDir"`
	// CNICacheDir default /var/lib/cni/cache.
	CNICacheDir string `json:"cniCacheDir"`
	// ImageCredentialProviderConfigFile default "".
	ImageCredentialProviderConfigFile string `json:"imageCredentialProviderConfigFile"`
	// ImageCredentialProviderBinDir default "".
	ImageCredentialProviderBinDir string `json:"imageCredentialProviderBinDir"`
	// RootDirectory holds pods, volumes and plugins. Default /var/lib/edged.
	RootDirectory string `json:"rootDirectory"`
	// MasterServiceNamespace default "default".
	MasterServiceNamespace string `json:"masterServiceNamespace"`
	// RemoteRuntimeEndpoint is the CRI runtime socket, e.g.
	// unix:///run/containerd/containerd.sock. Default
	// unix:///var/run/dockershim.sock (upstream's; keadm join sets it).
	RemoteRuntimeEndpoint string `json:"remoteRuntimeEndpoint"`
	// RemoteImageEndpoint is the CRI image socket; default as
	// remoteRuntimeEndpoint.
	RemoteImageEndpoint string `json:"remoteImageEndpoint"`
	// MaxContainerCount is the number of dead containers kept in total; -1
	// for no limit. Default -1.
	MaxContainerCount int32 `json:"maxContainerCount"`
	// MaxPerPodContainerCount is the number of dead instances kept per
	// container. Default 1.
	MaxPerPodContainerCount int32 `json:"maxPerPodContainerCount"`
	// MinimumGCAge is the age before a dead container may be removed.
	// Default 0s.
	MinimumGCAge metav1.Duration `json:"minimumGCAge"`
	// NonMasqueradeCIDR default 10.0.0.0/8.
	NonMasqueradeCIDR string `json:"nonMasqueradeCidr"`
	// NodeLabels are added to the node at registration. Default {}.
	NodeLabels map[string]string `json:"nodeLabels"`
	// RegisterNode registers the node with the cloud. Default true. (Also
	// settable as tailoredKubeletConfig.registerNode; edged registers only
	// if both are true.)
	RegisterNode bool `json:"registerNode"`
	// RegisterWithTaints are taints added at registration (together with
	// tailoredKubeletConfig.registerWithTaints). Default [].
	RegisterWithTaints []corev1.Taint `json:"registerWithTaints"`
	// RegisterSchedulable registers the node schedulable. Default true.
	RegisterSchedulable bool `json:"registerSchedulable"`
	// SeccompProfileRoot default /var/lib/edged/seccomp.
	SeccompProfileRoot string `json:"seccompProfileRoot"`
}

// ignoredEdgedKeys are upstream flag keys under "edged" that are accepted and
// ignored (not used here, not written back).
var ignoredEdgedKeys = []string{
	"certDirectory", "kubeletConfigFile", "windowsService", "windowsPriorityClass",
	"experimentalMounterPath", "experimentalCheckNodeCapabilitiesBeforeMount",
	"experimentalNodeAllocatableIgnoreEvictionThreshold", "lockFilePath",
	"exitOnLockContention", "keepTerminatedPodVolumes", "seccompDefault",
}

// Container runtimes (edged.containerRuntime).
const (
	// ContainerRuntimeRemote is a CRI runtime at remoteRuntimeEndpoint.
	ContainerRuntimeRemote = "remote"
	// ContainerRuntimeDocker is upstream's default (dockershim); accepted
	// in files, not supported by this implementation's edged.
	ContainerRuntimeDocker = "docker"
)

// Cgroup drivers.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// TailoredKubeletConfig is the subset of the kubelet's KubeletConfiguration
// (k8s.io/kubelet/config/v1beta1) that edged uses, with KubeEdge's defaults.
//
// Upstream writes the whole KubeletConfiguration here. The other
// KubeletConfiguration keys are accepted so that upstream files load, and are
// ignored: they do not affect edged and are not written back by Marshal.
// Misspelled keys are still errors.
type TailoredKubeletConfig struct {
	// Address edged's server listens on. Default 127.0.0.1.
	Address string `json:"address"`
	// ReadOnlyPort is edged's port (logs/exec/metrics arrive here through
	// the edgeStream tunnel); 0 disables it. Default 10350.
	ReadOnlyPort int32 `json:"readOnlyPort"`
	// EnableServer runs the kubelet's authenticated server. Default false.
	EnableServer bool `json:"enableServer"`
	// HealthzBindAddress default 127.0.0.1.
	HealthzBindAddress string `json:"healthzBindAddress"`
	// HealthzPort; 0 disables. Default 10248.
	HealthzPort int32 `json:"healthzPort"`
	// CgroupDriver is cgroupfs or systemd and must match the runtime's.
	// Default cgroupfs (keadm join sets it).
	CgroupDriver string `json:"cgroupDriver"`
	// CgroupsPerQOS creates the QoS cgroup hierarchy. Default true.
	CgroupsPerQOS bool `json:"cgroupsPerQOS"`
	// CgroupRoot is the root cgroup for pods. Default "".
	CgroupRoot string `json:"cgroupRoot"`
	// ClusterDNS are DNS server IPs given to pods. Default [].
	ClusterDNS []string `json:"clusterDNS"`
	// ClusterDomain is the cluster's DNS domain. Default "".
	ClusterDomain string `json:"clusterDomain"`
	// MaxPods is the pod capacity reported for the node. Default 110.
	MaxPods int32 `json:"maxPods"`
	// PodPidsLimit per pod; -1 for no limit. Default -1.
	PodPidsLimit int64 `json:"podPidsLimit"`
	// SyncFrequency is the pod resync period. Default 1m0s.
	SyncFrequency metav1.Duration `json:"syncFrequency"`
	// NodeStatusUpdateFrequency is how often node status is computed.
	// Default 10s.
	NodeStatusUpdateFrequency metav1.Duration `json:"nodeStatusUpdateFrequency"`
	// NodeStatusReportFrequency is how often an unchanged node status is
	// sent. Default 5m0s.
	NodeStatusReportFrequency metav1.Duration `json:"nodeStatusReportFrequency"`
	// NodeLeaseDurationSeconds is the node Lease duration. Default 40.
	NodeLeaseDurationSeconds int32 `json:"nodeLeaseDurationSeconds"`
	// ImageMinimumGCAge is the age before an unused image may be removed.
	// Default 2m0s.
	ImageMinimumGCAge metav1.Duration `json:"imageMinimumGCAge"`
	// ImageGCHighThresholdPercent of disk use starts image GC. Default 80.
	ImageGCHighThresholdPercent int32 `json:"imageGCHighThresholdPercent"`
	// ImageGCLowThresholdPercent of disk use is what image GC frees down
	// to. Default 40.
	ImageGCLowThresholdPercent int32 `json:"imageGCLowThresholdPercent"`
	// RuntimeRequestTimeout for CRI calls other than long-running ones.
	// Default 2m0s.
	RuntimeRequestTimeout metav1.Duration `json:"runtimeRequestTimeout"`
	// ResolvConf is the resolver file pods' DNS is based on.
	// Default /etc/resolv.conf.
	ResolvConf string `json:"resolvConf"`
	// VolumePluginDir is where flex volume plugins are searched.
	// Default /usr/libexec/kubernetes/kubelet-plugins/volume/exec/.
	VolumePluginDir string `json:"volumePluginDir"`
	// ContentType of requests edged sends. Default application/json.
	ContentType string `json:"contentType"`
	// ConfigMapAndSecretChangeDetectionStrategy default Get.
	ConfigMapAndSecretChangeDetectionStrategy string `json:"configMapAndSecretChangeDetectionStrategy"`
	// FailSwapOn refuses to start with swap on. Default false.
	FailSwapOn bool `json:"failSwapOn"`
	// SerializeImagePulls pulls one image at a time. Default true.
	SerializeImagePulls bool `json:"serializeImagePulls"`
	// EvictionHard are hard eviction thresholds. Default memory.available
	// 100Mi, nodefs.available 10%, nodefs.inodesFree 5%, imagefs.available 15%.
	EvictionHard map[string]string `json:"evictionHard"`
	// ContainerLogMaxSize before a container log is rotated. Default 10Mi.
	ContainerLogMaxSize string `json:"containerLogMaxSize"`
	// ContainerLogMaxFiles kept per container. Default 5.
	ContainerLogMaxFiles int32 `json:"containerLogMaxFiles"`
	// RegisterNode registers the node. Default true.
	RegisterNode bool `json:"registerNode"`
	// RegisterWithTaints are taints added at registration. Default [].
	RegisterWithTaints []corev1.Taint `json:"registerWithTaints"`
}

// ignoredKubeletKeys are the KubeletConfiguration (v1beta1, up to Kubernetes
// 1.34) keys not in TailoredKubeletConfig: accepted and ignored.
var ignoredKubeletKeys = []string{
	"apiVersion", "kind",
	"allowedUnsafeSysctls", "authentication", "authorization",
	"containerLogMaxWorkers", "containerLogMonitorInterval", "containerRuntimeEndpoint",
	"cpuCFSQuota", "cpuCFSQuotaPeriod", "cpuManagerPolicy", "cpuManagerPolicyOptions",
	"cpuManagerReconcilePeriod", "crashLoopBackOff", "enableContentionProfiling",
	"enableControllerAttachDetach", "enableDebugFlagsHandler", "enableDebuggingHandlers",
	"enableProfilingHandler", "enableSystemLogHandler", "enableSystemLogQuery",
	"enforceNodeAllocatable", "eventBurst", "eventRecordQPS", "evictionMaxPodGracePeriod",
	"evictionMinimumReclaim", "evictionPressureTransitionPeriod", "evictionSoft",
	"evictionSoftGracePeriod", "failCgroupV1", "featureGates", "fileCheckFrequency",
	"hairpinMode", "httpCheckFrequency", "imageMaximumGCAge",
	"imagePullCredentialsVerificationPolicy", "imageServiceEndpoint", "iptablesDropBit",
	"iptablesMasqueradeBit", "kernelMemcgNotification", "kubeAPIBurst", "kubeAPIQPS",
	"kubeReserved", "kubeReservedCgroup", "kubeletCgroups", "localStorageCapacityIsolation",
	"logging", "makeIPTablesUtilChains", "maxOpenFiles", "maxParallelImagePulls",
	"memoryManagerPolicy", "memorySwap", "memoryThrottlingFactor",
	"mergeDefaultEvictionSettings", "nodeStatusMaxImages", "oomScoreAdj", "podCIDR",
	"podLogsDir", "podsPerCore", "port", "preloadedImagesVerificationAllowlist",
	"protectKernelDefaults", "providerID", "qosReserved", "registryBurst",
	"registryPullQPS", "reservedMemory", "reservedSystemCPUs", "rotateCertificates",
	"runOnce", "seccompDefault", "serverTLSBootstrap", "showHiddenMetricsForVersion",
	"shutdownGracePeriod", "shutdownGracePeriodByPodPriority",
	"shutdownGracePeriodCriticalPods", "singleProcessOOMKill", "staticPodPath",
	"staticPodURL", "staticPodURLHeader", "streamingConnectionIdleTimeout",
	"systemCgroups", "systemReserved", "systemReservedCgroup", "tlsCertFile",
	"tlsCipherSuites", "tlsMinVersion", "tlsPrivateKeyFile", "topologyManagerPolicy",
	"topologyManagerPolicyOptions", "topologyManagerScope", "tracing", "userNamespaces",
	"volumeStatsAggPeriod",
}

// EdgeHub connects to CloudHub over websocket (or QUIC) and fetches the
// node's certificate from CloudHub's HTTPS server.
type EdgeHub struct {
	// Enable runs EdgeHub. Default true.
	Enable bool `json:"enable"`
	// Heartbeat is the keepalive interval, in seconds. Default 15.
	Heartbeat int32 `json:"heartbeat"`
	// MessageQPS limits edge→cloud messages per second. Default 30.
	MessageQPS int32 `json:"messageQPS"`
	// MessageBurst is the edge→cloud message burst. Default 60.
	MessageBurst int32 `json:"messageBurst"`
	// ProjectID is sent in the connection headers.
	// Default e632aba927ea4ac2b575ec1603d56f10.
	ProjectID string `json:"projectID"`
	// TLSCAFile is the cloud's CA. Default /etc/kubeedge/ca/rootCA.crt.
	// (Spelled tlsCaFile here; cloudcore spells its field tlsCAFile.)
	TLSCAFile string `json:"tlsCaFile"`
	// TLSCertFile is the node's client certificate.
	// Default /etc/kubeedge/certs/server.crt.
	TLSCertFile string `json:"tlsCertFile"`
	// TLSPrivateKeyFile is its key. Default /etc/kubeedge/certs/server.key.
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile"`
	// Quic is the QUIC client, used when websocket is disabled.
	Quic EdgeHubQUIC `json:"quic"`
	// WebSocket is the websocket client.
	WebSocket EdgeHubWebSocket `json:"websocket"`
	// Token is the join token used to obtain the node certificate. It may be
	// empty once the certificate exists. Always written, even when empty.
	Token string `json:"token"`
	// HTTPServer is CloudHub's HTTPS URL, e.g. https://192.168.1.2:10002.
	// Upstream defaults to https://<local IP>:10002; here "" and the caller
	// fills it (keadm join, FillHostDefaults).
	HTTPServer string `json:"httpServer"`
	// RotateCertificates renews the node certificate before it expires.
	// Default true.
	RotateCertificates bool `json:"rotateCertificates"`
}

// EdgeHubWebSocket is EdgeHub's websocket client.
type EdgeHubWebSocket struct {
	// Enable uses websocket. Default true.
	Enable bool `json:"enable"`
	// HandshakeTimeout in seconds. Default 30.
	HandshakeTimeout int32 `json:"handshakeTimeout"`
	// ReadDeadline in seconds. Default 15.
	ReadDeadline int32 `json:"readDeadline"`
	// Server is CloudHub's websocket host:port, e.g. 192.168.1.2:10000.
	// Upstream defaults to <local IP>:10000; here "" and the caller fills it.
	Server string `json:"server"`
	// WriteDeadline in seconds. Default 15.
	WriteDeadline int32 `json:"writeDeadline"`
}

// EdgeHubQUIC is EdgeHub's QUIC client.
type EdgeHubQUIC struct {
	// Enable uses QUIC. Default false.
	Enable bool `json:"enable"`
	// HandshakeTimeout in seconds. Default 30.
	HandshakeTimeout int32 `json:"handshakeTimeout"`
	// ReadDeadline in seconds. Default 15.
	ReadDeadline int32 `json:"readDeadline"`
	// Server is CloudHub's QUIC host:port, e.g. 192.168.1.2:10001.
	// Upstream defaults to <local IP>:10001; here "" and the caller fills it.
	Server string `json:"server"`
	// WriteDeadline in seconds. Default 15.
	WriteDeadline int32 `json:"writeDeadline"`
}

// MqttMode selects the MQTT brokers EventBus uses. It is an integer in the
// file.
type MqttMode int32

// MQTT modes.
const (
	// MqttModeInternal (0) uses edgecore's internal broker only.
	MqttModeInternal MqttMode = 0
	// MqttModeBoth (1) uses the internal and the external broker.
	MqttModeBoth MqttMode = 1
	// MqttModeExternal (2) uses the external broker only (upstream default).
	MqttModeExternal MqttMode = 2
)

// String names the mode.
func (m MqttMode) String() string {
	switch m {
	case MqttModeInternal:
		return "internal"
	case MqttModeBoth:
		return "both"
	case MqttModeExternal:
		return "external"
	}
	return "MqttMode(invalid)"
}

// EventBus bridges MQTT topics and edgecore modules.
type EventBus struct {
	// Enable runs EventBus. Default true.
	Enable bool `json:"enable"`
	// MqttQOS is the QoS used: 0 at most once, 1 at least once, 2 exactly
	// once. Default 0.
	MqttQOS int32 `json:"mqttQOS"`
	// MqttRetain sets the retain flag on published messages. Default false.
	MqttRetain bool `json:"mqttRetain"`
	// MqttSessionQueueSize of the internal broker. Default 100.
	MqttSessionQueueSize int32 `json:"mqttSessionQueueSize"`
	// MqttServerExternal is the external broker URL.
	// Default tcp://127.0.0.1:1883.
	MqttServerExternal string `json:"mqttServerExternal"`
	// MqttServerInternal is the internal broker URL.
	// Default tcp://127.0.0.1:1884.
	MqttServerInternal string `json:"mqttServerInternal"`
	// MqttSubClientID default "" (generated).
	MqttSubClientID string `json:"mqttSubClientID"`
	// MqttPubClientID default "" (generated).
	MqttPubClientID string `json:"mqttPubClientID"`
	// MqttUsername default "".
	MqttUsername string `json:"mqttUsername"`
	// MqttPassword default "".
	MqttPassword string `json:"mqttPassword"`
	// MqttMode is 0 internal, 1 both, 2 external. Default 2.
	MqttMode MqttMode `json:"mqttMode"`
	// TLS secures the connection to the brokers.
	TLS EventBusTLS `json:"eventBusTLS"`
}

// EventBusTLS secures EventBus's MQTT connections.
type EventBusTLS struct {
	// Enable uses TLS. Default false.
	Enable bool `json:"enable"`
	// TLSMqttCAFile default /etc/kubeedge/ca/rootCA.crt.
	TLSMqttCAFile string `json:"tlsMqttCAFile"`
	// TLSMqttCertFile default /etc/kubeedge/certs/server.crt.
	TLSMqttCertFile string `json:"tlsMqttCertFile"`
	// TLSMqttPrivateKeyFile default /etc/kubeedge/certs/server.key.
	TLSMqttPrivateKeyFile string `json:"tlsMqttPrivateKeyFile"`
}

// MetaManager stores the cloud's objects on the edge and answers the other
// modules' queries, online or not.
type MetaManager struct {
	// Enable runs MetaManager. Default true.
	Enable bool `json:"enable"`
	// ContextSendGroup is where requests to the cloud go. Default "hub".
	ContextSendGroup string `json:"contextSendGroup"`
	// ContextSendModule is where requests to the cloud go.
	// Default "websocket".
	ContextSendModule string `json:"contextSendModule"`
	// RemoteQueryTimeout for queries to the cloud, in seconds. Default 60.
	RemoteQueryTimeout int32 `json:"remoteQueryTimeout"`
	// MetaServer is the local kube-API for edge applications.
	MetaServer MetaServer `json:"metaServer"`
	// DBPath is the bbolt database holding the stored objects.
	// Extension (not in upstream, which uses database.dataSource).
	// Default /var/lib/kubeedge/meta.db.
	DBPath string `json:"dbPath"`
}

// MetaServer is a local kube-API for edge applications; it needs cloudcore's
// dynamicController. HTTPS only with the requireAuthorization feature gate.
type MetaServer struct {
	// Enable runs it. Default false.
	Enable bool `json:"enable"`
	// Server is its host:port. Default 127.0.0.1:10550.
	Server string `json:"server"`
	// TLSCaFile default /etc/kubeedge/ca/rootCA.crt.
	TLSCaFile string `json:"tlsCaFile"`
	// TLSCertFile default /etc/kubeedge/certs/server.crt.
	TLSCertFile string `json:"tlsCertFile"`
	// TLSPrivateKeyFile default /etc/kubeedge/certs/server.key.
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile"`
}

// ServiceBus forwards cloud REST calls to local HTTP services.
type ServiceBus struct {
	// Enable runs ServiceBus. Default false.
	Enable bool `json:"enable"`
	// Server is the address it listens on. Default 127.0.0.1.
	Server string `json:"server"`
	// Port it listens on. Default 9060.
	Port int32 `json:"port"`
	// Timeout of forwarded calls, in seconds. Default 60.
	Timeout int32 `json:"timeout"`
}

// DeviceTwin keeps device state and syncs it with the cloud.
type DeviceTwin struct {
	// Enable runs DeviceTwin. Default true.
	Enable bool `json:"enable"`
}

// DBTest is upstream's database test module; accepted, not implemented.
type DBTest struct {
	// Enable default false.
	Enable bool `json:"enable"`
}

// EdgeStream dials CloudStream's tunnel server and serves logs/exec/metrics
// requests from edged.
type EdgeStream struct {
	// Enable runs EdgeStream. Default false.
	Enable bool `json:"enable"`
	// TLSTunnelCAFile default /etc/kubeedge/ca/rootCA.crt.
	TLSTunnelCAFile string `json:"tlsTunnelCAFile"`
	// TLSTunnelCertFile default /etc/kubeedge/certs/server.crt.
	TLSTunnelCertFile string `json:"tlsTunnelCertFile"`
	// TLSTunnelPrivateKeyFile default /etc/kubeedge/certs/server.key.
	TLSTunnelPrivateKeyFile string `json:"tlsTunnelPrivateKeyFile"`
	// HandshakeTimeout in seconds. Default 30.
	HandshakeTimeout int32 `json:"handshakeTimeout"`
	// ReadDeadline in seconds. Default 15.
	ReadDeadline int32 `json:"readDeadline"`
	// Server is the tunnel server's host:port. Default 127.0.0.1:10004;
	// keadm join sets <cloud host>:10004.
	Server string `json:"server"`
	// WriteDeadline in seconds. Default 15.
	WriteDeadline int32 `json:"writeDeadline"`
}
