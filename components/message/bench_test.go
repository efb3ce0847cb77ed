package message

import (
	"testing"
)

func BenchmarkDecodePodInsert(b *testing.B) {
	frame := wireBytes(b, loadCaptures(b)["cloud-to-edge_insert_pod.json"].Frame)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeKeepalive(b *testing.B) {
	m, err := New(KeepaliveRoute, KeepaliveContent)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}
