package edged

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/message"
)

// reportStatus computes the pod's status and sends it as a podpatch when it
// differs from the last one sent.
func (e *Edged) reportStatus(ctx context.Context, pod *corev1.Pod) error {
	rp, err := e.rt.PodStatus(ctx, string(pod.UID))
	if err != nil {
		return err
	}
	st := e.podStatus(pod, rp)
	uid := string(pod.UID)
	if last := e.lastSent[uid]; last != nil && equality.Semantic.DeepEqual(last, st) {
		// Unchanged since it was sent. Send it again only if the cloud
		// pushed a newer version of the pod whose status says otherwise
		// (it was changed by someone else while the link was down, e.g. the
		// node lifecycle controller marked the pod not Ready).
		if e.sentAtRV[uid] == pod.ResourceVersion || equality.Semantic.DeepEqual(&pod.Status, st) {
			return nil
		}
	}
	msg, err := e.statusMessage(pod, st)
	if err != nil {
		return err
	}
	if err := e.sender.Send(msg); err != nil {
		return err
	}
	e.lastSent[uid] = st
	e.sentAtRV[uid] = pod.ResourceVersion
	return nil
}

// statusMessage is the podpatch message: a JSON string holding the
// strategic-merge patch {"metadata":{"uid":…},"status":…} (the UID makes
// the API server refuse to patch a pod recreated under the same name).
func (e *Edged) statusMessage(pod *corev1.Pod, st *corev1.PodStatus) (message.Message, error) {
	patch, err := json.Marshal(struct {
		Metadata struct {
			UID types.UID `json:"uid"`
		} `json:"metadata"`
		Status *corev1.PodStatus `json:"status"`
	}{Metadata: struct {
		UID types.UID `json:"uid"`
	}{UID: pod.UID}, Status: st})
	if err != nil {
		return message.Message{}, fmt.Errorf("encode status patch: %w", err)
	}
	route := message.Route{
		Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpPatch,
		Resource: message.Resource{Namespace: pod.Namespace, Type: message.ResPodPatch, Name: pod.Name}.String(),
	}
	return e.factory.New(route, string(patch))
}

// mt is a time as the API keeps it (whole seconds), so that a status read
// back compares equal.
func mt(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

func (e *Edged) containerID(id string) string {
	name := e.rt.Name
	if name == "" {
		name = "containerd"
	}
	return name + "://" + id
}

// podStatus computes the status kubelet would report for what runs.
func (e *Edged) podStatus(pod *corev1.Pod, rp *runtime.PodRuntimeStatus) *corev1.PodStatus {
	st := &corev1.PodStatus{HostIP: e.cfg.NodeIP, QOSClass: runtime.QOSClass(pod)}
	if e.cfg.NodeIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: e.cfg.NodeIP}}
	}
	sb := rp.Sandbox()
	if sb != nil && sb.State == runtime.SandboxReady {
		ip := sb.IP
		if pod.Spec.HostNetwork {
			ip = e.cfg.NodeIP
		}
		if ip != "" {
			st.PodIP = ip
			st.PodIPs = []corev1.PodIP{{IP: ip}}
			if !pod.Spec.HostNetwork {
				for _, a := range sb.AdditionalIPs {
					st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: a})
				}
			}
		}
	}
	switch {
	case pod.Status.StartTime != nil:
		t := mt(pod.Status.StartTime.Time)
		st.StartTime = &t
	case !e.startTimes[string(pod.UID)].IsZero():
		t := mt(e.startTimes[string(pod.UID)])
		st.StartTime = &t
	}
	sbID := ""
	if sb != nil {
		sbID = sb.ID
	}

	// Init containers in spec order.
	initDone, initFailed := true, false
	var incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := e.containerStatus(pod, c, rp, sbID, ReasonPodInitializing)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		initDone = false
		incomplete = append(incomplete, c.Name)
		if t := cs.State.Terminated; t != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			initFailed = true
		}
	}
	appWaiting := ReasonContainerCreating
	if !initDone {
		appWaiting = ReasonPodInitializing
	}
	var unready []string
	running, waiting, stopped, succeeded := 0, 0, 0, 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := e.containerStatus(pod, c, rp, sbID, appWaiting)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	sort.Slice(st.ContainerStatuses, func(i, j int) bool {
		return st.ContainerStatuses[i].Name < st.ContainerStatuses[j].Name
	})

	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case !initDone, waiting > 0:
		st.Phase = corev1.PodPending
	case running > 0:
		st.Phase = corev1.PodRunning
	case stopped > 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever && stopped == succeeded,
			pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && stopped == succeeded:
			st.Phase = corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			st.Phase = corev1.PodFailed
		default:
			st.Phase = corev1.PodRunning
		}
	default:
		st.Phase = corev1.PodPending
	}

	prev := e.lastSent[string(pod.UID)]
	if prev == nil {
		prev = &pod.Status
	}
	cond := func(typ corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		c.LastTransitionTime = mt(e.cfg.Now())
		for _, p := range prev.Conditions {
			if p.Type == typ && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
				c.LastTransitionTime = mt(p.LastTransitionTime.Time)
			}
		}
		return c
	}
	completed := st.Phase == corev1.PodSucceeded
	initReason, readyReason := "ContainersNotInitialized", "ContainersNotReady"
	if completed {
		initReason, readyReason = "PodCompleted", "PodCompleted"
	}
	ready := len(unready) == 0
	readyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodInitialized, initDone || completed, initReason, fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))),
		cond(corev1.PodReady, ready, readyReason, readyMsg),
		cond(corev1.ContainersReady, ready, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	if completed {
		st.Conditions[0].Message = ""
	}
	return st
}

// containerStatus reports one container: its newest attempt, the waiting
// reason Edged recorded, and the previous attempt's termination.
func (e *Edged) containerStatus(pod *corev1.Pod, c *corev1.Container, rp *runtime.PodRuntimeStatus, sandboxID, defaultWaiting string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	var attempts []*runtime.ContainerStatus
	for _, rc := range rp.Containers {
		if rc.Name == c.Name {
			attempts = append(attempts, rc)
		}
	}
	terminated := func(rc *runtime.ContainerStatus) *corev1.ContainerStateTerminated {
		msg := rc.Message
		if msg == "" {
			msg = e.killMsgs[string(pod.UID)][rc.ID]
		}
		reason := rc.Reason
		if reason == "" {
			reason = "Error"
			if rc.ExitCode == 0 {
				reason = "Completed"
			}
		}
		return &corev1.ContainerStateTerminated{
			ExitCode: rc.ExitCode, Reason: reason, Message: msg,
			StartedAt: mt(rc.StartedAt), FinishedAt: mt(rc.FinishedAt), ContainerID: e.containerID(rc.ID),
		}
	}
	waiting := e.waiting[ckey(pod.UID, c.Name)]
	var latest *runtime.ContainerStatus
	if len(attempts) > 0 {
		latest = attempts[0]
		cs.RestartCount = latest.RestartCount
		cs.ImageID = latest.ImageRef
		cs.ContainerID = e.containerID(latest.ID)
	}
	started := false
	switch {
	case latest != nil && latest.State == runtime.ContainerRunning && latest.SandboxID == sandboxID:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: mt(latest.StartedAt)}
		started, cs.Ready = true, true
		if isAppContainer(pod, c) {
			started, cs.Ready = e.probes.startedAndReady(pod.UID, c, latest.ID)
		}
		if len(attempts) > 1 && attempts[1].State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(attempts[1])
		}
	case waiting != nil:
		cs.State.Waiting = waiting.DeepCopy()
		if latest != nil && latest.State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(latest)
		}
	case latest != nil && latest.State == runtime.ContainerExited:
		cs.State.Terminated = terminated(latest)
		if len(attempts) > 1 && attempts[1].State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(attempts[1])
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultWaiting}
		if latest != nil && latest.State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(latest)
		}
	}
	cs.Started = &started
	return cs
}

// isAppContainer reports whether c is one of the pod's (probed) app
// containers rather than an init container.
func isAppContainer(pod *corev1.Pod, c *corev1.Container) bool {
	for i := range pod.Spec.Containers {
		if &pod.Spec.Containers[i] == c {
			return true
		}
	}
	return false
}
