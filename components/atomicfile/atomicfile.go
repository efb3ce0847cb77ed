// Package atomicfile writes files so that readers see the old content or the
// new, never a mix: the content goes to a temporary file in the same
// directory, is synced, and is renamed over the target (which also replaces a
// running binary safely).
package atomicfile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFrom writes path with the content fill produces, file mode mode,
// creating missing directories with dirMode.
func WriteFrom(path string, mode, dirMode os.FileMode, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Write writes data to path (see WriteFrom).
func Write(path string, data []byte, mode, dirMode os.FileMode) error {
	return WriteFrom(path, mode, dirMode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Copy copies src to dst (see WriteFrom).
func Copy(src, dst string, mode, dirMode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return WriteFrom(dst, mode, dirMode, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// SameContent reports whether files a and b hold the same bytes (true when
// both name the same file). A missing b is not an error: they differ.
func SameContent(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if os.SameFile(fa, fb) {
		return true, nil
	}
	if fa.Size() != fb.Size() {
		return false, nil
	}
	ha, err := hash(a)
	if err != nil {
		return false, err
	}
	hb, err := hash(b)
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

func hash(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
