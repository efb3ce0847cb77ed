// Command local brings up the README's local cloud on this machine and leaves
// it running: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// on loopback with an admin kubeconfig, then cloudcore (keadm init), one edge
// node (keadm join) with its own containerd, and the sample app running on
// it. `local down` stops it all.
//
//	go run ./e2e/local up   --dir _output/local
//	go run ./e2e/local down --dir _output/local
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/e2e/framework"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: local up|down [--dir DIR]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "_output/local", "directory for state, logs and the kubeconfig")
	_ = fs.Parse(os.Args[2:])
	abs, err := filepath.Abs(*dir)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		switch os.Args[1] {
		case "up":
			err = up(ctx, os.Stdout, abs)
		case "down":
			err = down(os.Stdout, abs)
		default:
			err = fmt.Errorf("unknown command %q: use up or down", os.Args[1])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context, out io.Writer, dir string) error {
	cpDir := filepath.Join(dir, "controlplane")
	if running(cpDir) {
		return fmt.Errorf("a local cloud is already running from %s: stop it with `make stop`", dir)
	}
	_ = os.RemoveAll(cpDir)
	if err := os.MkdirAll(cpDir, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(out, "starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler ...")
	start := time.Now()
	cp, err := framework.StartControlPlane(ctx, framework.ControlPlaneOptions{Dir: cpDir, Controllers: true, Detach: true})
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := replaceSymlink(cp.Kubeconfig, kubeconfig); err != nil {
		return err
	}
	kubectl := filepath.Join(dir, "kubectl")
	if err := replaceSymlink(cp.Binaries.Kubectl, kubectl); err != nil {
		return err
	}

	// The edge node's container runtime: Debian's containerd with our images.
	fmt.Fprintln(out, "starting containerd for the edge node ...")
	ctr, err := framework.StartContainerd(ctx, framework.ContainerdOptions{
		LogDir: dir, StateDir: filepath.Join(dir, "containerd"), Images: []string{"app", "mapper"}, Detach: true})
	if err != nil {
		return err
	}

	// The cloud and one edge node, set up the way a user does it.
	cloudRoot, edgeRoot := filepath.Join(dir, "cloud"), filepath.Join(dir, "edge-1")
	cloudcore, err := framework.ProjectBinary("cloudcore")
	if err != nil {
		return err
	}
	edgecore, err := framework.ProjectBinary("edgecore")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "keadm init (cloudcore on :10000/:10002) ...")
	if err := keadm(ctx, out, "init", "--kube-config", kubeconfig, "--advertise-address", "127.0.0.1",
		"--root", cloudRoot, "--cloudcore-binary", cloudcore); err != nil {
		return err
	}
	token, err := keadmOutput(ctx, "gettoken", "--kube-config", kubeconfig)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "keadm join (edge node edge-1) ...")
	if err := keadm(ctx, out, "join", "--cloudcore-ipport", "127.0.0.1:10000", "--token", strings.TrimSpace(token),
		"--edgenode-name", "edge-1", "--root", edgeRoot, "--edgecore-binary", edgecore,
		"--remote-runtime-endpoint", ctr.Endpoint); err != nil {
		return err
	}
	// The edge's built-in MQTT broker and local API, for the sample device.
	fmt.Fprintln(out, "enabling the built-in MQTT broker (:1884) and the edge-local API (:10550) on edge-1 ...")
	if err := framework.EditEdgeConfig(edgeRoot, func(cfg *v1alpha2.EdgeCore) {
		cfg.Modules.EventBus.MqttMode = v1alpha2.MqttModeInternal
		cfg.Modules.MetaManager.MetaServer.Enable = true
	}); err != nil {
		return err
	}
	if err := stopProcess(layout.Under(edgeRoot).PIDFile("edgecore")); err != nil {
		return err
	}
	if err := keadm(ctx, out, "join", "--cloudcore-ipport", "127.0.0.1:10000", "--token", strings.TrimSpace(token),
		"--edgenode-name", "edge-1", "--root", edgeRoot, "--edgecore-binary", edgecore,
		"--remote-runtime-endpoint", ctr.Endpoint); err != nil {
		return err
	}
	fmt.Fprintln(out, "deploying the sample app on edge-1 ...")
	ips, err := deploySample(ctx, cp.Client)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "deploying the sample device (thermometer) and its mapper on edge-1 ...")
	if err := deployDevice(ctx, cp); err != nil {
		return err
	}
	fmt.Fprintf(out, `
local cloud and edge node are up in %s (API server %s)

  look at it:   export KUBECONFIG=%s
                %s get nodes -o wide
                %s get pods -o wide
  the app:      curl http://%s:8080/
  the device:   %s get device thermo-1 -o yaml        (status.twins: desired and reported)
                %s patch device thermo-1 --type json -p '[{"op":"replace","path":"/status/twins/0/desired/value","value":"off"}]'
                curl http://127.0.0.1:10550/devicetwin/devices/thermo-1   (the edge's own view, works offline)
                mosquitto_sub -p 1884 -t '$hw/events/device/#' -v
  logs:         %s/*.log (control plane)
                %s/var/log/kubeedge/cloudcore.log
                %s/var/log/kubeedge/edgecore.log
  stop it:      make stop
`, time.Since(start).Round(100*time.Millisecond), cp.URL, kubeconfig, kubectl, kubectl, ips[0], kubectl, kubectl, cpDir, cloudRoot, edgeRoot)
	return nil
}

func replaceSymlink(target, link string) error {
	_ = os.Remove(link)
	return os.Symlink(target, link)
}

func keadm(ctx context.Context, out io.Writer, args ...string) error {
	bin, err := framework.ProjectBinary("keadm")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("keadm %s: %w", args[0], err)
	}
	return nil
}

func keadmOutput(ctx context.Context, args ...string) (string, error) {
	bin, err := framework.ProjectBinary("keadm")
	if err != nil {
		return "", err
	}
	b, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return "", fmt.Errorf("keadm %s: %w", args[0], err)
	}
	return string(b), nil
}

func down(out io.Writer, dir string) error {
	// Edge and cloud first (keadm reset), then the control plane.
	for _, root := range []string{filepath.Join(dir, "edge-1"), filepath.Join(dir, "cloud")} {
		if _, err := os.Stat(root); err == nil {
			if err := keadm(context.Background(), out, "reset", "--force", "--root", root); err != nil {
				fmt.Fprintf(out, "warning: %v\n", err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "containerd")); err == nil {
		fmt.Fprintln(out, "stopping containerd and removing its pods")
		if err := framework.StopDetachedContainerd(context.Background(), filepath.Join(dir, "containerd"), "/kubeedge"); err != nil {
			fmt.Fprintf(out, "warning: %v\n", err)
		}
	}
	pids, err := readPIDs(filepath.Join(dir, "controlplane"))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "no control plane running from %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(pids) - 1; i >= 0; i-- {
		fmt.Fprintf(out, "stopping %s (pid %d)\n", pids[i].name, pids[i].pid)
		if err := framework.StopPID(pids[i].pid, 15*time.Second); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, "controlplane", framework.PIDFile))
}

type pidEntry struct {
	name string
	pid  int
}

func readPIDs(dir string) ([]pidEntry, error) {
	f, err := os.Open(filepath.Join(dir, framework.PIDFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []pidEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, pid, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return nil, fmt.Errorf("%s: bad line %q", f.Name(), sc.Text())
		}
		out = append(out, pidEntry{name, n})
	}
	return out, sc.Err()
}

func running(dir string) bool {
	pids, err := readPIDs(dir)
	if err != nil {
		return false
	}
	for _, p := range pids {
		if syscall.Kill(p.pid, 0) == nil {
			return true
		}
	}
	return false
}

// stopProcess stops the process whose pid file is given.
func stopProcess(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s: %w", pidFile, err)
	}
	return framework.StopPID(pid, 10*time.Second)
}

// deployDevice creates the sample DeviceModel and Device bound to edge-1 and
// runs the mapper as a pod there, talking to the built-in broker, and waits
// until the device's reported switch value shows in the API server.
func deployDevice(ctx context.Context, cp *framework.ControlPlane) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	for _, doc := range []string{framework.ThermometerModel, framework.ThermometerDevice("thermo-1", "edge-1")} {
		if err := framework.CreateYAML(ctx, dyn, doc); err != nil {
			return err
		}
	}
	if _, err := cp.Client.CoreV1().Pods("default").Create(ctx,
		framework.MapperPod("thermometer-mapper", "edge-1", "thermo-1", "tcp://127.0.0.1:1884"), metav1.CreateOptions{}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return framework.WaitFor(wctx, "the thermometer's reported switch value in the API server", time.Second, nil, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(framework.DevicesGVR).Namespace("default").Get(ctx, "thermo-1", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		twins, _, _ := unstructured.NestedSlice(u.Object, "status", "twins")
		for _, tw := range twins {
			m, _ := tw.(map[string]any)
			if v, _, _ := unstructured.NestedString(m, "reported", "value"); m["propertyName"] == "switch" && v != "" {
				return true, nil
			}
		}
		return false, nil
	})
}

// deploySample runs the sample app on edge-1: a configmap and a 2-replica
// Deployment, and waits until both pods run. It returns their IPs.
func deploySample(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: "default"},
		Data: map[string]string{"msg": "hello from edge-1"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                 map[string]string{"node-role.kubernetes.io/edge": ""},
					AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{
						Name: "app", Image: "localhost/kubeedge/app:v1", ImagePullPolicy: corev1.PullIfNotPresent,
						Env: []corev1.EnvVar{{Name: "MSG", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "msg"}}}},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	var ips []string
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := framework.WaitFor(wctx, "the sample app's pods Running", time.Second, nil, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		ips = ips[:0]
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				ips = append(ips, p.Status.PodIP)
			}
		}
		return len(ips) == 2, nil
	})
	return ips, err
}
