package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Defaults of SandboxOptions.
const (
	DefaultPodLogsRoot   = "/var/log/pods"
	DefaultCgroupRoot    = "/kubeedge"
	DefaultClusterDomain = "cluster.local"
	DefaultResolvConf    = "/etc/resolv.conf"
)

// DNS limits applied to the merged configuration (glibc's and Kubernetes').
const (
	maxDNSServers  = 3
	maxDNSSearches = 32
)

// SandboxOptions are the node settings and the attempt for a pod sandbox.
type SandboxOptions struct {
	// Attempt counts the sandboxes created for this pod (0 for the first).
	Attempt uint32
	// PodLogsRoot holds the pods' log directories (default /var/log/pods).
	PodLogsRoot string
	// CgroupRoot is the cgroupfs parent of all pod cgroups (default
	// /kubeedge); a pod's cgroup is <CgroupRoot>/pod<uid>.
	CgroupRoot string
	// ClusterDNS are the cluster DNS servers for dnsPolicy ClusterFirst; when
	// empty, ClusterFirst falls back to the host's DNS (as kubelet does).
	ClusterDNS []string
	// ClusterDomain is the cluster's DNS domain (default cluster.local).
	ClusterDomain string
	// HostDNS is the node's resolver configuration, used for dnsPolicy
	// Default and ClusterFirst without ClusterDNS. Edged reads it once with
	// ReadResolvConf (kubelet's --resolv-conf; on a host running a local stub
	// resolver such as 127.0.0.53, point it at the upstream file). When nil
	// and the pod adds no dnsConfig, DnsConfig is left out and containerd
	// copies the host's /etc/resolv.conf itself.
	HostDNS *runtimeapi.DNSConfig
}

func (o SandboxOptions) withDefaults() SandboxOptions {
	if o.PodLogsRoot == "" {
		o.PodLogsRoot = DefaultPodLogsRoot
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = DefaultCgroupRoot
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	return o
}

// PodLogDirectory is the pod's log directory, kubelet's layout:
// <root>/<namespace>_<name>_<uid>.
func PodLogDirectory(root string, pod *corev1.Pod) string {
	if root == "" {
		root = DefaultPodLogsRoot
	}
	return filepath.Join(root, pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

// CgroupParent is the pod's cgroup with the cgroupfs driver:
// <cgroupRoot>/pod<uid>.
func CgroupParent(cgroupRoot string, pod *corev1.Pod) string {
	if cgroupRoot == "" {
		cgroupRoot = DefaultCgroupRoot
	}
	return path.Join("/", cgroupRoot, "pod"+string(pod.UID))
}

// SandboxConfig builds the pod's CRI sandbox config: metadata, hostname
// (empty for host-network pods: runc cannot set it without a UTS namespace,
// P3), kubelet's identity labels over the pod's labels, the pod's
// annotations, the log directory, DNS, host port mappings, and the Linux
// part (cgroup parent, namespaces, sysctls, pod security context).
func SandboxConfig(pod *corev1.Pod, opts SandboxOptions) *runtimeapi.PodSandboxConfig {
	opts = opts.withDefaults()
	labels := map[string]string{}
	for k, v := range pod.Labels {
		labels[k] = v
	}
	for k, v := range podIdentityLabels(pod) {
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	cgroupParent := CgroupParent(opts.CgroupRoot, pod)
	annotations[AnnotationCgroupParent] = cgroupParent

	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: pod.Name, Uid: string(pod.UID), Namespace: pod.Namespace, Attempt: opts.Attempt,
		},
		LogDirectory: PodLogDirectory(opts.PodLogsRoot, pod),
		DnsConfig:    DNSConfig(pod, opts),
		Labels:       labels,
		Annotations:  annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cgroupParent,
			SecurityContext: sandboxSecurityContext(pod),
		},
	}
	if !pod.Spec.HostNetwork {
		cfg.Hostname = PodHostname(pod)
		cfg.PortMappings = portMappings(pod)
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		cfg.Linux.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	return cfg
}

// PodHostname is spec.hostname or the pod name, cut to 63 characters (a DNS
// label) without a trailing '-' or '.'.
func PodHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func sandboxSecurityContext(pod *corev1.Pod) *runtimeapi.LinuxSandboxSecurityContext {
	sc := &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = supplementalGroups(psc)
	}
	// The sandbox must be privileged for any of its containers to be.
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if csc := list[i].SecurityContext; csc != nil && csc.Privileged != nil && *csc.Privileged {
				sc.Privileged = true
			}
		}
	}
	return sc
}

// supplementalGroups are the pod's supplemental groups plus its fsGroup.
func supplementalGroups(psc *corev1.PodSecurityContext) []int64 {
	groups := append([]int64(nil), psc.SupplementalGroups...)
	if psc.FSGroup != nil {
		seen := false
		for _, g := range groups {
			seen = seen || g == *psc.FSGroup
		}
		if !seen {
			groups = append(groups, *psc.FSGroup)
		}
	}
	return groups
}

func portMappings(pod *corev1.Pod) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			out = append(out, &runtimeapi.PortMapping{
				Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP,
			})
		}
	}
	return out
}

// DNSConfig is the pod's resolver configuration, from its dnsPolicy and
// dnsConfig:
//
//   - ClusterFirst (the default; for host-network pods only as
//     ClusterFirstWithHostNet): opts.ClusterDNS as servers, searches
//     <ns>.svc.<domain>, svc.<domain>, <domain> then the host's, ndots:5.
//     Without ClusterDNS (an edge node often has no cluster DNS) it falls
//     back to Default.
//   - Default: the host's configuration (opts.HostDNS; nil lets containerd
//     copy the host's resolv.conf).
//   - None: only what dnsConfig gives.
//
// dnsConfig's nameservers and searches are then appended (duplicates
// dropped) and its options override options of the same name. At most 3
// servers and 32 searches are kept. nil means "use the runtime's default".
func DNSConfig(pod *corev1.Pod, opts SandboxOptions) *runtimeapi.DNSConfig {
	opts = opts.withDefaults()
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && len(opts.ClusterDNS) == 0 {
		policy = corev1.DNSDefault
	}

	var servers, searches, options []string
	host := opts.HostDNS
	switch policy {
	case corev1.DNSClusterFirst:
		servers = append(servers, opts.ClusterDNS...)
		d := opts.ClusterDomain
		searches = append(searches, pod.Namespace+".svc."+d, "svc."+d, d)
		searches = append(searches, host.GetSearches()...)
		options = []string{"ndots:5"}
	case corev1.DNSDefault:
		if host == nil && pod.Spec.DNSConfig == nil {
			return nil
		}
		servers = append(servers, host.GetServers()...)
		searches = append(searches, host.GetSearches()...)
		options = append(options, host.GetOptions()...)
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = mergeOption(options, opt)
		}
	}
	servers = dedupe(servers)
	if len(servers) > maxDNSServers {
		servers = servers[:maxDNSServers]
	}
	searches = dedupe(searches)
	if len(searches) > maxDNSSearches {
		searches = searches[:maxDNSSearches]
	}
	return &runtimeapi.DNSConfig{Servers: servers, Searches: searches, Options: options}
}

// mergeOption replaces an option of the same name (the part before ':') or
// appends opt.
func mergeOption(options []string, opt string) []string {
	name, _, _ := strings.Cut(opt, ":")
	for i, o := range options {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0:0]
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ParseResolvConf reads nameserver, search/domain and options lines.
func ParseResolvConf(r io.Reader) (*runtimeapi.DNSConfig, error) {
	cfg := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, fields[1])
		case "search", "domain":
			// The last search or domain line wins (resolv.conf(5)).
			cfg.Searches = append([]string(nil), fields[1:]...)
		case "options":
			for _, o := range fields[1:] {
				cfg.Options = mergeOption(cfg.Options, o)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ReadResolvConf parses the resolver file at path.
func ReadResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ParseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cfg, nil
}
