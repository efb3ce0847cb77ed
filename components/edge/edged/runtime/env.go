package runtime

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ErrNotFound is what an EnvSource returns (wrapped or not) for a missing
// ConfigMap or Secret; optional references to it are then skipped.
var ErrNotFound = errors.New("not found")

// EnvSource gives ResolveEnv the ConfigMaps and Secrets of the pod's
// namespace (Edged implements it from its local metadata store).
type EnvSource interface {
	ConfigMap(namespace, name string) (map[string]string, error)
	Secret(namespace, name string) (map[string][]byte, error)
}

// AllocatableSource is optionally implemented by an EnvSource: a
// resourceFieldRef to an unset limit then resolves to the node's allocatable
// amount, as in Kubernetes. Without it an unset limit resolves to 0.
type AllocatableSource interface {
	NodeAllocatable() corev1.ResourceList
}

// ConfigError means the container's configuration cannot be built from the
// pod and its references (kubelet's CreateContainerConfigError): a missing
// ConfigMap, Secret or key, a bad fieldRef, an unknown volume, a bad subPath.
type ConfigError struct {
	Container string
	Err       error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("container %s: %v", e.Container, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ResolveEnv computes the container's environment, in Kubernetes' order and
// semantics: first every envFrom source (ConfigMap or Secret keys, with the
// source's prefix; keys that are not valid variable names are skipped), then
// every env entry, which overrides an earlier variable of the same name. An
// env value may reference variables defined before it as $(NAME) (see
// ExpandVars). valueFrom supports fieldRef (metadata.name, .namespace, .uid,
// .labels['k'], .annotations['k'], spec.nodeName, spec.serviceAccountName,
// status.podIP, status.podIPs, status.hostIP, status.hostIPs),
// resourceFieldRef (limits/requests of cpu, memory, ephemeral-storage) and
// configMapKeyRef/secretKeyRef; an optional reference to a missing object or
// key defines nothing.
//
// status.podIP and status.hostIP are read from pod.Status: the pod worker
// fills them (from RunSandbox) on its copy of the pod before calling.
// Errors are *ConfigError.
func ResolveEnv(pod *corev1.Pod, c *corev1.Container, src EnvSource) ([]corev1.EnvVar, error) {
	var env envList
	fail := func(format string, args ...any) ([]corev1.EnvVar, error) {
		return nil, &ConfigError{Container: c.Name, Err: fmt.Errorf(format, args...)}
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			ref := from.ConfigMapRef
			data, err := src.ConfigMap(pod.Namespace, ref.Name)
			if err != nil {
				if errors.Is(err, ErrNotFound) && optional(ref.Optional) {
					continue
				}
				return fail("envFrom ConfigMap %s/%s: %w", pod.Namespace, ref.Name, err)
			}
			for _, k := range sortedKeys(data) {
				if name := from.Prefix + k; validEnvName(name) {
					env.set(name, data[k])
				}
			}
		case from.SecretRef != nil:
			ref := from.SecretRef
			data, err := src.Secret(pod.Namespace, ref.Name)
			if err != nil {
				if errors.Is(err, ErrNotFound) && optional(ref.Optional) {
					continue
				}
				return fail("envFrom Secret %s/%s: %w", pod.Namespace, ref.Name, err)
			}
			for _, k := range sortedKeys(data) {
				if name := from.Prefix + k; validEnvName(name) {
					env.set(name, string(data[k]))
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, ExpandVars(e.Value, env.lookup))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := FieldRefValue(pod, vf.FieldRef.FieldPath)
			if err != nil {
				return fail("env %s: %w", e.Name, err)
			}
			env.set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := resourceFieldValue(pod, c, vf.ResourceFieldRef, src)
			if err != nil {
				return fail("env %s: %w", e.Name, err)
			}
			env.set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			data, err := src.ConfigMap(pod.Namespace, ref.Name)
			if err != nil {
				if errors.Is(err, ErrNotFound) && optional(ref.Optional) {
					continue
				}
				return fail("env %s: ConfigMap %s/%s: %w", e.Name, pod.Namespace, ref.Name, err)
			}
			v, ok := data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return fail("env %s: couldn't find key %s in ConfigMap %s/%s", e.Name, ref.Key, pod.Namespace, ref.Name)
			}
			env.set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			data, err := src.Secret(pod.Namespace, ref.Name)
			if err != nil {
				if errors.Is(err, ErrNotFound) && optional(ref.Optional) {
					continue
				}
				return fail("env %s: Secret %s/%s: %w", e.Name, pod.Namespace, ref.Name, err)
			}
			v, ok := data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return fail("env %s: couldn't find key %s in Secret %s/%s", e.Name, ref.Key, pod.Namespace, ref.Name)
			}
			env.set(e.Name, string(v))
		default:
			return fail("env %s: unsupported valueFrom", e.Name)
		}
	}
	return env.vars, nil
}

// envList keeps variables in definition order; setting an existing name
// replaces its value in place.
type envList struct {
	vars  []corev1.EnvVar
	index map[string]int
}

func (l *envList) set(name, value string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[name]; ok {
		l.vars[i].Value = value
		return
	}
	l.index[name] = len(l.vars)
	l.vars = append(l.vars, corev1.EnvVar{Name: name, Value: value})
}

func (l *envList) lookup(name string) (string, bool) {
	i, ok := l.index[name]
	if !ok {
		return "", false
	}
	return l.vars[i].Value, true
}

// EnvLookup returns a lookup function over env for ExpandVars.
func EnvLookup(env []corev1.EnvVar) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// ExpandVars expands Kubernetes variable references in s: $(NAME) becomes the
// value lookup returns for NAME, and stays as written when NAME is unknown;
// $$ is an escaped $ (so $$(NAME) yields the literal $(NAME)); any other $
// is kept. Used for command, args, env values and subPathExpr.
func ExpandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated reference: the rest is literal.
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func optional(p *bool) bool { return p != nil && *p }

// validEnvName accepts what Kubernetes accepts for env names from envFrom:
// non-empty printable ASCII without '='.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e || name[i] == '=' {
			return false
		}
	}
	return true
}

// FieldRefValue resolves a pod fieldRef path (metadata.name, labels['k'],
// status.podIP, …), for env vars and downward API files alike.
func FieldRefValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 && pod.Status.PodIP != "" {
			ips = append(ips, pod.Status.PodIP)
		}
		return strings.Join(ips, ","), nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, 0, len(pod.Status.HostIPs))
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) == 0 && pod.Status.HostIP != "" {
			ips = append(ips, pod.Status.HostIP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript parses prefix['key'] (or prefix["key"]).
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "]")
	if len(rest) >= 2 && (rest[0] == '\'' || rest[0] == '"') && rest[len(rest)-1] == rest[0] {
		return rest[1 : len(rest)-1], true
	}
	return "", false
}

func resourceFieldValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, src EnvSource) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for i := range list {
				if list[i].Name == ref.ContainerName {
					target = &list[i]
				}
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	res := corev1.ResourceName(name)
	switch res {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	var q resource.Quantity
	var found bool
	if kind == "limits" {
		q, found = target.Resources.Limits[res]
		if !found {
			if a, ok := src.(AllocatableSource); ok {
				q, found = a.NodeAllocatable()[res]
			}
		}
	} else {
		q, found = requestOrLimit(target, res)
	}
	if !found {
		return "0", nil
	}
	divisor := ref.Divisor
	if res == corev1.ResourceCPU {
		d := divisor.MilliValue()
		if d <= 0 {
			d = 1000
		}
		return strconv.FormatInt(ceilDiv(q.MilliValue(), d), 10), nil
	}
	d := divisor.Value()
	if d <= 0 {
		d = 1
	}
	return strconv.FormatInt(ceilDiv(q.Value(), d), 10), nil
}

// ceilDiv divides rounding up (a >= 0, b > 0).
func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a-1)/b + 1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
