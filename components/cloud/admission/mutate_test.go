package admission

import (
	"encoding/json"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func secs(n int64) *int64 { return &n }

func defaultTol(key string) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}
}

func defaults() []corev1.Toleration {
	return []corev1.Toleration{defaultTol(corev1.TaintNodeNotReady), defaultTol(corev1.TaintNodeUnreachable)}
}

func forever() []corev1.Toleration {
	return []corev1.Toleration{foreverToleration(corev1.TaintNodeNotReady), foreverToleration(corev1.TaintNodeUnreachable)}
}

var edgeNodes = map[string]bool{"edge-1": true, "edge-2": true}

func isEdge(n string) bool { return edgeNodes[n] }

func pod(mod func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "c", Image: "busybox"}},
			Tolerations: defaults(),
		},
	}
	mod(p)
	return p
}

func edgeSelector(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{EdgeNodeLabel: ""} }

func required(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestTargetsEdge(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*corev1.Pod)
		want bool
	}{
		{"no constraint", func(*corev1.Pod) {}, false},
		{"nodeName edge", func(p *corev1.Pod) { p.Spec.NodeName = "edge-1" }, true},
		{"nodeName cloud", func(p *corev1.Pod) { p.Spec.NodeName = "master" }, false},
		{"nodeName cloud wins over edge selector", func(p *corev1.Pod) { edgeSelector(p); p.Spec.NodeName = "master" }, false},
		{"edge label selector", edgeSelector, true},
		{"edge label selector with value", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{EdgeNodeLabel: "true"} }, true},
		{"other selector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }, false},
		{"hostname edge", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{HostnameLabel: "edge-2"} }, true},
		{"hostname cloud", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{HostnameLabel: "master"} }, false},
		{"affinity edge exists", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpExists))
		}, true},
		{"affinity edge in", func(p *corev1.Pod) { p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpIn, "")) }, true},
		{"affinity edge does not exist", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpDoesNotExist))
		}, false},
		{"affinity edge not in", func(p *corev1.Pod) { p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpNotIn, "")) }, false},
		{"affinity hostnames all edge", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(HostnameLabel, corev1.NodeSelectorOpIn, "edge-1", "edge-2"))
		}, true},
		{"affinity hostnames mixed", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(HostnameLabel, corev1.NodeSelectorOpIn, "edge-1", "master"))
		}, false},
		{"affinity hostname in empty", func(p *corev1.Pod) { p.Spec.Affinity = required(expr(HostnameLabel, corev1.NodeSelectorOpIn)) }, false},
		{"daemonset matchFields edge", func(p *corev1.Pod) {
			p.Spec.Affinity = required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"edge-1"}}}})
		}, true},
		{"daemonset matchFields cloud", func(p *corev1.Pod) {
			p.Spec.Affinity = required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"master"}}}})
		}, false},
		{"all terms edge", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpExists), expr(HostnameLabel, corev1.NodeSelectorOpIn, "edge-1"))
		}, true},
		{"one term not edge", func(p *corev1.Pod) {
			p.Spec.Affinity = required(expr(EdgeNodeLabel, corev1.NodeSelectorOpExists), expr("disk", corev1.NodeSelectorOpIn, "ssd"))
		}, false},
		{"edge requirement ANDed with another", func(p *corev1.Pod) {
			term := expr("disk", corev1.NodeSelectorOpIn, "ssd")
			term.MatchExpressions = append(term.MatchExpressions, corev1.NodeSelectorRequirement{Key: EdgeNodeLabel, Operator: corev1.NodeSelectorOpExists})
			p.Spec.Affinity = required(term)
		}, true},
		{"no terms", func(p *corev1.Pod) { p.Spec.Affinity = required() }, false},
		{"preferred only", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 1, Preference: expr(EdgeNodeLabel, corev1.NodeSelectorOpExists)}}}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetsEdge(pod(tt.mod), isEdge); got != tt.want {
				t.Errorf("TargetsEdge = %v, want %v", got, tt.want)
			}
		})
	}
}

// apply runs the patch on p's JSON and returns the resulting pod.
func apply(t *testing.T, p *corev1.Pod, ops []Operation) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatalf("decode patch %s: %v", raw, err)
	}
	out, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s: %v", raw, err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func TestMutate(t *testing.T) {
	userTol := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(30)}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name        string
		mod         func(*corev1.Pod)
		wantChanged bool
		want        []corev1.Toleration
	}{
		{"edge pod with defaults", edgeSelector, true, forever()},
		{"cloud pod keeps defaults", func(*corev1.Pod) {}, false, defaults()},
		{"cloud nodeName keeps defaults", func(p *corev1.Pod) { p.Spec.NodeName = "master" }, false, defaults()},
		{"annotation opts out", func(p *corev1.Pod) {
			edgeSelector(p)
			p.Annotations = map[string]string{EvictAnnotation: "true"}
		}, false, defaults()},
		{"annotation false does not opt out", func(p *corev1.Pod) {
			edgeSelector(p)
			p.Annotations = map[string]string{EvictAnnotation: "false"}
		}, true, forever()},
		{"user seconds kept, other default made forever", func(p *corev1.Pod) {
			edgeSelector(p)
			p.Spec.Tolerations = []corev1.Toleration{userTol, defaultTol(corev1.TaintNodeNotReady)}
		}, true, []corev1.Toleration{userTol, foreverToleration(corev1.TaintNodeNotReady)}},
		{"no tolerations: both added", func(p *corev1.Pod) { edgeSelector(p); p.Spec.Tolerations = nil }, true,
			[]corev1.Toleration{foreverToleration(corev1.TaintNodeUnreachable), foreverToleration(corev1.TaintNodeNotReady)}},
		{"unrelated toleration: both appended", func(p *corev1.Pod) { edgeSelector(p); p.Spec.Tolerations = []corev1.Toleration{other} }, true,
			[]corev1.Toleration{other, foreverToleration(corev1.TaintNodeUnreachable), foreverToleration(corev1.TaintNodeNotReady)}},
		{"user seconds only: not-ready added", func(p *corev1.Pod) { edgeSelector(p); p.Spec.Tolerations = []corev1.Toleration{userTol} }, true,
			[]corev1.Toleration{userTol, foreverToleration(corev1.TaintNodeNotReady)}},
		{"tolerate everything: nothing to do", func(p *corev1.Pod) {
			edgeSelector(p)
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}, false, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"already forever: unchanged", func(p *corev1.Pod) { edgeSelector(p); p.Spec.Tolerations = forever() }, false, forever()},
		{"NoSchedule toleration does not count", func(p *corev1.Pod) {
			edgeSelector(p)
			ns := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
			p.Spec.Tolerations = append([]corev1.Toleration{ns}, defaults()...)
		}, true, append([]corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, forever()...)},
		{"edge nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "edge-1" }, true, forever()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod(tt.mod)
			ops, changed := Mutate(p, isEdge)
			if changed != tt.wantChanged || (len(ops) > 0) != changed {
				t.Fatalf("changed = %v with %d ops, want %v", changed, len(ops), tt.wantChanged)
			}
			got := p
			if changed {
				got = apply(t, p, ops)
			}
			if !equality.Semantic.DeepEqual(got.Spec.Tolerations, tt.want) {
				t.Errorf("tolerations:\n got  %+v\n want %+v", got.Spec.Tolerations, tt.want)
			}
			// Nothing else changes.
			got.Spec.Tolerations, p.Spec.Tolerations = nil, nil
			if !equality.Semantic.DeepEqual(got, p) {
				t.Errorf("patch changed more than the tolerations")
			}
		})
	}
}

func TestMutateNil(t *testing.T) {
	if ops, changed := Mutate(nil, isEdge); changed || ops != nil {
		t.Fatal("nil pod changed")
	}
	if TargetsEdge(pod(edgeSelectorHostname), nil) {
		t.Fatal("nil isEdgeNode decided a hostname as edge")
	}
}

func edgeSelectorHostname(p *corev1.Pod) {
	p.Spec.NodeSelector = map[string]string{HostnameLabel: "edge-1"}
}
