package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"

	"github.com/cleanedge/kubeedge/components/message"
)

// DefaultTimeout is how long Open waits for the file lock by default.
const DefaultTimeout = 2 * time.Second

// File modes of what Open creates.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// Options configure Open.
type Options struct {
	// Timeout bounds the wait for the file lock; 0 means DefaultTimeout.
	Timeout time.Duration
	// SkipCheck skips the full walk and consistency check on open; the cheap
	// size check still runs. For very large files where start-up time matters
	// more than a clear error.
	SkipCheck bool
	// Logger receives migration progress; the zero value discards.
	Logger logr.Logger
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// DB is an open meta.db. It is safe for concurrent use. Every method that
// writes runs one transaction and is durable when it returns; use Batch to
// group writes.
type DB struct {
	path string
	bolt *bolt.DB

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database at path, creating it (parent directory 0700, file
// 0600) if needed. It waits opts.Timeout for the file lock (then ErrInUse),
// checks the file (a damaged one gives a *CorruptError) and brings the schema
// to CurrentSchema (a newer one gives a *SchemaError).
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, defaultSchema())
}

func open(path string, opts Options, sc schema) (*DB, error) {
	if path == "" {
		return nil, errors.New("open meta.db: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
		return nil, fmt.Errorf("open meta.db: %w", err)
	}
	// The file holds secrets: tighten a file created by something else.
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&^FileMode != 0 {
		if err := os.Chmod(path, FileMode); err != nil {
			return nil, fmt.Errorf("open meta.db: %w", err)
		}
	}
	b, err := openBolt(path, opts.timeout(), false)
	if err != nil {
		return nil, err
	}
	db := &DB{path: path, bolt: b}
	if err := db.verify(!opts.SkipCheck); err != nil {
		_ = b.Close()
		return nil, err
	}
	if err := db.migrate(sc, opts.Logger); err != nil {
		_ = b.Close()
		return nil, err
	}
	return db, nil
}

// openBolt opens the bbolt file, turning a lock timeout into ErrInUse and
// unreadable content into a *CorruptError. An existing file is first opened
// read-only (which takes the shared lock and reads only the meta pages) and
// its header checked, so that bbolt never maps a file that would make it
// fault; panics and memory faults inside bbolt are caught as a last resort.
func openBolt(path string, timeout time.Duration, readOnly bool) (*bolt.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() > 0:
		pre, err := rawOpen(path, timeout, true, false)
		if err != nil {
			return nil, err
		}
		probs, err := checkHeader(path)
		_ = pre.Close()
		if err != nil {
			return nil, fmt.Errorf("open meta.db at %s: %w", path, err)
		}
		if len(probs) > 0 {
			return nil, &CorruptError{Path: path, Problems: probs}
		}
	case err != nil && (readOnly || !errors.Is(err, fs.ErrNotExist)):
		return nil, fmt.Errorf("open meta.db at %s: %w", path, err)
	}
	return rawOpen(path, timeout, readOnly, true)
}

// rawOpen calls bolt.Open and classifies its errors.
func rawOpen(path string, timeout time.Duration, readOnly, loadFreelist bool) (b *bolt.DB, err error) {
	var file *os.File
	bopts := &bolt.Options{
		Timeout:         timeout,
		ReadOnly:        readOnly,
		PreLoadFreelist: loadFreelist,
		// NoFreelistSync stays off: rebuilding the freelist on open walks the
		// tree in a goroutine that panics, uncatchably, on a damaged file; and
		// the writes it saves are small for a store of this size.
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// The mapping is lost with the panic and keeps the file (and its
			// lock) referenced until the process exits.
			if file != nil {
				_ = file.Close()
			}
			b, err = nil, &CorruptError{Path: path, Err: fmt.Errorf("reading the file failed: %v", r)}
		}
	}()
	b, err = bolt.Open(path, FileMode, bopts)
	if err == nil {
		return b, nil
	}
	var errno syscall.Errno
	var perr *fs.PathError
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	case errors.As(err, &perr), errors.As(err, &errno):
		return nil, fmt.Errorf("open meta.db at %s: %w", path, err)
	case errors.Is(err, bolt.ErrInvalid):
		return nil, &CorruptError{Path: path, Err: fmt.Errorf("no valid meta page, not a bbolt file or both meta pages damaged: %w", err)}
	default:
		return nil, &CorruptError{Path: path, Err: err}
	}
}

// Path returns the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database, waiting for running transactions. Calling it
// again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("close meta.db: %w", err)
		}
	})
	return db.closeErr
}

func mapClosed(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// View runs fn in a read-only transaction: a consistent snapshot while
// writers go on. fn must not call methods of db.
func (db *DB) View(fn func(tx ReadTx) error) error {
	return mapClosed(db.bolt.View(func(btx *bolt.Tx) error {
		t, err := newTxn(btx)
		if err != nil {
			return err
		}
		return fn(t)
	}))
}

// Batch runs fn in one read-write transaction: it commits (durably) when fn
// returns nil and rolls everything back when fn returns an error or panics.
// fn must not call methods of db.
func (db *DB) Batch(fn func(tx Tx) error) error {
	return mapClosed(db.bolt.Update(func(btx *bolt.Tx) error {
		t, err := newTxn(btx)
		if err != nil {
			return err
		}
		return fn(t)
	}))
}

// Put stores obj, replacing what is under its key.
func (db *DB) Put(obj Object) error {
	return db.Batch(func(tx Tx) error { return tx.Put(obj) })
}

// PutIfNewer stores obj if it is newer than the stored object (see
// Object.IsNewerThan) or none is stored, and reports whether it did.
func (db *DB) PutIfNewer(obj Object) (applied bool, err error) {
	err = db.Batch(func(tx Tx) error {
		applied, err = tx.PutIfNewer(obj)
		return err
	})
	return applied, err
}

// Get returns the object under key.
func (db *DB) Get(key message.Resource) (obj Object, found bool, err error) {
	err = db.View(func(tx ReadTx) error {
		obj, found, err = tx.Get(key)
		return err
	})
	return obj, found, err
}

// Delete removes the object under key and its acknowledged version.
func (db *DB) Delete(key message.Resource) error {
	return db.Batch(func(tx Tx) error { return tx.Delete(key) })
}

// List returns the objects of type typ in namespace ns ("" = all namespaces),
// ordered by namespace then name.
func (db *DB) List(ns string, typ message.ResourceType) (objs []Object, err error) {
	err = db.View(func(tx ReadTx) error {
		objs, err = tx.List(ns, typ)
		return err
	})
	return objs, err
}

// ListType returns the objects of type typ in all namespaces.
func (db *DB) ListType(typ message.ResourceType) ([]Object, error) { return db.List("", typ) }

// Enqueue appends an outbox entry and returns its sequence; see Tx.Enqueue.
func (db *DB) Enqueue(e OutboxEntry) (seq uint64, err error) {
	err = db.Batch(func(tx Tx) error {
		seq, err = tx.Enqueue(e)
		return err
	})
	return seq, err
}

// Pending returns up to limit queued outbox entries, oldest first (limit <= 0:
// all).
func (db *DB) Pending(limit int) (entries []OutboxEntry, err error) {
	err = db.View(func(tx ReadTx) error {
		entries, err = tx.Pending(limit)
		return err
	})
	return entries, err
}

// Ack removes the outbox entry seq; a missing entry is not an error.
func (db *DB) Ack(seq uint64) error {
	return db.Batch(func(tx Tx) error { return tx.Ack(seq) })
}

// OutboxLen counts the queued outbox entries.
func (db *DB) OutboxLen() (n int, err error) {
	err = db.View(func(tx ReadTx) error {
		n, err = tx.OutboxLen()
		return err
	})
	return n, err
}

// SetAcked records rv as the last resourceVersion the cloud acknowledged for
// key.
func (db *DB) SetAcked(key message.Resource, rv string) error {
	return db.Batch(func(tx Tx) error { return tx.SetAcked(key, rv) })
}

// Acked returns the last resourceVersion the cloud acknowledged for key.
func (db *DB) Acked(key message.Resource) (rv string, found bool, err error) {
	err = db.View(func(tx ReadTx) error {
		rv, found, err = tx.Acked(key)
		return err
	})
	return rv, found, err
}

// SetMeta stores a value of the meta bucket; MetaSchemaVersion is refused.
func (db *DB) SetMeta(key MetaKey, value string) error {
	return db.Batch(func(tx Tx) error { return tx.SetMeta(key, value) })
}

// Meta returns a value of the meta bucket.
func (db *DB) Meta(key MetaKey) (value string, found bool, err error) {
	err = db.View(func(tx ReadTx) error {
		value, found, err = tx.Meta(key)
		return err
	})
	return value, found, err
}
