// Package version reports what build a binary is. The variables are stamped by
// the Makefile with -ldflags "-X github.com/cleanedge/kubeedge/components/version.gitVersion=…".
package version

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped at link time; the defaults describe an unstamped `go build`.
var (
	gitVersion   = "v0.0.0-dev"
	gitCommit    = ""
	gitTreeState = ""
	buildDate    = "1970-01-01T00:00:00Z"
)

// UpstreamCompat is the upstream KubeEdge release whose wire protocol, files and
// flags this build follows.
const UpstreamCompat = "v1.12.7"

// Info describes a build. The field names and the String form follow upstream
// KubeEdge's `version.Info` so that scripts written against it keep working.
type Info struct {
	GitVersion     string `json:"gitVersion"`
	GitCommit      string `json:"gitCommit"`
	GitTreeState   string `json:"gitTreeState"`
	BuildDate      string `json:"buildDate"`
	GoVersion      string `json:"goVersion"`
	Compiler       string `json:"compiler"`
	Platform       string `json:"platform"`
	UpstreamCompat string `json:"upstreamCompat"`
}

// Get returns the running binary's build information. An unstamped build falls
// back to the VCS data the Go toolchain embeds.
func Get() Info {
	commit, state := gitCommit, gitTreeState
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					commit = s.Value
				case "vcs.modified":
					state = map[string]string{"true": "dirty", "false": "clean"}[s.Value]
				}
			}
		}
	}
	return Info{
		GitVersion:     gitVersion,
		GitCommit:      commit,
		GitTreeState:   state,
		BuildDate:      buildDate,
		GoVersion:      runtime.Version(),
		Compiler:       runtime.Compiler,
		Platform:       runtime.GOOS + "/" + runtime.GOARCH,
		UpstreamCompat: UpstreamCompat,
	}
}

// String renders the upstream form: version.Info{GitVersion:"…", …}.
func (i Info) String() string {
	return fmt.Sprintf("version.Info{GitVersion:%q, GitCommit:%q, GitTreeState:%q, BuildDate:%q, GoVersion:%q, Compiler:%q, Platform:%q, UpstreamCompat:%q}",
		i.GitVersion, i.GitCommit, i.GitTreeState, i.BuildDate, i.GoVersion, i.Compiler, i.Platform, i.UpstreamCompat)
}

// JSON renders the info as indented JSON.
func (i Info) JSON() string {
	b, _ := json.MarshalIndent(i, "", "  ") // a struct of strings always marshals
	return string(b)
}
