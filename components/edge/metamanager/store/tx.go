package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/cleanedge/kubeedge/components/message"
)

// ReadTx is a consistent read-only view of the store. It is valid only inside
// the function given to View or Batch. Returned values are copies.
type ReadTx interface {
	// Get returns the object stored under key.
	Get(key message.Resource) (Object, bool, error)
	// List returns the objects of one type in namespace ns ("" = all
	// namespaces), ordered by namespace then name.
	List(ns string, typ message.ResourceType) ([]Object, error)
	// ListType returns the objects of one type in all namespaces.
	ListType(typ message.ResourceType) ([]Object, error)
	// Pending returns up to limit queued outbox entries, oldest first
	// (limit <= 0: all).
	Pending(limit int) ([]OutboxEntry, error)
	// OutboxLen counts the queued outbox entries.
	OutboxLen() (int, error)
	// Acked returns the last resourceVersion the cloud acknowledged for key.
	Acked(key message.Resource) (string, bool, error)
	// Meta returns a value of the meta bucket.
	Meta(key MetaKey) (string, bool, error)
}

// Tx is a read-write transaction: every write in it commits together or not
// at all. It is valid only inside the function given to Batch.
type Tx interface {
	ReadTx
	// Put stores obj, replacing what is under its key.
	Put(obj Object) error
	// PutIfNewer stores obj only if it is newer than the stored object (see
	// Object.IsNewerThan) or nothing is stored; it reports whether it did.
	PutIfNewer(obj Object) (applied bool, err error)
	// Delete removes the object under key and its acknowledged version.
	// Deleting a missing key is not an error.
	Delete(key message.Resource) error
	// Enqueue appends an outbox entry and returns its sequence. An entry with
	// the same non-empty CoalesceKey is removed first, so the newest message
	// takes the newest queue position.
	Enqueue(e OutboxEntry) (seq uint64, err error)
	// Ack removes the outbox entry seq; a missing entry is not an error.
	Ack(seq uint64) error
	// SetAcked records rv as the last resourceVersion the cloud acknowledged
	// for key.
	SetAcked(key message.Resource, rv string) error
	// SetMeta stores a value of the meta bucket; MetaSchemaVersion is refused.
	SetMeta(key MetaKey, value string) error
}

// txn implements Tx over a bbolt transaction.
type txn struct {
	tx                                      *bolt.Tx
	meta, objects, outbox, outboxIdx, syncs *bolt.Bucket
}

var _ Tx = (*txn)(nil)

func newTxn(tx *bolt.Tx) (*txn, error) {
	t := &txn{tx: tx}
	for _, b := range []struct {
		dst **bolt.Bucket
		def Bucket
	}{
		{&t.meta, BucketMeta}, {&t.objects, BucketObjects}, {&t.outbox, BucketOutbox},
		{&t.outboxIdx, BucketOutboxIndex}, {&t.syncs, BucketSyncs},
	} {
		if *b.dst = tx.Bucket(b.def.key()); *b.dst == nil {
			return nil, fmt.Errorf("meta.db: bucket %q is missing", b.def.Name)
		}
	}
	return t, nil
}

func (t *txn) Get(key message.Resource) (Object, bool, error) {
	k, err := objectKey(key)
	if err != nil {
		return Object{}, false, err
	}
	v := t.objects.Get(k)
	if v == nil {
		return Object{}, false, nil
	}
	o, err := toObject(key, v)
	if err != nil {
		return Object{}, false, err
	}
	return o, true, nil
}

func toObject(key message.Resource, v []byte) (Object, error) {
	h, err := decodeObject(v)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", key, err)
	}
	return Object{
		Key:             key,
		ResourceVersion: h.rv,
		UID:             h.uid,
		Data:            json.RawMessage(bytes.Clone(h.data)),
	}, nil
}

func (t *txn) List(ns string, typ message.ResourceType) ([]Object, error) {
	prefix, err := listPrefix(ns, typ)
	if err != nil {
		return nil, err
	}
	var out []Object
	c := t.objects.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		key, err := parseObjectKey(k)
		if err != nil {
			return nil, err
		}
		o, err := toObject(key, v)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (t *txn) ListType(typ message.ResourceType) ([]Object, error) { return t.List("", typ) }

func (t *txn) Put(obj Object) error {
	k, err := objectKey(obj.Key)
	if err != nil {
		return err
	}
	if !json.Valid(obj.Data) {
		return fmt.Errorf("%w %s: data is not valid JSON", ErrInvalidObject, obj.Key)
	}
	if err := t.objects.Put(k, encodeObject(obj)); err != nil {
		return fmt.Errorf("put %s: %w", obj.Key, err)
	}
	return nil
}

func (t *txn) PutIfNewer(obj Object) (bool, error) {
	k, err := objectKey(obj.Key)
	if err != nil {
		return false, err
	}
	if v := t.objects.Get(k); v != nil {
		h, err := decodeObject(v)
		if err != nil {
			return false, fmt.Errorf("%s: %w", obj.Key, err)
		}
		if !newer(obj.UID, obj.ResourceVersion, h.uid, h.rv) {
			return false, nil
		}
	}
	if err := t.Put(obj); err != nil {
		return false, err
	}
	return true, nil
}

func (t *txn) Delete(key message.Resource) error {
	k, err := objectKey(key)
	if err != nil {
		return err
	}
	if err := t.objects.Delete(k); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := t.syncs.Delete(k); err != nil {
		return fmt.Errorf("delete acked version of %s: %w", key, err)
	}
	return nil
}

func (t *txn) Enqueue(e OutboxEntry) (uint64, error) {
	if len(e.Message) == 0 {
		return 0, fmt.Errorf("%w: empty message", ErrInvalidEntry)
	}
	if e.CoalesceKey != "" {
		if old := t.outboxIdx.Get([]byte(e.CoalesceKey)); old != nil {
			if err := t.outbox.Delete(bytes.Clone(old)); err != nil {
				return 0, fmt.Errorf("enqueue: drop coalesced entry: %w", err)
			}
		}
	}
	seq, err := t.outbox.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if err := t.outbox.Put(seqKey(seq), encodeEntry(e)); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if e.CoalesceKey != "" {
		if err := t.outboxIdx.Put([]byte(e.CoalesceKey), seqKey(seq)); err != nil {
			return 0, fmt.Errorf("enqueue: index %q: %w", e.CoalesceKey, err)
		}
	}
	return seq, nil
}

func (t *txn) Pending(limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	c := t.outbox.Cursor()
	for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
		seq, err := parseSeq(k)
		if err != nil {
			return nil, err
		}
		ck, msg, err := decodeEntry(v)
		if err != nil {
			return nil, fmt.Errorf("outbox %d: %w", seq, err)
		}
		out = append(out, OutboxEntry{Seq: seq, CoalesceKey: ck, Message: bytes.Clone(msg)})
	}
	return out, nil
}

func (t *txn) OutboxLen() (int, error) { return countKeys(t.outbox), nil }

// countKeys counts the keys of b with a cursor, which, unlike Bucket.Stats,
// sees the uncommitted writes of a read-write transaction.
func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func (t *txn) Ack(seq uint64) error {
	k := seqKey(seq)
	v := t.outbox.Get(k)
	if v == nil {
		return nil
	}
	ck, _, err := decodeEntry(v)
	if err != nil {
		return fmt.Errorf("outbox %d: %w", seq, err)
	}
	if err := t.outbox.Delete(k); err != nil {
		return fmt.Errorf("ack %d: %w", seq, err)
	}
	if ck != "" && bytes.Equal(t.outboxIdx.Get([]byte(ck)), k) {
		if err := t.outboxIdx.Delete([]byte(ck)); err != nil {
			return fmt.Errorf("ack %d: index %q: %w", seq, ck, err)
		}
	}
	return nil
}

func (t *txn) SetAcked(key message.Resource, rv string) error {
	k, err := objectKey(key)
	if err != nil {
		return err
	}
	if err := t.syncs.Put(k, []byte(rv)); err != nil {
		return fmt.Errorf("set acked version of %s: %w", key, err)
	}
	return nil
}

func (t *txn) Acked(key message.Resource) (string, bool, error) {
	k, err := objectKey(key)
	if err != nil {
		return "", false, err
	}
	v := t.syncs.Get(k)
	if v == nil {
		return "", false, nil
	}
	return string(v), true, nil
}

func (t *txn) Meta(key MetaKey) (string, bool, error) {
	v := t.meta.Get([]byte(key))
	if v == nil {
		return "", false, nil
	}
	return string(v), true, nil
}

func (t *txn) SetMeta(key MetaKey, value string) error {
	if key == MetaSchemaVersion {
		return fmt.Errorf("%w %q: the store manages it", ErrReservedKey, key)
	}
	if key == "" {
		return fmt.Errorf("%w: empty meta key", ErrInvalidKey)
	}
	if err := t.meta.Put([]byte(key), []byte(value)); err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}
