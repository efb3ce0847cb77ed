package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent snapshot of the database to w and returns the
// bytes written. It runs in a read transaction, so writers go on meanwhile
// (one that must grow the file waits until the snapshot is done); w must not
// use db. The output is a complete bbolt file that Open and Check accept.
func (db *DB) Backup(w io.Writer) (n int64, err error) {
	err = mapClosed(db.bolt.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	}))
	if err != nil {
		return n, fmt.Errorf("back up meta.db: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent snapshot to path atomically: into a temporary
// file beside it, synced, then renamed over path (mode 0600; the directory is
// created 0700 if missing). A reader of path sees the old backup or the new
// one, never a partial file.
func (db *DB) BackupFile(path string) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return 0, fmt.Errorf("back up meta.db: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("back up meta.db: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(FileMode); err != nil {
		return 0, fmt.Errorf("back up meta.db: %w", err)
	}
	n, err := db.Backup(tmp)
	if err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("back up meta.db: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("back up meta.db: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		done = true
		return n, fmt.Errorf("back up meta.db: %w", err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return n, fmt.Errorf("back up meta.db: %w", err)
	}
	return n, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
