package migrate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/keadm/layout"
	devconv "github.com/cleanedge/kubeedge/migrate"
)

const inputDir = "../../migrate/testdata/input"

var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// loadObjects reads the v1alpha1 Devices and DeviceModels of YAML files as
// an API server would return them: namespaced, with a uid and a
// resourceVersion.
func loadObjects(t *testing.T, paths ...string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range devconv.SplitDocuments(data) {
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				continue // comment-only document
			}
			if u.GetAPIVersion() != v1alpha1.SchemeGroupVersion.String() {
				continue
			}
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			u.SetUID(types.UID("uid-" + u.GetNamespace() + "-" + u.GetName()))
			u.SetResourceVersion("7")
			objs = append(objs, u)
		}
	}
	return objs
}

func allGVRs() map[schema.GroupVersionResource]string {
	m := map[schema.GroupVersionResource]string{}
	for _, k := range []resourceKind{kindDevice, kindDeviceModel} {
		m[k.v1()] = k.kind + "List"
		m[k.v2()] = k.kind + "List"
	}
	return m
}

func fakeClient(t *testing.T, objs ...*unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	t.Helper()
	// The four resources are registered as unstructured kinds (the list
	// kinds below): registering the typed Go types too would make the fake
	// convert every stored object into them, dropping the fields one version
	// does not know, which the tests need to keep.
	scheme := runtime.NewScheme()
	ros := make([]runtime.Object, len(objs))
	for i, o := range objs {
		ros[i] = o
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, allGVRs(), ros...)
}

// fakeDiscovery serves the given group versions of devices.kubeedge.io.
func fakeDiscovery(versions ...string) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{}}
	for _, v := range versions {
		d.Resources = append(d.Resources, &metav1.APIResourceList{
			GroupVersion: "devices.kubeedge.io/" + v,
			APIResources: []metav1.APIResource{
				{Name: "devices", Namespaced: true, Kind: "Device"},
				{Name: "devicemodels", Namespaced: true, Kind: "DeviceModel"},
			},
		})
	}
	return d
}

type clusterRun struct {
	res  Result
	err  error
	out  string
	root string
}

func runCluster(t *testing.T, client *dynamicfake.FakeDynamicClient, dryRun bool, root string) clusterRun {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	cfg := Config{Roots: layout.Under(root), DryRun: dryRun}
	var out bytes.Buffer
	res, err := RunCluster(context.Background(), cfg,
		Deps{Client: client, Discovery: fakeDiscovery("v1alpha1", "v1alpha2"), Now: func() time.Time { return testNow }}, &out)
	res.PrintSummary(&out)
	return clusterRun{res: res, err: err, out: out.String(), root: root}
}

func getV2(t *testing.T, client *dynamicfake.FakeDynamicClient, k resourceKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := client.Resource(k.v2()).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", k.kind, ns, name, err)
	}
	return u
}

func writeVerbs(client *dynamicfake.FakeDynamicClient) []string {
	var verbs []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "list", "get", "watch":
		default:
			verbs = append(verbs, a.GetVerb()+" "+a.GetResource().Version+"/"+a.GetResource().Resource)
		}
	}
	return verbs
}

func TestClusterMigrateCreatesV1alpha2(t *testing.T) {
	objs := loadObjects(t, filepath.Join(inputDir, "all-protocols.yaml"),
		filepath.Join(inputDir, "CC2650-device-model.yaml"), filepath.Join(inputDir, "CC2650-device-instance.yaml"))
	client := fakeClient(t, objs...)
	r := runCluster(t, client, false, "")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.out)
	}
	if err := r.res.Err(); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if got, want := r.res.Summary(), "migrated 9, unchanged 0, failed 0"; got != want {
		t.Errorf("summary %q, want %q\n%s", got, want, r.out)
	}

	// A modbus tcp device: slave id parsed, transport in common, the
	// model's visitors copied.
	dev := getV2(t, client, kindDevice, "factory", "modbus-tcp-01")
	typed := new(v1alpha2.Device)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(dev.Object, typed); err != nil {
		t.Fatal(err)
	}
	if typed.Spec.Protocol.Modbus == nil || typed.Spec.Protocol.Modbus.SlaveID == nil || *typed.Spec.Protocol.Modbus.SlaveID != 3 ||
		typed.Spec.Protocol.Common == nil || typed.Spec.Protocol.Common.TCP == nil || typed.Spec.Protocol.Common.CommType != devconv.CommTypeTCP {
		t.Errorf("modbus-tcp-01 protocol: %+v", typed.Spec.Protocol)
	}
	if len(typed.Spec.PropertyVisitors) != 2 {
		t.Errorf("modbus-tcp-01 has %d visitors, want the model's 2", len(typed.Spec.PropertyVisitors))
	}
	model := getV2(t, client, kindDeviceModel, "factory", "modbus-model")
	if p, _, _ := unstructured.NestedString(model.Object, "spec", "protocol"); p != "modbus" {
		t.Errorf("modbus-model protocol %q", p)
	}
	if hasItems(model, "spec", "propertyVisitors") {
		t.Error("modbus-model kept its property visitors")
	}
	if _, ok := model.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Error("last-applied-configuration kept")
	}

	// What was written equals the library's conversion of the same objects.
	want, _, err := devconv.ConvertYAML(mustRead(t, filepath.Join(inputDir, "CC2650-device-model.yaml"), filepath.Join(inputDir, "CC2650-device-instance.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range devconv.SplitDocuments(want) {
		w := &unstructured.Unstructured{}
		j, _ := yaml.YAMLToJSON([]byte(doc))
		if err := w.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		k := kindDevice
		if w.GetKind() == kindDeviceModel.kind {
			k = kindDeviceModel
		}
		got := getV2(t, client, k, "default", w.GetName())
		if !sameContent(w, got) {
			t.Errorf("%s %s differs from ConvertYAML's", w.GetKind(), w.GetName())
		}
	}

	// Devices are written before models, every write is a create (the fake
	// keeps versions apart), and nothing is written through v1alpha1.
	verbs := writeVerbs(client)
	if len(verbs) != 9 || verbs[0] != "create v1alpha2/devices" || verbs[4] != "create v1alpha2/devices" || verbs[5] != "create v1alpha2/devicemodels" {
		t.Errorf("writes: %v", verbs)
	}
	for _, o := range objs {
		k := kindDevice
		if o.GetKind() == kindDeviceModel.kind {
			k = kindDeviceModel
		}
		if _, err := client.Resource(k.v1()).Namespace(o.GetNamespace()).Get(context.Background(), o.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("v1alpha1 %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if !strings.Contains(r.out, "[1/9] Device default/sensor-tag-instance-01: migrated\n") {
		t.Errorf("no progress line:\n%s", r.out)
	}
}

func mustRead(t *testing.T, paths ...string) []byte {
	t.Helper()
	var b []byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(append(b, "---\n"...), data...), '\n')
	}
	return b
}

func TestClusterBackup(t *testing.T) {
	objs := loadObjects(t, filepath.Join(inputDir, "led-light-device-model.yaml"), filepath.Join(inputDir, "led-light-device-instance.yaml"))
	objs[0].SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}})
	client := fakeClient(t, objs...)
	r := runCluster(t, client, false, "")
	if r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	dir := filepath.Join(r.root, "var/lib/kubeedge/backup/devices-20240506-070809")
	if r.res.BackupDir != dir {
		t.Errorf("backup dir %q, want %q", r.res.BackupDir, dir)
	}
	if !strings.Contains(r.out, "backup of 2 object(s) written to "+dir+"\n") {
		t.Errorf("backup path not printed:\n%s", r.out)
	}
	for _, o := range objs {
		path := filepath.Join(dir, resourceOf(o.GetKind()), "default", o.GetName()+".yaml")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
		}
		if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", filepath.Dir(path), st.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		back := &unstructured.Unstructured{}
		if err := back.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		if back.GetAPIVersion() != "devices.kubeedge.io/v1alpha1" || !sameContent(back, o) {
			t.Errorf("backup of %s is not the original:\n%s", o.GetName(), data)
		}
		if back.GetResourceVersion() != "" || back.GetUID() != "" || back.GetManagedFields() != nil {
			t.Errorf("backup of %s keeps server-set metadata:\n%s", o.GetName(), data)
		}
	}

	// A backup directory that is not empty stops the run before any write.
	client = fakeClient(t, loadObjects(t, filepath.Join(inputDir, "led-light-device-model.yaml"))...)
	r2 := runCluster(t, client, false, r.root)
	if r2.err == nil || !strings.Contains(r2.err.Error(), "is not empty") {
		t.Errorf("second run into the same backup dir: %v", r2.err)
	}
	if verbs := writeVerbs(client); len(verbs) != 0 {
		t.Errorf("wrote %v without a backup", verbs)
	}
}

func TestClusterDryRun(t *testing.T) {
	objs := loadObjects(t, filepath.Join(inputDir, "all-protocols.yaml"))
	client := fakeClient(t, objs...)
	r := runCluster(t, client, true, "")
	if r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	if verbs := writeVerbs(client); len(verbs) != 0 {
		t.Errorf("the dry run wrote: %v", verbs)
	}
	if entries, _ := os.ReadDir(r.root); len(entries) != 0 {
		t.Errorf("the dry run wrote files: %v", entries)
	}
	out := strings.ReplaceAll(r.out, r.root, "$ROOT")
	checkGolden(t, "cluster-dry-run.golden", []byte(out))
	for _, want := range []string{
		"--- Device factory/modbus-tcp-01 (devices.kubeedge.io/v1alpha1)\n+++ Device factory/modbus-tcp-01 (devices.kubeedge.io/v1alpha2)\n",
		"-apiVersion: devices.kubeedge.io/v1alpha1\n+apiVersion: devices.kubeedge.io/v1alpha2\n",
		"would migrate 7, unchanged 0, failed 0\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
}

func TestClusterRerunIsNoop(t *testing.T) {
	objs := loadObjects(t, filepath.Join(inputDir, "all-protocols.yaml"),
		filepath.Join(inputDir, "led-light-device-model.yaml"), filepath.Join(inputDir, "led-light-device-instance.yaml"))
	client := fakeClient(t, objs...)
	if r := runCluster(t, client, false, ""); r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	client.ClearActions()
	r := runCluster(t, client, false, "")
	if r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	if got, want := r.res.Summary(), "migrated 0, unchanged 9, failed 0"; got != want {
		t.Errorf("second run: %q, want %q\n%s", got, want, r.out)
	}
	if verbs := writeVerbs(client); len(verbs) != 0 {
		t.Errorf("second run wrote %v", verbs)
	}
	if r.res.BackupDir != "" {
		t.Errorf("second run took a backup in %s", r.res.BackupDir)
	}
}

// relabel is what an API server serving both versions from one CRD
// (conversion None) returns for u through the other version: the same
// object with the other apiVersion and the fields that version's schema
// lacks pruned.
func relabel(u *unstructured.Unstructured, version string) *unstructured.Unstructured {
	c := u.DeepCopy()
	c.SetAPIVersion("devices.kubeedge.io/" + version)
	switch {
	case version == "v1alpha2" && c.GetKind() == "DeviceModel":
		unstructured.RemoveNestedField(c.Object, "spec", "propertyVisitors")
	case version == "v1alpha1" && c.GetKind() == "DeviceModel":
		unstructured.RemoveNestedField(c.Object, "spec", "protocol")
	case version == "v1alpha1" && c.GetKind() == "Device":
		unstructured.RemoveNestedField(c.Object, "spec", "propertyVisitors")
		unstructured.RemoveNestedField(c.Object, "spec", "data")
	}
	return c
}

// One CRD serving both versions (as charts/cloudcore/crds declares): every
// object is seen through both endpoints with the same uid. The migration
// updates it through v1alpha2 at the resourceVersion it was read at, and a
// second run finds nothing to do.
func TestClusterSameObjectBothVersions(t *testing.T) {
	v1 := loadObjects(t, filepath.Join(inputDir, "all-protocols.yaml"))
	var seed []*unstructured.Unstructured
	for _, o := range v1 {
		seed = append(seed, o, relabel(o, "v1alpha2"))
	}
	client := fakeClient(t, seed...)
	r := runCluster(t, client, false, "")
	if r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	// Every device changes (visitors or transport); so do the models with
	// visitors.
	if got, want := r.res.Summary(), "migrated 7, unchanged 0, failed 0"; got != want {
		t.Errorf("%q, want %q\n%s", got, want, r.out)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("created %s: the object exists and must be updated", a.GetResource())
		}
		if u, ok := a.(k8stesting.UpdateAction); ok {
			obj := u.GetObject().(*unstructured.Unstructured)
			if obj.GetResourceVersion() != "7" || a.GetResource().Version != "v1alpha2" {
				t.Errorf("update %s %s at resourceVersion %q", a.GetResource(), obj.GetName(), obj.GetResourceVersion())
			}
		}
	}

	// Re-run against what the server now shows through each version.
	l2, _ := client.Resource(kindDevice.v2()).List(context.Background(), metav1.ListOptions{})
	m2, _ := client.Resource(kindDeviceModel.v2()).List(context.Background(), metav1.ListOptions{})
	seed = nil
	for _, l := range [][]unstructured.Unstructured{l2.Items, m2.Items} {
		for i := range l {
			o := &l[i]
			seed = append(seed, o, relabel(o, "v1alpha1"))
		}
	}
	client = fakeClient(t, seed...)
	r = runCluster(t, client, false, "")
	if r.err != nil || r.res.Err() != nil {
		t.Fatalf("%v %v\n%s", r.err, r.res.Err(), r.out)
	}
	if got, want := r.res.Summary(), "migrated 0, unchanged 7, failed 0"; got != want {
		t.Errorf("second run %q, want %q\n%s", got, want, r.out)
	}
	if verbs := writeVerbs(client); len(verbs) != 0 {
		t.Errorf("second run wrote %v", verbs)
	}
}

func TestClusterUnconvertibleObject(t *testing.T) {
	objs := loadObjects(t, "../../migrate/testdata/errors/bad-slaveid.yaml", "testdata/some-model.yaml",
		filepath.Join(inputDir, "led-light-device-model.yaml"), filepath.Join(inputDir, "led-light-device-instance.yaml"))
	client := fakeClient(t, objs...)
	r := runCluster(t, client, false, "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var fe *FailedError
	if err := r.res.Err(); !errors.As(err, &fe) || fe.Failed != 2 {
		t.Errorf("Err() = %v, want 2 failed", err)
	}
	for _, want := range []string{
		"Device default/bad-tcp: failed: spec.protocol.modbus.tcp.slaveID: \"one\" is not an integer\n",
		"DeviceModel default/some-model: failed: held back: Device default/bad-tcp uses it",
		"Device default/led-light-instance-01: migrated\n",
		"DeviceModel default/led-light: migrated\n",
		"migrated 2, unchanged 0, failed 2\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	for _, name := range []string{"bad-tcp", "some-model"} {
		k := kindDevice
		if name == "some-model" {
			k = kindDeviceModel
		}
		if _, err := client.Resource(k.v2()).Namespace("default").Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s was written through v1alpha2: %v", name, err)
		}
	}
	getV2(t, client, kindDevice, "default", "led-light-instance-01")
	// The failed objects are in the backup too.
	if _, err := os.Stat(filepath.Join(r.res.BackupDir, "devices/default/bad-tcp.yaml")); err != nil {
		t.Error(err)
	}
}

func TestClusterWriteConflict(t *testing.T) {
	objs := loadObjects(t, "testdata/some-model.yaml")
	client := fakeClient(t, objs[0], relabel(objs[0], "v1alpha2"))
	client.PrependReactor("update", "devicemodels", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(kindDeviceModel.v2().GroupResource(), "some-model", errors.New("the object has been modified"))
	})
	r := runCluster(t, client, false, "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.out, "DeviceModel default/some-model: failed: metadata.resourceVersion: the object changed since it was read") {
		t.Errorf("output:\n%s", r.out)
	}
	if r.res.Err() == nil {
		t.Error("no error for a failed write")
	}
}

func TestClusterNotServed(t *testing.T) {
	var out bytes.Buffer
	res, err := RunCluster(context.Background(), Config{}, Deps{Client: fakeClient(t), Discovery: fakeDiscovery("v1alpha2")}, &out)
	if err != nil || !res.NotServed || out.String() != NotServedMessage+"\n" {
		t.Errorf("v1alpha2 only: %v %+v %q", err, res, out.String())
	}
	_, err = RunCluster(context.Background(), Config{}, Deps{Client: fakeClient(t), Discovery: fakeDiscovery("v1alpha1")}, &out)
	if err == nil || !strings.Contains(err.Error(), "but not devices.kubeedge.io/v1alpha2") {
		t.Errorf("v1alpha1 only: %v", err)
	}
}
