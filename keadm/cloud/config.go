package cloud

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cleanedge/kubeedge/components/apis/cloudcore/v1alpha1"
)

// File modes of what init writes.
const (
	configMode    os.FileMode = 0o644
	configDirMode os.FileMode = 0o755
	binaryMode    os.FileMode = 0o755
	binDirMode    os.FileMode = 0o755
	certMode      os.FileMode = 0o644
	keyMode       os.FileMode = 0o600
	pkiDirMode    os.FileMode = 0o700
)

// wildcard is the address cloudcore listens on.
const wildcard = "0.0.0.0"

// prepareConfig builds the cloudcore configuration init writes: an existing
// cloudcore.yaml with the values init sets filled in, or the defaults moved
// under the roots. The values init sets are the kubeconfig, the master, the
// advertise addresses and DNS names (added to those already there), the
// websocket and https servers and the CA and server certificate files.
// Every other setting of an existing file is kept.
func (d *InitData) prepareConfig() error {
	path := d.cfg.Roots.CloudCoreConfig()
	c := v1alpha1.NewDefault()
	c.SetRoot(d.cfg.Roots.Etc, d.cfg.Roots.VarLib)
	d.configAction = Created
	if exists(d.deps.Disk, path) {
		existing, err := v1alpha1.Load(d.deps.Disk.ReadPath(path))
		if err != nil {
			return fmt.Errorf("existing configuration %s cannot be read (fix or remove it): %w", path, err)
		}
		c = existing
		d.configAction = Kept
	}

	r := d.cfg.Roots
	hub := &c.Modules.CloudHub
	set := func(field string, p *string, v string) {
		if *p != v {
			d.note(field, fmt.Sprintf("%q", *p), fmt.Sprintf("%q", v))
			*p = v
		}
	}
	setInt := func(field string, p *int32, v int) {
		if *p != int32(v) {
			d.note(field, fmt.Sprint(*p), fmt.Sprint(v))
			*p = int32(v)
		}
	}
	setBool := func(field string, p *bool) {
		if !*p {
			d.note(field, "false", "true")
			*p = true
		}
	}
	if d.cfg.KubeConfig != "" {
		set("kubeAPIConfig.kubeConfig", &c.KubeAPIConfig.KubeConfig, d.cfg.KubeConfig)
	}
	if d.cfg.Master != "" {
		set("kubeAPIConfig.master", &c.KubeAPIConfig.Master, d.cfg.Master)
	}
	setBool("modules.cloudHub.enable", &hub.Enable)
	set("modules.cloudHub.tlsCAFile", &hub.TLSCAFile, r.CAFile())
	set("modules.cloudHub.tlsCAKeyFile", &hub.TLSCAKeyFile, r.CAKeyFile())
	set("modules.cloudHub.tlsCertFile", &hub.TLSCertFile, r.CertFile())
	set("modules.cloudHub.tlsPrivateKeyFile", &hub.TLSPrivateKeyFile, r.KeyFile())
	setBool("modules.cloudHub.websocket.enable", &hub.WebSocket.Enable)
	set("modules.cloudHub.websocket.address", &hub.WebSocket.Address, wildcard)
	setInt("modules.cloudHub.websocket.port", &hub.WebSocket.Port, d.cfg.WebsocketPort)
	setBool("modules.cloudHub.https.enable", &hub.HTTPS.Enable)
	set("modules.cloudHub.https.address", &hub.HTTPS.Address, wildcard)
	setInt("modules.cloudHub.https.port", &hub.HTTPS.Port, d.cfg.HTTPSPort)

	addrs := d.cfg.AdvertiseAddresses
	if len(addrs) == 0 && len(hub.AdvertiseAddress) == 0 {
		ip, err := d.deps.HostIP()
		if err != nil {
			return fmt.Errorf("no --advertise-address given and none found on this machine: %w", err)
		}
		d.configNotes = append(d.configNotes, "no --advertise-address given: using "+ip+", an address of this machine")
		addrs = []string{ip}
	}
	if merged := union(hub.AdvertiseAddress, addrs); len(merged) != len(hub.AdvertiseAddress) {
		d.note("modules.cloudHub.advertiseAddress", listString(hub.AdvertiseAddress), listString(merged))
		hub.AdvertiseAddress = merged
	}
	if len(d.cfg.DNSNames) > 0 {
		// The default [""] only stands for "no DNS names".
		old := slices.DeleteFunc(slices.Clone(hub.DNSNames), func(s string) bool { return s == "" })
		if merged := union(old, d.cfg.DNSNames); !slices.Equal(merged, hub.DNSNames) {
			d.note("modules.cloudHub.dnsNames", listString(hub.DNSNames), listString(merged))
			hub.DNSNames = merged
		}
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("the cloudcore configuration init would write is invalid: %w", err)
	}
	d.config = c
	return nil
}

// note records that a value init sets differs in the existing file.
func (d *InitData) note(field, old, v string) {
	if d.configAction == Created {
		return
	}
	d.configAction = Updated
	d.configNotes = append(d.configNotes, fmt.Sprintf("%s: %s -> %s", field, old, v))
}

func union(have, add []string) []string {
	out := slices.Clone(have)
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func listString(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// runConfig writes cloudcore.yaml unless an existing one already holds every
// value init sets.
func runConfig(_ context.Context, d *InitData) error {
	path := d.cfg.Roots.CloudCoreConfig()
	for _, n := range d.configNotes {
		d.printf("config", "%s", n)
	}
	c := Change{Kind: "File", Name: path, Mode: configMode, Action: d.configAction}
	if d.configAction == Kept {
		c.Detail = "it already has the requested settings"
		d.record("config", c)
		return nil
	}
	if err := d.config.Validate(); err != nil {
		return fmt.Errorf("refusing to write an invalid configuration: %w", err)
	}
	data, err := d.config.Marshal()
	if err != nil {
		return fmt.Errorf("encode the cloudcore configuration: %w", err)
	}
	if err := writeFileAtomic(d.deps.Disk.WritePath(path), data, configMode, configDirMode); err != nil {
		return err
	}
	if d.configAction == Updated {
		c.Detail = "set the values above; other settings kept"
	}
	d.restart = true
	d.record("config", c)
	return nil
}
