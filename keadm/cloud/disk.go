package cloud

import (
	"github.com/cleanedge/kubeedge/components/atomicfile"
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
	return atomicfile.Write(path, data, mode, dirMode)
}
