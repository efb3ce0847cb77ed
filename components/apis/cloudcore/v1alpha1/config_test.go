package v1alpha1

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./components/apis/... -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run with -update if the change is intended\ngot:\n%s", path, got)
	}
}

// filled is a valid configuration.
func filled() *CloudCore {
	c := NewDefault()
	c.FillHostDefaults("192.168.56.10")
	return c
}

func TestGolden(t *testing.T) {
	full, err := NewDefault().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cloudcore-default.yaml", full)

	minimal, err := NewMinimal().MarshalMinimal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cloudcore-minimal.yaml", minimal)
}

func TestRoundTrip(t *testing.T) {
	nonDefault := filled()
	nonDefault.Modules.CloudHub.WebSocket.Enable = false
	nonDefault.Modules.CloudHub.Quic.Enable = true
	nonDefault.Modules.CloudHub.DNSNames = []string{"cloudcore.example.com"}
	nonDefault.Modules.EdgeController.Load.UpdateRuleStatusWorkers = 9
	nonDefault.Modules.IptablesManager.Mode = IptablesModeExternal
	nonDefault.FeatureGates = map[string]bool{"requireAuthorization": true}

	for name, c := range map[string]*CloudCore{"default": NewDefault(), "filled": filled(), "non-default": nonDefault} {
		t.Run(name, func(t *testing.T) {
			data, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("Decode(Marshal()) differs:\ngot  %+v\nwant %+v", got, c)
			}
		})
	}
}

func TestMinimalDecodesToDefaults(t *testing.T) {
	data, err := NewMinimal().MarshalMinimal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, NewDefault()) {
		t.Error("the minimal config does not decode to the defaults")
	}
}

func TestCapitalisedLoadKeys(t *testing.T) {
	data, err := NewDefault().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"\n      UpdateRuleStatusWorkers: 4\n", "\n      ServiceAccountTokenWorkers: 4\n", "\n    unixsocket:\n", "\n    tlsCAFile: "} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("output lacks %q", key)
		}
	}
}

func TestUpstreamHelmFile(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "upstream-helm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	h := c.Modules.CloudHub
	if c.APIVersion != APIVersionHelm {
		t.Errorf("apiVersion %q not kept as read", c.APIVersion)
	}
	if !reflect.DeepEqual(h.AdvertiseAddress, []string{"192.168.56.10"}) || h.TLSCertFile != "/etc/kubeedge/certs/edge.crt" ||
		h.TLSCAKeyFile != "/etc/kubeedge/ca/rootCA.key" || !c.Modules.CloudStream.Enable ||
		c.Modules.IptablesManager.Mode != IptablesModeExternal || h.EdgeCertSigningDuration != 365 {
		t.Errorf("unexpected values: %+v", c)
	}
	if h.EdgeCertValidity() != 365*24*time.Hour || h.TokenRefreshInterval() != 12*time.Hour {
		t.Errorf("durations %v %v", h.EdgeCertValidity(), h.TokenRefreshInterval())
	}
}

const header = "apiVersion: cloudcore.config.kubeedge.io/v1alpha1\nkind: CloudCore\n"

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown field", header + "modules:\n  cloudHub:\n    websockt: {}\n", `cloudcore.yaml: unknown field "modules.cloudHub.websockt" (did you mean "websocket"?)`},
		{"camel-cased unixSocket is accepted, a typo is not", header + "modules:\n  cloudHub:\n    unixSockt: {}\n", `unknown field "modules.cloudHub.unixSockt" (did you mean "unixsocket"?)`},
		{"wrong type", header + "modules:\n  cloudHub:\n    nodeLimit: many\n", `cloudcore.yaml: modules.cloudHub.nodeLimit: want an integer (int32), got string`},
		{"list expected", header + "modules:\n  cloudHub:\n    advertiseAddress: 10.0.0.1\n", `modules.cloudHub.advertiseAddress: want a list, got string`},
		{"wrong kind", "apiVersion: cloudcore.config.kubeedge.io/v1alpha1\nkind: EdgeCore\n", `cloudcore.yaml: kind: got "EdgeCore", want "CloudCore"`},
		{"wrong apiVersion", "apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: CloudCore\n",
			`cloudcore.yaml: apiVersion: got "edgecore.config.kubeedge.io/v1alpha2", want "cloudcore.config.kubeedge.io/v1alpha1" or "cloudcore.config.kubeedge.io/v1alpha2"`},
		{"missing kind", "apiVersion: cloudcore.config.kubeedge.io/v1alpha1\n", `kind: missing; add "kind: CloudCore"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant an error containing %q", err, tt.want)
			}
		})
	}

	var unknown *UnknownFieldError
	_, err := Decode([]byte(header + "modules:\n  router:\n    prot: 1\n"))
	if !errors.As(err, &unknown) || unknown.Path != "modules.router.prot" || unknown.Suggestion != "port" {
		t.Errorf("got %#v", err)
	}

	c, err := Decode([]byte(header + "modules:\n  cloudHub:\n    unixSocket:\n      enable: false\n"))
	if err != nil || c.Modules.CloudHub.UnixSocket.Enable {
		t.Errorf("unixSocket (case variant, accepted upstream): %v", err)
	}
}

func TestAcceptsHelmAPIVersion(t *testing.T) {
	c, err := Decode([]byte("apiVersion: cloudcore.config.kubeedge.io/v1alpha2\nkind: CloudCore\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != APIVersionHelm {
		t.Errorf("apiVersion = %q", c.APIVersion)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *CloudCore)
		want   []string
	}{
		{"filled config is valid", func(*CloudCore) {}, nil},
		{"defaults need advertiseAddress", func(c *CloudCore) { *c = *NewDefault() }, []string{"modules.cloudHub.advertiseAddress: must list at least one IP"}},
		{"advertiseAddress not an IP", func(c *CloudCore) { c.Modules.CloudHub.AdvertiseAddress = []string{"10.0.0.1", "cloud.example.com"} },
			[]string{`modules.cloudHub.advertiseAddress: "cloud.example.com" is not an IP address`}},
		{"bad dnsName", func(c *CloudCore) { c.Modules.CloudHub.DNSNames = []string{"Bad_Name"} }, []string{"modules.cloudHub.dnsNames:"}},
		{"port 0", func(c *CloudCore) { c.Modules.CloudHub.WebSocket.Port = 0 }, []string{"modules.cloudHub.websocket.port: 0 is not a port; set a number from 1 to 65535"}},
		{"port too big", func(c *CloudCore) { c.Modules.CloudHub.HTTPS.Port = 70000 }, []string{"modules.cloudHub.https.port:"}},
		{"quic port checked only when enabled", func(c *CloudCore) { c.Modules.CloudHub.Quic.Port = 0 }, nil},
		{"no transport", func(c *CloudCore) { c.Modules.CloudHub.WebSocket.Enable = false }, []string{"modules.cloudHub.websocket.enable:"}},
		{"unix socket address", func(c *CloudCore) { c.Modules.CloudHub.UnixSocket.Address = "/var/lib/kubeedge/kubeedge.sock" }, []string{"modules.cloudHub.unixsocket.address:"}},
		{"worker count", func(c *CloudCore) { c.Modules.EdgeController.Load.ServiceAccountTokenWorkers = 0 }, []string{"modules.edgeController.load.ServiceAccountTokenWorkers: must be greater than 0"}},
		{"buffer size", func(c *CloudCore) { c.Modules.DeviceController.Buffer.DeviceEvent = -1 }, []string{"modules.deviceController.buffer.deviceEvent:"}},
		{"iptables mode", func(c *CloudCore) { c.Modules.IptablesManager.Mode = "both" }, []string{`modules.iptablesManager.mode: "both" is not allowed; set one of internal, external`}},
		{"tunnelPort", func(c *CloudCore) { c.CommonConfig.TunnelPort = -1 }, []string{"commonConfig.tunnelPort:"}},
		{"stream ports clash", func(c *CloudCore) {
			c.Modules.CloudStream.Enable = true
			c.Modules.CloudStream.StreamPort = 10004
		}, []string{"modules.cloudStream.streamPort: must differ from tunnelPort"}},
		{"router address", func(c *CloudCore) {
			c.Modules.Router.Enable = true
			c.Modules.Router.Address = "any"
		}, []string{"modules.router.address:"}},
		{"master URL", func(c *CloudCore) { c.KubeAPIConfig.Master = "10.0.0.1:6443" }, []string{"kubeAPIConfig.master:"}},
		{"apiVersion", func(c *CloudCore) { c.APIVersion = "v1" }, []string{"apiVersion:"}},
		{"all problems at once", func(c *CloudCore) {
			c.Modules.CloudHub.NodeLimit = 0
			c.Modules.CloudHub.EdgeCertSigningDuration = 0
		}, []string{"modules.cloudHub.nodeLimit:", "modules.cloudHub.edgeCertSigningDuration:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := filled()
			tt.change(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSetRoot(t *testing.T) {
	c := NewDefault()
	c.SetRoot("/tmp/c1/etc", "/tmp/c1/lib")
	h, s := c.Modules.CloudHub, c.Modules.CloudStream
	for _, ck := range []struct{ name, got, want string }{
		{"tlsCAFile", h.TLSCAFile, "/tmp/c1/etc/ca/rootCA.crt"},
		{"tlsCAKeyFile", h.TLSCAKeyFile, "/tmp/c1/etc/ca/rootCA.key"},
		{"tlsPrivateKeyFile", h.TLSPrivateKeyFile, "/tmp/c1/etc/certs/server.key"},
		{"tlsStreamCAFile", s.TLSStreamCAFile, "/tmp/c1/etc/ca/streamCA.crt"},
		{"unixsocket.address", h.UnixSocket.Address, "unix:///tmp/c1/lib/kubeedge.sock"},
		{"kubeConfig (empty)", c.KubeAPIConfig.KubeConfig, ""},
	} {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.name, ck.got, ck.want)
		}
	}
	data, _ := c.Marshal()
	for _, root := range []string{DefaultEtcRoot + "/", DefaultVarLibRoot + "/"} {
		if bytes.Contains(data, []byte(root)) {
			t.Errorf("a path is still under %s after SetRoot:\n%s", root, data)
		}
	}
}
