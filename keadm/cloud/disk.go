package cloud

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Disk says where init really reads and writes the files it manages. Phases
// name every file by its real path (for example /etc/kubeedge/ca/rootCA.crt);
// the Disk maps that name to a place on this machine.
type Disk interface {
	// WritePath returns where to write the file named path.
	WritePath(path string) string
	// ReadPath returns where to read the file named path.
	ReadPath(path string) string
}

// HostDisk reads and writes the files where they are named.
type HostDisk struct{}

// WritePath returns path.
func (HostDisk) WritePath(path string) string { return path }

// ReadPath returns path.
func (HostDisk) ReadPath(path string) string { return path }

// OverlayDisk redirects writes under Dir (the file /etc/x is written as
// <Dir>/etc/x) and reads a file from there if it was written, else from its
// real place. A dry run uses it so that it sees the machine as it is and
// changes nothing.
type OverlayDisk struct {
	Dir string
}

// WritePath returns path moved under Dir.
func (o OverlayDisk) WritePath(path string) string { return filepath.Join(o.Dir, path) }

// ReadPath returns path under Dir if it exists there, else path.
func (o OverlayDisk) ReadPath(path string) string {
	if _, err := os.Lstat(o.WritePath(path)); err == nil {
		return o.WritePath(path)
	}
	return path
}

// exists reports whether the file named path exists on disk.
func exists(disk Disk, path string) bool {
	_, err := os.Stat(disk.ReadPath(path))
	return err == nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, creating missing directories with mode dirMode.
// A rename also replaces a running binary safely.
func writeFileAtomic(path string, data []byte, mode, dirMode os.FileMode) error {
	return writeAtomic(path, mode, dirMode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeAtomic(path string, mode, dirMode os.FileMode, fill func(io.Writer) error) (err error) {
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

// copyFile copies src to dst atomically with mode.
func copyFile(src, dst string, mode, dirMode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, mode, dirMode, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// sameContent reports whether files a and b hold the same bytes. A missing
// b is not an error: the files differ.
func sameContent(a, b string) (bool, error) {
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
	ha, err := hashFile(a)
	if err != nil {
		return false, err
	}
	hb, err := hashFile(b)
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

func hashFile(path string) ([sha256.Size]byte, error) {
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
