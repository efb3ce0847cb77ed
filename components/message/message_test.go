package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

type capture struct {
	Direction string          `json:"direction"`
	Frame     json.RawMessage `json:"frame"`
}

func loadCaptures(t testing.TB) map[string]capture {
	t.Helper()
	files, err := filepath.Glob("testdata/captures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata/captures: %v", err)
	}
	out := map[string]capture{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = c
	}
	return out
}

func wireBytes(t testing.TB, frame []byte) []byte {
	t.Helper()
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, frame); err != nil {
		t.Fatal(err)
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes()
}

// Every recorded upstream frame decodes and re-encodes to the same bytes.
func TestCapturesRoundTrip(t *testing.T) {
	for name, c := range loadCaptures(t) {
		t.Run(name, func(t *testing.T) {
			want := wireBytes(t, c.Frame)
			m, err := Decode(c.Frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := Encode(m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round trip differs\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// The typed view of the captures: routes use our constants and resources parse.
func TestCapturesTyped(t *testing.T) {
	caps := loadCaptures(t)
	get := func(name string) Message {
		t.Helper()
		c, ok := caps[name]
		if !ok {
			t.Fatalf("capture %s missing", name)
		}
		m, err := Decode(c.Frame)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	ka := get("edge-to-cloud_keepalive_node.json")
	if ka.Route != KeepaliveRoute {
		t.Errorf("keepalive route = %+v, want %+v", ka.Route, KeepaliveRoute)
	}
	if s, _ := ka.DecodeString(); s != KeepaliveContent {
		t.Errorf("keepalive content = %q", s)
	}

	ins := get("cloud-to-edge_insert_pod.json")
	if ins.Route.Source != SourceEdgeController || ins.Route.Group != GroupResource || ins.Route.Operation != OpInsert {
		t.Errorf("pod insert route = %+v", ins.Route)
	}
	r, err := ParseResource(ins.Route.Resource)
	if err != nil || r != (Resource{Namespace: "default", Type: ResPod, Name: "cap1"}) {
		t.Errorf("pod resource = %+v, %v", r, err)
	}
	var pod struct {
		Kind     string `json:"kind"`
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := ins.DecodeContent(&pod); err != nil || pod.Kind != "Pod" {
		t.Errorf("pod content: %+v %v", pod, err)
	}
	if ins.Header.ResourceVersion != pod.Metadata.ResourceVersion {
		t.Errorf("header resourceversion %q != object %q", ins.Header.ResourceVersion, pod.Metadata.ResourceVersion)
	}

	ack := get("edge-to-cloud_response_pod_ack_for-insert.json")
	if !ack.IsAck() {
		t.Errorf("pod ack not recognised: %+v", ack)
	}
	if ins.IsAck() {
		t.Error("insert recognised as ack")
	}

	// Node patch content is a JSON string holding a JSON patch.
	np := get("edge-to-cloud_patch_nodepatch.json")
	var patch map[string]any
	if err := np.DecodeContent(&patch); err != nil || patch["status"] == nil {
		t.Errorf("nodepatch content: %v %v", patch, err)
	}

	// A 409 in an ObjectResp is an AlreadyExists error; a fresh insert is success.
	var exists, fresh ObjectResponse
	if err := get("cloud-to-edge_response_node_for-insert_already-exists.json").DecodeContent(&exists); err != nil {
		t.Fatal(err)
	}
	if !apierrors.IsAlreadyExists(exists.Error()) {
		t.Errorf("already-exists response error = %v", exists.Error())
	}
	if err := get("cloud-to-edge_response_node_for-insert_fresh.json").DecodeContent(&fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.Error() != nil || len(fresh.Object) == 0 {
		t.Errorf("fresh response: err %v object %d bytes", fresh.Error(), len(fresh.Object))
	}

	lease := get("edge-to-cloud_insert_lease.json")
	lr, err := ParseResource(lease.Route.Resource)
	if err != nil || lr.Type != ResLease || lr.Namespace != "kube-node-lease" {
		t.Errorf("lease resource %+v %v", lr, err)
	}
}

func fixedFactory() Factory {
	n := 0
	return Factory{
		Now: func() time.Time { return time.UnixMilli(1795414382722) },
		NewID: func() string {
			n++
			return "00000000-0000-4000-8000-00000000000" + string(rune('0'+n))
		},
	}
}

// Messages we build follow upstream's shapes byte for byte (golden files).
func TestGolden(t *testing.T) {
	f := fixedFactory()
	ka, err := f.New(KeepaliveRoute, KeepaliveContent)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := f.New(Route{Source: SourceEdgeController, Group: GroupResource, Operation: OpInsert,
		Resource: Resource{Namespace: "default", Type: ResPod, Name: "web"}.String()},
		map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "web", "namespace": "default"}})
	if err != nil {
		t.Fatal(err)
	}
	ins.Header.ResourceVersion = "4711"
	ack := f.Ack(ins)
	conflict := apierrors.NewAlreadyExists(schema.GroupResource{Resource: "nodes"}, "edge-1")
	resp, err := NewObjectResponse(nil, conflict)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := f.Response(Message{Header: Header{ID: "req-1"}, Route: Route{Source: SourceEdged, Group: GroupMeta,
		Operation: OpInsert, Resource: "default/node/edge-1"}}, SourceEdgeController, resp)
	if err != nil {
		t.Fatal(err)
	}
	reply.Route.Group = GroupResource
	bin, err := f.New(Route{Source: SourceBus, Group: GroupUser, Operation: OpUpload, Resource: "t"}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}

	for name, m := range map[string]Message{
		"keepalive": ka, "insert_pod": ins, "ack_pod": ack, "response_conflict": reply, "upload_bytes": bin,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, bytes.TrimSpace(want)) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", ``, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"truncated", `{"header":{"msg_id":"a"`, "invalid JSON"},
		{"timestamp string", `{"header":{"msg_id":"a","timestamp":"x"},"route":{"operation":"insert"}}`, "invalid JSON"},
		{"no id", `{"header":{"timestamp":1},"route":{"operation":"insert"},"content":null}`, "msg_id is empty"},
		{"no operation", `{"header":{"msg_id":"a","timestamp":1},"route":{},"content":null}`, "operation is empty"},
		{"negative time", `{"header":{"msg_id":"a","timestamp":-5},"route":{"operation":"x"}}`, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want DecodeError containing %q", err, tc.want)
			}
		})
	}
}

func TestContentDecoding(t *testing.T) {
	type twin struct {
		EventID string `json:"event_id"`
	}
	for _, tc := range []struct{ name, content string }{
		{"object", `{"event_id":"e1"}`},
		{"string holding JSON", `"{\"event_id\":\"e1\"}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Message{Content: json.RawMessage(tc.content)}
			var v twin
			if err := m.DecodeContent(&v); err != nil || v.EventID != "e1" {
				t.Fatalf("got %+v, %v", v, err)
			}
		})
	}
	if err := (Message{}).DecodeContent(&struct{}{}); err == nil {
		t.Error("empty content decoded without error")
	}
	if got := string((Message{Content: json.RawMessage(`"hello"`)}).ContentBytes()); got != "hello" {
		t.Errorf("ContentBytes of string = %q", got)
	}
	if got := string((Message{Content: json.RawMessage(`{"a":1}`)}).ContentBytes()); got != `{"a":1}` {
		t.Errorf("ContentBytes of object = %q", got)
	}
	if _, err := (Message{}).WithContent(json.RawMessage(`{bad`)); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("invalid raw content accepted: %v", err)
	}
	// Upstream's "{}" for a non-status error reads as success, as on the edge.
	var r ObjectResponse
	if err := json.Unmarshal([]byte(`{"Object":null,"Err":{}}`), &r); err != nil || r.Error() != nil {
		t.Errorf("{} error: %v %v", err, r.Error())
	}
	// Ours never sends that: a plain error becomes an InternalError status.
	r, _ = NewObjectResponse(nil, errors.New("boom"))
	if !apierrors.IsInternalError(r.Error()) {
		t.Errorf("plain error became %v", r.Error())
	}
}

func TestResources(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Resource
		ok   bool
	}{
		{"default/pod/web", Resource{"default", ResPod, "web"}, true},
		{"kube-node-lease/lease/edge-1", Resource{"kube-node-lease", ResLease, "edge-1"}, true},
		{"default/podlist", Resource{"default", ResPodList, ""}, true},
		{"null/deployment/x", Resource{"null", "deployment", "x"}, true},
		{"node", Resource{}, false},
		{"a//b", Resource{}, false},
		{"a/b/c/d", Resource{}, false},
		{"", Resource{}, false},
	} {
		got, err := ParseResource(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseResource(%q) = %+v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}

	nr, err := ParseNodeResource("node/edge-1/default/pod/web")
	if err != nil || nr != (NodeResource{Node: "edge-1", Resource: "default/pod/web"}) || nr.String() != "node/edge-1/default/pod/web" {
		t.Errorf("ParseNodeResource = %+v, %v", nr, err)
	}
	for _, bad := range []string{"edge-1/default/pod/web", "node//x", "node/edge-1", "node/edge-1/"} {
		if _, err := ParseNodeResource(bad); err == nil {
			t.Errorf("ParseNodeResource(%q) accepted", bad)
		}
	}

	dr, err := ParseDeviceResource("device/thermo-1/twin/edge_updated")
	if err != nil || dr != (DeviceResource{DeviceID: "thermo-1", Event: DeviceTwinEdgeUpdated}) || dr.String() != "device/thermo-1/twin/edge_updated" {
		t.Errorf("ParseDeviceResource = %+v, %v", dr, err)
	}
	if _, err := ParseDeviceResource("device/x"); err == nil {
		t.Error("ParseDeviceResource accepted device/x")
	}
}
