package store

import (
	"errors"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cleanedge/kubeedge/components/message"
)

func openSchema(t *testing.T, path string, sc schema) (*DB, error) {
	t.Helper()
	db, err := open(path, Options{}, sc)
	if err == nil {
		t.Cleanup(func() { _ = db.Close() })
	}
	return db, err
}

func TestSchemaStampedOnCreate(t *testing.T) {
	db := openTest(t)
	v, err := db.SchemaVersion()
	if err != nil || v != CurrentSchema {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, CurrentSchema)
	}
	raw, ok, _ := db.Meta(MetaSchemaVersion)
	if !ok || raw != "1" {
		t.Errorf("meta %q = %q", MetaSchemaVersion, raw)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		for _, b := range Buckets() {
			if tx.Bucket([]byte(b.Name)) == nil {
				t.Errorf("bucket %q not created", b.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrationAppliedOnce(t *testing.T) {
	path := testPath(t)
	db, err := openSchema(t, path, schema{current: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, obj(res("ns", message.ResPod, "p"), "u", "1"))
	_ = db.Close()

	runs := map[string]int{}
	sc := schema{current: 3, steps: []Migration{
		{From: 2, To: 3, Up: func(tx *bolt.Tx) error { runs["2-3"]++; return nil }},
		{From: 1, To: 2, Up: func(tx *bolt.Tx) error {
			runs["1-2"]++
			_, err := tx.CreateBucket([]byte("added-in-2"))
			return err
		}},
	}}
	for range 2 {
		db, err := openSchema(t, path, sc)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := db.SchemaVersion(); v != 3 {
			t.Errorf("SchemaVersion = %d, want 3", v)
		}
		if _, ok, _ := db.Get(res("ns", message.ResPod, "p")); !ok {
			t.Error("data lost in migration")
		}
		_ = db.Close()
	}
	if runs["1-2"] != 1 || runs["2-3"] != 1 {
		t.Errorf("steps ran %v, want each once", runs)
	}

	// The pre-migration backup is the schema-1 file.
	backup := BackupPath(path, 1)
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != FileMode {
		t.Fatalf("backup %s: %v %v", backup, fi, err)
	}
	old, err := openSchema(t, backup, schema{current: 1})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	if v, _ := old.SchemaVersion(); v != 1 {
		t.Errorf("backup schema = %d, want 1", v)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	path := testPath(t)
	db, err := openSchema(t, path, schema{current: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	boom := errors.New("boom")
	sc := schema{current: 2, steps: []Migration{{From: 1, To: 2, Up: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	}}}}
	if _, err := openSchema(t, path, sc); !errors.Is(err, boom) {
		t.Fatalf("open = %v, want boom", err)
	}
	db, err = openSchema(t, path, schema{current: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half-done")) != nil {
			t.Error("failed step left its changes")
		}
		return nil
	})
	if v, _ := db.SchemaVersion(); v != 1 {
		t.Errorf("SchemaVersion = %d after failed step, want 1", v)
	}
}

func TestMissingMigrationStep(t *testing.T) {
	path := testPath(t)
	db, err := openSchema(t, path, schema{current: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = openSchema(t, path, schema{current: 3, steps: []Migration{{From: 2, To: 3, Up: func(*bolt.Tx) error { return nil }}}})
	if err == nil || !strings.Contains(err.Error(), "no migration from schema 1") {
		t.Errorf("open = %v, want a missing-step error", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	tests := []struct {
		name       string
		withBackup bool
		wantText   string
	}{
		{"no backup", false, "move the file aside"},
		{"backup from before the upgrade", true, ".schema1.bak (written before the upgrade)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			db, err := openSchema(t, path, schema{current: 1})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			// A newer release migrates the file to 2 (and backs up schema 1).
			db, err = openSchema(t, path, schema{current: 2, steps: []Migration{{From: 1, To: 2, Up: func(*bolt.Tx) error { return nil }}}})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			if !tt.withBackup {
				if err := os.Remove(BackupPath(path, 1)); err != nil {
					t.Fatal(err)
				}
			}

			_, err = Open(path, Options{})
			if !errors.Is(err, ErrSchemaTooNew) {
				t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
			}
			var se *SchemaError
			if !errors.As(err, &se) || se.Found != 2 || se.Supported != CurrentSchema {
				t.Errorf("error = %#v", err)
			}
			for _, s := range []string{"schema version 2, newer than this binary supports (1)", tt.wantText} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if err := Check(path); !errors.Is(err, ErrSchemaTooNew) {
				t.Errorf("Check = %v, want ErrSchemaTooNew", err)
			}
		})
	}
}
