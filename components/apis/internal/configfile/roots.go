package configfile

import (
	"path/filepath"
	"strings"
)

// Reroot rewrites each of paths that lies under oldRoot so that it lies under
// newRoot instead; a "unix://" prefix (socket addresses) is kept. Paths
// elsewhere (already customised, or system paths) are left alone, and an
// empty newRoot changes nothing.
//
//	Reroot("/tmp/n1/etc", "/etc/kubeedge", &p) // "/etc/kubeedge/ca/rootCA.crt" -> "/tmp/n1/etc/ca/rootCA.crt"
func Reroot(newRoot, oldRoot string, paths ...*string) {
	if newRoot == "" {
		return
	}
	newRoot = filepath.Clean(newRoot)
	for _, p := range paths {
		scheme, path := "", *p
		if rest, ok := strings.CutPrefix(path, "unix://"); ok {
			scheme, path = "unix://", rest
		}
		if path == oldRoot {
			*p = scheme + newRoot
			continue
		}
		if rest, ok := strings.CutPrefix(path, oldRoot+"/"); ok {
			*p = scheme + filepath.Join(newRoot, rest)
		}
	}
}
