package devicecontroller

import (
	"maps"
	"strconv"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
)

// Keys of the twin metadata maps in Device status.
const (
	metaType      = "type"
	metaTimestamp = "timestamp"
)

// LabelDescription is the Device label sent to the edge as its description.
const LabelDescription = "description"

// Indexes of the device cache.
const (
	indexNode  = "node"  // the node the device is bound to
	indexName  = "name"  // the device name (the edge's device id)
	indexModel = "model" // "<namespace>/<model name>"
)

// nodeOf returns the node a device is bound to: upstream uses only the first
// value of the first expression of the first term. "" when there is none.
func nodeOf(d *v1alpha2.Device) string {
	ns := d.Spec.NodeSelector
	if ns == nil || len(ns.NodeSelectorTerms) == 0 {
		return ""
	}
	exprs := ns.NodeSelectorTerms[0].MatchExpressions
	if len(exprs) == 0 || len(exprs[0].Values) == 0 {
		return ""
	}
	return exprs[0].Values[0]
}

// modelOf returns the name of the device's model, "" when there is none.
func modelOf(d *v1alpha2.Device) string {
	if d.Spec.DeviceModelRef == nil {
		return ""
	}
	return d.Spec.DeviceModelRef.Name
}

func modelKey(namespace, name string) string { return namespace + "/" + name }

func indexByNode(obj any) ([]string, error) {
	if d, ok := obj.(*v1alpha2.Device); ok {
		if n := nodeOf(d); n != "" {
			return []string{n}, nil
		}
	}
	return nil, nil
}

func indexByName(obj any) ([]string, error) {
	if d, ok := obj.(*v1alpha2.Device); ok {
		return []string{d.Name}, nil
	}
	return nil, nil
}

func indexByModel(obj any) ([]string, error) {
	if d, ok := obj.(*v1alpha2.Device); ok {
		if m := modelOf(d); m != "" {
			return []string{modelKey(d.Namespace, m)}, nil
		}
	}
	return nil, nil
}

// convert turns an unstructured object from the dynamic client into its
// typed form.
func convert[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, err
	}
	return out, nil
}

// transform makes the informers store typed objects. An object that does not
// convert is kept unstructured (and ignored by the handlers) rather than
// failing the watch.
func typedTransform[T any](log logr.Logger) cache.TransformFunc {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		t, err := convert[T](u)
		if err != nil {
			log.Info("ignored an object that does not match the v1alpha2 schema", "kind", u.GetKind(),
				"namespace", u.GetNamespace(), "name", u.GetName(), "err", err)
			return obj, nil
		}
		return t, nil
	}
}

// cloudVersion is the twin expected_version.cloud of an object version: its
// resourceVersion as an integer (0 when it is not one).
func cloudVersion(rv string) int64 {
	v, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func twinType(p v1alpha2.TwinProperty) string {
	if t := p.Metadata[metaType]; t != "" {
		return t
	}
	return twin.TypeString
}

// expectedTwin is a twin carrying the desired value of t.
func expectedTwin(t v1alpha2.Twin, version, nowMS int64, typ string) *twin.MsgTwin {
	optional := false
	return &twin.MsgTwin{
		Expected:        &twin.TwinValue{Value: twin.StringPtr(t.Desired.Value), Metadata: &twin.ValueMetadata{Timestamp: nowMS}},
		Optional:        &optional,
		Metadata:        &twin.TypeMetadata{Type: typ},
		ExpectedVersion: &twin.TwinVersion{CloudVersion: version, EdgeVersion: 0},
	}
}

// edgeDevice is the device as the twin membership carries it.
func edgeDevice(d *v1alpha2.Device, nowMS int64) twin.Device {
	version := cloudVersion(d.ResourceVersion)
	var twins map[string]*twin.MsgTwin
	if len(d.Status.Twins) > 0 {
		twins = make(map[string]*twin.MsgTwin, len(d.Status.Twins))
		for _, t := range d.Status.Twins {
			twins[t.PropertyName] = expectedTwin(t, version, nowMS, twinType(t.Desired))
		}
	}
	return twin.Device{ID: d.Name, Name: d.Name, Description: d.Labels[LabelDescription], Twin: twins}
}

// desiredChanges returns the twins of cur whose desired value or metadata
// differ from old (or are new), and the twins of old that cur no longer has.
func desiredChanges(old, cur *v1alpha2.Device) (changed, removed []v1alpha2.Twin) {
	before := make(map[string]v1alpha2.TwinProperty, len(old.Status.Twins))
	for _, t := range old.Status.Twins {
		before[t.PropertyName] = t.Desired
	}
	now := make(map[string]bool, len(cur.Status.Twins))
	for _, t := range cur.Status.Twins {
		now[t.PropertyName] = true
		if p, ok := before[t.PropertyName]; !ok || !sameProperty(p, t.Desired) {
			changed = append(changed, t)
		}
	}
	for _, t := range old.Status.Twins {
		if !now[t.PropertyName] {
			removed = append(removed, t)
		}
	}
	return changed, removed
}

func sameProperty(a, b v1alpha2.TwinProperty) bool {
	return a.Value == b.Value && maps.Equal(a.Metadata, b.Metadata)
}

// cloudUpdate is the twin cloud_updated content for desired changes.
func cloudUpdate(cur *v1alpha2.Device, changed, removed []v1alpha2.Twin, base twin.BaseMessage) twin.DeviceTwinUpdate {
	version := cloudVersion(cur.ResourceVersion)
	u := twin.DeviceTwinUpdate{BaseMessage: base, Twin: make(map[string]*twin.MsgTwin, len(changed)+len(removed))}
	for _, t := range changed {
		u.Twin[t.PropertyName] = expectedTwin(t, version, base.Timestamp, twinType(t.Desired))
	}
	for _, t := range removed {
		u.Twin[t.PropertyName] = expectedTwin(t, version, base.Timestamp, twin.TypeDeleted)
	}
	return u
}

// applyReported returns the device's twins with the reported values of an
// edge_updated message written in, and whether anything changed. Desired
// values are kept; properties the device has no twin for are ignored.
// Reporting the value and type already stored is no change.
func applyReported(twins []v1alpha2.Twin, upd map[string]*twin.MsgTwin, nowMS int64) ([]v1alpha2.Twin, bool) {
	var status v1alpha2.DeviceStatus
	(&v1alpha2.DeviceStatus{Twins: twins}).DeepCopyInto(&status)
	out := status.Twins
	changed := false
	for i, t := range twins {
		mt := upd[t.PropertyName]
		if mt == nil || mt.Actual == nil || mt.Actual.Value == nil {
			continue
		}
		typ := ""
		if mt.Metadata != nil {
			typ = mt.Metadata.Type
		}
		if typ == twin.TypeDeleted {
			continue
		}
		if t.Reported.Value == *mt.Actual.Value && (typ == "" || t.Reported.Metadata[metaType] == typ) {
			continue
		}
		ts := nowMS
		if mt.Actual.Metadata != nil && mt.Actual.Metadata.Timestamp != 0 {
			ts = mt.Actual.Metadata.Timestamp
		}
		meta := map[string]string{metaTimestamp: strconv.FormatInt(ts, 10)}
		if typ != "" {
			meta[metaType] = typ
		}
		out[i].Reported = v1alpha2.TwinProperty{Value: *mt.Actual.Value, Metadata: meta}
		changed = true
	}
	return out, changed
}
