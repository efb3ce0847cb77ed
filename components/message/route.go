package message

// Source names the module that sent a message (route.source).
type Source string

// Sources seen on the wire in upstream v1.12.
const (
	SourceEdgeController    Source = "edgecontroller"
	SourceDeviceController  Source = "devicecontroller"
	SourceDynamicController Source = "dynamiccontroller"
	SourceNodeUpgradeJob    Source = "nodeupgradejobcontroller"
	SourceCloudHub          Source = "cloudhub"
	SourceRouterEventBus    Source = "router_eventbus"
	SourceRouterServiceBus  Source = "router_servicebus"

	// SourceEdgeHub is the edge hub; upstream names that module "websocket".
	SourceEdgeHub     Source = "websocket"
	SourceEdged       Source = "edged"
	SourceMetaManager Source = "metamanager"
	SourceMetaServer  Source = "metaserver"
	SourceTwin        Source = "twin"
	SourceBus         Source = "bus"
	SourceServiceBus  Source = "servicebus"
)

// Group names the module group that handles a message (route.group).
type Group string

// Groups seen on the wire in upstream v1.12.
const (
	GroupResource          Group = "resource"
	GroupMeta              Group = "meta"
	GroupTwin              Group = "twin"
	GroupUser              Group = "user"
	GroupFunc              Group = "func"
	GroupDynamicController Group = "dynamiccontroller"
	GroupNodeUpgradeJob    Group = "nodeupgradejobcontroller"
)

// Operation is the verb of a message (route.operation).
type Operation string

// Operations of upstream's beehive model and those used on the wire.
const (
	OpInsert   Operation = "insert"
	OpDelete   Operation = "delete"
	OpQuery    Operation = "query"
	OpUpdate   Operation = "update"
	OpPatch    Operation = "patch"
	OpUpload   Operation = "upload"
	OpResponse Operation = "response"
	OpError    Operation = "error"

	OpKeepalive           Operation = "keepalive"
	OpGet                 Operation = "get"
	OpGetResult           Operation = "get_result"
	OpPublish             Operation = "publish"
	OpSubscribe           Operation = "subscribe"
	OpUnsubscribe         Operation = "unsubscribe"
	OpMessage             Operation = "message"
	OpConnect             Operation = "connect"
	OpApplicationResponse Operation = "applicationResponse"
	OpStart               Operation = "start"
	OpStop                Operation = "stop"
	OpUpgrade             Operation = "upgrade"

	// Internal CloudHub events about a node's session (never on the wire).
	OpConnected    Operation = "connected"
	OpDisconnected Operation = "disconnected"

	// viaduct control operations, auto-answered with "ack".
	OpPing   Operation = "ping"
	OpPong   Operation = "pong"
	OpConfig Operation = "config"

	// CSI operations.
	OpCreateVolume              Operation = "createvolume"
	OpDeleteVolume              Operation = "deletevolume"
	OpControllerPublishVolume   Operation = "controllerpublishvolume"
	OpControllerUnpublishVolume Operation = "controllerunpublishvolume"
)

// ResourceType is the type segment of a resource path.
type ResourceType string

// Resource types of upstream v1.12.
const (
	ResPod                   ResourceType = "pod"
	ResConfigMap             ResourceType = "configmap"
	ResSecret                ResourceType = "secret"
	ResServiceAccountToken   ResourceType = "serviceaccounttoken"
	ResNode                  ResourceType = "node"
	ResPodList               ResourceType = "podlist"
	ResPodStatus             ResourceType = "podstatus"
	ResPodPatch              ResourceType = "podpatch"
	ResNodeStatus            ResourceType = "nodestatus"
	ResNodePatch             ResourceType = "nodepatch"
	ResRule                  ResourceType = "rule"
	ResRuleEndpoint          ResourceType = "ruleendpoint"
	ResRuleStatus            ResourceType = "rulestatus"
	ResLease                 ResourceType = "lease"
	ResPersistentVolume      ResourceType = "persistentvolume"
	ResPersistentVolumeClaim ResourceType = "persistentvolumeclaim"
	ResVolumeAttachment      ResourceType = "volumeattachment"
	ResService               ResourceType = "service"
	ResEndpoints             ResourceType = "endpoints"
	ResDevice                ResourceType = "device"
	ResDeviceModel           ResourceType = "devicemodel"
)

// KeepaliveRoute is the route of the edge's heartbeat; its content is "ping".
var KeepaliveRoute = Route{Source: SourceEdgeHub, Group: GroupResource, Operation: OpKeepalive, Resource: string(ResNode)}

// KeepaliveContent is the content of a heartbeat.
const KeepaliveContent = "ping"
