package devicetwin

import (
	"encoding/json"
	"strconv"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/message"
)

// descriptionLabel is the Device label upstream's DeviceController copies
// into the edge device's description.
const descriptionLabel = "description"

// versionRule says when a cloud twin replaces the stored one.
type versionRule int

const (
	// acceptSameOrNewer applies a cloud twin whose expected_version.cloud is
	// at least the stored one: a resend of the same version is applied again
	// (idempotently), an older one is stale.
	acceptSameOrNewer versionRule = iota
	// acceptNewer applies only strictly newer versions to an existing twin:
	// the rule for syncs (a re-added device, a Device object event).
	acceptNewer
)

// cloudResult says what applyCloudTwin did.
type cloudResult struct {
	// accepted: the version was not stale.
	accepted bool
	// changed: the stored twin changed (and must be written).
	changed bool
	// visible: the expected value, type or optional flag changed, or the
	// twin was added or deleted; what mappers care about.
	visible bool
}

// applyCloudTwin applies the cloud's view of one twin (desired value, type,
// version; or a deletion) to rec, a private copy. Actual values are never
// touched. now stamps an expected value without metadata.
func applyCloudTwin(rec *record, prop string, in *twin.MsgTwin, rule versionRule, now int64) cloudResult {
	old := rec.Twin[prop]
	c := cloudVersion(in.ExpectedVersion)
	if old != nil {
		s := cloudVersion(old.ExpectedVersion)
		if c < s || (rule == acceptNewer && c == s) {
			return cloudResult{}
		}
	}
	if isDeleted(in) {
		if old == nil {
			return cloudResult{accepted: true}
		}
		delete(rec.Twin, prop)
		return cloudResult{accepted: true, changed: true, visible: true}
	}
	cur := cloneTwin(old)
	if cur == nil {
		cur = &twin.MsgTwin{}
	}
	if v, ok := valueOf(in.Expected); ok {
		ts := now
		if in.Expected.Metadata != nil && in.Expected.Metadata.Timestamp > 0 {
			ts = in.Expected.Metadata.Timestamp
		}
		cur.Expected = &twin.TwinValue{Value: twin.StringPtr(v), Metadata: &twin.ValueMetadata{Timestamp: ts}}
	}
	edge := int64(0)
	if cur.ExpectedVersion != nil {
		edge = cur.ExpectedVersion.EdgeVersion
	}
	cur.ExpectedVersion = &twin.TwinVersion{CloudVersion: c, EdgeVersion: edge}
	if typ := twinType(in); typ != "" {
		cur.Metadata = &twin.TypeMetadata{Type: typ}
	} else if twinType(cur) == "" {
		cur.Metadata = &twin.TypeMetadata{Type: twin.TypeString}
	}
	if in.Optional != nil {
		cur.Optional = cloneBool(in.Optional)
	}

	oldExp, oldHas := "", false
	if old != nil {
		oldExp, oldHas = valueOf(old.Expected)
	}
	newExp, newHas := valueOf(cur.Expected)
	visible := old == nil || oldHas != newHas || oldExp != newExp ||
		twinType(old) != twinType(cur) || boolOf(old.Optional) != boolOf(cur.Optional) ||
		(old.Optional == nil) != (cur.Optional == nil)
	changed := visible || cloudVersion(old.ExpectedVersion) != c
	if !changed {
		return cloudResult{accepted: true}
	}
	rec.Twin[prop] = cur
	return cloudResult{accepted: true, changed: true, visible: visible}
}

// twinDocs collects the document entries of one device.
type twinDocs map[string]*twin.TwinDoc

func (d twinDocs) add(prop string, last, current *twin.MsgTwin) {
	if last == nil && current == nil {
		return
	}
	d[prop] = &twin.TwinDoc{LastState: cloneTwin(last), CurrentState: cloneTwin(current)}
}

// syncTwins brings rec's cloud twins to the cloud's full list: each listed
// twin is applied with the rule, and a cloud twin (one with an expected
// value) missing from the list is removed when the list is newer than it
// (version > its expected_version.cloud). Twins the edge created are kept.
// It returns the visible changes and whether anything changed.
func syncTwins(rec *record, list map[string]*twin.MsgTwin, version int64, rule versionRule, now int64) (twinDocs, bool) {
	docs := twinDocs{}
	changed := false
	for _, prop := range sortedKeys(list) {
		in := list[prop]
		if in == nil || validateKey(prop) != nil {
			continue
		}
		last := cloneTwin(rec.Twin[prop])
		r := applyCloudTwin(rec, prop, in, rule, now)
		changed = changed || r.changed
		if r.visible {
			docs.add(prop, last, rec.Twin[prop])
		}
	}
	if version > 0 {
		for _, prop := range sortedKeys(rec.Twin) {
			if _, listed := list[prop]; listed {
				continue
			}
			tw := rec.Twin[prop]
			if tw.Expected != nil && cloudVersion(tw.ExpectedVersion) < version {
				docs.add(prop, tw, nil)
				delete(rec.Twin, prop)
				changed = true
			}
		}
	}
	return docs, changed
}

// maxCloudVersion is the newest expected_version.cloud of a twin list.
func maxCloudVersion(list map[string]*twin.MsgTwin) int64 {
	var v int64
	for _, t := range list {
		if t != nil && cloudVersion(t.ExpectedVersion) > v {
			v = cloudVersion(t.ExpectedVersion)
		}
	}
	return v
}

// newRecord builds the record of a device the edge did not know.
func newRecord(id, name, namespace, description string, attrs map[string]*twin.MsgAttr,
	twins map[string]*twin.MsgTwin, now int64) *record {
	if name == "" {
		name = id
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	rec := &record{ID: id, Name: name, Namespace: namespace, Description: description,
		Attributes: cloneAttrs(attrs), Twin: map[string]*twin.MsgTwin{}}
	for _, prop := range sortedKeys(twins) {
		in := twins[prop]
		if in == nil || validateKey(prop) != nil {
			continue
		}
		applyCloudTwin(rec, prop, in, acceptSameOrNewer, now)
	}
	return rec
}

// pendingPublish is what a job publishes for one device after its commit.
type pendingPublish struct {
	rec     *record
	eventID string
	docs    twinDocs
	// delta publishes the delta when there is one.
	delta bool
}

func (t *DeviceTwin) publishTwinChanges(ps []pendingPublish) {
	for _, p := range ps {
		if len(p.docs) > 0 {
			t.publishDocument(p.rec.ID, p.eventID, p.docs)
		}
		if p.delta {
			t.publishDelta(p.rec, p.eventID)
		}
	}
}

func (t *DeviceTwin) publishDocument(id, eventID string, docs twinDocs) {
	t.publish(deviceTopic(id, actionTwinUpdateDocument), twin.DeviceTwinDocument{
		BaseMessage: t.base(eventID), Twin: docs,
	})
}

// publishDelta publishes .../twin/update/delta when some expected value
// differs from the actual one: all the device's twins, and the delta.
func (t *DeviceTwin) publishDelta(rec *record, eventID string) {
	delta := deltaOf(rec.Twin)
	if len(delta) == 0 {
		return
	}
	twins := map[string]*twin.MsgTwin{}
	for k, v := range rec.Twin {
		if !isDeleted(v) {
			twins[k] = v
		}
	}
	t.publish(deviceTopic(rec.ID, actionTwinUpdateDelta), twin.DeviceTwinDelta{
		BaseMessage: t.base(eventID), Twin: twins, Delta: delta,
	})
}

// base is the head of a published payload: the event id of what caused it
// (a fresh one when there is none) and the current time.
func (t *DeviceTwin) base(eventID string) twin.BaseMessage {
	if eventID == "" {
		eventID = t.newID()
	}
	return twin.BaseMessage{EventID: eventID, Timestamp: t.now().UnixMilli()}
}

func (t *DeviceTwin) publishMembership(eventID string, added, removed []twin.Device) {
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	t.publish(nodeTopic(t.cfg.NodeName, actionMembershipUpdated), twin.MembershipUpdate{
		BaseMessage: t.base(eventID), AddDevices: added, RemoveDevices: removed,
	})
}

// membership applies the cloud's membership update: added devices are
// stored (a device already known is synced), removed ones deleted.
func (t *DeviceTwin) membership(m message.Message) {
	var mu twin.MembershipUpdate
	if err := m.DecodeContent(&mu); err != nil {
		t.log.Info("dropping an unreadable membership update", "err", err)
		return
	}
	now := t.now().UnixMilli()
	var (
		c              change
		added, removed []twin.Device
		pubs           []pendingPublish
		seen           = map[string]*record{}
	)
	current := func(id string) (*record, bool) {
		if r, ok := seen[id]; ok {
			return r, r != nil
		}
		r, ok := t.devices[id]
		return r, ok
	}
	for _, d := range mu.AddDevices {
		if !validLevel(d.ID) {
			t.log.Info("ignoring a device with an invalid id", "device", d.ID)
			continue
		}
		old, known := current(d.ID)
		if !known {
			rec := newRecord(d.ID, d.Name, DefaultNamespace, d.Description, d.Attributes, d.Twin, now)
			seen[d.ID] = rec
			c.put(rec)
			added = append(added, rec.device(true))
			pubs = append(pubs, pendingPublish{rec: rec, eventID: mu.EventID, delta: true})
			continue
		}
		// A re-add (after a reconnect): a sync that keeps actual values and
		// takes desired values only from newer cloud versions.
		next := old.clone()
		meta := false
		if d.Name != "" && d.Name != next.Name {
			next.Name, meta = d.Name, true
		}
		if d.Description != next.Description {
			next.Description, meta = d.Description, true
		}
		if d.Attributes != nil {
			next.Attributes, meta = cloneAttrs(d.Attributes), true
		}
		docs, changed := syncTwins(next, d.Twin, maxCloudVersion(d.Twin), acceptNewer, now)
		if changed || meta {
			seen[d.ID] = next
			c.put(next)
		}
		if len(docs) > 0 {
			pubs = append(pubs, pendingPublish{rec: next, eventID: mu.EventID, docs: docs, delta: true})
		}
	}
	for _, d := range mu.RemoveDevices {
		if _, known := current(d.ID); !known {
			continue
		}
		seen[d.ID] = nil
		c.puts = deleteRecord(c.puts, d.ID)
		added = deleteDevice(added, d.ID)
		if stored, ok := t.devices[d.ID]; ok {
			c.remove(stored)
			removed = append(removed, twin.Device{ID: stored.ID, Name: stored.Name, Description: stored.Description})
		}
	}
	if err := t.commit(c); err != nil {
		t.log.Error(err, "membership update not applied")
		return
	}
	t.publishMembership(mu.EventID, added, removed)
	for _, p := range pubs {
		if r, ok := seen[p.rec.ID]; ok && r == nil {
			continue // removed by the same message
		}
		t.publishTwinChanges([]pendingPublish{p})
	}
}

func deleteDevice(devs []twin.Device, id string) []twin.Device {
	out := devs[:0]
	for _, d := range devs {
		if d.ID != id {
			out = append(out, d)
		}
	}
	return out
}

func deleteRecord(recs []*record, id string) []*record {
	out := recs[:0]
	for _, r := range recs {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

// cloudUpdated applies device/<id>/twin/cloud_updated: new desired values
// and deletions. Stale versions are skipped; a resend of the same version is
// applied again and published again, so a mapper that missed it catches up.
func (t *DeviceTwin) cloudUpdated(id string, m message.Message) {
	var upd twin.DeviceTwinUpdate
	if err := m.DecodeContent(&upd); err != nil {
		t.log.Info("dropping an unreadable cloud twin update", "device", id, "err", err)
		return
	}
	old, ok := t.devices[id]
	if !ok {
		t.log.Info("cloud twin update for an unknown device ignored", "device", id)
		return
	}
	now := t.now().UnixMilli()
	next := old.clone()
	docs := twinDocs{}
	changed := false
	for _, prop := range sortedKeys(upd.Twin) {
		in := upd.Twin[prop]
		if in == nil || validateKey(prop) != nil {
			t.log.V(1).Info("cloud twin property skipped", "device", id, "property", prop)
			continue
		}
		last := cloneTwin(next.Twin[prop])
		r := applyCloudTwin(next, prop, in, acceptSameOrNewer, now)
		if !r.accepted {
			t.log.V(1).Info("stale cloud twin version ignored", "device", id, "property", prop,
				"version", cloudVersion(in.ExpectedVersion), "stored", cloudVersion(last.ExpectedVersion))
			continue
		}
		changed = changed || r.changed
		docs.add(prop, last, next.Twin[prop])
	}
	if changed {
		var c change
		c.put(next)
		if err := t.commit(c); err != nil {
			t.log.Error(err, "cloud twin update not applied", "device", id)
			return
		}
	} else {
		next = old
	}
	if len(docs) == 0 {
		return
	}
	t.publishTwinChanges([]pendingPublish{{rec: next, eventID: upd.EventID, docs: docs, delta: true}})
}

// deviceEvent applies a Device object MetaManager stored or deleted.
func (t *DeviceTwin) deviceEvent(ev metamanager.Event) {
	key := ev.Object.Key
	id := key.Name
	ns := key.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if !validLevel(id) {
		t.log.Info("ignoring a device with an invalid id", "device", id)
		return
	}
	old, known := t.devices[id]
	if ev.Op == message.OpDelete {
		if !known {
			return
		}
		if old.Namespace != ns {
			t.log.V(1).Info("device deleted in another namespace than its twin's", "device", id,
				"namespace", ns, "twin namespace", old.Namespace)
		}
		var c change
		c.remove(old)
		if err := t.commit(c); err != nil {
			t.log.Error(err, "device removal not applied", "device", id)
			return
		}
		t.publishMembership("", nil, []twin.Device{{ID: old.ID, Name: old.Name, Description: old.Description}})
		return
	}
	if ev.Op != message.OpInsert && ev.Op != message.OpUpdate {
		return
	}
	var dev v1alpha2.Device
	if err := json.Unmarshal(ev.Object.Data, &dev); err != nil {
		t.log.Info("ignoring an unreadable Device object", "device", id, "err", err)
		return
	}
	rvText := ev.Object.ResourceVersion
	if rvText == "" {
		rvText = dev.ResourceVersion
	}
	rv, _ := strconv.ParseUint(rvText, 10, 63) // unknown: 0, no desired value replaces a stored one
	now := t.now().UnixMilli()
	desired := desiredTwins(dev, int64(rv), now)
	description := dev.Labels[descriptionLabel]

	if !known {
		rec := newRecord(id, dev.Name, ns, description, nil, desired, now)
		rec.ObjectVersion = rv
		var c change
		c.put(rec)
		if err := t.commit(c); err != nil {
			t.log.Error(err, "device not added", "device", id)
			return
		}
		t.publishMembership("", []twin.Device{rec.device(true)}, nil)
		t.publishTwinChanges([]pendingPublish{{rec: rec, delta: true}})
		return
	}
	next := old.clone()
	meta := false
	if next.Namespace != ns {
		next.Namespace, meta = ns, true
	}
	if rv > next.ObjectVersion || rv == 0 {
		if next.Description != description {
			next.Description, meta = description, true
		}
		if rv > next.ObjectVersion {
			next.ObjectVersion, meta = rv, true
		}
	}
	var docs twinDocs
	changed := false
	if rv > 0 {
		docs, changed = syncTwins(next, desired, int64(rv), acceptNewer, now)
	}
	if !changed && !meta {
		return
	}
	var c change
	c.put(next)
	if err := t.commit(c); err != nil {
		t.log.Error(err, "device update not applied", "device", id)
		return
	}
	if len(docs) > 0 {
		t.publishTwinChanges([]pendingPublish{{rec: next, docs: docs, delta: true}})
	}
}

// desiredTwins renders a Device's status.twins the way DeviceController
// sends them in a membership: expected value, type (default "string"),
// optional false, expected_version.cloud = the resourceVersion.
func desiredTwins(dev v1alpha2.Device, version, now int64) map[string]*twin.MsgTwin {
	out := make(map[string]*twin.MsgTwin, len(dev.Status.Twins))
	for _, tw := range dev.Status.Twins {
		if tw.PropertyName == "" {
			continue
		}
		typ := tw.Desired.Metadata["type"]
		if typ == "" {
			typ = twin.TypeString
		}
		ts := now
		if s, ok := tw.Desired.Metadata["timestamp"]; ok {
			if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 {
				ts = v
			}
		}
		optional := false
		out[tw.PropertyName] = &twin.MsgTwin{
			Expected:        &twin.TwinValue{Value: twin.StringPtr(tw.Desired.Value), Metadata: &twin.ValueMetadata{Timestamp: ts}},
			Optional:        &optional,
			Metadata:        &twin.TypeMetadata{Type: typ},
			ExpectedVersion: &twin.TwinVersion{CloudVersion: version},
		}
	}
	return out
}
