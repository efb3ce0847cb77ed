// Package admission is cloudcore's mutating admission webhook for pods bound
// for edge nodes (upstream KubeEdge #4429).
//
// An edge node that loses its connection to the cloud is tainted
// node.kubernetes.io/unreachable:NoExecute by kube-controller-manager, and the
// DefaultTolerationSeconds admission plugin has given every pod a 300 second
// toleration for that taint (and for not-ready), so the taint manager evicts
// pods that are in fact still running on the offline node. The webhook turns
// those two default tolerations into "tolerate forever" for pods that target
// edge nodes. A user who wants eviction says so with a toleration of their own
// (any other tolerationSeconds is kept) or with the annotation
// edge.kubeedge.io/evict-on-unreachable: "true".
package admission

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

const (
	// EdgeNodeLabel marks edge nodes (set by keadm join).
	EdgeNodeLabel = "node-role.kubernetes.io/edge"
	// HostnameLabel is the well-known hostname label.
	HostnameLabel = corev1.LabelHostname
	// EvictAnnotation, set to "true" on a pod, keeps the default eviction
	// behaviour: the webhook leaves the pod unchanged.
	EvictAnnotation = "edge.kubeedge.io/evict-on-unreachable"
	// DefaultTolerationSeconds is what the DefaultTolerationSeconds admission
	// plugin puts on its tolerations (its --default-*-toleration-seconds default).
	DefaultTolerationSeconds int64 = 300
	// nodeNameField is the only field a node selector term may match.
	nodeNameField = "metadata.name"
)

// StableTaints are the NoExecute taints a pod on an edge node tolerates forever.
var StableTaints = []string{corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady}

// OpKind is a JSON patch (RFC 6902) operation name.
type OpKind string

// The operations the webhook emits.
const (
	OpAdd     OpKind = "add"
	OpReplace OpKind = "replace"
)

// Operation is one JSON patch operation.
type Operation struct {
	Op    OpKind `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Mutate returns the JSON patch that makes pod tolerate the unreachable and
// not-ready NoExecute taints forever, and whether it changes anything. It
// changes nothing for a pod that does not target edge nodes (TargetsEdge) or
// that carries EvictAnnotation "true". Per taint:
//   - a toleration that is exactly the one DefaultTolerationSeconds adds
//     (key, operator Exists, effect NoExecute, 300 seconds) loses its
//     tolerationSeconds;
//   - any other toleration of the taint (the user's own) is kept, and then
//     nothing is added;
//   - with no toleration of the taint at all, a forever one is appended.
func Mutate(pod *corev1.Pod, isEdgeNode func(string) bool) ([]Operation, bool) {
	if pod == nil || pod.Annotations[EvictAnnotation] == "true" || !TargetsEdge(pod, isEdgeNode) {
		return nil, false
	}
	tols := pod.Spec.Tolerations
	var ops []Operation
	var added []corev1.Toleration
	for _, key := range StableTaints {
		found := false
		for i := range tols {
			t := &tols[i]
			if !tolerates(t, key) {
				continue
			}
			found = true
			if isDefaultToleration(t, key) {
				forever := *t
				forever.TolerationSeconds = nil
				ops = append(ops, Operation{Op: OpReplace, Path: "/spec/tolerations/" + strconv.Itoa(i), Value: forever})
			}
		}
		if !found {
			added = append(added, foreverToleration(key))
		}
	}
	switch {
	case len(added) == 0:
	case len(tols) == 0:
		ops = append(ops, Operation{Op: OpAdd, Path: "/spec/tolerations", Value: added})
	default:
		for _, t := range added {
			ops = append(ops, Operation{Op: OpAdd, Path: "/spec/tolerations/-", Value: t})
		}
	}
	return ops, len(ops) > 0
}

// tolerates reports whether t tolerates the taint key:NoExecute (which has no
// value), as the taint manager matches them.
func tolerates(t *corev1.Toleration, key string) bool {
	if t.Effect != "" && t.Effect != corev1.TaintEffectNoExecute {
		return false
	}
	if t.Key != "" && t.Key != key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return t.Value == ""
	}
	return false
}

func foreverToleration(key string) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
}

// isDefaultToleration reports whether t is exactly what DefaultTolerationSeconds adds for key.
func isDefaultToleration(t *corev1.Toleration, key string) bool {
	return t.Key == key && t.Operator == corev1.TolerationOpExists && t.Value == "" &&
		t.Effect == corev1.TaintEffectNoExecute &&
		t.TolerationSeconds != nil && *t.TolerationSeconds == DefaultTolerationSeconds
}

// TargetsEdge reports whether pod can only run on edge nodes, as far as can be
// decided from its spec alone:
//   - spec.nodeName is set: it names an edge node;
//   - spec.nodeSelector has the edge label, or kubernetes.io/hostname naming an
//     edge node;
//   - every required node affinity term requires the edge label (Exists, or In),
//     or restricts kubernetes.io/hostname or metadata.name (In) to edge nodes.
//
// A hostname is looked up as a node name (KubeEdge edge nodes are named after
// their hostname label). Anything else (NotIn, Gt, preferred terms, mixed
// edge/cloud hostnames) is not decided as edge.
func TargetsEdge(pod *corev1.Pod, isEdgeNode func(string) bool) bool {
	if isEdgeNode == nil {
		isEdgeNode = func(string) bool { return false }
	}
	spec := &pod.Spec
	if spec.NodeName != "" {
		return isEdgeNode(spec.NodeName)
	}
	if _, ok := spec.NodeSelector[EdgeNodeLabel]; ok {
		return true
	}
	if h, ok := spec.NodeSelector[HostnameLabel]; ok && isEdgeNode(h) {
		return true
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	// Terms are ORed: every one must restrict to edge nodes. Within a term the
	// requirements are ANDed: one that restricts to edge nodes is enough.
	for _, term := range terms {
		if !termTargetsEdge(term, isEdgeNode) {
			return false
		}
	}
	return true
}

func termTargetsEdge(term corev1.NodeSelectorTerm, isEdgeNode func(string) bool) bool {
	for _, r := range term.MatchExpressions {
		switch {
		case r.Key == EdgeNodeLabel && (r.Operator == corev1.NodeSelectorOpExists || r.Operator == corev1.NodeSelectorOpIn):
			return true
		case r.Key == HostnameLabel && r.Operator == corev1.NodeSelectorOpIn && allEdge(r.Values, isEdgeNode):
			return true
		}
	}
	for _, r := range term.MatchFields {
		if r.Key == nodeNameField && r.Operator == corev1.NodeSelectorOpIn && allEdge(r.Values, isEdgeNode) {
			return true
		}
	}
	return false
}

func allEdge(names []string, isEdgeNode func(string) bool) bool {
	if len(names) == 0 {
		return false
	}
	for _, n := range names {
		if !isEdgeNode(n) {
			return false
		}
	}
	return true
}
