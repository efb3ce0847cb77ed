package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cleanedge/kubeedge/components/message"
)

// Bucket is a declared bbolt bucket of meta.db.
type Bucket struct {
	// Name is the bucket name in the file.
	Name string
	// Purpose says what the bucket holds, for diagnostics.
	Purpose string
}

func (b Bucket) key() []byte { return []byte(b.Name) }

// The buckets of the current schema.
var (
	// BucketMeta holds the schema version and node facts.
	BucketMeta = Bucket{Name: "meta", Purpose: "schema version and node facts"}
	// BucketObjects holds cloud objects keyed by type/namespace/name.
	BucketObjects = Bucket{Name: "objects", Purpose: "cloud objects (pods, configmaps, secrets, services, nodes, leases, devices...) by resource key"}
	// BucketOutbox holds edge→cloud messages waiting for the link, by sequence.
	BucketOutbox = Bucket{Name: "outbox", Purpose: "edge-to-cloud messages kept while offline, in sequence order"}
	// BucketOutboxIndex maps a coalescing key to the sequence of its queued entry.
	BucketOutboxIndex = Bucket{Name: "outbox-index", Purpose: "coalescing key to queued outbox sequence"}
	// BucketSyncs holds, per object, the last resourceVersion the cloud acknowledged.
	BucketSyncs = Bucket{Name: "syncs", Purpose: "last acknowledged resourceVersion per object"}
)

// Buckets returns the buckets of the current schema, in creation order.
func Buckets() []Bucket {
	return []Bucket{BucketMeta, BucketObjects, BucketOutbox, BucketOutboxIndex, BucketSyncs}
}

// MetaKey is a key of the meta bucket.
type MetaKey string

// Keys of the meta bucket.
const (
	// MetaSchemaVersion is the schema version, managed by the store; SetMeta
	// refuses it.
	MetaSchemaVersion MetaKey = "schema-version"
	// MetaNodeName is the name of the node the objects belong to.
	MetaNodeName MetaKey = "node-name"
)

// sep separates the parts of an object key.
const sep = '/'

// checkKey reports whether r can be stored: type and namespace non-empty and
// without "/", name non-empty.
func checkKey(r message.Resource) error {
	switch {
	case r.Type == "" || strings.ContainsRune(string(r.Type), sep):
		return fmt.Errorf("%w %q: type must be non-empty and contain no %q", ErrInvalidKey, r.String(), sep)
	case r.Namespace == "" || strings.ContainsRune(r.Namespace, sep):
		return fmt.Errorf("%w %q: namespace must be non-empty (use the placeholder for cluster-scoped objects) and contain no %q",
			ErrInvalidKey, r.String(), sep)
	case r.Name == "":
		return fmt.Errorf("%w %q: name is empty", ErrInvalidKey, r.String())
	}
	return nil
}

// objectKey encodes r as type/namespace/name.
func objectKey(r message.Resource) ([]byte, error) {
	if err := checkKey(r); err != nil {
		return nil, err
	}
	k := make([]byte, 0, len(r.Type)+len(r.Namespace)+len(r.Name)+2)
	k = append(k, r.Type...)
	k = append(k, sep)
	k = append(k, r.Namespace...)
	k = append(k, sep)
	return append(k, r.Name...), nil
}

// listPrefix is the scan prefix for a type, or a type in one namespace when ns
// is not empty.
func listPrefix(ns string, typ message.ResourceType) ([]byte, error) {
	if typ == "" || strings.ContainsRune(string(typ), sep) {
		return nil, fmt.Errorf("%w: list type %q must be non-empty and contain no %q", ErrInvalidKey, typ, sep)
	}
	if strings.ContainsRune(ns, sep) {
		return nil, fmt.Errorf("%w: list namespace %q contains %q", ErrInvalidKey, ns, sep)
	}
	p := append([]byte(typ), sep)
	if ns != "" {
		p = append(p, ns...)
		p = append(p, sep)
	}
	return p, nil
}

// parseObjectKey decodes a key written by objectKey.
func parseObjectKey(k []byte) (message.Resource, error) {
	typ, rest, ok1 := bytes.Cut(k, []byte{sep})
	ns, name, ok2 := bytes.Cut(rest, []byte{sep})
	if !ok1 || !ok2 || len(typ) == 0 || len(ns) == 0 || len(name) == 0 {
		return message.Resource{}, fmt.Errorf("object key %q: want <type>/<namespace>/<name>", k)
	}
	return message.Resource{Namespace: string(ns), Type: message.ResourceType(typ), Name: string(name)}, nil
}

// recordV1 is the format byte of object and outbox records.
const recordV1 = 1

// encodeObject renders the objects-bucket value of o.
func encodeObject(o Object) []byte {
	v := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(o.ResourceVersion)+len(o.UID)+len(o.Data))
	v = append(v, recordV1)
	v = binary.AppendUvarint(v, uint64(len(o.ResourceVersion)))
	v = append(v, o.ResourceVersion...)
	v = binary.AppendUvarint(v, uint64(len(o.UID)))
	v = append(v, o.UID...)
	return append(v, o.Data...)
}

// objectHeader is the decoded head of an object record; data aliases the
// record (and so the mmap when read from a transaction).
type objectHeader struct {
	rv, uid string
	data    []byte
}

// decodeObject splits an objects-bucket value. Strings are copies; data is not.
func decodeObject(v []byte) (objectHeader, error) {
	if len(v) == 0 || v[0] != recordV1 {
		return objectHeader{}, fmt.Errorf("object record: unknown format")
	}
	rest := v[1:]
	rv, rest, err := readField(rest)
	if err != nil {
		return objectHeader{}, fmt.Errorf("object record: resourceVersion: %w", err)
	}
	uid, rest, err := readField(rest)
	if err != nil {
		return objectHeader{}, fmt.Errorf("object record: uid: %w", err)
	}
	return objectHeader{rv: string(rv), uid: string(uid), data: rest}, nil
}

// readField reads a uvarint-length-prefixed field.
func readField(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, fmt.Errorf("bad length")
	}
	end := w + int(n)
	return b[w:end], b[end:], nil
}

// encodeEntry renders the outbox value of e.
func encodeEntry(e OutboxEntry) []byte {
	v := make([]byte, 0, 1+binary.MaxVarintLen64+len(e.CoalesceKey)+len(e.Message))
	v = append(v, recordV1)
	v = binary.AppendUvarint(v, uint64(len(e.CoalesceKey)))
	v = append(v, e.CoalesceKey...)
	return append(v, e.Message...)
}

// decodeEntry splits an outbox value. The message aliases v.
func decodeEntry(v []byte) (coalesceKey string, msg []byte, err error) {
	if len(v) == 0 || v[0] != recordV1 {
		return "", nil, fmt.Errorf("outbox record: unknown format")
	}
	ck, rest, err := readField(v[1:])
	if err != nil {
		return "", nil, fmt.Errorf("outbox record: coalesce key: %w", err)
	}
	return string(ck), rest, nil
}

// seqKey encodes an outbox sequence so that byte order is numeric order.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// parseSeq decodes a seqKey.
func parseSeq(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("outbox key %x: want 8 bytes", k)
	}
	return binary.BigEndian.Uint64(k), nil
}
