package store

import (
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/cleanedge/kubeedge/components/message"
)

// Check verifies a closed meta.db without changing it: the file size against
// the data it should hold, a read of every bucket, bbolt's page-level
// consistency check, and the store's own records and schema version. It
// returns nil for a healthy file, a *CorruptError listing the first problems,
// a *SchemaError for a file from a newer release, or ErrInUse while edgecore
// has the file open (after waiting DefaultTimeout for the lock).
func Check(path string) error { return check(path, DefaultTimeout) }

func check(path string, timeout time.Duration) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("check meta.db: %w", err)
	}
	b, err := openBolt(path, timeout, true)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	db := &DB{path: path, bolt: b}
	if err := db.verify(true); err != nil {
		return err
	}
	var version int
	var p problems
	err = b.View(func(tx *bolt.Tx) error {
		var err error
		if version, err = readSchema(tx); err != nil {
			p.add("%v", err)
			return nil
		}
		if version == 0 {
			p.add("the file is empty: no buckets, no schema version")
			return nil
		}
		if version == CurrentSchema {
			for _, bk := range Buckets() {
				if tx.Bucket(bk.key()) == nil {
					p.add("bucket %q is missing", bk.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check meta.db at %s: %w", path, err)
	}
	if err := p.err(path); err != nil {
		return err
	}
	if version > CurrentSchema {
		return &SchemaError{Path: path, Found: version, Supported: CurrentSchema}
	}
	return nil
}

// verify checks the open file. The size check always runs: a file shorter
// than its high-water mark would fault on access. With full, every bucket is
// read with memory faults turned into errors (so that bbolt's own check, which
// runs in a goroutine of its own, meets no fault), then bbolt's check runs and
// the store's records are decoded.
func (db *DB) verify(full bool) error {
	var p problems
	err := db.bolt.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(db.path)
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			p.add("the file is truncated: %d bytes on disk, the data needs %d", fi.Size(), tx.Size())
			return nil
		}
		if !full {
			return nil
		}
		if err := walk(tx, db.bolt.Info().Data); err != nil {
			p.add("%v", err)
			return nil
		}
		for err := range tx.Check() {
			p.add("%v", err)
		}
		if p.empty() {
			checkRecords(tx, &p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check meta.db at %s: %w", db.path, err)
	}
	return p.err(db.path)
}

// walk reads every key and value of every bucket, turning bbolt's assertion
// panics and memory faults on a damaged file into an error. Every key and
// value must lie inside the data in use, [base, base+size) of the mapping, so
// that bbolt's check, which reads them from a goroutine of its own where a
// fault cannot be caught, stays inside the file.
func walk(tx *bolt.Tx, base uintptr) (err error) {
	size := uintptr(tx.Size())
	var bucket []byte
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading bucket %q failed: %v", bucket, r)
		}
	}()
	inside := func(b []byte) bool {
		if len(b) == 0 {
			return true
		}
		start := uintptr(unsafe.Pointer(&b[0]))
		return uintptr(len(b)) <= size && start >= base && start-base <= size-uintptr(len(b))
	}
	var sink byte
	var walkBucket func(b *bolt.Bucket) error
	walkBucket = func(b *bolt.Bucket) error {
		// An inline bucket lives in a copy of its parent's value, off the
		// mapping; bbolt's check does not read inside it.
		mapped := b.RootPage() != 0
		return b.ForEach(func(k, v []byte) error {
			if mapped && (!inside(k) || !inside(v)) {
				return fmt.Errorf("bucket %q: an entry points outside the file", bucket)
			}
			if v == nil {
				if child := b.Bucket(k); child != nil {
					return walkBucket(child)
				}
				return nil
			}
			if len(k) > 0 {
				sink ^= k[0] ^ k[len(k)-1]
			}
			if len(v) > 0 {
				sink ^= v[0] ^ v[len(v)-1]
			}
			return nil
		})
	}
	err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		bucket = name
		return walkBucket(b)
	})
	_ = sink
	return err
}

// checkRecords decodes the store's own records.
func checkRecords(tx *bolt.Tx, p *problems) {
	if b := tx.Bucket(BucketObjects.key()); b != nil {
		_ = b.ForEach(func(k, v []byte) error {
			if _, err := parseObjectKey(k); err != nil {
				p.add("objects: %v", err)
			} else if _, err := decodeObject(v); err != nil {
				p.add("objects %q: %v", k, err)
			}
			return nil
		})
	}
	if b := tx.Bucket(BucketSyncs.key()); b != nil {
		_ = b.ForEach(func(k, _ []byte) error {
			if _, err := parseObjectKey(k); err != nil {
				p.add("syncs: %v", err)
			}
			return nil
		})
	}
	out := tx.Bucket(BucketOutbox.key())
	if out != nil {
		_ = out.ForEach(func(k, v []byte) error {
			if _, err := parseSeq(k); err != nil {
				p.add("outbox: %v", err)
			} else if _, _, err := decodeEntry(v); err != nil {
				p.add("outbox %x: %v", k, err)
			}
			return nil
		})
	}
	if idx := tx.Bucket(BucketOutboxIndex.key()); idx != nil && out != nil {
		_ = idx.ForEach(func(k, v []byte) error {
			e := out.Get(v)
			if e == nil {
				p.add("outbox-index %q: entry %x is missing", k, v)
				return nil
			}
			if ck, _, err := decodeEntry(e); err == nil && ck != string(k) {
				p.add("outbox-index %q: entry %x has coalesce key %q", k, v, ck)
			}
			return nil
		})
	}
}

// Stats describes the content of a meta.db, for diagnostics.
type Stats struct {
	// Path is the database file.
	Path string
	// SchemaVersion is the version stamped in the file.
	SchemaVersion int
	// FileSize is the size of the file on disk.
	FileSize int64
	// DataSize is the part of the file in use (bbolt's high-water mark).
	DataSize int64
	// Objects counts stored objects per type.
	Objects map[message.ResourceType]int
	// Outbox counts queued outbox entries.
	Outbox int
	// Acked counts objects with an acknowledged resourceVersion.
	Acked int
}

// Stats counts what the database holds, from one consistent snapshot.
func (db *DB) Stats() (Stats, error) {
	s := Stats{Path: db.path, Objects: map[message.ResourceType]int{}}
	err := mapClosed(db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		if s.SchemaVersion, err = readSchema(tx); err != nil {
			return err
		}
		t, err := newTxn(tx)
		if err != nil {
			return err
		}
		s.DataSize = tx.Size()
		c := t.objects.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			typ, _, _ := bytes.Cut(k, []byte{sep})
			s.Objects[message.ResourceType(typ)]++
		}
		s.Outbox = countKeys(t.outbox)
		s.Acked = countKeys(t.syncs)
		return nil
	}))
	if err != nil {
		return Stats{}, fmt.Errorf("meta.db stats: %w", err)
	}
	fi, err := os.Stat(db.path)
	if err != nil {
		return Stats{}, fmt.Errorf("meta.db stats: %w", err)
	}
	s.FileSize = fi.Size()
	return s, nil
}
