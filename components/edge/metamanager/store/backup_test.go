package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanedge/kubeedge/components/message"
)

// TestBackupWhileWriting takes backups while a writer commits transactions
// that keep an invariant: objects a and b and the outbox length all equal the
// round number. Every backup must open, pass Check and show the invariant.
func TestBackupWhileWriting(t *testing.T) {
	db := openTest(t)
	a, b := res("ns", message.ResConfigMap, "a"), res("ns", message.ResConfigMap, "b")

	var stop atomic.Bool
	var rounds atomic.Int64
	var wg sync.WaitGroup
	writerErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load(); i++ {
			rv := strconv.Itoa(i)
			err := db.Batch(func(tx Tx) error {
				for _, k := range []message.Resource{a, b} {
					o := obj(k, "u", rv)
					o.Data = append(o.Data[:len(o.Data)-1], []byte(`,"pad":"`+string(bytes.Repeat([]byte("z"), 200))+`"}`)...)
					if err := tx.Put(o); err != nil {
						return err
					}
				}
				_, err := tx.Enqueue(OutboxEntry{Message: []byte(rv)})
				return err
			})
			if err != nil {
				writerErr <- err
				return
			}
			rounds.Store(int64(i))
		}
	}()

	dir := filepath.Join(t.TempDir(), "backups")
	for n := range 5 {
		for rounds.Load() < int64(20*(n+1)) {
			time.Sleep(time.Millisecond)
		}
		path := filepath.Join(dir, "meta.db."+strconv.Itoa(n))
		size, err := db.BackupFile(path)
		if err != nil {
			t.Fatalf("BackupFile: %v", err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != size || fi.Mode().Perm() != FileMode {
			t.Fatalf("backup %s: %v %v (wrote %d)", path, fi, err, size)
		}
		if _, err := db.Backup(&bytes.Buffer{}); err != nil {
			t.Fatalf("Backup: %v", err)
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-writerErr:
		t.Fatalf("writer: %v", err)
	default:
	}

	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != DirMode {
		t.Errorf("backup dir: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		t.Errorf("backup dir holds %d files, want 5 (no temporary files left)", len(entries))
	}
	for n := range 5 {
		path := filepath.Join(dir, "meta.db."+strconv.Itoa(n))
		if err := Check(path); err != nil {
			t.Fatalf("Check(%s): %v", path, err)
		}
		bdb, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("Open backup: %v", err)
		}
		oa, okA, _ := bdb.Get(a)
		ob, okB, _ := bdb.Get(b)
		n, _ := bdb.OutboxLen()
		if !okA || !okB || oa.ResourceVersion != ob.ResourceVersion || strconv.Itoa(n) != oa.ResourceVersion {
			t.Errorf("backup %s is not a consistent snapshot: a=%q b=%q outbox=%d", path, oa.ResourceVersion, ob.ResourceVersion, n)
		}
		_ = bdb.Close()
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestBackupFileFailureLeavesNothing(t *testing.T) {
	db := openTest(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "old.bak")
	if err := os.WriteFile(target, []byte("previous backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A backup into a directory that cannot be created fails cleanly.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BackupFile(filepath.Join(blocker, "x.bak")); err == nil {
		t.Error("BackupFile under a regular file succeeded")
	}
	if _, err := db.Backup(&failingWriter{after: 1}); err == nil {
		t.Error("Backup to a failing writer succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2", len(entries))
	}
	if b, _ := os.ReadFile(target); string(b) != "previous backup" {
		t.Error("previous backup changed")
	}
}
