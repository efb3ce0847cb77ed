package edgecore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/message"
)

func pod(name string) store.Object {
	o, _ := store.NewObject(message.Resource{Namespace: "default", Type: message.ResPod, Name: name},
		[]byte(`{"metadata":{"name":"`+name+`","uid":"u-`+name+`","resourceVersion":"1"}}`))
	return o
}

// A backup taken while edgecore holds meta.db (through the admin socket) and
// one taken while it is stopped both hold the objects and pass the check.
func TestBackupHotAndCold(t *testing.T) {
	dir := t.TempDir()
	cfg := v1alpha2.NewDefault()
	cfg.Modules.MetaManager.DBPath = filepath.Join(dir, "meta.db")
	db, err := store.Open(cfg.Modules.MetaManager.DBPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(pod("a")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	admin := &adminServer{path: AdminSocket(cfg), db: db, log: logr.Discard()}
	done := make(chan error, 1)
	go func() { done <- admin.Run(ctx) }()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(admin.path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, err := os.Stat(admin.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket %v %v", fi, err)
	}

	hot := filepath.Join(dir, "backups", "hot.db")
	if _, err := Backup(ctx, cfg, hot); err != nil {
		t.Fatal(err)
	}
	check := func(path string, want int) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup %s: %v %v", path, fi, err)
		}
		b, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		pods, err := b.ListType(message.ResPod)
		if err != nil || len(pods) != want {
			t.Fatalf("backup %s holds %d pods (%v), want %d", path, len(pods), err, want)
		}
	}
	check(hot, 1)

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := db.Put(pod("b")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cold := filepath.Join(dir, "cold.db")
	if _, err := Backup(context.Background(), cfg, cold); err != nil {
		t.Fatal(err)
	}
	check(cold, 2)

	cfg.Modules.MetaManager.DBPath = filepath.Join(dir, "missing.db")
	if _, err := Backup(context.Background(), cfg, filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("backup of a missing meta.db succeeded")
	}
}
