package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	devconv "github.com/cleanedge/kubeedge/migrate"
)

// FieldManager is the field manager of the objects keadm writes.
const FieldManager = "keadm-migrate"

// resourceKind is one of the two kinds migrated.
type resourceKind struct {
	kind     string
	resource string
}

var (
	kindDevice      = resourceKind{kind: "Device", resource: "devices"}
	kindDeviceModel = resourceKind{kind: "DeviceModel", resource: "devicemodels"}
)

func (k resourceKind) v1() schema.GroupVersionResource {
	return v1alpha1.SchemeGroupVersion.WithResource(k.resource)
}

func (k resourceKind) v2() schema.GroupVersionResource {
	return v1alpha2.SchemeGroupVersion.WithResource(k.resource)
}

// Discovery is the part of client-go's discovery client RunCluster uses.
type Discovery interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// Deps are the dependencies of RunCluster.
type Deps struct {
	Client    dynamic.Interface
	Discovery Discovery
	// Now names the default backup directory (time.Now when nil).
	Now func() time.Time
}

// NotServedMessage is printed when the cluster has nothing to migrate.
const NotServedMessage = "nothing to migrate: the cluster does not serve devices.kubeedge.io/v1alpha1"

// RunCluster migrates the v1alpha1 Devices and DeviceModels of a cluster.
//
// Every object is read through the v1alpha1 endpoint (the original) and,
// when the cluster serves the same object there too, through the v1alpha2
// endpoint (its current v1alpha2 form). An object whose v1alpha1 form holds
// nothing v1alpha2 lacks, or whose conversion equals its v1alpha2 form, is
// unchanged. The others are converted; before the first write every object
// read is backed up; then each converted object is written through the
// v1alpha2 endpoint: an update carrying the resourceVersion it was read at
// when the object exists there (a concurrent change makes it fail, not
// overwrite), else a create. Devices are written before DeviceModels.
//
// A cluster that does not serve v1alpha1 has nothing to migrate (Result.
// NotServed). Result.Err says whether any object failed.
func RunCluster(ctx context.Context, cfg Config, deps Deps, out io.Writer) (Result, error) {
	res := Result{Mode: ModeCluster, DryRun: cfg.DryRun}
	var kinds []resourceKind
	for _, k := range []resourceKind{kindDevice, kindDeviceModel} {
		v1, err := served(deps.Discovery, k.v1())
		if err != nil {
			return res, err
		}
		if !v1 {
			continue
		}
		v2, err := served(deps.Discovery, k.v2())
		if err != nil {
			return res, err
		}
		if !v2 {
			return res, fmt.Errorf("the cluster serves %s %s but not %s: install KubeEdge's CRDs first (keadm init phase crds)",
				k.resource, v1alpha1.SchemeGroupVersion, v1alpha2.SchemeGroupVersion)
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		res.NotServed = true
		fmt.Fprintln(out, NotServedMessage)
		return res, nil
	}

	st := &state{v1: map[resourceKind][]*unstructured.Unstructured{}, v2: map[resourceKind]map[string]*unstructured.Unstructured{}}
	for _, k := range kinds {
		if err := st.list(ctx, deps.Client, k); err != nil {
			return res, err
		}
	}
	items := st.plan()

	var w writer = &clusterWriter{client: deps.Client}
	if cfg.DryRun {
		w = &diffWriter{out: out}
	}
	pending := 0
	for _, it := range items {
		if it.result.Outcome == Migrated {
			pending++
		}
	}
	if pending > 0 {
		now := time.Now
		if deps.Now != nil {
			now = deps.Now
		}
		dir, err := w.backup(cfg.BackupDirAt(now()), st.originals())
		if err != nil {
			return res, err
		}
		res.BackupDir = dir
		if dir != "" {
			fmt.Fprintf(out, "backup of %d object(s) written to %s\n", len(st.originals()), dir)
		}
	}

	failedDevices := map[string]string{} // model key -> a failed device
	for i, it := range items {
		if it.kind == kindDeviceModel && it.result.Outcome == Migrated {
			if dev, ok := failedDevices[it.key]; ok {
				it.result.Outcome, it.result.Problems = Failed, nil
				it.result.Field, it.result.Reason = "", heldBackReason(dev)
			}
		}
		if it.result.Outcome == Migrated {
			if err := w.write(ctx, it); err != nil {
				it.result.Outcome, it.result.Problems = Failed, nil
				it.result.Field, it.result.Reason = writeFailure(err)
			}
		}
		if it.kind == kindDevice && it.result.Outcome == Failed && it.modelKey != "" {
			if _, ok := failedDevices[it.modelKey]; !ok {
				failedDevices[it.modelKey] = it.result.Ref()
			}
		}
		fmt.Fprintf(out, "[%d/%d] %s", i+1, len(items), it.result.line(cfg.DryRun))
		res.Objects = append(res.Objects, it.result)
	}
	return res, nil
}

// served reports whether the cluster serves gvr.
func served(d Discovery, gvr schema.GroupVersionResource) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discover %s: %w", gvr.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

// item is one object of the plan.
type item struct {
	kind resourceKind
	key  string // namespace/name
	// modelKey is the key of the model a Device references.
	modelKey string
	// v1 is the object read through v1alpha1; v2 its v1alpha2 form, nil if
	// the cluster has none.
	v1, v2 *unstructured.Unstructured
	// target is what is written.
	target *unstructured.Unstructured
	result ObjectResult
}

type state struct {
	v1 map[resourceKind][]*unstructured.Unstructured
	v2 map[resourceKind]map[string]*unstructured.Unstructured
}

func objectKey(u *unstructured.Unstructured) string {
	return devconv.ModelKey(u.GetNamespace(), u.GetName())
}

func (s *state) list(ctx context.Context, client dynamic.Interface, k resourceKind) error {
	l1, err := client.Resource(k.v1()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s %s: %w", k.resource, v1alpha1.SchemeGroupVersion, err)
	}
	l2, err := client.Resource(k.v2()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s %s: %w", k.resource, v1alpha2.SchemeGroupVersion, err)
	}
	objs := make([]*unstructured.Unstructured, len(l1.Items))
	for i := range l1.Items {
		objs[i] = &l1.Items[i]
	}
	sort.Slice(objs, func(i, j int) bool { return objectKey(objs[i]) < objectKey(objs[j]) })
	s.v1[k] = objs
	s.v2[k] = map[string]*unstructured.Unstructured{}
	for i := range l2.Items {
		s.v2[k][objectKey(&l2.Items[i])] = &l2.Items[i]
	}
	return nil
}

// originals are the objects read through v1alpha1, models first.
func (s *state) originals() []*unstructured.Unstructured {
	return append(append([]*unstructured.Unstructured(nil), s.v1[kindDeviceModel]...), s.v1[kindDevice]...)
}

// modelInfo is a v1alpha1 model as the devices' conversion needs it.
type modelInfo struct {
	obj *v1alpha1.DeviceModel
	err *devconv.ConvertError // the model cannot be decoded
	// v2Protocol is set when the model's v1alpha2 form names a protocol,
	// i.e. it is already migrated or was written as v1alpha2.
	v2Protocol bool
}

// plan decides the outcome of every object: Devices first, then models.
func (s *state) plan() []*item {
	models := map[string]*modelInfo{}
	for _, m := range s.v1[kindDeviceModel] {
		info := &modelInfo{}
		typed := new(v1alpha1.DeviceModel)
		if ce := decode(m, typed); ce != nil {
			info.err = ce
		} else {
			info.obj = typed
		}
		if m2 := s.v2[kindDeviceModel][objectKey(m)]; m2 != nil {
			p, _, _ := unstructured.NestedString(m2.Object, "spec", "protocol")
			info.v2Protocol = p != ""
		}
		models[objectKey(m)] = info
	}

	var items []*item
	for _, d := range s.v1[kindDevice] {
		it := newItem(kindDevice, d, s.v2[kindDevice][objectKey(d)])
		if ref, ok, _ := unstructured.NestedString(d.Object, "spec", "deviceModelRef", "name"); ok && ref != "" {
			it.modelKey = devconv.ModelKey(d.GetNamespace(), ref)
		}
		planDevice(it, models[it.modelKey])
		items = append(items, it)
	}
	for _, m := range s.v1[kindDeviceModel] {
		it := newItem(kindDeviceModel, m, s.v2[kindDeviceModel][objectKey(m)])
		planModel(it, models[it.key])
		items = append(items, it)
	}
	return items
}

func newItem(k resourceKind, v1, v2 *unstructured.Unstructured) *item {
	return &item{kind: k, key: objectKey(v1), v1: v1, v2: v2,
		result: ObjectResult{Kind: k.kind, Namespace: v1.GetNamespace(), Name: v1.GetName()}}
}

func (it *item) fail(field, reason string) {
	it.result.Outcome, it.result.Field, it.result.Reason = Failed, field, reason
}

func (it *item) failConvert(err error) {
	var ce *devconv.ConvertError
	if errors.As(err, &ce) {
		it.fail(ce.Field, ce.Reason)
		return
	}
	it.fail("", err.Error())
}

func hasItems(u *unstructured.Unstructured, path ...string) bool {
	if u == nil {
		return false
	}
	l, _, _ := unstructured.NestedSlice(u.Object, path...)
	return len(l) > 0
}

// planDevice decides a Device. It needs converting when it has no v1alpha2
// form, when its protocol still uses v1alpha1's modbus rtu/tcp, or when its
// v1alpha1 model has property visitors it does not have yet.
func planDevice(it *item, model *modelInfo) {
	modbus, _, _ := unstructured.NestedMap(it.v1.Object, "spec", "protocol", "modbus")
	_, rtu := modbus["rtu"]
	_, tcp := modbus["tcp"]
	modelVisitors := model != nil && model.obj != nil && len(model.obj.Spec.PropertyVisitors) > 0
	if it.v2 != nil && !rtu && !tcp && !(modelVisitors && !hasItems(it.v2, "spec", "propertyVisitors")) {
		it.result.Outcome, it.result.Reason = Unchanged, "already in v1alpha2 form"
		return
	}
	if model != nil && model.err != nil {
		it.fail("spec.deviceModelRef.name", fmt.Sprintf("its DeviceModel cannot be read as v1alpha1 (%s: %s), so its property visitors cannot be copied", model.err.Field, model.err.Reason))
		return
	}
	dev := new(v1alpha1.Device)
	if ce := decode(it.v1, dev); ce != nil {
		it.fail(ce.Field, ce.Reason)
		return
	}
	var typedModel *v1alpha1.DeviceModel
	if model != nil {
		typedModel = model.obj
	}
	conv, problems, err := devconv.ConvertDevice(dev, typedModel)
	if err != nil {
		it.failConvert(err)
		return
	}
	if len(conv.Spec.PropertyVisitors) == 0 && model != nil && model.v2Protocol && !hasItems(it.v2, "spec", "propertyVisitors") {
		problems = append(problems, devconv.Problem{Kind: "Device", Namespace: dev.Namespace, Name: dev.Name, Field: "spec.propertyVisitors",
			Message: fmt.Sprintf("none: model %q is already in v1alpha2 form and has no visitors to copy; add them by hand", dev.Spec.DeviceModelRef.Name)})
	}
	target, err := targetObject(conv, it)
	if err != nil {
		it.fail("", err.Error())
		return
	}
	// Keep what only the v1alpha2 form has.
	for _, field := range []string{"propertyVisitors", "data"} {
		if cur, _, _ := unstructured.NestedFieldNoCopy(target.Object, "spec", field); !emptyValue(cur) {
			continue
		}
		if v, ok, _ := unstructured.NestedFieldCopy(it.v2Object(), "spec", field); ok && !emptyValue(v) {
			_ = unstructured.SetNestedField(target.Object, v, "spec", field)
		}
	}
	it.decide(target, problems)
}

// planModel decides a DeviceModel. It needs converting when it has no
// v1alpha2 form or when it still has v1alpha1 property visitors (a model
// stored as v1alpha2 cannot have them: the v1alpha2 schema prunes them).
func planModel(it *item, model *modelInfo) {
	if it.v2 != nil && !hasItems(it.v1, "spec", "propertyVisitors") {
		it.result.Outcome, it.result.Reason = Unchanged, "already in v1alpha2 form"
		return
	}
	if model.err != nil {
		it.fail(model.err.Field, model.err.Reason)
		return
	}
	conv, problems, err := devconv.ConvertDeviceModel(model.obj)
	if err != nil {
		it.failConvert(err)
		return
	}
	target, err := targetObject(conv, it)
	if err != nil {
		it.fail("", err.Error())
		return
	}
	if p, ok, _ := unstructured.NestedString(it.v2Object(), "spec", "protocol"); ok && p != "" && conv.Spec.Protocol == "" {
		_ = unstructured.SetNestedField(target.Object, p, "spec", "protocol")
	}
	it.decide(target, problems)
}

func (it *item) v2Object() map[string]interface{} {
	if it.v2 == nil {
		return nil
	}
	return it.v2.Object
}

// decide marks the item unchanged when target equals its v1alpha2 form,
// else migrated.
func (it *item) decide(target *unstructured.Unstructured, problems []devconv.Problem) {
	if it.v2 != nil && sameContent(target, it.v2) {
		it.result.Outcome, it.result.Reason = Unchanged, "identical after conversion"
		return
	}
	it.target = target
	it.result.Outcome, it.result.Problems = Migrated, problems
}

// decode decodes an object read from the API server strictly into a typed
// v1alpha1 object.
func decode(u *unstructured.Unstructured, into interface{}) *devconv.ConvertError {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return &devconv.ConvertError{Kind: u.GetKind(), Name: u.GetName(), Reason: err.Error()}
	}
	if err := devconv.DecodeStrict(data, into); err != nil {
		var ce *devconv.ConvertError
		if errors.As(err, &ce) {
			return ce
		}
		return &devconv.ConvertError{Kind: u.GetKind(), Name: u.GetName(), Reason: err.Error()}
	}
	return nil
}

// targetObject is the converted object with the live object's metadata
// that the conversion does not carry (finalizers, owners) and the
// resourceVersion to write at.
func targetObject(conv interface{}, it *item) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(conv)
	if err != nil {
		return nil, err
	}
	target := &unstructured.Unstructured{}
	if err := target.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	target.SetFinalizers(it.v1.GetFinalizers())
	target.SetOwnerReferences(it.v1.GetOwnerReferences())
	if it.v2 != nil {
		// The same object seen through both versions: write at the version
		// converted from. A separate v1alpha2 object: at its own version.
		if it.v2.GetUID() != "" && it.v2.GetUID() == it.v1.GetUID() {
			target.SetResourceVersion(it.v1.GetResourceVersion())
		} else {
			target.SetResourceVersion(it.v2.GetResourceVersion())
		}
	}
	return target, nil
}

// sameContent compares what a migration writes: spec, status, labels and
// annotations.
func sameContent(a, b *unstructured.Unstructured) bool {
	pick := func(u *unstructured.Unstructured) []byte {
		data, _ := json.Marshal(map[string]interface{}{
			"spec":        u.Object["spec"],
			"status":      u.Object["status"],
			"labels":      u.GetLabels(),
			"annotations": u.GetAnnotations(),
		})
		return data
	}
	return string(pick(a)) == string(pick(b))
}

func emptyValue(v interface{}) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]interface{}:
		return len(t) == 0
	case []interface{}:
		return len(t) == 0
	case string:
		return t == ""
	}
	return false
}

// writeFailure turns an API error into a field and a reason.
func writeFailure(err error) (field, reason string) {
	if apierrors.IsConflict(err) {
		return "metadata.resourceVersion", "the object changed since it was read; run the migration again"
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if d := st.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Field, err.Error()
		}
	}
	return "", err.Error()
}
