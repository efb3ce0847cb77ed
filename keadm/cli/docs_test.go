package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The command reference in docs/keadm/ is generated from the command tree;
// this test fails when it is stale (refresh with go test ./keadm/cli -update).
func TestCommandReferenceIsCurrent(t *testing.T) {
	root := NewRootCommand(io.Discard, io.Discard)
	dir := filepath.Join("..", "..", "docs", "keadm")
	var walk func(c *cobra.Command)
	seen := map[string]bool{}
	walk = func(c *cobra.Command) {
		if c.Hidden || (!c.IsAvailableCommand() && c != root) {
			return
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
		seen[name] = true
		got := commandDoc(c)
		path := filepath.Join(dir, name)
		if updating() {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/keadm/%s is stale: run go test ./keadm/cli -update", name)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	files, _ := filepath.Glob(filepath.Join(dir, "keadm*.md"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("docs/keadm/%s documents no command: delete it", filepath.Base(f))
		}
	}
}

// commandDoc renders one command as Markdown: synopsis, description, flags
// and subcommands.
func commandDoc(c *cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", c.CommandPath(), c.Short)
	if c.Long != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(c.Long))
	}
	if c.Runnable() {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", c.UseLine())
	}
	if c.Example != "" {
		fmt.Fprintf(&b, "## Examples\n\n```\n%s\n```\n\n", strings.TrimRight(c.Example, "\n"))
	}
	if fl := c.NonInheritedFlags().FlagUsages(); fl != "" {
		fmt.Fprintf(&b, "## Flags\n\n```\n%s```\n\n", fl)
	}
	var subs []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			subs = append(subs, fmt.Sprintf("- [%s](%s.md): %s", s.CommandPath(), strings.ReplaceAll(s.CommandPath(), " ", "_"), s.Short))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(&b, "## Commands\n\n%s\n\n", strings.Join(subs, "\n"))
	}
	b.WriteString("_Generated from the command tree by `go test ./keadm/cli -update`._\n")
	return b.Bytes()
}
