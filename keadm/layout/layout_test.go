package layout

import "testing"

func TestUnder(t *testing.T) {
	if !Under("").IsDefault() || !Under("/").IsDefault() {
		t.Fatal("empty or / prefix must keep upstream paths")
	}
	r := Under("/tmp/n1")
	if r.IsDefault() {
		t.Fatal("moved layout reported as default")
	}
	for got, want := range map[string]string{
		r.EdgeCoreConfig():          "/tmp/n1/etc/kubeedge/config/edgecore.yaml",
		r.CAFile():                  "/tmp/n1/etc/kubeedge/ca/rootCA.crt",
		r.MetaDB():                  "/tmp/n1/var/lib/kubeedge/meta.db",
		r.Binary("edgecore"):        "/tmp/n1/usr/local/bin/edgecore",
		Default().CloudCoreConfig(): "/etc/kubeedge/config/cloudcore.yaml",
		Default().KeyFile():         "/etc/kubeedge/certs/server.key",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
