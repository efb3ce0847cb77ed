package runtime

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Label and annotation keys on sandboxes and containers. The io.kubernetes.*
// ones are kubelet's, so tools that know kubelet's pods (crictl, log
// collectors) understand ours.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"

	AnnotationContainerHash          = "io.kubernetes.container.hash"
	AnnotationRestartCount           = "io.kubernetes.container.restartCount"
	AnnotationTerminationMessagePath = "io.kubernetes.container.terminationMessagePath"
	AnnotationTerminationPolicy      = "io.kubernetes.container.terminationMessagePolicy"
	AnnotationPodGracePeriod         = "io.kubernetes.pod.terminationGracePeriod"
	// AnnotationCgroupParent records the sandbox's cgroup parent so that
	// RemovePod cleans up the right directories even if the node's cgroup
	// root changed since the pod started.
	AnnotationCgroupParent = "io.kubeedge.pod.cgroupParent"
)

// SpecHash is a stable hash of a container's spec, stored on the container
// (AnnotationContainerHash) so that the pod worker can tell a spec change,
// which needs a restart, from an unchanged running container. It is the
// FNV-64a hash of the spec's JSON encoding (struct order fixed, map keys
// sorted, quantities canonical), in hex.
func SpecHash(c *corev1.Container) string {
	b, err := json.Marshal(c)
	if err != nil {
		// A corev1.Container always marshals; keep the function total anyway.
		b = []byte(c.Name + "\x00" + c.Image)
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

func podIdentityLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
		LabelPodUID:       string(pod.UID),
	}
}
