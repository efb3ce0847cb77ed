package devicetwin

import (
	"errors"
	"fmt"
	"sort"

	"github.com/cleanedge/kubeedge/components/apis/devices/twin"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

// change is what one job writes: records to store and devices to remove.
type change struct {
	puts    []*record
	removes []*record
}

func (c *change) put(r *record)    { c.puts = append(c.puts, r) }
func (c *change) remove(r *record) { c.removes = append(c.removes, r) }
func (c *change) empty() bool      { return len(c.puts) == 0 && len(c.removes) == 0 }

// commit writes the change to meta.db in one transaction and, once it is
// durable, makes it the in-memory state. A record whose namespace changed
// is moved: its key under the old namespace is deleted in the same
// transaction.
func (t *DeviceTwin) commit(c change) error {
	if c.empty() {
		return nil
	}
	err := t.db.Batch(func(tx store.Tx) error {
		for _, r := range c.removes {
			if err := tx.Delete(r.key()); err != nil {
				return err
			}
		}
		for _, r := range c.puts {
			if old, ok := t.devices[r.ID]; ok && old.key() != r.key() {
				if err := tx.Delete(old.key()); err != nil {
					return err
				}
			}
			obj, err := r.object()
			if err != nil {
				return err
			}
			if err := tx.Put(obj); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write twin state to meta.db: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range c.removes {
		delete(t.devices, r.ID)
		delete(t.index, r.ID)
	}
	for _, r := range c.puts {
		t.devices[r.ID] = r
		t.index[r.ID] = r.key().Namespace
	}
	return nil
}

// stored reads a device's record from meta.db. Outside Run it may be called
// concurrently with it.
func (t *DeviceTwin) stored(id string) (*record, bool, error) {
	t.mu.RLock()
	ns, known := t.index[id]
	loaded := t.loaded
	t.mu.RUnlock()
	if known {
		obj, found, err := t.db.Get(message.Resource{Namespace: ns, Type: ResourceType, Name: id})
		if err != nil {
			return nil, false, fmt.Errorf("read twin of device %s: %w", id, err)
		}
		if found {
			rec, err := decodeRecord(obj)
			return rec, err == nil, err
		}
	}
	if loaded && !known {
		return nil, false, nil
	}
	// Before Run loaded the index, or while a move to another namespace is
	// being committed: look in every namespace.
	recs, err := t.storedAll()
	if err != nil {
		return nil, false, err
	}
	for _, r := range recs {
		if r.ID == id {
			return r, true, nil
		}
	}
	return nil, false, nil
}

// storedAll reads every record from meta.db, ordered by device id.
func (t *DeviceTwin) storedAll() ([]*record, error) {
	objs, err := t.db.ListType(ResourceType)
	if err != nil {
		return nil, fmt.Errorf("list twin state: %w", err)
	}
	recs := make([]*record, 0, len(objs))
	var errs []error
	for _, obj := range objs {
		r, err := decodeRecord(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, r)
	}
	if len(errs) > 0 {
		t.log.Error(errors.Join(errs...), "unreadable twin documents skipped")
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	return recs, nil
}

// Device returns a device and its twin as stored in meta.db. It works
// without the cloud and may be called from any goroutine.
func (t *DeviceTwin) Device(id string) (twin.Device, bool, error) {
	rec, found, err := t.stored(id)
	if err != nil || !found {
		return twin.Device{}, false, err
	}
	return rec.device(true), true, nil
}

// Devices returns every stored device with its twin, ordered by id.
func (t *DeviceTwin) Devices() ([]twin.Device, error) {
	recs, err := t.storedAll()
	if err != nil {
		return nil, err
	}
	out := make([]twin.Device, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.device(true))
	}
	return out, nil
}
