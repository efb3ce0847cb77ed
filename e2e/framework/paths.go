package framework

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MissingError says that a real part is not installed and how to install it.
type MissingError struct {
	What   string
	Looked string
	Fix    string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s not found (looked in %s): run `%s`", e.What, e.Looked, e.Fix)
}

const modulePath = "module github.com/cleanedge/kubeedge"

// RepoRoot finds the project's root directory (the one whose go.mod declares
// the project module), starting from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), modulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("project root not found: run the tests from inside the repository")
		}
		dir = parent
	}
}

// OutputDir is where `make build` and `make images` write: $KUBEEDGE_OUTPUT or
// <repo>/_output.
func OutputDir() (string, error) {
	if d := os.Getenv("KUBEEDGE_OUTPUT"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "_output"), nil
}

// CacheDir is where `make deps` caches the control plane: $KUBEEDGE_E2E_CACHE or
// $HOME/.cache/kubeedge-e2e.
func CacheDir() string {
	if d := os.Getenv("KUBEEDGE_E2E_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "kubeedge-e2e")
}

// Versions of the control plane, read from e2e/controlplane/versions.env.
type Versions struct {
	Kubernetes string
	Etcd       string
}

// ReadVersions reads the pinned control-plane versions.
func ReadVersions() (Versions, error) {
	root, err := RepoRoot()
	if err != nil {
		return Versions{}, err
	}
	path := filepath.Join(root, "e2e", "controlplane", "versions.env")
	f, err := os.Open(path)
	if err != nil {
		return Versions{}, fmt.Errorf("read control-plane versions: %w", err)
	}
	defer f.Close()
	var v Versions
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		switch key {
		case "K8S_VERSION":
			v.Kubernetes = val
		case "ETCD_VERSION":
			v.Etcd = val
		}
	}
	if v.Kubernetes == "" || v.Etcd == "" {
		return Versions{}, fmt.Errorf("%s: K8S_VERSION and ETCD_VERSION must both be set", path)
	}
	return v, sc.Err()
}

// ControlPlaneBinaries are the paths of the cached control-plane programs.
type ControlPlaneBinaries struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kubectl string
}

// FindControlPlane locates the cached control-plane binaries of the pinned
// versions, or says which make target builds them.
func FindControlPlane() (ControlPlaneBinaries, error) {
	v, err := ReadVersions()
	if err != nil {
		return ControlPlaneBinaries{}, err
	}
	cp := filepath.Join(CacheDir(), "controlplane")
	k8s := filepath.Join(cp, "k8s-"+v.Kubernetes, "bin")
	b := ControlPlaneBinaries{
		Etcd:              filepath.Join(cp, "etcd-"+v.Etcd, "bin", "etcd"),
		APIServer:         filepath.Join(k8s, "kube-apiserver"),
		ControllerManager: filepath.Join(k8s, "kube-controller-manager"),
		Scheduler:         filepath.Join(k8s, "kube-scheduler"),
		Kubectl:           filepath.Join(k8s, "kubectl"),
	}
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler, b.Kubectl} {
		if !isExecutable(p) {
			return b, &MissingError{What: filepath.Base(p) + " (control plane " + v.Kubernetes + ", etcd " + v.Etcd + ")", Looked: filepath.Dir(p), Fix: "make deps"}
		}
	}
	return b, nil
}

// ContainerdBinaries are the paths of the container runtime programs.
type ContainerdBinaries struct {
	Containerd, Ctr, Runc, CNIDir string
}

// FindContainerd locates Debian's containerd, ctr, runc and the CNI plugins.
func FindContainerd() (ContainerdBinaries, error) {
	var b ContainerdBinaries
	for _, p := range []struct {
		name string
		dst  *string
	}{{"containerd", &b.Containerd}, {"ctr", &b.Ctr}, {"runc", &b.Runc}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			return b, &MissingError{What: p.name, Looked: "PATH", Fix: "make deps"}
		}
		*p.dst = path
	}
	for _, dir := range []string{"/usr/lib/cni", "/opt/cni/bin"} {
		if isExecutable(filepath.Join(dir, "bridge")) && isExecutable(filepath.Join(dir, "host-local")) {
			b.CNIDir = dir
			return b, nil
		}
	}
	return b, &MissingError{What: "CNI plugins (bridge, host-local)", Looked: "/usr/lib/cni and /opt/cni/bin", Fix: "make deps"}
}

// ProjectBinary returns the path of a binary built by `make build`.
func ProjectBinary(name string) (string, error) {
	out, err := OutputDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(out, "bin", name)
	if !isExecutable(p) {
		return "", &MissingError{What: name, Looked: filepath.Dir(p), Fix: "make build"}
	}
	return p, nil
}

// ImageTarball returns the path of an image tarball built by `make images`.
func ImageTarball(name string) (string, error) {
	out, err := OutputDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(out, "images", name+".tar")
	if _, err := os.Stat(p); err != nil {
		return "", &MissingError{What: "image tarball " + name + ".tar", Looked: filepath.Dir(p), Fix: "make images"}
	}
	return p, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
