package reset

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cleanedge/kubeedge/keadm/layout"
)

// systemDirs are never removed wholesale, whatever the roots say.
var systemDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true, "/lib": true,
	"/lib64": true, "/opt": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/srv": true,
	"/sys": true, "/tmp": true, "/usr": true, "/usr/bin": true, "/usr/lib": true, "/usr/local": true,
	"/usr/local/bin": true, "/usr/sbin": true, "/var": true, "/var/lib": true, "/var/log": true,
	"/var/run": true, "/var/tmp": true, "/etc/systemd": true, "/etc/systemd/system": true,
}

// checkRoots refuses roots that would make reset remove a system directory.
// Etc, VarLib and Edged are removed wholesale; Log and Run only of
// KubeEdge's files; Bin and UnitDir only of cloudcore's and edgecore's files.
func checkRoots(r layout.Roots) error {
	var errs []error
	for _, p := range []struct{ flag, path string }{
		{"etc", r.Etc}, {"var/lib", r.VarLib}, {"edged", r.Edged}, {"log", r.Log}, {"run", r.Run},
		{"bin", r.Bin}, {"unit", r.UnitDir},
	} {
		if p.path == "" || !filepath.IsAbs(p.path) {
			errs = append(errs, fmt.Errorf("the %s root %q is not an absolute path", p.flag, p.path))
		}
	}
	for _, p := range []string{r.Etc, r.VarLib, r.Edged} {
		if systemDirs[filepath.Clean(p)] {
			errs = append(errs, fmt.Errorf("refusing to reset: %s is a system directory and would be removed", p))
		}
	}
	return errors.Join(errs...)
}

// readMounts returns the mount points listed in a mountinfo file.
func readMounts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mounts = append(mounts, unescapeMount(fields[4]))
	}
	return mounts, sc.Err()
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder returns the mount points at or below dir.
func mountsUnder(mounts []string, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+string(filepath.Separator)) {
			out = append(out, m)
		}
	}
	return out
}
