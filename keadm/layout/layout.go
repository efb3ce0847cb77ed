// Package layout names every file and directory keadm writes, under roots that
// default to upstream KubeEdge's paths and can all be moved (so that tests run a
// cloud and several edge nodes on one machine).
package layout

import (
	"path/filepath"
)

// Roots are the directories everything else lives under.
type Roots struct {
	// Etc holds configs, CA and certificates (upstream /etc/kubeedge).
	Etc string
	// VarLib holds state: meta.db, sockets (upstream /var/lib/kubeedge).
	VarLib string
	// Log holds daemon logs when not under systemd (upstream /var/log/kubeedge).
	Log string
	// Bin is where cloudcore/edgecore are installed (upstream /usr/local/bin).
	Bin string
	// Run holds pid files (/var/run/kubeedge).
	Run string
	// Edged is the pod root (upstream /var/lib/edged).
	Edged string
	// UnitDir is where systemd units go (/etc/systemd/system).
	UnitDir string
}

// Default returns upstream's paths.
func Default() Roots {
	return Roots{
		Etc:     "/etc/kubeedge",
		VarLib:  "/var/lib/kubeedge",
		Log:     "/var/log/kubeedge",
		Bin:     "/usr/local/bin",
		Run:     "/var/run/kubeedge",
		Edged:   "/var/lib/edged",
		UnitDir: "/etc/systemd/system",
	}
}

// Under returns the default layout moved under prefix ("" or "/" keeps it).
// keadm's --root flag uses it: --root /tmp/node1 puts the config in
// /tmp/node1/etc/kubeedge/config/edgecore.yaml.
func Under(prefix string) Roots {
	d := Default()
	if prefix == "" || prefix == "/" {
		return d
	}
	for _, p := range []*string{&d.Etc, &d.VarLib, &d.Log, &d.Bin, &d.Run, &d.Edged, &d.UnitDir} {
		*p = filepath.Join(prefix, *p)
	}
	return d
}

// IsDefault reports whether r is upstream's layout (then systemd may be used).
func (r Roots) IsDefault() bool { return r == Default() }

// Files written by keadm and the daemons.
func (r Roots) ConfigDir() string          { return filepath.Join(r.Etc, "config") }
func (r Roots) CloudCoreConfig() string    { return filepath.Join(r.ConfigDir(), "cloudcore.yaml") }
func (r Roots) EdgeCoreConfig() string     { return filepath.Join(r.ConfigDir(), "edgecore.yaml") }
func (r Roots) CAFile() string             { return filepath.Join(r.Etc, "ca", "rootCA.crt") }
func (r Roots) CAKeyFile() string          { return filepath.Join(r.Etc, "ca", "rootCA.key") }
func (r Roots) CertFile() string           { return filepath.Join(r.Etc, "certs", "server.crt") }
func (r Roots) KeyFile() string            { return filepath.Join(r.Etc, "certs", "server.key") }
func (r Roots) VersionFile() string        { return filepath.Join(r.Etc, "version") }
func (r Roots) MetaDB() string             { return filepath.Join(r.VarLib, "meta.db") }
func (r Roots) EdgeCoreStatus() string     { return filepath.Join(r.VarLib, "edgecore.status") }
func (r Roots) LogFile(name string) string { return filepath.Join(r.Log, name+".log") }
func (r Roots) PIDFile(name string) string { return filepath.Join(r.Run, name+".pid") }
func (r Roots) Binary(name string) string  { return filepath.Join(r.Bin, name) }
