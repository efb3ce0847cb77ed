package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RemoveCgroup removes the cgroup directory parent (e.g. /kubeedge/pod<uid>)
// under every hierarchy mounted in fsRoot: fsRoot/<controller>/parent on
// cgroup v1, fsRoot/parent on v2. Child cgroups the runtime left are
// removed first (deepest first). Only directories are removed (rmdir), never
// files. A cgroup still busy (EBUSY: processes exiting) is retried for a
// few seconds or until ctx ends.
func RemoveCgroup(ctx context.Context, fsRoot, parent string) error {
	parent = strings.Trim(filepath.Clean("/"+parent), "/")
	if parent == "" || parent == "." {
		return nil
	}
	if fsRoot == "" {
		fsRoot = DefaultCgroupFS
	}
	dirs := []string{filepath.Join(fsRoot, parent)}
	entries, err := os.ReadDir(fsRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup root %s: %w", fsRoot, err)
	}
	for _, e := range entries {
		dirs = append(dirs, filepath.Join(fsRoot, e.Name(), parent))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var busy []error
		for _, d := range dirs {
			if err := removeTree(d); err != nil {
				busy = append(busy, err)
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if err := errors.Join(busy...); !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", parent, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", parent, errors.Join(append(busy, ctx.Err())...))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeTree rmdirs dir and its subdirectories, deepest first. A missing dir
// is not an error.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		errs = append(errs, &os.PathError{Op: "rmdir", Path: dir, Err: err})
	}
	return errors.Join(errs...)
}
