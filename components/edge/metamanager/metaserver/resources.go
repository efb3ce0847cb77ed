package metaserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/components/message"
)

// Device API group, as the cloud's devicecontroller sends it.
const (
	deviceGroup   = "devices.kubeedge.io"
	deviceVersion = "v1alpha2"
)

// resource is one served REST resource: where it lives in the URL space and
// which stored type backs it.
type resource struct {
	typ        message.ResourceType
	group      string // "" for the core group
	version    string
	plural     string
	singular   string
	kind       string
	namespaced bool
	shortNames []string
}

// apiVersion is the object's apiVersion: "v1" or "<group>/<version>".
func (r *resource) apiVersion() string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

// groupResource names the resource in Status errors ("pods", "devices.devices.kubeedge.io").
func (r *resource) groupResource() string {
	if r.group == "" {
		return r.plural
	}
	return r.plural + "." + r.group
}

// served lists every resource, in discovery order.
var served = []*resource{
	{typ: message.ResConfigMap, version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: []string{"cm"}},
	{typ: message.ResEndpoints, version: "v1", plural: "endpoints", singular: "endpoints", kind: "Endpoints", namespaced: true, shortNames: []string{"ep"}},
	{typ: message.ResNode, version: "v1", plural: "nodes", singular: "node", kind: "Node", shortNames: []string{"no"}},
	{typ: message.ResPod, version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: []string{"po"}},
	{typ: message.ResSecret, version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true},
	{typ: message.ResService, version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true, shortNames: []string{"svc"}},
	{typ: message.ResDevice, group: deviceGroup, version: deviceVersion, plural: "devices", singular: "device", kind: "Device", namespaced: true},
	{typ: message.ResDeviceModel, group: deviceGroup, version: deviceVersion, plural: "devicemodels", singular: "devicemodel", kind: "DeviceModel", namespaced: true},
}

// groupVersion is a served API group version ("" group is the core /api).
type groupVersion struct{ group, version string }

// lookup finds the resource served under gv with that plural name.
func lookup(gv groupVersion, plural string) *resource {
	for _, r := range served {
		if r.group == gv.group && r.version == gv.version && r.plural == plural {
			return r
		}
	}
	return nil
}

// readVerbs are the only verbs the edge-local API serves.
var readVerbs = metav1.Verbs{"get", "list", "watch"}

// resourceList is the discovery document of one group version.
func resourceList(gv groupVersion) (*metav1.APIResourceList, bool) {
	l := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: (&resource{group: gv.group, version: gv.version}).apiVersion(),
	}
	for _, r := range served {
		if r.group != gv.group || r.version != gv.version {
			continue
		}
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name: r.plural, SingularName: r.singular, Namespaced: r.namespaced,
			Kind: r.kind, Verbs: readVerbs, ShortNames: r.shortNames,
		})
	}
	return l, len(l.APIResources) > 0
}

// deviceAPIGroup is the discovery document of the device group.
func deviceAPIGroup() metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: deviceGroup + "/" + deviceVersion, Version: deviceVersion}
	return metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     deviceGroup, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v,
	}
}
