package v1alpha2

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

	corev1 "k8s.io/api/core/v1"
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

// joined is a valid configuration, as keadm join fills it.
func joined() *EdgeCore {
	c := NewDefault()
	c.FillHostDefaults("Edge-Node-1", "192.168.56.10")
	c.Modules.Edged.NodeIP = "192.168.56.21"
	c.Modules.Edged.ContainerRuntime = "remote"
	c.Modules.Edged.RemoteRuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	c.Modules.Edged.RemoteImageEndpoint = "unix:///run/containerd/containerd.sock"
	c.Modules.Edged.TailoredKubeletConfig.CgroupDriver = CgroupDriverSystemd
	c.Modules.EdgeHub.Token = "abc.def"
	return c
}

func TestGolden(t *testing.T) {
	full, err := NewDefault().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "edgecore-default.yaml", full)

	minimal, err := NewMinimal().MarshalMinimal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "edgecore-minimal.yaml", minimal)
}

func TestMarshalDeterministic(t *testing.T) {
	c := joined()
	c.Modules.Edged.NodeLabels = map[string]string{"b": "2", "a": "1", "c": "3"}
	first, _ := c.Marshal()
	for range 20 {
		again, _ := c.Marshal()
		if !bytes.Equal(first, again) {
			t.Fatal("Marshal output differs between calls")
		}
	}
}

func TestRoundTrip(t *testing.T) {
	nonDefault := joined()
	nonDefault.Modules.EventBus.MqttMode = MqttModeInternal // 0: must survive (no omitempty)
	nonDefault.Modules.EdgeHub.RotateCertificates = false
	nonDefault.Modules.Edged.TailoredKubeletConfig.ReadOnlyPort = 0
	nonDefault.Modules.Edged.NodeLabels = map[string]string{"zone": "a"}
	nonDefault.Modules.Edged.RegisterWithTaints = []corev1.Taint{{Key: "edge", Effect: corev1.TaintEffectNoSchedule}}
	nonDefault.Modules.Edged.TailoredKubeletConfig.NodeStatusUpdateFrequency.Duration = 30 * time.Second
	nonDefault.FeatureGates = map[string]bool{"requireAuthorization": true}

	for name, c := range map[string]*EdgeCore{"default": NewDefault(), "joined": joined(), "non-default": nonDefault} {
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

	// A joined config written minimally keeps the values keadm join sets.
	c := joined()
	c.Modules.EdgeHub.Quic.Server = "" // not a minimal key
	data, err = c.MarshalMinimal()
	if err != nil {
		t.Fatal(err)
	}
	got, err = Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("a joined config written minimally did not decode back:\n%s", data)
	}
}

func TestUpstreamKeadmJoinFile(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "upstream-keadm-join.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	e, h := c.Modules.Edged, c.Modules.EdgeHub
	checks := []struct {
		name      string
		got, want any
	}{
		{"hostnameOverride", e.HostnameOverride, "edge-node-1"},
		{"nodeIP", e.NodeIP, "192.168.56.21"},
		{"containerRuntime", e.ContainerRuntime, "remote"},
		{"remoteRuntimeEndpoint", e.RemoteRuntimeEndpoint, "unix:///run/containerd/containerd.sock"},
		{"podSandboxImage", e.PodSandboxImage, "kubeedge/pause:3.6"},
		{"cgroupDriver", e.TailoredKubeletConfig.CgroupDriver, "systemd"},
		{"clusterDomain", e.TailoredKubeletConfig.ClusterDomain, "cluster.local"},
		{"nodeStatusUpdateFrequency", e.TailoredKubeletConfig.NodeStatusUpdateFrequency.Duration, 10 * time.Second},
		{"unquoted label value", e.NodeLabels["zone"], "3"},
		{"empty label value", e.NodeLabels["node-role.kubernetes.io/edge"], ""},
		{"websocket.server", h.WebSocket.Server, "192.168.56.10:10000"},
		{"httpServer", h.HTTPServer, "https://192.168.56.10:10002"},
		{"token prefix", h.Token[:8], "0b3bd6e4"},
		{"edgeStream.server", c.Modules.EdgeStream.Server, "192.168.56.10:10004"},
		{"mqttMode", c.Modules.EventBus.MqttMode, MqttModeExternal},
		{"metaManager.dbPath (extension, default)", c.Modules.MetaManager.DBPath, "/var/lib/kubeedge/meta.db"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

const header = "apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: EdgeCore\n"

func TestDecodeUnknownFields(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		path       string
		suggestion string
	}{
		{"typo in a section", "modules:\n  edgeHub:\n    websockt:\n      server: a:1\n", "modules.edgeHub.websockt", "websocket"},
		{"typo in a leaf", "modules:\n  edgeHub:\n    heartbeet: 10\n", "modules.edgeHub.heartbeet", "heartbeat"},
		{"top level", "modulez: {}\n", "modulez", "modules"},
		{"cloud spelling is not the edge one", "modules:\n  metaManager:\n    dbPth: /x\n", "modules.metaManager.dbPth", "dbPath"},
		{"not a kubelet key", "modules:\n  edged:\n    tailoredKubeletConfig:\n      maxPodz: 3\n", "modules.edged.tailoredKubeletConfig.maxPodz", "maxPods"},
		{"inside a list of objects", "modules:\n  edged:\n    registerWithTaints:\n    - key: a\n      efect: NoSchedule\n", "modules.edged.registerWithTaints.efect", ""},
		{"nothing close", "modules:\n  edgeHub:\n    zzzzzzzz: 1\n", "modules.edgeHub.zzzzzzzz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(header + tt.doc))
			var unknown *UnknownFieldError
			if !errors.As(err, &unknown) {
				t.Fatalf("want an UnknownFieldError, got %v", err)
			}
			if unknown.Path != tt.path || unknown.Suggestion != tt.suggestion {
				t.Errorf("got path %q suggestion %q, want %q %q", unknown.Path, unknown.Suggestion, tt.path, tt.suggestion)
			}
			if !strings.HasPrefix(err.Error(), `edgecore.yaml: unknown field "`+tt.path+`"`) {
				t.Errorf("message %q does not name the file and path", err)
			}
		})
	}
}

func TestDecodeReportsAllProblems(t *testing.T) {
	doc := header + `modules:
  edgeHub:
    websockt: {}
    heartbeat: often
  eventBus:
    mqttMode: external
  edged:
    tailoredKubeletConfig:
      syncFrequency: soon
`
	_, err := Decode([]byte(doc))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`edgecore.yaml: unknown field "modules.edgeHub.websockt" (did you mean "websocket"?)`,
		`edgecore.yaml: modules.edgeHub.heartbeat: want an integer (int32), got string`,
		`edgecore.yaml: modules.eventBus.mqttMode: want an integer (int32), got string`,
		`edgecore.yaml: modules.edged.tailoredKubeletConfig.syncFrequency: invalid duration "soon"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestDecodeTypeMeta(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"wrong kind", "apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: CloudCore\n", `edgecore.yaml: kind: got "CloudCore", want "EdgeCore"`},
		{"wrong apiVersion", "apiVersion: edgecore.config.kubeedge.io/v1alpha1\nkind: EdgeCore\n", `edgecore.yaml: apiVersion: got "edgecore.config.kubeedge.io/v1alpha1", want "edgecore.config.kubeedge.io/v1alpha2"`},
		{"cloud apiVersion", "apiVersion: cloudcore.config.kubeedge.io/v1alpha1\nkind: EdgeCore\n", `apiVersion: got "cloudcore.config.kubeedge.io/v1alpha1"`},
		{"missing kind", "apiVersion: edgecore.config.kubeedge.io/v1alpha2\n", `edgecore.yaml: kind: missing; add "kind: EdgeCore"`},
		{"missing apiVersion", "kind: EdgeCore\n", `apiVersion: missing; add "apiVersion: edgecore.config.kubeedge.io/v1alpha2"`},
		{"empty", "", "edgecore.yaml: the document is empty"},
		{"not a mapping", "- a\n- b\n", "want a mapping at the top level, got a list"},
		{"bad YAML", "kind: [\n", "edgecore.yaml: invalid YAML"},
		{"duplicate key", header + "modules: {}\nmodules: {}\n", `already set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeSemantics(t *testing.T) {
	t.Run("absent keys keep defaults, present keys replace", func(t *testing.T) {
		c, err := Decode([]byte(header + "modules:\n  edgeHub:\n    heartbeat: 5\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := NewDefault()
		want.Modules.EdgeHub.Heartbeat = 5
		if !reflect.DeepEqual(c, want) {
			t.Error("decoding one key changed more than that key")
		}
	})
	t.Run("mqttMode 0 is kept", func(t *testing.T) {
		c, err := Decode([]byte(header + "modules:\n  eventBus:\n    mqttMode: 0\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Modules.EventBus.MqttMode != MqttModeInternal {
			t.Errorf("mqttMode = %v", c.Modules.EventBus.MqttMode)
		}
	})
	t.Run("unquoted scalars for strings, as upstream", func(t *testing.T) {
		c, err := Decode([]byte(header + "modules:\n  edgeHub:\n    token: 1234\n  eventBus:\n    mqttPassword: true\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Modules.EdgeHub.Token != "1234" || c.Modules.EventBus.MqttPassword != "true" {
			t.Errorf("token %q password %q", c.Modules.EdgeHub.Token, c.Modules.EventBus.MqttPassword)
		}
	})
	t.Run("case-insensitive keys, as upstream", func(t *testing.T) {
		c, err := Decode([]byte(header + "modules:\n  edgeHub:\n    tlsCAFile: /x/ca.crt\n    WebSocket:\n      Server: 1.2.3.4:10000\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Modules.EdgeHub.TLSCAFile != "/x/ca.crt" || c.Modules.EdgeHub.WebSocket.Server != "1.2.3.4:10000" {
			t.Errorf("got %q %q", c.Modules.EdgeHub.TLSCAFile, c.Modules.EdgeHub.WebSocket.Server)
		}
	})
	t.Run("one field under two spellings", func(t *testing.T) {
		_, err := Decode([]byte(header + "modules:\n  edgeHub:\n    tlsCaFile: /a\n    tlsCAFile: /b\n"))
		if err == nil || !strings.Contains(err.Error(), "modules.edgeHub.tlsCaFile: set twice") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("an empty section keeps its defaults", func(t *testing.T) {
		c, err := Decode([]byte(header + "modules:\n  edgeHub:\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, NewDefault()) {
			t.Error("an empty section changed the configuration")
		}
	})
	t.Run("a section that is not a mapping", func(t *testing.T) {
		_, err := Decode([]byte(header + "modules:\n  edgeHub: 3\n"))
		if err == nil || !strings.Contains(err.Error(), "modules.edgeHub: want a mapping, got number 3") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("upstream keys that are ignored", func(t *testing.T) {
		doc := header + "modules:\n  edged:\n    lockFilePath: /x\n    tailoredKubeletConfig:\n      staticPodPath: /y\n      tracing: {endpoint: z}\n"
		c, err := Decode([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, NewDefault()) {
			t.Error("ignored keys changed the configuration")
		}
	})
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgecore.yaml")
	if err := os.WriteFile(path, []byte(header+"modules:\n  edgeHub:\n    websockt: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+`: unknown field "modules.edgeHub.websockt"`) {
		t.Errorf("got %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *EdgeCore)
		want   []string // substrings, each naming a field; none means valid
	}{
		{"joined config is valid", func(*EdgeCore) {}, nil},
		{"token may be empty", func(c *EdgeCore) { c.Modules.EdgeHub.Token = "" }, nil},
		{"defaults need the host values", func(c *EdgeCore) { *c = *NewDefault() }, []string{
			"modules.edged.hostnameOverride: must not be empty",
			"modules.edgeHub.httpServer:",
			"modules.edgeHub.websocket.server:",
		}},
		{"hostname not DNS-1123", func(c *EdgeCore) { c.Modules.Edged.HostnameOverride = "Edge_1" }, []string{"modules.edged.hostnameOverride:"}},
		{"websocket server without port", func(c *EdgeCore) { c.Modules.EdgeHub.WebSocket.Server = "192.168.1.2" }, []string{`modules.edgeHub.websocket.server: "192.168.1.2" is not host:port`}},
		{"websocket port out of range", func(c *EdgeCore) { c.Modules.EdgeHub.WebSocket.Server = "h:70000" }, []string{"modules.edgeHub.websocket.server:"}},
		{"httpServer not https", func(c *EdgeCore) { c.Modules.EdgeHub.HTTPServer = "http://1.2.3.4:10002" }, []string{"modules.edgeHub.httpServer:"}},
		{"heartbeat zero", func(c *EdgeCore) { c.Modules.EdgeHub.Heartbeat = 0 }, []string{"modules.edgeHub.heartbeat: must be greater than 0"}},
		{"no transport", func(c *EdgeCore) { c.Modules.EdgeHub.WebSocket.Enable = false }, []string{"modules.edgeHub.websocket.enable:"}},
		{"quic needs a server", func(c *EdgeCore) {
			c.Modules.EdgeHub.WebSocket.Enable = false
			c.Modules.EdgeHub.Quic.Enable = true
			c.Modules.EdgeHub.Quic.Server = ""
		}, []string{"modules.edgeHub.quic.server:"}},
		{"disabled edgeHub is not checked", func(c *EdgeCore) {
			c.Modules.EdgeHub.Enable = false
			c.Modules.EdgeHub.Heartbeat = 0
		}, nil},
		{"mqttMode out of range", func(c *EdgeCore) { c.Modules.EventBus.MqttMode = 3 }, []string{"modules.eventBus.mqttMode: must be from 0 to 2"}},
		{"mqttMode internal needs no external URL", func(c *EdgeCore) {
			c.Modules.EventBus.MqttMode = MqttModeInternal
			c.Modules.EventBus.MqttServerExternal = ""
		}, nil},
		{"bad external broker URL", func(c *EdgeCore) { c.Modules.EventBus.MqttServerExternal = "127.0.0.1:1883" }, []string{"modules.eventBus.mqttServerExternal:"}},
		{"bad nodeIP", func(c *EdgeCore) { c.Modules.Edged.NodeIP = "1.2.3" }, []string{"modules.edged.nodeIP:"}},
		{"bad cgroup driver", func(c *EdgeCore) { c.Modules.Edged.TailoredKubeletConfig.CgroupDriver = "cgroupv2" }, []string{"modules.edged.tailoredKubeletConfig.cgroupDriver:"}},
		{"bad label", func(c *EdgeCore) { c.Modules.Edged.NodeLabels = map[string]string{"a b": "x"} }, []string{"modules.edged.nodeLabels:"}},
		{"relative root", func(c *EdgeCore) { c.Modules.Edged.RootDirectory = "edged" }, []string{"modules.edged.rootDirectory:"}},
		{"maxPods zero", func(c *EdgeCore) { c.Modules.Edged.TailoredKubeletConfig.MaxPods = 0 }, []string{"modules.edged.tailoredKubeletConfig.maxPods:"}},
		{"metaServer server", func(c *EdgeCore) {
			c.Modules.MetaManager.MetaServer.Enable = true
			c.Modules.MetaManager.MetaServer.Server = "localhost"
		}, []string{"modules.metaManager.metaServer.server:"}},
		{"edgeStream server", func(c *EdgeCore) {
			c.Modules.EdgeStream.Enable = true
			c.Modules.EdgeStream.Server = ""
		}, []string{"modules.edgeStream.server:"}},
		{"wrong kind", func(c *EdgeCore) { c.Kind = "CloudCore" }, []string{"kind:"}},
		{"all problems at once", func(c *EdgeCore) {
			c.Modules.EdgeHub.Heartbeat = -1
			c.Modules.ServiceBus.Enable = true
			c.Modules.ServiceBus.Port = 0
		}, []string{"modules.edgeHub.heartbeat:", "modules.serviceBus.port: 0 is not a port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := joined()
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
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path == "" {
				t.Errorf("want FieldErrors with a path, got %#v", err)
			}
		})
	}
}

func TestFillHostDefaults(t *testing.T) {
	c := NewDefault()
	c.FillHostDefaults("Node-A", "fd00::5")
	h := c.Modules.EdgeHub
	if c.Modules.Edged.HostnameOverride != "node-a" || c.Modules.Edged.NodeIP != "fd00::5" ||
		h.WebSocket.Server != "[fd00::5]:10000" || h.Quic.Server != "[fd00::5]:10001" || h.HTTPServer != "https://[fd00::5]:10002" {
		t.Errorf("got %+v %+v", c.Modules.Edged.HostnameOverride, h)
	}
	c.FillHostDefaults("other", "10.0.0.1") // already filled: unchanged
	if c.Modules.Edged.HostnameOverride != "node-a" || c.Modules.EdgeHub.WebSocket.Server != "[fd00::5]:10000" {
		t.Error("FillHostDefaults overwrote values")
	}
}

// stringFields returns every string field of v with its Go path.
func stringFields(v reflect.Value, path string, out map[string]string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			stringFields(v.Field(i), path+"."+v.Type().Field(i).Name, out)
		}
	case reflect.String:
		out[path] = v.String()
	}
}

func TestSetRoots(t *testing.T) {
	c := NewDefault()
	c.Modules.EdgeHub.TLSCAFile = "/custom/ca.crt" // customised: left alone
	c.SetRoots("/tmp/n1/etc", "/tmp/n1/lib", "/tmp/n1/edged")

	fields := map[string]string{}
	stringFields(reflect.ValueOf(c).Elem(), "EdgeCore", fields)
	for path, v := range fields {
		for _, root := range []string{DefaultEtcRoot, DefaultVarLibRoot, DefaultEdgedRoot} {
			if v := strings.TrimPrefix(v, "unix://"); v == root || strings.HasPrefix(v, root+"/") {
				t.Errorf("%s = %q is still under %s after SetRoots", path, v, root)
			}
		}
	}
	m := c.Modules
	for _, ck := range []struct{ name, got, want string }{
		{"edgeHub.tlsCaFile (customised)", m.EdgeHub.TLSCAFile, "/custom/ca.crt"},
		{"edgeHub.tlsCertFile", m.EdgeHub.TLSCertFile, "/tmp/n1/etc/certs/server.crt"},
		{"edged.kubeConfig", m.Edged.KubeConfig, "/tmp/n1/etc/config/kubeconfig"},
		{"database.dataSource", c.Database.DataSource, "/tmp/n1/lib/edgecore.db"},
		{"metaManager.dbPath", m.MetaManager.DBPath, "/tmp/n1/lib/meta.db"},
		{"edged.rootDirectory", m.Edged.RootDirectory, "/tmp/n1/edged"},
		{"edged.seccompProfileRoot", m.Edged.SeccompProfileRoot, "/tmp/n1/edged/seccomp"},
		{"edged.cniConfDir (system path)", m.Edged.CNIConfDir, "/etc/cni/net.d"},
	} {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.name, ck.got, ck.want)
		}
	}

	// Empty roots change nothing.
	d := NewDefault()
	d.SetRoots("", "", "")
	if !reflect.DeepEqual(d, NewDefault()) {
		t.Error("SetRoots with empty roots changed the configuration")
	}
}
