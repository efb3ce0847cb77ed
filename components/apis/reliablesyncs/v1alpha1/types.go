// Package v1alpha1 holds the reliablesyncs.kubeedge.io/v1alpha1 types:
// ObjectSync records, per edge node and namespaced object, the
// resourceVersion the node acknowledged (upstream's CRD, name
// "<node>.<objectUID>", in the object's namespace).
package v1alpha1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// GroupVersion of the API.
var GroupVersion = schema.GroupVersion{Group: "reliablesyncs.kubeedge.io", Version: "v1alpha1"}

// ObjectSyncs is the objectsyncs resource.
var ObjectSyncs = GroupVersion.WithResource("objectsyncs")

// ObjectSync is one node's acknowledged version of one object.
type ObjectSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ObjectSyncSpec   `json:"spec,omitempty"`
	Status            ObjectSyncStatus `json:"status,omitempty"`
}

// ObjectSyncSpec names the synced object.
type ObjectSyncSpec struct {
	ObjectAPIVersion string `json:"objectAPIVersion,omitempty"`
	ObjectKind       string `json:"objectKind,omitempty"`
	ObjectName       string `json:"objectName,omitempty"`
}

// ObjectSyncStatus is what the node acknowledged.
type ObjectSyncStatus struct {
	ObjectResourceVersion string `json:"objectResourceVersion,omitempty"`
}

// Name is the ObjectSync name for a node and an object UID.
func Name(node string, uid types.UID) string { return node + "." + string(uid) }

// ParseName splits an ObjectSync name into node and object UID. Node names
// may contain dots; UIDs do not.
func ParseName(name string) (node string, uid types.UID, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], types.UID(name[i+1:]), true
}
