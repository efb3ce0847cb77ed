package runtime_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
)

// envSource is an in-memory runtime.EnvSource.
type envSource struct {
	configMaps  map[string]map[string]string
	secrets     map[string]map[string][]byte
	allocatable corev1.ResourceList
}

func (s envSource) ConfigMap(ns, name string) (map[string]string, error) {
	if m, ok := s.configMaps[ns+"/"+name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, runtime.ErrNotFound)
}

func (s envSource) Secret(ns, name string) (map[string][]byte, error) {
	if m, ok := s.secrets[ns+"/"+name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("secret %s/%s: %w", ns, name, runtime.ErrNotFound)
}

type allocSource struct{ envSource }

func (s allocSource) NodeAllocatable() corev1.ResourceList { return s.allocatable }

func ptr[T any](v T) *T { return &v }

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "prod", UID: "uid-1",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"team": "edge"},
		},
		Spec: corev1.PodSpec{
			NodeName: "edge-1", ServiceAccountName: "sa",
			Containers: []corev1.Container{{
				Name: "app", Image: "localhost/kubeedge/app:v1",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}, {Name: "side", Image: "localhost/kubeedge/app:v1"}},
		},
		Status: corev1.PodStatus{PodIP: "10.88.0.7", HostIP: "192.168.1.2"},
	}
}

func TestResolveEnv(t *testing.T) {
	src := envSource{
		configMaps: map[string]map[string]string{
			"prod/cfg":  {"greeting": "hello", "LEVEL": "debug", "bad=key": "x"},
			"prod/more": {"LEVEL": "info"},
		},
		secrets: map[string]map[string][]byte{"prod/creds": {"password": []byte("s3cret"), "USER": []byte("admin")}},
	}
	cmRef := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(optional)}}
	}
	secRef := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(optional)}}
	}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	res := func(container, name, divisor string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{ContainerName: container, Resource: name}
		if divisor != "" {
			s.Divisor = resource.MustParse(divisor)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	tests := []struct {
		name    string
		env     []corev1.EnvVar
		envFrom []corev1.EnvFromSource
		src     runtime.EnvSource
		want    []corev1.EnvVar
		wantErr string
	}{
		{
			name: "plain values and expansion of earlier variables",
			env: []corev1.EnvVar{
				{Name: "A", Value: "one"},
				{Name: "B", Value: "$(A)-two $(MISSING) $$(A) $"},
				{Name: "C", Value: "$(D)"}, // D is defined later: not expanded
				{Name: "D", Value: "four"},
			},
			want: []corev1.EnvVar{{Name: "A", Value: "one"}, {Name: "B", Value: "one-two $(MISSING) $(A) $"}, {Name: "C", Value: "$(D)"}, {Name: "D", Value: "four"}},
		},
		{
			name: "fieldRefs",
			env: []corev1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")},
				{Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")},
				{Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "TEAM", ValueFrom: field(`metadata.annotations["team"]`)},
				{Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "IP", ValueFrom: field("status.podIP")},
				{Name: "IPS", ValueFrom: field("status.podIPs")},
				{Name: "HOST", ValueFrom: field("status.hostIP")},
			},
			want: []corev1.EnvVar{
				{Name: "NAME", Value: "web"}, {Name: "NS", Value: "prod"}, {Name: "UID", Value: "uid-1"},
				{Name: "APP", Value: "web"}, {Name: "TEAM", Value: "edge"}, {Name: "NODE", Value: "edge-1"},
				{Name: "SA", Value: "sa"}, {Name: "IP", Value: "10.88.0.7"}, {Name: "IPS", Value: "10.88.0.7"},
				{Name: "HOST", Value: "192.168.1.2"},
			},
		},
		{
			name:    "unsupported fieldRef",
			env:     []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.containers")}},
			wantErr: `container app: env X: unsupported fieldRef "spec.containers"`,
		},
		{
			name: "resourceFieldRefs",
			env: []corev1.EnvVar{
				{Name: "CPU_LIMIT", ValueFrom: res("", "limits.cpu", "")},          // 1.5 cores rounds up
				{Name: "CPU_REQ_M", ValueFrom: res("", "requests.cpu", "1m")},      // millicores
				{Name: "MEM_LIMIT", ValueFrom: res("", "limits.memory", "")},       // bytes
				{Name: "MEM_REQ_MI", ValueFrom: res("", "requests.memory", "1Mi")}, // MiB
				{Name: "SIDE_CPU", ValueFrom: res("side", "limits.cpu", "")},       // unset, no allocatable
			},
			want: []corev1.EnvVar{
				{Name: "CPU_LIMIT", Value: "2"}, {Name: "CPU_REQ_M", Value: "250"},
				{Name: "MEM_LIMIT", Value: "134217728"}, {Name: "MEM_REQ_MI", Value: "64"}, {Name: "SIDE_CPU", Value: "0"},
			},
		},
		{
			name: "unset limit falls back to node allocatable",
			env:  []corev1.EnvVar{{Name: "SIDE_MEM", ValueFrom: res("side", "limits.memory", "1Gi")}},
			src:  allocSource{envSource{allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")}}},
			want: []corev1.EnvVar{{Name: "SIDE_MEM", Value: "4"}},
		},
		{
			name:    "resourceFieldRef to an unknown container",
			env:     []corev1.EnvVar{{Name: "X", ValueFrom: res("nope", "limits.cpu", "")}},
			wantErr: `container app: env X: resourceFieldRef: no container "nope"`,
		},
		{
			name: "configMap and secret keys",
			env: []corev1.EnvVar{
				{Name: "GREETING", ValueFrom: cmRef("cfg", "greeting", false)},
				{Name: "PASSWORD", ValueFrom: secRef("creds", "password", false)},
				{Name: "MSG", Value: "$(GREETING) world"},
			},
			want: []corev1.EnvVar{{Name: "GREETING", Value: "hello"}, {Name: "PASSWORD", Value: "s3cret"}, {Name: "MSG", Value: "hello world"}},
		},
		{
			name: "optional references to missing objects and keys define nothing",
			env: []corev1.EnvVar{
				{Name: "A", ValueFrom: cmRef("absent", "k", true)},
				{Name: "B", ValueFrom: cmRef("cfg", "absent", true)},
				{Name: "C", ValueFrom: secRef("absent", "k", true)},
				{Name: "D", ValueFrom: secRef("creds", "absent", true)},
			},
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
			},
			want: nil,
		},
		{
			name:    "missing configMap",
			env:     []corev1.EnvVar{{Name: "A", ValueFrom: cmRef("absent", "k", false)}},
			wantErr: "container app: env A: ConfigMap prod/absent: configmap prod/absent: not found",
		},
		{
			name:    "missing configMap key",
			env:     []corev1.EnvVar{{Name: "A", ValueFrom: cmRef("cfg", "absent", false)}},
			wantErr: "container app: env A: couldn't find key absent in ConfigMap prod/cfg",
		},
		{
			name:    "missing secret key",
			env:     []corev1.EnvVar{{Name: "A", ValueFrom: secRef("creds", "absent", false)}},
			wantErr: "container app: env A: couldn't find key absent in Secret prod/creds",
		},
		{
			name: "missing envFrom secret",
			envFrom: []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}},
			},
			wantErr: "container app: envFrom Secret prod/absent: secret prod/absent: not found",
		},
		{
			name: "envFrom with prefix, later sources and env override, invalid keys skipped",
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "more"}}},
				{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			},
			env: []corev1.EnvVar{{Name: "greeting", Value: "hi $(DB_USER)"}},
			want: []corev1.EnvVar{
				{Name: "LEVEL", Value: "info"}, {Name: "greeting", Value: "hi admin"},
				{Name: "DB_USER", Value: "admin"}, {Name: "DB_password", Value: "s3cret"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			c := &pod.Spec.Containers[0]
			c.Env, c.EnvFrom = tt.env, tt.envFrom
			s := tt.src
			if s == nil {
				s = src
			}
			got, err := runtime.ResolveEnv(pod, c, s)
			if tt.wantErr != "" {
				var ce *runtime.ConfigError
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &ce) {
					t.Fatalf("error = %v, want *ConfigError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("env =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	vars := runtime.EnvLookup([]corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "EMPTY", Value: ""}, {Name: "B_2", Value: "$(A)"}})
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(A)z", "x1y1z"},
		{"$(EMPTY)|", "|"},
		{"$(B_2)", "$(A)"}, // values are not expanded again
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$1"},
		{"$$", "$"},
		{"$", "$"},
		{"a$b", "a$b"},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$(A)$(", "1$("},
	}
	for _, tt := range tests {
		if got := runtime.ExpandVars(tt.in, vars); got != tt.want {
			t.Errorf("ExpandVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
