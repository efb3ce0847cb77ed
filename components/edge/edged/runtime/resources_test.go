package runtime_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

func TestCPUShares(t *testing.T) {
	for _, tt := range []struct{ milli, want int64 }{
		{0, 2}, {1, 2}, {2, 2}, {10, 10}, {100, 102}, {250, 256}, {1000, 1024}, {1500, 1536}, {1 << 30, 262144},
	} {
		if got := runtime.CPUShares(tt.milli); got != tt.want {
			t.Errorf("CPUShares(%d) = %d, want %d", tt.milli, got, tt.want)
		}
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tt := range []struct{ milli, want int64 }{
		{0, 0}, {1, 1000}, {5, 1000}, {10, 1000}, {100, 10000}, {500, 50000}, {1000, 100000}, {2500, 250000},
	} {
		if got := runtime.CPUQuota(tt.milli, runtime.CPUPeriod); got != tt.want {
			t.Errorf("CPUQuota(%d) = %d, want %d", tt.milli, got, tt.want)
		}
	}
}

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func podWith(containers ...corev1.ResourceRequirements) *corev1.Pod {
	pod := &corev1.Pod{}
	for _, r := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "c", Resources: r})
	}
	return pod
}

func TestQOSClass(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.PodQOSClass
	}{
		{"no resources", podWith(corev1.ResourceRequirements{}), corev1.PodQOSBestEffort},
		{"only other resources", podWith(corev1.ResourceRequirements{Limits: res("ephemeral-storage", "1Gi")}), corev1.PodQOSBestEffort},
		{"limits only (requests default to them)", podWith(corev1.ResourceRequirements{Limits: res("cpu", "1", "memory", "1Gi")}), corev1.PodQOSGuaranteed},
		{"requests equal limits", podWith(corev1.ResourceRequirements{Requests: res("cpu", "1000m", "memory", "1Gi"), Limits: res("cpu", "1", "memory", "1Gi")}), corev1.PodQOSGuaranteed},
		{"request below limit", podWith(corev1.ResourceRequirements{Requests: res("cpu", "500m", "memory", "1Gi"), Limits: res("cpu", "1", "memory", "1Gi")}), corev1.PodQOSBurstable},
		{"memory limit only", podWith(corev1.ResourceRequirements{Limits: res("memory", "1Gi")}), corev1.PodQOSBurstable},
		{"one guaranteed, one best-effort", podWith(corev1.ResourceRequirements{Limits: res("cpu", "1", "memory", "1Gi")}, corev1.ResourceRequirements{}), corev1.PodQOSBurstable},
		{"status wins", func() *corev1.Pod {
			p := podWith(corev1.ResourceRequirements{})
			p.Status.QOSClass = corev1.PodQOSGuaranteed
			return p
		}(), corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtime.QOSClass(tt.pod); got != tt.want {
				t.Errorf("QOSClass = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const capacity = 4 << 30
	withMem := func(req string) *corev1.Container {
		c := &corev1.Container{}
		if req != "" {
			c.Resources.Requests = res("memory", req)
		}
		return c
	}
	tests := []struct {
		name     string
		qos      corev1.PodQOSClass
		c        *corev1.Container
		capacity int64
		want     int64
	}{
		{"guaranteed", corev1.PodQOSGuaranteed, withMem("1Gi"), capacity, -997},
		{"best effort", corev1.PodQOSBestEffort, withMem(""), capacity, 1000},
		{"burstable, no memory request", corev1.PodQOSBurstable, withMem(""), capacity, 999},
		{"burstable, a quarter of the node", corev1.PodQOSBurstable, withMem("1Gi"), capacity, 750},
		{"burstable, half of the node", corev1.PodQOSBurstable, withMem("2Gi"), capacity, 500},
		{"burstable, almost all of the node", corev1.PodQOSBurstable, withMem("4095Mi"), capacity, 3},
		{"burstable, more than the node", corev1.PodQOSBurstable, withMem("8Gi"), capacity, 3},
		{"burstable, unknown capacity", corev1.PodQOSBurstable, withMem("1Gi"), 0, 999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtime.OOMScoreAdj(tt.qos, tt.c, tt.capacity); got != tt.want {
				t.Errorf("OOMScoreAdj = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLinuxResources(t *testing.T) {
	tests := []struct {
		name string
		r    corev1.ResourceRequirements
		qos  corev1.PodQOSClass
		want *runtimeapi.LinuxContainerResources
	}{
		{"none", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort,
			&runtimeapi.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000}},
		{"requests and limits", corev1.ResourceRequirements{Requests: res("cpu", "250m", "memory", "64Mi"), Limits: res("cpu", "500m", "memory", "128Mi")}, corev1.PodQOSBurstable,
			&runtimeapi.LinuxContainerResources{CpuShares: 256, CpuPeriod: 100000, CpuQuota: 50000, MemoryLimitInBytes: 128 << 20, OomScoreAdj: 985}},
		{"cpu limit without request", corev1.ResourceRequirements{Limits: res("cpu", "2", "memory", "1Gi")}, corev1.PodQOSGuaranteed,
			&runtimeapi.LinuxContainerResources{CpuShares: 2048, CpuPeriod: 100000, CpuQuota: 200000, MemoryLimitInBytes: 1 << 30, OomScoreAdj: -997}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runtime.LinuxResources(&corev1.Container{Resources: tt.r}, tt.qos, 4<<30)
			if !proto.Equal(got, tt.want) {
				t.Errorf("LinuxResources =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}
