package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cleanedge/kubeedge/components/message"
)

// benchData is a pod-sized object (about 2 KiB of JSON).
var benchData = []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{"pad":%q}}`,
	strings.Repeat("x", 2000)))

// BenchmarkPut is one durable transaction per object.
func BenchmarkPut(b *testing.B) {
	db := openTest(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	i := 0
	for b.Loop() {
		o := Object{Key: res("ns", message.ResPod, fmt.Sprintf("p%d", i%1000)), ResourceVersion: fmt.Sprint(i), Data: benchData}
		if err := db.Put(o); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPutBatch100 puts 100 objects per transaction; ns/op is per object.
func BenchmarkPutBatch100(b *testing.B) {
	db := openTest(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		err := db.Batch(func(tx Tx) error {
			for range 100 {
				o := Object{Key: res("ns", message.ResPod, fmt.Sprintf("p%d", i%1000)), ResourceVersion: fmt.Sprint(i), Data: benchData}
				if err := tx.Put(o); err != nil {
					return err
				}
				i++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/object")
}

func fill(b *testing.B, db *DB, namespaces, perNS int) {
	b.Helper()
	err := db.Batch(func(tx Tx) error {
		for n := range namespaces {
			for i := range perNS {
				for _, typ := range []message.ResourceType{message.ResPod, message.ResConfigMap} {
					o := Object{Key: res(fmt.Sprintf("ns%d", n), typ, fmt.Sprintf("o%d", i)), ResourceVersion: "1", Data: benchData}
					if err := tx.Put(o); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkList lists 100 pods of one namespace and all 1000 pods, out of 2000
// objects.
func BenchmarkList(b *testing.B) {
	db := openTest(b)
	fill(b, db, 10, 100)
	for _, bc := range []struct {
		name string
		ns   string
		want int
	}{{"namespace", "ns3", 100}, {"type", "", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				objs, err := db.List(bc.ns, message.ResPod)
				if err != nil || len(objs) != bc.want {
					b.Fatalf("List = %d, %v", len(objs), err)
				}
			}
		})
	}
}

// BenchmarkOpen measures start-up on a 20000-object (about 45 MB) file, with
// and without the full check.
func BenchmarkOpen(b *testing.B) {
	db := openTest(b)
	fill(b, db, 100, 100)
	path := db.Path()
	_ = db.Close()
	for _, bc := range []struct {
		name string
		opts Options
	}{{"check", Options{}}, {"skipcheck", Options{SkipCheck: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				db, err := Open(path, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				_ = db.Close()
			}
		})
	}
}
