package edged

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

// Volume plugin directories, kubelet's names.
const (
	pluginEmptyDir  = "kubernetes.io~empty-dir"
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

const defaultFileMode = 0o644

// ErrUnsupportedVolume is the set-up error of a volume type Edged cannot
// provide (persistent volumes, CSI, ...).
var ErrUnsupportedVolume = errors.New("volume type not supported on the edge")

// volumeFile is one file of a configMap, secret, downwardAPI or projected
// volume.
type volumeFile struct {
	data []byte
	mode os.FileMode
}

// setUpVolumes prepares every volume of the pod and returns the host path of
// each prepared one and the error of each that failed.
func (e *Edged) setUpVolumes(pod *corev1.Pod) (map[string]string, map[string]error) {
	paths := map[string]string{}
	errs := map[string]error{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := e.setUpVolume(pod, v)
		if err != nil {
			errs[v.Name] = err
			e.log.V(1).Info("volume not ready", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
			continue
		}
		paths[v.Name] = p
	}
	return paths, errs
}

func (e *Edged) volumeDir(pod *corev1.Pod, plugin, name string) string {
	return filepath.Join(e.podDir(pod.UID), "volumes", plugin, name)
}

func (e *Edged) setUpVolume(pod *corev1.Pod, v *corev1.Volume) (string, error) {
	src := v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := e.volumeDir(pod, pluginEmptyDir, v.Name)
		return dir, os.MkdirAll(dir, 0o777)
	case src.HostPath != nil:
		return hostPath(src.HostPath)
	case src.ConfigMap != nil:
		files, err := e.configMapFiles(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, src.ConfigMap.DefaultMode)
		if err != nil {
			return "", err
		}
		return e.writeVolume(pod, pluginConfigMap, v.Name, files)
	case src.Secret != nil:
		files, err := e.secretFiles(pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional, src.Secret.DefaultMode)
		if err != nil {
			return "", err
		}
		return e.writeVolume(pod, pluginSecret, v.Name, files)
	case src.DownwardAPI != nil:
		files, err := downwardFiles(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode)
		if err != nil {
			return "", err
		}
		return e.writeVolume(pod, pluginDownward, v.Name, files)
	case src.Projected != nil:
		files, err := e.projectedFiles(pod, src.Projected)
		if err != nil {
			return "", err
		}
		return e.writeVolume(pod, pluginProjected, v.Name, files)
	}
	return "", ErrUnsupportedVolume
}

func hostPath(hp *corev1.HostPathVolumeSource) (string, error) {
	p := hp.Path
	typ := corev1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", fmt.Errorf("hostPath %s: %w", p, err)
		}
	case corev1.HostPathFileOrCreate:
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("hostPath %s: %w", p, err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return "", fmt.Errorf("hostPath %s: %w", p, err)
		}
		_ = f.Close()
	case corev1.HostPathDirectory, corev1.HostPathFile:
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("hostPath %s: %w", p, err)
		}
		if st.IsDir() != (typ == corev1.HostPathDirectory) {
			return "", fmt.Errorf("hostPath %s is not a %s", p, strings.ToLower(string(typ)))
		}
	}
	return p, nil
}

func fileMode(item, def *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item) & os.ModePerm
	case def != nil:
		return os.FileMode(*def) & os.ModePerm
	}
	return defaultFileMode
}

// keyFiles selects the files of a configMap or secret volume: every key, or
// only the listed items (a missing item key is an error unless optional).
func keyFiles(kind, ns, name string, data map[string][]byte, items []corev1.KeyToPath, optional bool, def *int32) (map[string]volumeFile, error) {
	files := map[string]volumeFile{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = volumeFile{data: v, mode: fileMode(nil, def)}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %s/%s has no key %q", kind, ns, name, it.Key)
		}
		files[it.Path] = volumeFile{data: v, mode: fileMode(it.Mode, def)}
	}
	return files, nil
}

func (e *Edged) configMapFiles(ns, name string, items []corev1.KeyToPath, optional *bool, def *int32) (map[string]volumeFile, error) {
	cm, found, err := e.store.ConfigMap(ns, name)
	if err != nil {
		return nil, err
	}
	if !found {
		if optional != nil && *optional {
			return map[string]volumeFile{}, nil
		}
		return nil, fmt.Errorf("configmap %s/%s not found", ns, name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", ns, name, data, items, optional != nil && *optional, def)
}

func (e *Edged) secretFiles(ns, name string, items []corev1.KeyToPath, optional *bool, def *int32) (map[string]volumeFile, error) {
	data, err := envSource{e.store}.Secret(ns, name)
	if err != nil {
		if optional != nil && *optional && errors.Is(err, runtime.ErrNotFound) {
			return map[string]volumeFile{}, nil
		}
		return nil, err
	}
	return keyFiles("secret", ns, name, data, items, optional != nil && *optional, def)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def *int32) (map[string]volumeFile, error) {
	files := map[string]volumeFile{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI %s: only fieldRef is supported", it.Path)
		}
		v, err := downwardField(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		files[it.Path] = volumeFile{data: []byte(v), mode: fileMode(it.Mode, def)}
	}
	return files, nil
}

// downwardField is a fieldRef value as a downwardAPI volume shows it
// (labels and annotations as sorted key="value" lines).
func downwardField(pod *corev1.Pod, fieldPath string) (string, error) {
	kv := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		lines := make([]string, len(keys))
		for i, k := range keys {
			lines[i] = k + "=" + strconv.Quote(m[k])
		}
		return strings.Join(lines, "\n")
	}
	// Whole label and annotation maps exist only as files.
	switch fieldPath {
	case "metadata.labels":
		return kv(pod.Labels), nil
	case "metadata.annotations":
		return kv(pod.Annotations), nil
	}
	return runtime.FieldRefValue(pod, fieldPath)
}

// projectedFiles merges the sources of a projected volume. A service account
// token comes from the cloud (Config.Tokens); without a token source that part
// is skipped.
func (e *Edged) projectedFiles(pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]volumeFile, error) {
	files := map[string]volumeFile{}
	add := func(more map[string]volumeFile, err error) error {
		if err != nil {
			return err
		}
		for k, v := range more {
			files[k] = v
		}
		return nil
	}
	for _, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = add(e.configMapFiles(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode))
		case s.Secret != nil:
			err = add(e.secretFiles(pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode))
		case s.DownwardAPI != nil:
			err = add(downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode))
		case s.ServiceAccountToken != nil && e.tokens != nil:
			err = add(e.tokenFile(pod, s.ServiceAccountToken, p.DefaultMode))
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// writeVolume writes the files into the volume directory atomically, the
// way kubelet does so that a container sees an update all at once: the
// files go into a fresh hidden directory, the symlink ..data is switched to
// it with a rename, and each top-level name is a symlink through ..data.
// Nothing is written when the content did not change.
func (e *Edged) writeVolume(pod *corev1.Pod, plugin, name string, files map[string]volumeFile) (string, error) {
	dir := e.volumeDir(pod, plugin, name)
	for p := range files {
		if err := validFilePath(p); err != nil {
			return "", fmt.Errorf("volume %s: %w", name, err)
		}
	}
	hash := payloadHash(files)
	hkey := ckey(pod.UID, plugin+"/"+name)
	if e.volHashes[hkey] == hash {
		if _, err := os.Lstat(filepath.Join(dir, "..data")); err == nil {
			return dir, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tsDir, err := os.MkdirTemp(dir, "..data-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return "", err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return "", err
		}
		if err := os.Chmod(full, f.mode); err != nil { // umask
			return "", err
		}
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return "", err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return "", err
	}
	// Top-level names: link the new ones, drop the stale ones.
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for t := range top {
		link := filepath.Join(dir, t)
		if target, err := os.Readlink(link); err == nil && target == path.Join("..data", t) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(path.Join("..data", t), link); err != nil {
			return "", err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, en := range entries {
		n := en.Name()
		if strings.HasPrefix(n, "..") {
			if n != "..data" && n != filepath.Base(tsDir) && (n == oldTarget || strings.HasPrefix(n, "..data-")) {
				_ = os.RemoveAll(filepath.Join(dir, n))
			}
			continue
		}
		if !top[n] {
			_ = os.RemoveAll(filepath.Join(dir, n))
		}
	}
	e.volHashes[hkey] = hash
	return dir, nil
}

func validFilePath(p string) error {
	if p == "" || path.IsAbs(p) || strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid file path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "" {
			return fmt.Errorf("invalid file path %q", p)
		}
	}
	return nil
}

func payloadHash(files map[string]volumeFile) string {
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", k, files[k].mode, len(files[k].data))
		h.Write(files[k].data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
