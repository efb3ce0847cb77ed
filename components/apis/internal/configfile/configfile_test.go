package configfile

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
)

// Defined so that `go test ./components/apis/... -update` works in every
// package; this package has no golden files.
var _ = flag.Bool("update", false, "rewrite golden files (none here)")

type inner struct {
	Port int32  `json:"port"`
	Host string `json:"host"`
}

type Embedded struct {
	Flag string `json:"flag"`
}

type doc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Embedded
	Server  inner             `json:"server"`
	Client  *inner            `json:"client"`
	Labels  map[string]string `json:"labels"`
	List    []string          `json:"list"`
	Skipped string            `json:"-"`
	hidden  string
}

var opts = Options{
	Kind:        "Doc",
	APIVersions: []string{"test/v1", "test/v2"},
	Ignored:     map[reflect.Type][]string{reflect.TypeFor[inner](): {"legacy"}},
}

const head = "apiVersion: test/v1\nkind: Doc\n"

func TestDecode(t *testing.T) {
	d := &doc{Server: inner{Port: 1, Host: "h"}, Labels: map[string]string{"keep": "1"}, List: []string{"x", "y"}}
	err := Decode("f.yaml", []byte(head+`
flag: f
server:
  port: 2
  host: on
  legacy: whatever
client:
  host: c
labels:
  add: 2
list: [z]
`), d, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := &doc{
		APIVersion: "test/v1", Kind: "Doc",
		Embedded: Embedded{Flag: "f"},
		Server:   inner{Port: 2, Host: "true"}, // YAML 1.1 "on", read as upstream reads it
		Client:   &inner{Host: "c"},
		Labels:   map[string]string{"keep": "1", "add": "2"}, // merged
		List:     []string{"z"},                              // replaced
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v\nwant %+v", d, want)
	}

	// null resets a pointer, leaves a struct.
	if err := Decode("f.yaml", []byte(head+"client: null\nserver: null\n"), d, opts); err != nil {
		t.Fatal(err)
	}
	if d.Client != nil || d.Server.Port != 2 {
		t.Errorf("null handling: client %v server %+v", d.Client, d.Server)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown keys everywhere", head + "servr: {}\nserver: {prot: 1}\nclient: {hots: x}\nSkipped: x\nhidden: y\n", []string{
			`f.yaml: unknown field "servr" (did you mean "server"?)`,
			`f.yaml: unknown field "server.prot" (did you mean "port"?)`,
			`f.yaml: unknown field "client.hots" (did you mean "host"?)`,
			`f.yaml: unknown field "Skipped"`,
			`f.yaml: unknown field "hidden"`,
		}},
		{"types", head + "server: {port: 1.5}\nlabels: [a]\nlist: {}\n", []string{
			"f.yaml: server.port: want an integer (int32), got number 1.5",
			"f.yaml: labels: want a mapping, got array",
			"f.yaml: list: want a list, got object",
		}},
		{"second apiVersion accepted, bad kind", "apiVersion: test/v2\nkind: Other\n", []string{`f.yaml: kind: got "Other", want "Doc"`}},
		{"kind not a string", "apiVersion: test/v1\nkind: [a]\n", []string{`kind: want a string, got a list`}},
		{"bad apiVersion", "apiVersion: x\nkind: Doc\n", []string{`apiVersion: got "x", want "test/v1" or "test/v2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode("f.yaml", []byte(tt.doc), &doc{}, opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
	if err := Decode("f", nil, doc{}, opts); err == nil {
		t.Error("a non-pointer target was accepted")
	}
}

func TestMarshalOnly(t *testing.T) {
	d := doc{APIVersion: "test/v1", Kind: "Doc", Server: inner{Port: 7, Host: "h"}, Client: &inner{Port: 8}, Labels: map[string]string{"a": "b"}}
	got, err := MarshalOnly(d, []string{"kind", "server.port", "client", "client.host", "labels", "missing.key"})
	if err != nil {
		t.Fatal(err)
	}
	want := "client:\n  host: \"\"\n  port: 8\nkind: Doc\nlabels:\n  a: b\nserver:\n  port: 7\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestReroot(t *testing.T) {
	a, b, c, d, e := "/etc/kubeedge/ca/x.crt", "/etc/kubeedgeX/y", "unix:///etc/kubeedge/s.sock", "/etc/kubeedge", "/other"
	Reroot("/tmp/r/", "/etc/kubeedge", &a, &b, &c, &d, &e)
	for _, ck := range []struct{ got, want string }{
		{a, "/tmp/r/ca/x.crt"}, {b, "/etc/kubeedgeX/y"}, {c, "unix:///tmp/r/s.sock"}, {d, "/tmp/r"}, {e, "/other"},
	} {
		if ck.got != ck.want {
			t.Errorf("got %q, want %q", ck.got, ck.want)
		}
	}
	Reroot("", "/tmp/r", &a)
	if a != "/tmp/r/ca/x.crt" {
		t.Errorf("empty root changed %q", a)
	}
}

func TestProblems(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Fatal("empty Problems is an error")
	}
	p.Port("a", 0)
	p.HostPort("b", "[::1]:10000", "x") // fine
	p.HostPort("c", ":10000", "h:1")
	p.URL("d", "https://h:1", []string{"https"}, "x") // fine
	p.URL("e", "https:///path", []string{"https"}, "https://h:1")
	p.PositiveInts("f", struct {
		A int32 `json:"aa"`
		B uint8
		C string
	}{A: 1}, "workers")
	p.Labels("g", map[string]string{"ok": "fine", "bad key": "v", "k": "bad value!"})
	err := p.Err()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("not FieldErrors: %#v", err)
	}
	msg := err.Error()
	for _, w := range []string{"a: 0 is not a port", `c: ":10000" is not host:port; set it like h:1`, `e: "https:///path" is not an absolute URL`,
		"f.B: must be greater than 0 (workers), got 0", `g: label key "bad key" is invalid`, `g.k: label value "bad value!" is invalid`} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	for _, unwanted := range []string{"b:", "d:", "f.aa", "f.C", `"ok"`} {
		if strings.Contains(msg, unwanted) {
			t.Errorf("unexpected %q in:\n%s", unwanted, msg)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"websockt", "websocket", 1}, {"kitten", "sitting", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
