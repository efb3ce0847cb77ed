package charts

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCRDs(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"edgeapplications.apps.kubeedge.io",
		"nodegroups.apps.kubeedge.io",
		"devices.devices.kubeedge.io",
		"devicemodels.devices.kubeedge.io",
		"nodeupgradejobs.operations.kubeedge.io",
		"clusterobjectsyncs.reliablesyncs.kubeedge.io",
		"objectsyncs.reliablesyncs.kubeedge.io",
		"rules.rules.kubeedge.io",
		"ruleendpoints.rules.kubeedge.io",
	}
	var names []string
	for _, c := range crds {
		names = append(names, c.GetName())
	}
	if !slices.Equal(names, want) {
		t.Fatalf("CRD names (file order) = %v, want %v", names, want)
	}

	for _, c := range crds {
		t.Run(c.GetName(), func(t *testing.T) {
			group := str(t, c, "spec", "group")
			plural := str(t, c, "spec", "names", "plural")
			if c.GetName() != plural+"."+group {
				t.Errorf("name %s, want plural.group = %s.%s", c.GetName(), plural, group)
			}
			for _, f := range [][]string{{"spec", "names", "kind"}, {"spec", "names", "listKind"}, {"spec", "names", "singular"}} {
				str(t, c, f...)
			}
			if s := str(t, c, "spec", "scope"); s != "Namespaced" && s != "Cluster" {
				t.Errorf("scope %q", s)
			}
			versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
			if len(versions) == 0 {
				t.Fatal("no versions")
			}
			storage := 0
			for _, v := range versions {
				v := v.(map[string]any)
				if v["storage"] == true {
					storage++
				}
				if v["served"] != true {
					t.Errorf("version %v not served", v["name"])
				}
				typ, _, _ := unstructured.NestedString(v, "schema", "openAPIV3Schema", "type")
				if typ != "object" {
					t.Errorf("version %v: openAPIV3Schema.type = %q, want object", v["name"], typ)
				}
			}
			if storage != 1 {
				t.Errorf("%d storage versions, want 1", storage)
			}
		})
	}
}

// TestVersions pins the versions each group serves.
func TestVersions(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"devices.devices.kubeedge.io":                  {"v1alpha2*", "v1alpha1"},
		"devicemodels.devices.kubeedge.io":             {"v1alpha2*", "v1alpha1"},
		"objectsyncs.reliablesyncs.kubeedge.io":        {"v1alpha1*"},
		"clusterobjectsyncs.reliablesyncs.kubeedge.io": {"v1alpha1*"},
		"rules.rules.kubeedge.io":                      {"v1*"},
		"ruleendpoints.rules.kubeedge.io":              {"v1*"},
		"edgeapplications.apps.kubeedge.io":            {"v1alpha1*"},
		"nodegroups.apps.kubeedge.io":                  {"v1alpha1*"},
		"nodeupgradejobs.operations.kubeedge.io":       {"v1alpha1*"},
	}
	for _, c := range crds {
		versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
		var got []string
		for _, v := range versions {
			v := v.(map[string]any)
			name := v["name"].(string)
			if v["storage"] == true {
				name += "*"
			}
			got = append(got, name)
		}
		if !slices.Equal(got, want[c.GetName()]) {
			t.Errorf("%s versions = %v, want %v (* = storage)", c.GetName(), got, want[c.GetName()])
		}
	}
}

// TestShapes checks the fields cloudcore relies on.
func TestShapes(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, c := range crds {
		byName[c.GetName()] = c
	}
	schema := func(name string, version int, path ...string) map[string]any {
		t.Helper()
		versions, _, _ := unstructured.NestedSlice(byName[name].Object, "spec", "versions")
		s, ok := versions[version].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
		for _, p := range path {
			if !ok {
				break
			}
			s, ok = s["properties"].(map[string]any)[p].(map[string]any)
		}
		if !ok {
			t.Fatalf("%s: no schema at %v", name, path)
		}
		return s
	}
	for _, p := range [][]string{
		{"spec", "deviceModelRef", "name"},
		{"spec", "nodeSelector", "nodeSelectorTerms"},
		{"status", "twins"},
	} {
		schema("devices.devices.kubeedge.io", 0, p...)
	}
	twin := schema("devices.devices.kubeedge.io", 0, "status", "twins")["items"].(map[string]any)
	for _, f := range []string{"propertyName", "desired", "reported"} {
		if _, ok := twin["properties"].(map[string]any)[f]; !ok {
			t.Errorf("Device status.twins[] has no %s", f)
		}
	}
	for _, name := range []string{"objectsyncs.reliablesyncs.kubeedge.io", "clusterobjectsyncs.reliablesyncs.kubeedge.io"} {
		for _, f := range []string{"objectAPIVersion", "objectKind", "objectName"} {
			if typ := schema(name, 0, "spec", f)["type"]; typ != "string" {
				t.Errorf("%s spec.%s type %v", name, f, typ)
			}
		}
		schema(name, 0, "status", "objectResourceVersion")
		versions, _, _ := unstructured.NestedSlice(byName[name].Object, "spec", "versions")
		if _, ok, _ := unstructured.NestedMap(versions[0].(map[string]any), "subresources", "status"); !ok {
			t.Errorf("%s has no status subresource", name)
		}
	}
	if s := byName["objectsyncs.reliablesyncs.kubeedge.io"]; str(t, s, "spec", "scope") != "Namespaced" {
		t.Error("ObjectSync must be namespaced")
	}
	if s := byName["clusterobjectsyncs.reliablesyncs.kubeedge.io"]; str(t, s, "spec", "scope") != "Cluster" {
		t.Error("ClusterObjectSync must be cluster-scoped")
	}
}

func TestCRDsFresh(t *testing.T) {
	a, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	a[0].SetName("changed")
	b, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if b[0].GetName() == "changed" {
		t.Error("CRDs returned shared objects")
	}
}

func str(t *testing.T, u *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	s, ok, err := unstructured.NestedString(u.Object, fields...)
	if err != nil || !ok || s == "" {
		t.Errorf("%s: %v missing or empty (%v)", u.GetName(), fields, err)
	}
	return s
}
