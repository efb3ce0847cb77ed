// Package charts embeds the manifests keadm installs. For now that is the
// CustomResourceDefinitions of KubeEdge v1.12 (cloudcore/crds/), which
// `keadm init` creates or updates in the cluster. The directory is laid out
// like upstream's Helm chart so that the chart itself (for an in-cluster
// install and `keadm manifest generate`) can join it later.
package charts
