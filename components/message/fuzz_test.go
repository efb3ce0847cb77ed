package message

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: any input gives a message or an error, never a panic, and a
// decoded message survives an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, c := range loadCaptures(f) {
		f.Add([]byte(c.Frame))
	}
	golden, _ := filepath.Glob("testdata/golden/*.json")
	for _, g := range golden {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"header":{"msg_id":"a","timestamp":1},"route":{"operation":"x"},"content":"\u0000"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			return
		}
		// Everything that reads content must cope with whatever decoded.
		_ = m.IsAck()
		_ = m.ContentBytes()
		var v map[string]any
		_ = m.DecodeContent(&v)
		_, _ = ParseResource(m.Route.Resource)
		_, _ = ParseNodeResource(m.Route.Resource)
		_, _ = ParseDeviceResource(m.Route.Resource)

		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable round trip:\n%s\n%s", enc, enc2)
		}
	})
}
