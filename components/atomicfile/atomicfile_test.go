package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteCopySame(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "sub", "a")
	if err := Write(a, []byte("one"), 0o600, 0o700); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(a)
	dst, _ := os.Stat(filepath.Dir(a))
	if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
		t.Fatalf("modes %v %v", st.Mode(), dst.Mode())
	}
	b := filepath.Join(dir, "b")
	if same, err := SameContent(a, b); same || err != nil {
		t.Fatalf("missing b: %v %v", same, err)
	}
	if err := Copy(a, b, 0o755, 0o755); err != nil {
		t.Fatal(err)
	}
	if same, err := SameContent(a, b); !same || err != nil {
		t.Fatalf("copy differs: %v %v", same, err)
	}
	if err := Write(b, []byte("two"), 0o644, 0o755); err != nil {
		t.Fatal(err)
	}
	if same, _ := SameContent(a, b); same {
		t.Fatal("different content reported same")
	}
	if got, _ := os.ReadFile(b); string(got) != "two" {
		t.Fatalf("content %q", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
