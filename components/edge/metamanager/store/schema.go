package store

import (
	"fmt"
	"os"
	"strconv"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"
)

// CurrentSchema is the schema version this binary writes.
const CurrentSchema = 1

// Migration is one forward schema step. Up runs in the same transaction that
// stamps To, so a step is applied completely or not at all. Up sees the raw
// bbolt transaction because it works on the old layout.
type Migration struct {
	From, To int
	Up       func(tx *bolt.Tx) error
}

// migrations are the forward steps to CurrentSchema, oldest first. Schema 1 is
// the first layout; a step 1→2 goes here together with CurrentSchema = 2.
var migrations []Migration

// schema is a target version and the steps that lead to it; tests use their own.
type schema struct {
	current int
	steps   []Migration
}

func defaultSchema() schema { return schema{current: CurrentSchema, steps: migrations} }

func (s schema) step(from int) (Migration, bool) {
	for _, m := range s.steps {
		if m.From == from {
			return m, true
		}
	}
	return Migration{}, false
}

// BackupPath is where Open backs the file up before migrating it from schema
// version from.
func BackupPath(path string, from int) string {
	return path + ".schema" + strconv.Itoa(from) + ".bak"
}

// readSchema returns the version stamped in tx, 0 for an empty file.
func readSchema(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(BucketMeta.key())
	if meta == nil {
		if k, _ := tx.Cursor().First(); k == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("no %q bucket: not written by edgecore", BucketMeta.Name)
	}
	v := meta.Get([]byte(MetaSchemaVersion))
	if v == nil {
		return 0, fmt.Errorf("no schema version in the %q bucket", BucketMeta.Name)
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("schema version %q is not a positive integer", v)
	}
	return n, nil
}

func stampSchema(tx *bolt.Tx, v int) error {
	meta, err := tx.CreateBucketIfNotExists(BucketMeta.key())
	if err != nil {
		return err
	}
	return meta.Put([]byte(MetaSchemaVersion), []byte(strconv.Itoa(v)))
}

func createBuckets(tx *bolt.Tx) error {
	for _, b := range Buckets() {
		if _, err := tx.CreateBucketIfNotExists(b.key()); err != nil {
			return fmt.Errorf("create bucket %q: %w", b.Name, err)
		}
	}
	return nil
}

func bucketsMissing(tx *bolt.Tx) bool {
	for _, b := range Buckets() {
		if tx.Bucket(b.key()) == nil {
			return true
		}
	}
	return false
}

// migrate stamps a new file, refuses a newer one and steps an older one
// forward, one transaction per step, after backing it up.
func (db *DB) migrate(sc schema, log logr.Logger) error {
	var version int
	var missing bool
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		version, err = readSchema(tx)
		missing = bucketsMissing(tx)
		return err
	}); err != nil {
		return &CorruptError{Path: db.path, Err: err}
	}

	switch {
	case version == 0:
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := createBuckets(tx); err != nil {
				return err
			}
			return stampSchema(tx, sc.current)
		})
		if err != nil {
			return fmt.Errorf("initialise meta.db at %s: %w", db.path, err)
		}
		return nil
	case version > sc.current:
		e := &SchemaError{Path: db.path, Found: version, Supported: sc.current}
		if _, err := os.Stat(BackupPath(db.path, sc.current)); err == nil {
			e.Backup = BackupPath(db.path, sc.current)
		}
		return e
	case version == sc.current:
		if !missing {
			return nil
		}
		if err := db.bolt.Update(createBuckets); err != nil {
			return fmt.Errorf("meta.db at %s: %w", db.path, err)
		}
		return nil
	}

	backup := BackupPath(db.path, version)
	if _, err := db.BackupFile(backup); err != nil {
		return fmt.Errorf("back up meta.db before migrating schema %d: %w", version, err)
	}
	log.Info("Migrating meta.db schema", "path", db.path, "from", version, "to", sc.current, "backup", backup)
	for version < sc.current {
		m, ok := sc.step(version)
		if !ok || m.To <= m.From || m.To > sc.current {
			return fmt.Errorf("meta.db at %s: no migration from schema %d to %d in this binary", db.path, version, sc.current)
		}
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := m.Up(tx); err != nil {
				return err
			}
			return stampSchema(tx, m.To)
		})
		if err != nil {
			return fmt.Errorf("migrate meta.db at %s from schema %d to %d (backup in %s): %w", db.path, m.From, m.To, backup, err)
		}
		log.Info("Migrated meta.db schema", "from", m.From, "to", m.To)
		version = m.To
	}
	if err := db.bolt.Update(createBuckets); err != nil {
		return fmt.Errorf("meta.db at %s: %w", db.path, err)
	}
	return nil
}

// SchemaVersion returns the schema version stamped in the file.
func (db *DB) SchemaVersion() (v int, err error) {
	err = mapClosed(db.bolt.View(func(tx *bolt.Tx) error {
		v, err = readSchema(tx)
		return err
	}))
	return v, err
}
