package runtime_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

func TestSandboxConfig(t *testing.T) {
	pod := testPod()
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{
		{ContainerPort: 8080, HostPort: 18080},
		{ContainerPort: 9090}, // no host port: no mapping
		{ContainerPort: 53, HostPort: 1053, Protocol: corev1.ProtocolUDP, HostIP: "127.0.0.1"},
	}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(2000)), FSGroup: ptr(int64(3000)),
		SupplementalGroups: []int64{4000},
		Sysctls:            []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
	}
	pod.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}

	got := runtime.SandboxConfig(pod, runtime.SandboxOptions{Attempt: 2, PodLogsRoot: "/logs", CgroupRoot: "/ke"})
	want := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Uid: "uid-1", Namespace: "prod", Attempt: 2},
		Hostname:     "web",
		LogDirectory: "/logs/prod_web_uid-1",
		PortMappings: []*runtimeapi.PortMapping{
			{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: 18080},
			{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 1053, HostIp: "127.0.0.1"},
		},
		Labels: map[string]string{
			"app": "web", runtime.LabelPodName: "web", runtime.LabelPodNamespace: "prod", runtime.LabelPodUID: "uid-1",
		},
		Annotations: map[string]string{"team": "edge", runtime.AnnotationCgroupParent: "/ke/poduid-1"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/ke/poduid-1",
			Sysctls:      map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
				},
				RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000},
				SupplementalGroups: []int64{4000, 3000},
				Privileged:         true,
			},
		},
	}
	if !proto.Equal(got, want) {
		t.Errorf("SandboxConfig =\n%v\nwant\n%v", got, want)
	}
}

func TestSandboxConfigVariants(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*corev1.Pod)
		check func(*testing.T, *runtimeapi.PodSandboxConfig)
	}{
		{"defaults", func(*corev1.Pod) {}, func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
			if c.LogDirectory != "/var/log/pods/prod_web_uid-1" || c.Linux.CgroupParent != "/kubeedge/poduid-1" {
				t.Errorf("log dir %q, cgroup parent %q", c.LogDirectory, c.Linux.CgroupParent)
			}
			if c.DnsConfig != nil {
				t.Errorf("DNS config %v, want nil (containerd copies the host's)", c.DnsConfig)
			}
		}},
		{"host network: no hostname, no port mappings, node namespaces", func(p *corev1.Pod) {
			p.Spec.HostNetwork, p.Spec.HostIPC, p.Spec.HostPID = true, true, true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}, func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
			if c.Hostname != "" || len(c.PortMappings) != 0 {
				t.Errorf("hostname %q, port mappings %v", c.Hostname, c.PortMappings)
			}
			ns := c.Linux.SecurityContext.NamespaceOptions
			if ns.Network != runtimeapi.NamespaceMode_NODE || ns.Ipc != runtimeapi.NamespaceMode_NODE || ns.Pid != runtimeapi.NamespaceMode_NODE {
				t.Errorf("namespaces %v", ns)
			}
		}},
		{"shared process namespace", func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr(true) },
			func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
				if ns := c.Linux.SecurityContext.NamespaceOptions; ns.Pid != runtimeapi.NamespaceMode_POD {
					t.Errorf("pid namespace %v, want POD", ns.Pid)
				}
			}},
		{"spec.hostname, cut to 63 characters", func(p *corev1.Pod) { p.Spec.Hostname = strings.Repeat("a", 62) + "-bc" },
			func(t *testing.T, c *runtimeapi.PodSandboxConfig) {
				if c.Hostname != strings.Repeat("a", 62) {
					t.Errorf("hostname %q", c.Hostname)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			tt.edit(pod)
			tt.check(t, runtime.SandboxConfig(pod, runtime.SandboxOptions{}))
		})
	}
}

func TestDNSConfig(t *testing.T) {
	host := &runtimeapi.DNSConfig{Servers: []string{"192.168.1.1"}, Searches: []string{"lan"}, Options: []string{"ndots:1", "edns0"}}
	tests := []struct {
		name        string
		policy      corev1.DNSPolicy
		hostNetwork bool
		dnsConfig   *corev1.PodDNSConfig
		clusterDNS  []string
		hostDNS     *runtimeapi.DNSConfig
		want        *runtimeapi.DNSConfig
	}{
		{name: "ClusterFirst with cluster DNS", policy: corev1.DNSClusterFirst, clusterDNS: []string{"10.96.0.10"}, hostDNS: host,
			want: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "lan"}, Options: []string{"ndots:5"}}},
		{name: "empty policy is ClusterFirst", clusterDNS: []string{"10.96.0.10"},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Options: []string{"ndots:5"}}},
		{name: "ClusterFirst without cluster DNS falls back to the host", policy: corev1.DNSClusterFirst, hostDNS: host, want: host},
		{name: "ClusterFirst without cluster DNS nor host config: runtime default", policy: corev1.DNSClusterFirst, want: nil},
		{name: "ClusterFirst on host network is Default", policy: corev1.DNSClusterFirst, hostNetwork: true, clusterDNS: []string{"10.96.0.10"}, hostDNS: host, want: host},
		{name: "ClusterFirstWithHostNet", policy: corev1.DNSClusterFirstWithHostNet, hostNetwork: true, clusterDNS: []string{"10.96.0.10"},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Options: []string{"ndots:5"}}},
		{name: "Default", policy: corev1.DNSDefault, clusterDNS: []string{"10.96.0.10"}, hostDNS: host, want: host},
		{name: "None with dnsConfig", policy: corev1.DNSNone, hostDNS: host,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"example.com"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}}},
			want:      &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{"example.com"}, Options: []string{"ndots:2"}}},
		{name: "dnsConfig merged into Default: dedupe, option override, at most 3 servers", policy: corev1.DNSDefault, hostDNS: host,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"192.168.1.1", "1.1.1.1", "8.8.8.8", "9.9.9.9"}, Searches: []string{"lan", "corp"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("3")}, {Name: "rotate"}}},
			want: &runtimeapi.DNSConfig{Servers: []string{"192.168.1.1", "1.1.1.1", "8.8.8.8"}, Searches: []string{"lan", "corp"}, Options: []string{"ndots:3", "edns0", "rotate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.DNSPolicy, pod.Spec.HostNetwork, pod.Spec.DNSConfig = tt.policy, tt.hostNetwork, tt.dnsConfig
			// Keep the shared host config pristine across cases.
			var hostDNS *runtimeapi.DNSConfig
			if tt.hostDNS != nil {
				hostDNS = proto.Clone(tt.hostDNS).(*runtimeapi.DNSConfig)
			}
			got := runtime.DNSConfig(pod, runtime.SandboxOptions{ClusterDNS: tt.clusterDNS, HostDNS: hostDNS})
			if !proto.Equal(got, tt.want) {
				t.Errorf("DNSConfig =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	got, err := runtime.ParseResolvConf(strings.NewReader(`# generated
nameserver 192.168.1.1
nameserver 8.8.8.8 ; comment
domain ignored.example
search lan corp.example
options ndots:2 timeout:1
options ndots:3
garbage
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &runtimeapi.DNSConfig{Servers: []string{"192.168.1.1", "8.8.8.8"}, Searches: []string{"lan", "corp.example"}, Options: []string{"ndots:3", "timeout:1"}}
	if !proto.Equal(got, want) {
		t.Errorf("ParseResolvConf =\n%v\nwant\n%v", got, want)
	}
}
