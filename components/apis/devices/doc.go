// Package devices groups the devices.kubeedge.io API versions: v1alpha1 (the
// KubeEdge v1.3 shapes, kept so old manifests can be read and migrated) and
// v1alpha2 (what KubeEdge v1.12 cloudcore and edgecore use).
package devices

// GroupName is the API group of Device and DeviceModel.
const GroupName = "devices.kubeedge.io"
