package edged

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/message"
)

// Waiting reasons, as kubelet reports them.
const (
	ReasonContainerCreating = "ContainerCreating"
	ReasonPodInitializing   = "PodInitializing"
	ReasonCrashLoopBackOff  = "CrashLoopBackOff"
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonConfigError       = "CreateContainerConfigError"
	ReasonRunContainerError = "RunContainerError"
)

// syncAll brings the runtime in line with the store and reports status. An
// error on one pod is logged and does not stop the others; only failing to
// read the store or the runtime is returned (nothing is removed then).
func (e *Edged) syncAll(ctx context.Context) error {
	stored, err := e.store.Pods()
	if err != nil {
		return fmt.Errorf("list stored pods: %w", err)
	}
	actual, err := e.rt.ListPods(ctx)
	if err != nil {
		return fmt.Errorf("list runtime pods: %w", err)
	}
	running := map[string]*runtime.PodRuntimeStatus{}
	for _, p := range actual {
		running[p.UID] = p
	}
	desired := map[string]*corev1.Pod{}
	for _, p := range stored {
		if p.Spec.NodeName != e.cfg.NodeName || p.UID == "" {
			continue
		}
		desired[string(p.UID)] = p
	}

	e.nextProbe = time.Time{}
	for uid, pod := range desired {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log := e.log.WithValues("pod", pod.Namespace+"/"+pod.Name, "uid", uid)
		if pod.DeletionTimestamp != nil {
			e.probes.drop(pod.UID, nil)
			if err := e.terminate(ctx, uid, running[uid], pod); err != nil {
				log.Error(err, "terminate pod")
				continue
			}
			e.sendDelete(pod, log)
			continue
		}
		if err := e.syncPod(ctx, pod); err != nil {
			log.Error(err, "sync pod")
		}
		e.runProbes(ctx, pod)
		if err := e.reportStatus(ctx, pod); err != nil {
			log.V(1).Info("pod status not reported; retrying on the next sync", "err", err)
		}
	}
	for uid, rp := range running {
		if _, ok := desired[uid]; ok {
			continue
		}
		e.probes.drop(types.UID(uid), nil)
		if err := e.terminate(ctx, uid, rp, nil); err != nil {
			e.log.Error(err, "remove pod", "pod", rp.Namespace+"/"+rp.Name, "uid", uid)
		}
	}
	// Forget what belongs to pods that are gone everywhere.
	e.forget(func(uid string) bool {
		_, d := desired[uid]
		_, r := running[uid]
		return d || r
	})
	return nil
}

func (e *Edged) forget(keep func(uid string) bool) {
	for uid := range e.lastSent {
		if !keep(uid) {
			delete(e.lastSent, uid)
			delete(e.sentAtRV, uid)
		}
	}
	for uid := range e.startTimes {
		if !keep(uid) {
			delete(e.startTimes, uid)
		}
	}
	for uid := range e.deleteSent {
		if !keep(uid) {
			delete(e.deleteSent, uid)
		}
	}
	for uid := range e.volErrs {
		if !keep(uid) {
			delete(e.volErrs, uid)
		}
	}
	for uid := range e.killMsgs {
		if !keep(uid) {
			delete(e.killMsgs, uid)
		}
	}
	e.probes.forget(keep)
	for _, m := range []map[string]*backoff{e.backoff, e.pullOff} {
		for k := range m {
			if !keep(uidOf(k)) {
				delete(m, k)
			}
		}
	}
	for k := range e.waiting {
		if !keep(uidOf(k)) {
			delete(e.waiting, k)
		}
	}
	for k := range e.volHashes {
		if !keep(uidOf(k)) {
			delete(e.volHashes, k)
		}
	}
}

// ckey is the key of per-container state: "<uid>/<container>".
func ckey(uid types.UID, name string) string { return string(uid) + "/" + name }

func uidOf(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i]
		}
	}
	return key
}

// gracePeriod is the pod's termination grace period, capped by its deletion
// grace period; for a pod no longer stored, what its containers recorded.
func gracePeriod(pod *corev1.Pod, rp *runtime.PodRuntimeStatus) time.Duration {
	grace := DefaultGracePeriod
	if pod == nil {
		if rp != nil {
			for _, c := range rp.Containers {
				if v, err := strconv.ParseInt(c.Annotations[runtime.AnnotationPodGracePeriod], 10, 64); err == nil && v >= 0 {
					return time.Duration(v) * time.Second
				}
			}
		}
		return grace
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g >= 0 {
		grace = time.Duration(*g) * time.Second
	}
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g >= 0 && time.Duration(*g)*time.Second < grace {
		grace = time.Duration(*g) * time.Second
	}
	return grace
}

// terminate stops the pod's containers with its grace period, removes its
// sandboxes and its volume directories.
func (e *Edged) terminate(ctx context.Context, uid string, rp *runtime.PodRuntimeStatus, pod *corev1.Pod) error {
	if rp != nil && (len(rp.Sandboxes) > 0 || len(rp.Containers) > 0) {
		if err := e.rt.StopPod(ctx, uid, gracePeriod(pod, rp)); err != nil {
			return err
		}
		var errs []error
		for _, sb := range rp.Sandboxes {
			errs = append(errs, e.rt.RemovePod(ctx, sb.ID))
		}
		// Containers whose sandbox is already gone.
		for _, c := range rp.Containers {
			if !hasSandbox(rp, c.SandboxID) {
				errs = append(errs, e.rt.RemoveContainer(ctx, c.ID))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		e.log.Info("pod removed from the runtime", "pod", rp.Namespace+"/"+rp.Name, "uid", uid)
	}
	if err := os.RemoveAll(e.podDir(types.UID(uid))); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	e.tokens.forget(uid)
	return nil
}

func hasSandbox(rp *runtime.PodRuntimeStatus, id string) bool {
	for _, sb := range rp.Sandboxes {
		if sb.ID == id {
			return true
		}
	}
	return false
}

// resendDelete is how long Edged waits for the cloud to delete a pod before
// it sends the delete again.
const resendDelete = time.Minute

// sendDelete asks the cloud to delete a terminated pod (kubelet's final
// delete with grace 0 and the UID as precondition).
func (e *Edged) sendDelete(pod *corev1.Pod, log interface{ Info(string, ...any) }) {
	uid := string(pod.UID)
	if t, ok := e.deleteSent[uid]; ok && e.cfg.Now().Sub(t) < resendDelete {
		return
	}
	zero := int64(0)
	opts := metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	}
	route := message.Route{
		Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpDelete,
		Resource: message.Resource{Namespace: pod.Namespace, Type: message.ResPod, Name: pod.Name}.String(),
	}
	msg, err := e.factory.New(route, opts)
	if err == nil {
		err = e.sender.Send(msg)
	}
	if err != nil {
		log.Info("pod delete not sent; retrying on the next sync", "err", err)
		return
	}
	e.deleteSent[uid] = e.cfg.Now()
}

func (e *Edged) sandboxOptions(attempt uint32) runtime.SandboxOptions {
	return runtime.SandboxOptions{
		Attempt: attempt, PodLogsRoot: e.cfg.PodLogsRoot, CgroupRoot: e.cfg.CgroupRoot,
		ClusterDNS: e.cfg.ClusterDNS, ClusterDomain: e.cfg.ClusterDomain,
	}
}

// syncPod runs one desired pod: volumes, sandbox, init containers in order,
// then the app containers.
func (e *Edged) syncPod(ctx context.Context, pod *corev1.Pod) error {
	uid := string(pod.UID)
	if _, ok := e.startTimes[uid]; !ok {
		e.startTimes[uid] = e.cfg.Now()
	}
	rp, err := e.rt.PodStatus(ctx, uid)
	if err != nil {
		return err
	}
	if st := rp.Sandbox(); st != nil && e.startTimes[uid].After(st.CreatedAt) && !st.CreatedAt.IsZero() {
		e.startTimes[uid] = st.CreatedAt // adopted
	}

	volumes, volErrs := e.setUpVolumes(pod)
	e.volErrs[uid] = volErrs

	sb := rp.Sandbox()
	if sb == nil || sb.State != runtime.SandboxReady {
		if sb != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(rp.Containers) > 0 {
			return nil // the pod ran once and may not run again
		}
		var attempt uint32
		if sb != nil {
			attempt = rp.Sandboxes[0].Attempt + 1
		}
		// Containers of the dead sandbox are stopped before the new one starts.
		for _, c := range rp.Containers {
			if c.State == runtime.ContainerRunning {
				if err := e.rt.StopContainer(ctx, c.ID, gracePeriod(pod, rp)); err != nil {
					return err
				}
			}
		}
		if _, _, err := e.rt.RunSandbox(ctx, pod, e.sandboxOptions(attempt)); err != nil {
			return err
		}
		// Drop sandboxes older than the previous one.
		for i, old := range rp.Sandboxes {
			if i > 0 {
				if err := e.rt.RemovePod(ctx, old.ID); err != nil {
					e.log.Error(err, "remove old sandbox", "sandbox", old.ID)
				}
			}
		}
		if rp, err = e.rt.PodStatus(ctx, uid); err != nil {
			return err
		}
		sb = rp.Sandbox()
		if sb == nil || sb.State != runtime.SandboxReady {
			return fmt.Errorf("new sandbox of pod %s/%s is not ready", pod.Namespace, pod.Name)
		}
	}

	ip := sb.IP
	if pod.Spec.HostNetwork {
		ip = e.cfg.NodeIP
	}
	// Containers whose liveness or startup probe failed are stopped here and
	// restarted below like any exited container.
	if killed, err := e.killFailedProbes(ctx, pod, rp, sb.ID); err != nil {
		return err
	} else if killed {
		if rp, err = e.rt.PodStatus(ctx, uid); err != nil {
			return err
		}
	}
	w := &podWork{e: e, pod: pod, rp: rp, sb: sb, podIP: ip, volumes: volumes, volErrs: volErrs}

	// Init containers, in order, each to completion.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := w.current(c.Name)
		switch {
		case cur == nil:
			w.start(ctx, c)
			return nil
		case cur.State == runtime.ContainerRunning:
			return nil
		case cur.State == runtime.ContainerExited && cur.ExitCode == 0:
			delete(e.waiting, ckey(pod.UID, c.Name))
			continue
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return nil // failed: the pod fails
		default:
			w.restart(ctx, c, cur)
			return nil
		}
	}

	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := w.current(c.Name)
		switch {
		case cur == nil:
			w.start(ctx, c)
		case cur.Hash != runtime.SpecHash(c) && cur.State != runtime.ContainerExited:
			e.log.Info("container spec changed; recreating it", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name)
			if err := e.rt.StopContainer(ctx, cur.ID, gracePeriod(pod, rp)); err != nil {
				errs = append(errs, err)
				continue
			}
			w.start(ctx, c)
		case cur.State == runtime.ContainerRunning:
			delete(e.waiting, ckey(pod.UID, c.Name))
			if b := e.backoff[ckey(pod.UID, c.Name)]; b != nil && e.cfg.Now().Sub(cur.StartedAt) >= backoffReset {
				delete(e.backoff, ckey(pod.UID, c.Name))
			}
		case shouldRestart(pod.Spec.RestartPolicy, cur):
			w.restart(ctx, c, cur)
		default:
			delete(e.waiting, ckey(pod.UID, c.Name))
		}
	}
	return errors.Join(errs...)
}

// shouldRestart applies the restart policy to an exited (or never started)
// app container.
func shouldRestart(policy corev1.RestartPolicy, cur *runtime.ContainerStatus) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return cur.State != runtime.ContainerExited || cur.ExitCode != 0
	default:
		return true
	}
}

// podWork is one pass of syncPod over a pod with a ready sandbox.
type podWork struct {
	e       *Edged
	pod     *corev1.Pod
	rp      *runtime.PodRuntimeStatus
	sb      *runtime.SandboxStatus
	podIP   string
	volumes map[string]string
	volErrs map[string]error
}

// current is the newest attempt of the named container in the current
// sandbox (nil: it has not run in this sandbox).
func (w *podWork) current(name string) *runtime.ContainerStatus {
	for _, c := range w.rp.Containers {
		if c.Name == name && c.SandboxID == w.sb.ID {
			return c
		}
	}
	return nil
}

// restart starts a container that stopped, after its back-off.
func (w *podWork) restart(ctx context.Context, c *corev1.Container, cur *runtime.ContainerStatus) {
	e, key := w.e, ckey(w.pod.UID, c.Name)
	finished := cur.FinishedAt
	if finished.IsZero() {
		finished = cur.CreatedAt
	}
	b := e.backoff[key]
	if b != nil && !cur.StartedAt.IsZero() && finished.Sub(cur.StartedAt) >= backoffReset {
		b = nil
	}
	now := e.cfg.Now()
	if b != nil && now.Sub(finished) < b.delay {
		e.waiting[key] = &corev1.ContainerStateWaiting{
			Reason:  ReasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.delay, c.Name, w.pod.Name, w.pod.Namespace, w.pod.UID),
		}
		return
	}
	e.backoff[key] = next(b, finished)
	if cur.State == runtime.ContainerCreated {
		// A container that never started is replaced, not kept.
		_ = e.rt.RemoveContainer(ctx, cur.ID)
	}
	w.start(ctx, c)
}

// start pulls the image, resolves the configuration and starts container c
// with the next attempt number. Failures become the container's waiting
// reason.
func (w *podWork) start(ctx context.Context, c *corev1.Container) {
	e, pod, key := w.e, w.pod, ckey(w.pod.UID, c.Name)
	setWaiting := func(reason, msg string) {
		e.waiting[key] = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
	}
	for _, vm := range c.VolumeMounts {
		if err := w.volErrs[vm.Name]; err != nil {
			setWaiting(ReasonContainerCreating, fmt.Sprintf("volume %s: %v", vm.Name, err))
			return
		}
	}

	// Image, with its own back-off.
	now := e.cfg.Now()
	policy := runtime.EffectivePullPolicy(c.Image, c.ImagePullPolicy)
	if blocked, _ := e.pullOff[key].blocked(now); blocked {
		setWaiting(ReasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q", c.Image))
		return
	}
	imageRef, err := e.rt.EnsureImage(ctx, c.Image, policy, nil)
	if err != nil {
		e.pullOff[key] = next(e.pullOff[key], now)
		setWaiting(ReasonErrImagePull, err.Error())
		return
	}
	delete(e.pullOff, key)

	// Configuration.
	podCopy := pod.DeepCopy()
	podCopy.Status.PodIP = w.podIP
	podCopy.Status.HostIP = e.cfg.NodeIP
	if w.podIP != "" {
		podCopy.Status.PodIPs = []corev1.PodIP{{IP: w.podIP}}
	}
	env, err := runtime.ResolveEnv(podCopy, c, envSource{e.store})
	if err != nil {
		setWaiting(ReasonConfigError, err.Error())
		return
	}
	var attempt uint32
	if prev := w.rp.Container(c.Name); prev != nil {
		attempt = prev.Attempt + 1
	}
	termFile, err := e.terminationFile(pod.UID, c.Name, attempt)
	if err != nil {
		setWaiting(ReasonRunContainerError, err.Error())
		return
	}
	cfg, err := runtime.ContainerConfig(podCopy, c, runtime.ContainerOptions{
		Attempt: attempt, ImageRef: imageRef, Env: env, VolumePaths: w.volumes, TerminationMessageFile: termFile,
	})
	if err != nil {
		setWaiting(ReasonConfigError, err.Error())
		return
	}
	sbCfg := runtime.SandboxConfig(pod, e.sandboxOptions(w.sb.Attempt))
	if id, err := e.rt.StartContainer(ctx, w.sb.ID, sbCfg, cfg); err != nil {
		if id != "" && e.backoff[key] == nil {
			// Let the next attempt back off like a crash.
			e.backoff[key] = next(nil, now)
		}
		setWaiting(ReasonRunContainerError, err.Error())
		return
	}
	delete(e.waiting, key)
	e.log.Info("container started", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "attempt", attempt)
}

// terminationFile creates the host file mounted at the container's
// terminationMessagePath.
func (e *Edged) terminationFile(uid types.UID, name string, attempt uint32) (string, error) {
	dir := filepath.Join(e.podDir(uid), "containers", name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	p := filepath.Join(dir, strconv.FormatUint(uint64(attempt), 10))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return "", err
	}
	return p, f.Close()
}

func (e *Edged) podDir(uid types.UID) string {
	return filepath.Join(e.cfg.RootDirectory, "pods", string(uid))
}

// envSource adapts the Store to runtime.EnvSource.
type envSource struct{ s Store }

func (s envSource) ConfigMap(ns, name string) (map[string]string, error) {
	cm, found, err := s.s.ConfigMap(ns, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, runtime.ErrNotFound)
	}
	return cm.Data, nil
}

func (s envSource) Secret(ns, name string) (map[string][]byte, error) {
	sec, found, err := s.s.Secret(ns, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, runtime.ErrNotFound)
	}
	data := map[string][]byte{}
	for k, v := range sec.Data {
		data[k] = v
	}
	for k, v := range sec.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}
