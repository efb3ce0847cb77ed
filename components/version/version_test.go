package version

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPrint(t *testing.T) {
	var b bytes.Buffer
	if err := Print(&b, ""); err != nil || !strings.HasPrefix(b.String(), `version: version.Info{GitVersion:"v0.0.0-dev"`) {
		t.Errorf("default output %q, %v", b.String(), err)
	}
	b.Reset()
	if err := Print(&b, "json"); err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := json.Unmarshal(b.Bytes(), &info); err != nil || !strings.HasPrefix(info.GoVersion, "go") || info.UpstreamCompat != UpstreamCompat {
		t.Errorf("json output %+v, %v", info, err)
	}
	if err := Print(&b, "yaml"); err == nil || !strings.Contains(err.Error(), "short, json") {
		t.Errorf("bad format error = %v", err)
	}
}
