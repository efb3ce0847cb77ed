package store

import (
	"reflect"
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"
)

type outboxOp struct {
	enqueue *OutboxEntry
	ack     uint64
}

func enq(key, msg string) outboxOp {
	return outboxOp{enqueue: &OutboxEntry{CoalesceKey: key, Message: []byte(msg)}}
}
func ack(seq uint64) outboxOp { return outboxOp{ack: seq} }

func TestOutbox(t *testing.T) {
	tests := []struct {
		name string
		ops  []outboxOp
		// want is the pending queue as seq:message.
		want []string
	}{
		{"fifo", []outboxOp{enq("", "a"), enq("", "b"), enq("", "c")}, []string{"1:a", "2:b", "3:c"}},
		{"coalesce keeps the newest at the tail",
			[]outboxOp{enq("node", "s1"), enq("", "x"), enq("node", "s2")}, []string{"2:x", "3:s2"}},
		{"different keys do not coalesce",
			[]outboxOp{enq("pod/a", "1"), enq("pod/b", "2"), enq("pod/a", "3")}, []string{"2:2", "3:3"}},
		{"empty key never coalesces", []outboxOp{enq("", "a"), enq("", "a")}, []string{"1:a", "2:a"}},
		{"ack removes one", []outboxOp{enq("", "a"), enq("", "b"), ack(1)}, []string{"2:b"}},
		{"ack of a missing seq is a no-op", []outboxOp{enq("", "a"), ack(9), ack(9)}, []string{"1:a"}},
		{"ack of a coalesced-away seq keeps the newer entry",
			[]outboxOp{enq("k", "old"), enq("k", "new"), ack(1)}, []string{"2:new"}},
		{"key is free again after ack",
			[]outboxOp{enq("k", "a"), ack(1), enq("k", "b"), enq("k", "c")}, []string{"3:c"}},
		{"seq never goes back after ack", []outboxOp{enq("", "a"), ack(1), enq("", "b")}, []string{"2:b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			for _, op := range tt.ops {
				if op.enqueue != nil {
					if _, err := db.Enqueue(*op.enqueue); err != nil {
						t.Fatal(err)
					}
				} else if err := db.Ack(op.ack); err != nil {
					t.Fatal(err)
				}
			}
			got, err := db.Pending(0)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range got {
				s = append(s, formatEntry(e))
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Errorf("Pending = %v, want %v", s, tt.want)
			}
			if n, _ := db.OutboxLen(); n != len(tt.want) {
				t.Errorf("OutboxLen = %d, want %d", n, len(tt.want))
			}
			// The coalescing index stays consistent with the queue.
			var p problems
			_ = db.bolt.View(func(tx *bolt.Tx) error { checkRecords(tx, &p); return nil })
			if !p.empty() {
				t.Errorf("records: %v", p.list)
			}
		})
	}
}

func formatEntry(e OutboxEntry) string {
	return strconv.FormatUint(e.Seq, 10) + ":" + string(e.Message)
}

func TestOutboxLimitAndRestart(t *testing.T) {
	path := testPath(t)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c", "d"} {
		if _, err := db.Enqueue(OutboxEntry{Message: []byte(m), CoalesceKey: "k" + m}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Pending(2)
	if err != nil || len(got) != 2 || string(got[0].Message) != "a" || got[1].Seq != 2 || got[1].CoalesceKey != "kb" {
		t.Fatalf("Pending(2) = %+v, %v", got, err)
	}
	if err := db.Ack(4); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	seq, err := db.Enqueue(OutboxEntry{Message: []byte("e"), CoalesceKey: "ka"})
	if err != nil {
		t.Fatal(err)
	}
	if seq != 5 {
		t.Errorf("seq after restart = %d, want 5 (never reused)", seq)
	}
	got, _ = db.Pending(0)
	var s []string
	for _, e := range got {
		s = append(s, formatEntry(e))
	}
	if want := []string{"2:b", "3:c", "5:e"}; !reflect.DeepEqual(s, want) {
		t.Errorf("Pending after restart = %v, want %v", s, want)
	}
}
