package version

import (
	"fmt"
	"io"
)

// Print writes the build information in the given format: "" (upstream's
// `version: version.Info{…}` line), "short" (the version alone) or "json".
func Print(w io.Writer, format string) error {
	info := Get()
	switch format {
	case "":
		_, err := fmt.Fprintf(w, "version: %s\n", info)
		return err
	case "short":
		_, err := fmt.Fprintln(w, info.GitVersion)
		return err
	case "json":
		_, err := fmt.Fprintln(w, info.JSON())
		return err
	default:
		return fmt.Errorf("unknown output format %q: use one of short, json (or leave --output empty)", format)
	}
}
