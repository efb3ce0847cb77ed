package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/cleanedge/kubeedge/components/message"
)

func testPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "lib", "meta.db")
}

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(testPath(t), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func res(ns string, typ message.ResourceType, name string) message.Resource {
	return message.Resource{Namespace: ns, Type: typ, Name: name}
}

func obj(key message.Resource, uid, rv string) Object {
	data := fmt.Sprintf(`{"kind":"x","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":%q}}`,
		key.Name, key.Namespace, uid, rv)
	return Object{Key: key, UID: uid, ResourceVersion: rv, Data: json.RawMessage(data)}
}

func mustPut(t testing.TB, db *DB, objs ...Object) {
	t.Helper()
	for _, o := range objs {
		if err := db.Put(o); err != nil {
			t.Fatalf("Put %s: %v", o.Key, err)
		}
	}
}

func keysOf(objs []Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Key.String())
	}
	return out
}

func TestListPrefixBoundaries(t *testing.T) {
	db := openTest(t)
	mustPut(t, db,
		obj(res("a", message.ResPod, "p1"), "u1", "1"),
		obj(res("a", message.ResPod, "p2"), "u2", "1"),
		obj(res("ab", message.ResPod, "p1"), "u3", "1"),
		obj(res("b", message.ResPod, "x/y"), "u4", "1"), // a name with "/" stays whole
		obj(res("a", message.ResPodList, "p1"), "u5", "1"),
		obj(res("a", message.ResConfigMap, "cm"), "u6", "1"),
		obj(res("null", message.ResNode, "edge-1"), "u7", "1"),
	)
	tests := []struct {
		name string
		ns   string
		typ  message.ResourceType
		want []string
	}{
		{"type in all namespaces", "", message.ResPod, []string{"a/pod/p1", "a/pod/p2", "ab/pod/p1", "b/pod/x/y"}},
		{"namespace a is not ab", "a", message.ResPod, []string{"a/pod/p1", "a/pod/p2"}},
		{"namespace ab", "ab", message.ResPod, []string{"ab/pod/p1"}},
		{"pod is not podlist", "", message.ResPodList, []string{"a/podlist/p1"}},
		{"name with slash", "b", message.ResPod, []string{"b/pod/x/y"}},
		{"cluster-scoped placeholder", "", message.ResNode, []string{"null/node/edge-1"}},
		{"empty namespace", "zz", message.ResPod, []string{}},
		{"unknown type", "", message.ResSecret, []string{}},
		{"prefix of a type", "", "po", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.List(tt.ns, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keysOf(got), tt.want) {
				t.Errorf("List(%q, %q) = %v, want %v", tt.ns, tt.typ, keysOf(got), tt.want)
			}
		})
	}
	all, err := db.ListType(message.ResPod)
	if err != nil || len(all) != 4 {
		t.Errorf("ListType(pod) = %d objects, %v; want 4", len(all), err)
	}
}

func TestPutGetDelete(t *testing.T) {
	db := openTest(t)
	pod := obj(res("default", message.ResPod, "nginx"), "u1", "10")
	cm := obj(res("default", message.ResConfigMap, "nginx"), "u2", "11")
	mustPut(t, db, pod, cm)

	got, ok, err := db.Get(pod.Key)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if !reflect.DeepEqual(got, pod) {
		t.Errorf("Get = %+v, want %+v", got, pod)
	}
	// Replace.
	pod2 := obj(pod.Key, "u1", "12")
	mustPut(t, db, pod2)
	if got, _, _ := db.Get(pod.Key); got.ResourceVersion != "12" || string(got.Data) != string(pod2.Data) {
		t.Errorf("after replace: %+v", got)
	}
	// Delete removes the object and its acknowledged version, and nothing else.
	if err := db.SetAcked(pod.Key, "12"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(pod.Key); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Get(pod.Key); ok {
		t.Error("pod still there after Delete")
	}
	if _, ok, _ := db.Acked(pod.Key); ok {
		t.Error("acked version still there after Delete")
	}
	if _, ok, _ := db.Get(cm.Key); !ok {
		t.Error("Delete of the pod removed the configmap of the same name")
	}
	if err := db.Delete(pod.Key); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, ok, err := db.Get(res("default", message.ResPod, "missing")); ok || err != nil {
		t.Errorf("Get missing = %v, %v", ok, err)
	}
}

func TestInvalidInput(t *testing.T) {
	db := openTest(t)
	tests := []struct {
		name string
		obj  Object
		want error
	}{
		{"empty type", obj(res("ns", "", "n"), "", "1"), ErrInvalidKey},
		{"type with slash", obj(res("ns", "a/b", "n"), "", "1"), ErrInvalidKey},
		{"empty namespace", obj(res("", message.ResPod, "n"), "", "1"), ErrInvalidKey},
		{"namespace with slash", obj(res("a/b", message.ResPod, "n"), "", "1"), ErrInvalidKey},
		{"empty name", obj(res("ns", message.ResPod, ""), "", "1"), ErrInvalidKey},
		{"data not JSON", Object{Key: res("ns", message.ResPod, "n"), Data: json.RawMessage("{")}, ErrInvalidObject},
		{"no data", Object{Key: res("ns", message.ResPod, "n")}, ErrInvalidObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Put(tt.obj); !errors.Is(err, tt.want) {
				t.Errorf("Put = %v, want %v", err, tt.want)
			}
			if _, err := db.PutIfNewer(tt.obj); !errors.Is(err, tt.want) {
				t.Errorf("PutIfNewer = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := db.List("", ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("List without type = %v", err)
	}
	if _, err := db.List("a/b", message.ResPod); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("List with bad namespace = %v", err)
	}
	if _, err := db.Enqueue(OutboxEntry{CoalesceKey: "k"}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("Enqueue empty = %v", err)
	}
	if err := db.SetMeta(MetaSchemaVersion, "9"); !errors.Is(err, ErrReservedKey) {
		t.Errorf("SetMeta(schema-version) = %v", err)
	}
}

func TestPutIfNewer(t *testing.T) {
	key := res("default", message.ResPod, "nginx")
	tests := []struct {
		name          string
		stored        *Object
		in            Object
		wantApplied   bool
		wantStoredRV  string
		wantStoredUID string
	}{
		{"nothing stored", nil, obj(key, "u1", "5"), true, "5", "u1"},
		{"older", ptr(obj(key, "u1", "10")), obj(key, "u1", "9"), false, "10", "u1"},
		{"equal", ptr(obj(key, "u1", "10")), obj(key, "u1", "10"), false, "10", "u1"},
		{"newer", ptr(obj(key, "u1", "10")), obj(key, "u1", "11"), true, "11", "u1"},
		{"numeric, not lexical", ptr(obj(key, "u1", "9")), obj(key, "u1", "10"), true, "10", "u1"},
		{"non-numeric differs", ptr(obj(key, "u1", "abc")), obj(key, "u1", "abd"), true, "abd", "u1"},
		{"non-numeric equal", ptr(obj(key, "u1", "abc")), obj(key, "u1", "abc"), false, "abc", "u1"},
		{"one side non-numeric", ptr(obj(key, "u1", "10")), obj(key, "u1", "x1"), true, "x1", "u1"},
		{"new UID with older version", ptr(obj(key, "u1", "10")), obj(key, "u2", "3"), true, "3", "u2"},
		{"new UID with equal version", ptr(obj(key, "u1", "10")), obj(key, "u2", "10"), true, "10", "u2"},
		{"unknown UID compares versions", ptr(obj(key, "u1", "10")), obj(key, "", "9"), false, "10", "u1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			if tt.stored != nil {
				mustPut(t, db, *tt.stored)
			}
			applied, err := db.PutIfNewer(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if applied != tt.wantApplied {
				t.Errorf("applied = %v, want %v", applied, tt.wantApplied)
			}
			got, _, _ := db.Get(key)
			if got.ResourceVersion != tt.wantStoredRV || got.UID != tt.wantStoredUID {
				t.Errorf("stored rv=%q uid=%q, want rv=%q uid=%q", got.ResourceVersion, got.UID, tt.wantStoredRV, tt.wantStoredUID)
			}
			if tt.stored != nil && tt.in.IsNewerThan(*tt.stored) != tt.wantApplied {
				t.Errorf("IsNewerThan disagrees with PutIfNewer")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestNewObject(t *testing.T) {
	key := res("default", message.ResPod, "nginx")
	o, err := NewObject(key, []byte(`{"metadata":{"name":"nginx","uid":"abc","resourceVersion":"42"},"spec":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.UID != "abc" || o.ResourceVersion != "42" || o.Key != key {
		t.Errorf("NewObject = %+v", o)
	}
	if _, err := NewObject(key, []byte(`[`)); !errors.Is(err, ErrInvalidObject) {
		t.Errorf("NewObject(bad JSON) = %v", err)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	db := openTest(t)
	a, b := obj(res("ns", message.ResPod, "a"), "ua", "1"), obj(res("ns", message.ResPod, "b"), "ub", "1")
	boom := errors.New("boom")
	err := db.Batch(func(tx Tx) error {
		if err := tx.Put(a); err != nil {
			return err
		}
		if _, err := tx.Enqueue(OutboxEntry{Message: []byte("m")}); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		if _, ok, _ := tx.Get(a.Key); !ok {
			t.Error("Get inside Batch does not see the Put")
		}
		if n, _ := tx.OutboxLen(); n != 1 {
			t.Errorf("OutboxLen inside Batch = %d, want 1", n)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Batch = %v, want boom", err)
	}
	if _, ok, _ := db.Get(a.Key); ok {
		t.Error("rolled-back Put is visible")
	}
	if n, _ := db.OutboxLen(); n != 0 {
		t.Errorf("rolled-back Enqueue is visible: %d", n)
	}

	err = db.Batch(func(tx Tx) error {
		for _, o := range []Object{a, b} {
			if err := tx.Put(o); err != nil {
				return err
			}
		}
		return tx.SetAcked(a.Key, "1")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx ReadTx) error {
		objs, err := tx.ListType(message.ResPod)
		if err != nil {
			return err
		}
		rv, ok, err := tx.Acked(a.Key)
		if len(objs) != 2 || !ok || rv != "1" {
			t.Errorf("after Batch: %d objects, acked %q %v", len(objs), rv, ok)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAckedAndMeta(t *testing.T) {
	db := openTest(t)
	key := res("default", message.ResConfigMap, "cm")
	if _, ok, err := db.Acked(key); ok || err != nil {
		t.Fatalf("Acked on empty = %v, %v", ok, err)
	}
	for _, rv := range []string{"5", "7"} {
		if err := db.SetAcked(key, rv); err != nil {
			t.Fatal(err)
		}
		if got, ok, _ := db.Acked(key); !ok || got != rv {
			t.Errorf("Acked = %q %v, want %q", got, ok, rv)
		}
	}
	if err := db.SetMeta(MetaNodeName, "edge-1"); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := db.Meta(MetaNodeName); !ok || v != "edge-1" {
		t.Errorf("Meta(node-name) = %q %v", v, ok)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	db, err := Open(testPath(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := db.Put(obj(res("a", message.ResPod, "p"), "", "1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if _, _, err := db.Get(res("a", message.ResPod, "p")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := db.Backup(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Backup after Close = %v, want ErrClosed", err)
	}
}

func TestStats(t *testing.T) {
	db := openTest(t)
	mustPut(t, db,
		obj(res("a", message.ResPod, "p1"), "", "1"),
		obj(res("b", message.ResPod, "p2"), "", "1"),
		obj(res("a", message.ResSecret, "s"), "", "1"),
	)
	if _, err := db.Enqueue(OutboxEntry{Message: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAcked(res("a", message.ResPod, "p1"), "1"); err != nil {
		t.Fatal(err)
	}
	s, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := map[message.ResourceType]int{message.ResPod: 2, message.ResSecret: 1}
	if !reflect.DeepEqual(s.Objects, want) || s.Outbox != 1 || s.Acked != 1 || s.SchemaVersion != CurrentSchema {
		t.Errorf("Stats = %+v", s)
	}
	if s.FileSize < s.DataSize || s.DataSize == 0 {
		t.Errorf("sizes: file %d, data %d", s.FileSize, s.DataSize)
	}
}

func TestConcurrentUse(t *testing.T) {
	db := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := fmt.Sprintf("ns%d", w)
			for i := range 25 {
				o := obj(res(ns, message.ResPod, fmt.Sprintf("p%d", i)), "u", "1")
				if err := db.Put(o); err != nil {
					errs <- err
					return
				}
				if _, err := db.Enqueue(OutboxEntry{CoalesceKey: ns, Message: []byte("m")}); err != nil {
					errs <- err
					return
				}
				if _, err := db.List(ns, message.ResPod); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, _ := db.ListType(message.ResPod)
	n, _ := db.OutboxLen()
	if len(all) != 200 || n != 8 {
		t.Errorf("after concurrent writers: %d pods (want 200), outbox %d (want 8: one per coalesce key)", len(all), n)
	}
}
