package runtime

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CPU and OOM constants (kubelet's values).
const (
	// CPUPeriod is the CFS period for CPU limits, in microseconds.
	CPUPeriod = 100000
	// MinCPUShares and MaxCPUShares bound cpu.shares (the kernel's limits).
	MinCPUShares = 2
	MaxCPUShares = 262144
	// MinCPUQuota is the smallest CFS quota the kernel accepts (1ms).
	MinCPUQuota = 1000

	// GuaranteedOOMScoreAdj is asked for guaranteed containers. On a host
	// without CAP_SYS_RESOURCE containerd clamps negative values to its own
	// score (restrict_oom_score_adj, P2).
	GuaranteedOOMScoreAdj = -997
	// BestEffortOOMScoreAdj makes best-effort containers the first victims.
	BestEffortOOMScoreAdj = 1000
)

// CPUShares converts a CPU request in millicores to cpu.shares: 1024 per
// core, at least MinCPUShares (also for no request), at most MaxCPUShares.
func CPUShares(milliCPU int64) int64 {
	shares := milliCPU * 1024 / 1000
	if shares < MinCPUShares {
		return MinCPUShares
	}
	if shares > MaxCPUShares {
		return MaxCPUShares
	}
	return shares
}

// CPUQuota converts a CPU limit in millicores to a CFS quota for period
// (microseconds); 0 means no limit.
func CPUQuota(milliCPU, period int64) int64 {
	if milliCPU <= 0 {
		return 0
	}
	quota := milliCPU * period / 1000
	if quota < MinCPUQuota {
		return MinCPUQuota
	}
	return quota
}

// QOSClass returns the pod's QoS class: the one in its status when the API
// server filled it, otherwise computed from requests and limits over all
// (init) containers, with Kubernetes' rules: Guaranteed when every container
// has CPU and memory limits equal to its requests (a missing request
// defaults to the limit), BestEffort when no container has any CPU or memory
// request or limit, Burstable otherwise.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	some, guaranteed := false, true
	check := func(c *corev1.Container) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				some = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	switch {
	case !some:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

// OOMScoreAdj is the container's oom_score_adj for its pod's QoS class:
// GuaranteedOOMScoreAdj, BestEffortOOMScoreAdj, or for Burstable
// 1000 - 1000*memoryRequest/memoryCapacity, kept within [3, 999] so a
// burstable container always ranks between guaranteed and best-effort ones.
// memoryCapacity is the node's memory in bytes; 0 (unknown) gives 999.
func OOMScoreAdj(qos corev1.PodQOSClass, c *corev1.Container, memoryCapacity int64) int64 {
	switch qos {
	case corev1.PodQOSGuaranteed:
		return GuaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return BestEffortOOMScoreAdj
	}
	lowest := int64(1000 + GuaranteedOOMScoreAdj)
	if memoryCapacity <= 0 {
		return BestEffortOOMScoreAdj - 1
	}
	request := c.Resources.Requests.Memory().Value()
	adj := 1000 - 1000*request/memoryCapacity
	if request > memoryCapacity {
		adj = lowest
	}
	switch {
	case adj < lowest:
		return lowest
	case adj >= BestEffortOOMScoreAdj:
		return BestEffortOOMScoreAdj - 1
	}
	return adj
}

// requestOrLimit is the container's request for name, defaulting to its limit
// (what the API server's defaulting would have filled).
func requestOrLimit(c *corev1.Container, name corev1.ResourceName) (resource.Quantity, bool) {
	if q, ok := c.Resources.Requests[name]; ok {
		return q, true
	}
	q, ok := c.Resources.Limits[name]
	return q, ok
}

// LinuxResources converts the container's requests and limits: requests.cpu
// to CpuShares, limits.cpu to CpuQuota over CPUPeriod, limits.memory to
// MemoryLimitInBytes, and the OOM score adjustment for qos.
func LinuxResources(c *corev1.Container, qos corev1.PodQOSClass, memoryCapacity int64) *runtimeapi.LinuxContainerResources {
	res := &runtimeapi.LinuxContainerResources{OomScoreAdj: OOMScoreAdj(qos, c, memoryCapacity)}
	var milliReq int64
	if q, ok := requestOrLimit(c, corev1.ResourceCPU); ok {
		milliReq = q.MilliValue()
	}
	res.CpuShares = CPUShares(milliReq)
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !q.IsZero() {
		res.CpuPeriod = CPUPeriod
		res.CpuQuota = CPUQuota(q.MilliValue(), CPUPeriod)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
		res.MemoryLimitInBytes = q.Value()
	}
	return res
}
