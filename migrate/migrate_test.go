package migrate

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// cases: name -> input files (testdata/input) concatenated as one stream.
// Every input file is also a case of its own.
var combined = map[string][]string{
	"cc2650":      {"CC2650-device-model.yaml", "CC2650-device-instance.yaml"},
	"create":      {"create-device-model.yaml", "create-device-instance.yaml"},
	"led-light":   {"led-light-device-model.yaml", "led-light-device-instance.yaml"},
	"model-after": {"create-device-instance.yaml", "create-device-model.yaml"},
}

func cases(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/input/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/input", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		out[strings.TrimSuffix(name, ".yaml")] = read(name)
	}
	for name, parts := range combined {
		var b []byte
		for _, p := range parts {
			b = append(b, "---\n"...)
			b = append(b, read(p)...)
			b = append(b, '\n')
		}
		out[name] = b
	}
	return out
}

func reportText(r Report) string {
	var sb strings.Builder
	for _, c := range r.Converted {
		sb.WriteString("converted " + c.String() + "\n")
	}
	for _, p := range r.Problems {
		sb.WriteString("problem " + p.String() + "\n")
	}
	sb.WriteString("unchanged " + itoa(r.Unchanged) + "\n")
	return sb.String()
}

func itoa(n int) string {
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(b))
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./migrate -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestConvertYAMLGolden(t *testing.T) {
	for name, in := range cases(t) {
		t.Run(name, func(t *testing.T) {
			out, rep, err := ConvertYAML(in)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata/golden", name+".yaml"), out)
			checkGolden(t, filepath.Join("testdata/golden", name+".report"), []byte(reportText(rep)))

			// Idempotent: converting the output again changes nothing.
			again, rep2, err := ConvertYAML(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Errorf("second run changed the output:\n%s\n---\n%s", out, again)
			}
			if len(rep2.Converted) != 0 {
				t.Errorf("second run converted %v", rep2.Converted)
			}

			// Round trip: every devices document decodes strictly into v1alpha2.
			for _, doc := range splitDocuments(out) {
				var h header
				if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(h.APIVersion, "devices.kubeedge.io/") {
					continue
				}
				if h.APIVersion != "devices.kubeedge.io/v1alpha2" {
					t.Errorf("%s %s left at %s", h.Kind, h.Metadata.Name, h.APIVersion)
				}
				var obj interface{}
				switch h.Kind {
				case "Device":
					obj = new(v1alpha2.Device)
				case "DeviceModel":
					obj = new(v1alpha2.DeviceModel)
				default:
					t.Fatalf("unexpected kind %s", h.Kind)
				}
				if err := DecodeStrict([]byte(doc), obj); err != nil {
					t.Errorf("strict decode of %s %s: %v", h.Kind, h.Metadata.Name, err)
				}
			}
		})
	}
}

func TestConvertYAMLErrors(t *testing.T) {
	tests := []struct{ file, kind, name, field string }{
		{"bad-slaveid.yaml", "Device", "default/bad-tcp", "spec.protocol.modbus.tcp.slaveID"},
		{"unknown-field.yaml", "Device", "has-customized", "spec.protocol.customizedProtocol"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/errors", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// Mixed with a convertible object: still nothing partial.
			good, _ := os.ReadFile("testdata/input/led-light-device-model.yaml")
			in = append(append(good, "\n---\n"...), in...)
			out, rep, err := ConvertYAML(in)
			if out != nil {
				t.Errorf("got partial output:\n%s", out)
			}
			var ce *ConvertError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConvertError", err)
			}
			if ce.Kind != tt.kind || ce.Name != tt.name || ce.Field != tt.field {
				t.Errorf("got %+v, want kind %s name %s field %s", ce, tt.kind, tt.name, tt.field)
			}
			if len(rep.Errors) != 1 {
				t.Errorf("report errors %v", rep.Errors)
			}
			t.Log(err)
		})
	}
}
