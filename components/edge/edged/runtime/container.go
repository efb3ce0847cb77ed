package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultTerminationMessagePath is where a container writes its termination
// message when the spec names no path.
const DefaultTerminationMessagePath = "/dev/termination-log"

// ContainerOptions are what ContainerConfig needs besides the pod.
type ContainerOptions struct {
	// Attempt is the container's restart count (0 for its first start).
	Attempt uint32
	// ImageRef is the image to run, as EnsureImage returned it; empty uses
	// the container's image name.
	ImageRef string
	// Env is the resolved environment (ResolveEnv).
	Env []corev1.EnvVar
	// VolumePaths maps a pod volume name to its host path, prepared by the
	// volume manager (hostPath, emptyDir, configMap, secret, ...).
	VolumePaths map[string]string
	// TerminationMessageFile is a host file mounted at the container's
	// terminationMessagePath; empty mounts nothing.
	TerminationMessageFile string
	// MemoryCapacity is the node's memory in bytes, for the OOM score of
	// burstable containers.
	MemoryCapacity int64
}

// ContainerLogPath is the container's log path relative to the sandbox's
// LogDirectory: <container>/<attempt>.log (kubelet's layout).
func ContainerLogPath(name string, attempt uint32) string {
	return filepath.Join(name, strconv.FormatUint(uint64(attempt), 10)+".log")
}

// ContainerConfig builds the CRI config of container c of pod: metadata,
// image, command and args with Kubernetes semantics (command replaces the
// image's entrypoint, args its cmd; $(VAR) expanded from opts.Env), env,
// mounts, log path, labels and annotations (identity, SpecHash, restart
// count, termination message), working dir, tty/stdin, Linux resources and
// security context. Creating a subPath directory is its only side effect.
// Errors are *ConfigError.
func ContainerConfig(pod *corev1.Pod, c *corev1.Container, opts ContainerOptions) (*runtimeapi.ContainerConfig, error) {
	lookup := EnvLookup(opts.Env)
	image := opts.ImageRef
	if image == "" {
		image = c.Image
	}
	termPath := c.TerminationMessagePath
	if termPath == "" {
		termPath = DefaultTerminationMessagePath
	}
	termPolicy := c.TerminationMessagePolicy
	if termPolicy == "" {
		termPolicy = corev1.TerminationMessageReadFile
	}

	labels := podIdentityLabels(pod)
	labels[LabelContainerName] = c.Name
	annotations := map[string]string{
		AnnotationContainerHash:          SpecHash(c),
		AnnotationRestartCount:           strconv.FormatUint(uint64(opts.Attempt), 10),
		AnnotationTerminationMessagePath: termPath,
		AnnotationTerminationPolicy:      string(termPolicy),
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		annotations[AnnotationPodGracePeriod] = strconv.FormatInt(*g, 10)
	}

	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: opts.Attempt},
		Image:       &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.Image},
		Command:     expandAll(c.Command, lookup),
		Args:        expandAll(c.Args, lookup),
		WorkingDir:  c.WorkingDir,
		Labels:      labels,
		Annotations: annotations,
		LogPath:     ContainerLogPath(c.Name, opts.Attempt),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       LinuxResources(c, QOSClass(pod), opts.MemoryCapacity),
			SecurityContext: containerSecurityContext(pod, c),
		},
	}
	for _, e := range opts.Env {
		cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: e.Name, Value: []byte(e.Value)})
	}
	mounts, err := containerMounts(c, opts, lookup)
	if err != nil {
		return nil, &ConfigError{Container: c.Name, Err: err}
	}
	if opts.TerminationMessageFile != "" && !mountsPath(mounts, termPath) {
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: termPath, HostPath: opts.TerminationMessageFile})
	}
	cfg.Mounts = mounts
	return cfg, nil
}

func expandAll(list []string, lookup func(string) (string, bool)) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = ExpandVars(s, lookup)
	}
	return out
}

func mountsPath(mounts []*runtimeapi.Mount, p string) bool {
	for _, m := range mounts {
		if m.ContainerPath == p {
			return true
		}
	}
	return false
}

func containerMounts(c *corev1.Container, opts ContainerOptions, lookup func(string) (string, bool)) ([]*runtimeapi.Mount, error) {
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	var mounts []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		hostPath, ok := opts.VolumePaths[vm.Name]
		if !ok || hostPath == "" {
			return nil, fmt.Errorf("volumeMount %s: volume not prepared", vm.Name)
		}
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			subPath = ExpandVars(vm.SubPathExpr, lookup)
		}
		if subPath != "" {
			if err := ValidateSubPath(subPath); err != nil {
				return nil, fmt.Errorf("volumeMount %s: %w", vm.Name, err)
			}
			p, err := EnsureSubPath(hostPath, subPath)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %s: %w", vm.Name, err)
			}
			hostPath = p
		}
		m := &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: hostPath, Readonly: vm.ReadOnly}
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				if !privileged {
					return nil, fmt.Errorf("volumeMount %s: Bidirectional mount propagation needs a privileged container", vm.Name)
				}
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			case corev1.MountPropagationNone:
			default:
				return nil, fmt.Errorf("volumeMount %s: unknown mount propagation %q", vm.Name, *vm.MountPropagation)
			}
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// ErrSubPathEscape is matched by errors for subPaths that leave their volume.
var ErrSubPathEscape = errors.New("subPath escapes its volume")

// ValidateSubPath accepts a relative path without any ".." element.
func ValidateSubPath(subPath string) error {
	if filepath.IsAbs(subPath) {
		return fmt.Errorf("subPath %q must be relative: %w", subPath, ErrSubPathEscape)
	}
	for _, part := range strings.Split(filepath.ToSlash(subPath), "/") {
		if part == ".." {
			return fmt.Errorf("subPath %q must not contain '..': %w", subPath, ErrSubPathEscape)
		}
	}
	return nil
}

// EnsureSubPath returns the host path of subPath inside the volume at root,
// creating missing directories one element at a time. Every existing
// element is resolved (symlinks included) and must stay inside root, so a
// symlink planted in the volume cannot make the mount point outside it. An
// existing last element may be a file (a single-file mount).
func EnsureSubPath(root, subPath string) (string, error) {
	if err := ValidateSubPath(subPath); err != nil {
		return "", err
	}
	base, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("volume path %s: %w", root, err)
	}
	cur := base
	parts := strings.Split(filepath.Clean(filepath.ToSlash(subPath)), "/")
	for i, part := range parts {
		if part == "" || part == "." {
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return "", fmt.Errorf("create subPath %s: %w", subPath, err)
			}
			cur = next
			continue
		case err != nil:
			return "", fmt.Errorf("subPath %s: %w", subPath, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("subPath %s: %w", subPath, err)
			}
			if !within(base, resolved) {
				return "", fmt.Errorf("subPath %s resolves to %s outside %s: %w", subPath, resolved, root, ErrSubPathEscape)
			}
			next = resolved
			if fi, err = os.Stat(next); err != nil {
				return "", fmt.Errorf("subPath %s: %w", subPath, err)
			}
		}
		if !fi.IsDir() && i != len(parts)-1 {
			return "", fmt.Errorf("subPath %s: %s is not a directory", subPath, next)
		}
		cur = next
	}
	return cur, nil
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func containerSecurityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = supplementalGroups(psc)
	}
	csc := c.SecurityContext
	if csc == nil {
		return sc
	}
	if csc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
	}
	if csc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
	}
	if csc.Privileged != nil {
		sc.Privileged = *csc.Privileged
	}
	if csc.ReadOnlyRootFilesystem != nil {
		sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
	}
	if csc.AllowPrivilegeEscalation != nil {
		sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
	}
	if caps := csc.Capabilities; caps != nil {
		sc.Capabilities = &runtimeapi.Capability{}
		for _, a := range caps.Add {
			sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, capName(a))
		}
		for _, d := range caps.Drop {
			sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, capName(d))
		}
	}
	return sc
}

// capName is the capability as the pod names it (NET_ADMIN, ALL): the CRI
// runtimes add the CAP_ prefix themselves, like for kubelet's requests.
func capName(c corev1.Capability) string { return string(c) }
