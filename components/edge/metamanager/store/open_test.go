package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cleanedge/kubeedge/components/message"
)

func TestFileModes(t *testing.T) {
	path := testPath(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	for p, want := range map[string]os.FileMode{filepath.Dir(path): DirMode, path: FileMode} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", p, got, want)
		}
	}

	// A file left readable by others (it holds secrets) is tightened.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != FileMode {
		t.Errorf("existing file mode = %o, want %o", fi.Mode().Perm(), FileMode)
	}
}

func TestSecondOpenTimesOut(t *testing.T) {
	path := testPath(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()

	start := time.Now()
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open = %v, want ErrInUse", err)
	}
	if want := "meta.db is in use by another process (is edgecore running?)"; !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name %s and say %q", err, path, want)
	}
	if took > 1500*time.Millisecond { // bbolt gives up one 50ms retry early
		t.Errorf("second Open took %v, want about the 100ms timeout", took)
	}
	if err := check(path, 100*time.Millisecond); !errors.Is(err, ErrInUse) {
		t.Errorf("Check on an open file = %v, want ErrInUse", err)
	}
	if (Options{}).timeout() != DefaultTimeout || DefaultTimeout != 2*time.Second {
		t.Errorf("default timeout = %v", Options{}.timeout())
	}

	// Once the first holder closes, the file opens.
	_ = db.Close()
	db2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	_ = db2.Close()
}

// fixture builds a closed, valid meta.db with enough objects for a multi-level
// tree and returns its path, page size, high-water mark and a leaf page of the
// objects bucket.
func fixture(t *testing.T) (path string, pageSize int, hwm int64, leaf int) {
	t.Helper()
	path = testPath(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 700)
	err = db.Batch(func(tx Tx) error {
		for i := range 400 {
			o := obj(res(fmt.Sprintf("ns%d", i%7), message.ResPod, fmt.Sprintf("pod-%04d", i)), "u", "1")
			o.Data = []byte(fmt.Sprintf(`{"pad":%q,"i":%d}`, pad, i))
			if err := tx.Put(o); err != nil {
				return err
			}
		}
		_, err := tx.Enqueue(OutboxEntry{CoalesceKey: "node", Message: []byte("status")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.bolt.Info().PageSize
	err = db.bolt.View(func(tx *bolt.Tx) error {
		hwm = tx.Size()
		for id := 2; int64(id)*int64(pageSize) < hwm; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info != nil && info.Type == "leaf" && info.Count >= 2 {
				leaf = id
				return nil
			}
		}
		return errors.New("no leaf page")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Fatalf("fixture does not pass Check: %v", err)
	}
	return path, pageSize, hwm, leaf
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCorruptFile(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		corrupt func(t *testing.T, path string, pageSize int, hwm int64, leaf int)
	}{
		{"garbage file", Options{}, func(t *testing.T, path string, _ int, _ int64, _ int) {
			if err := os.WriteFile(path, garbage(64<<10), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"short garbage file", Options{}, func(t *testing.T, path string, _ int, _ int64, _ int) {
			if err := os.WriteFile(path, []byte("not a database"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"both meta pages zeroed", Options{}, func(t *testing.T, path string, ps int, _ int64, _ int) {
			overwrite(t, path, 0, make([]byte, 2*ps))
		}},
		{"truncated to half its data", Options{}, func(t *testing.T, path string, ps int, hwm int64, _ int) {
			if err := os.Truncate(path, hwm/2/int64(ps)*int64(ps)); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated, even with SkipCheck", Options{SkipCheck: true}, func(t *testing.T, path string, ps int, hwm int64, _ int) {
			if err := os.Truncate(path, hwm-int64(ps)); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated below two pages", Options{}, func(t *testing.T, path string, ps int, _ int64, _ int) {
			if err := os.Truncate(path, int64(ps)+100); err != nil {
				t.Fatal(err)
			}
		}},
		{"leaf page header overwritten", Options{}, func(t *testing.T, path string, ps int, _ int64, leaf int) {
			overwrite(t, path, int64(leaf)*int64(ps), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}},
		{"leaf page body overwritten", Options{}, func(t *testing.T, path string, ps int, _ int64, leaf int) {
			overwrite(t, path, int64(leaf)*int64(ps)+16, garbage(ps-16))
		}},
		{"leaf page zeroed", Options{}, func(t *testing.T, path string, ps int, _ int64, leaf int) {
			overwrite(t, path, int64(leaf)*int64(ps), make([]byte, ps))
		}},
		{"bbolt file of another program", Options{}, func(t *testing.T, path string, _ int, _ int64, _ int) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("something-else"))
				return err
			})
		}},
		{"meta bucket without schema version", Options{}, func(t *testing.T, path string, _ int, _ int64, _ int) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Delete([]byte(MetaSchemaVersion))
			})
		}},
		{"object record of unknown format", Options{}, func(t *testing.T, path string, _ int, _ int64, _ int) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("objects")).Put([]byte("pod/ns/bad"), []byte{9, 9, 9})
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, ps, hwm, leaf := fixture(t)
			if strings.HasPrefix(tt.name, "bbolt file of another") {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			tt.corrupt(t, path, ps, hwm, leaf)

			for attempt := range 2 { // a failed open must not keep the file locked
				_, err := Open(path, Options{Timeout: 200 * time.Millisecond, SkipCheck: tt.opts.SkipCheck})
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open #%d = %v, want ErrCorrupt", attempt+1, err)
				}
				if attempt == 0 {
					t.Log(err)
				}
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Path != path {
					t.Errorf("error is not a *CorruptError for %s: %#v", path, err)
				}
				for _, want := range []string{"meta.db at " + path + " is corrupt (", "restore a backup", "move the file aside", "the cloud will resend everything"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
			if err := check(path, 200*time.Millisecond); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", err)
			}
		})
	}
}

func writeBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	path := testPath(t)
	if err := Check(path); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a missing file = %v, want a plain error", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Check created %s", path)
	}
	path, _, _, _ = fixture(t) // fixture runs Check on a healthy file
	before, _ := os.ReadFile(path)
	if err := Check(path); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(before) != string(after) {
		t.Error("Check changed the file")
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	writeBolt(t, empty, func(*bolt.Tx) error { return nil })
	if err := Check(empty); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of an empty bbolt file = %v, want ErrCorrupt", err)
	}
}
