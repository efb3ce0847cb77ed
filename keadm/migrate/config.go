package migrate

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	devconv "github.com/cleanedge/kubeedge/migrate"

	"github.com/cleanedge/kubeedge/keadm/layout"
)

// Mode says where the objects come from.
type Mode string

// Modes.
const (
	// ModeFiles converts YAML files (Config.Files) offline.
	ModeFiles Mode = "files"
	// ModeCluster migrates the objects of the cluster of Config.KubeConfig.
	ModeCluster Mode = "cluster"
)

// Config is a validated migration request.
type Config struct {
	// Files are YAML files or directories of them (*.yaml, *.yml, walked
	// recursively); non-empty selects ModeFiles.
	Files []string
	// Output is where ModeFiles writes the converted stream; "" is the
	// stdout writer given to RunFiles.
	Output string
	// KubeConfig is the cluster's kubeconfig (ModeCluster).
	KubeConfig string
	// Roots give the default backup directory, <VarLib>/backup/devices-<time>.
	Roots layout.Roots
	// BackupDir overrides the default backup directory (ModeCluster).
	BackupDir string
	// DryRun changes nothing and prints a unified diff per object instead.
	DryRun bool
}

// Mode is the mode the configuration selects.
func (c Config) Mode() Mode {
	if len(c.Files) > 0 {
		return ModeFiles
	}
	return ModeCluster
}

// Validate checks that the flags make one consistent request.
func (c Config) Validate() error {
	switch c.Mode() {
	case ModeFiles:
		if c.BackupDir != "" {
			return errors.New("--backup-dir is only used when migrating a cluster: --from-file leaves its input files alone")
		}
		if c.Output != "" {
			out, err := filepath.Abs(c.Output)
			if err != nil {
				return fmt.Errorf("--output: %w", err)
			}
			for _, f := range c.Files {
				in, err := filepath.Abs(f)
				if err != nil {
					return fmt.Errorf("--from-file: %w", err)
				}
				if in == out {
					return fmt.Errorf("--output %s is also an input: write the converted objects to another file", c.Output)
				}
			}
		}
	case ModeCluster:
		if c.Output != "" {
			return errors.New("--output is only used with --from-file: a cluster is migrated in place (use --dry-run to see the changes)")
		}
	}
	return nil
}

// BackupDirAt is the backup directory a run starting at now uses.
func (c Config) BackupDirAt(now time.Time) string {
	if c.BackupDir != "" {
		return c.BackupDir
	}
	return filepath.Join(c.Roots.VarLib, "backup", "devices-"+now.UTC().Format("20060102-150405"))
}

// Outcome is what happened to one object.
type Outcome string

// Outcomes.
const (
	// Migrated: converted and written (or, in a dry run, would be).
	Migrated Outcome = "migrated"
	// Unchanged: already in v1alpha2 form, or identical after conversion.
	Unchanged Outcome = "unchanged"
	// Failed: not converted or not written; the object was left as it was.
	Failed Outcome = "failed"
)

// ObjectResult is the outcome for one object (or, in ModeFiles, one YAML
// document).
type ObjectResult struct {
	Kind      string
	Namespace string
	Name      string
	// Source is the input file (ModeFiles).
	Source  string
	Outcome Outcome
	// Field and Reason say why a Failed object failed; Field may be empty.
	Field  string
	Reason string
	// Problems are the conversion's notes on a migrated object.
	Problems []devconv.Problem
}

// Ref is "Kind namespace/name".
func (r ObjectResult) Ref() string {
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	if r.Kind == "" {
		return name
	}
	return r.Kind + " " + name
}

// line is the progress line of the object.
func (r ObjectResult) line(dryRun bool) string {
	var b strings.Builder
	b.WriteString(r.Ref())
	if r.Source != "" {
		fmt.Fprintf(&b, " (%s)", r.Source)
	}
	switch r.Outcome {
	case Failed:
		b.WriteString(": failed: ")
		if r.Field != "" {
			b.WriteString(r.Field + ": ")
		}
		b.WriteString(r.Reason)
	case Migrated:
		if dryRun {
			b.WriteString(": would migrate")
		} else {
			b.WriteString(": migrated")
		}
	default:
		b.WriteString(": " + string(r.Outcome))
		if r.Reason != "" {
			b.WriteString(" (" + r.Reason + ")")
		}
	}
	b.WriteString("\n")
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  note: %s: %s\n", p.Field, p.Message)
	}
	return b.String()
}

// Result is what a run did.
type Result struct {
	Mode   Mode
	DryRun bool
	// Objects are the objects considered, in the order they were handled.
	Objects []ObjectResult
	// BackupDir is where the originals were written ("" if no backup was
	// needed or in a dry run).
	BackupDir string
	// NotServed is set when the cluster does not serve v1alpha1 at all.
	NotServed bool
}

// Counts returns how many objects were migrated, unchanged and failed.
func (r Result) Counts() (migrated, unchanged, failed int) {
	for _, o := range r.Objects {
		switch o.Outcome {
		case Migrated:
			migrated++
		case Unchanged:
			unchanged++
		case Failed:
			failed++
		}
	}
	return migrated, unchanged, failed
}

// Summary is the last line of a run: "migrated N, unchanged M, failed K"
// ("would migrate N, ..." in a dry run).
func (r Result) Summary() string {
	m, u, f := r.Counts()
	verb := "migrated"
	if r.DryRun {
		verb = "would migrate"
	}
	return fmt.Sprintf("%s %d, unchanged %d, failed %d", verb, m, u, f)
}

// Err is a *FailedError when an object failed, else nil.
func (r Result) Err() error {
	if _, _, f := r.Counts(); f > 0 {
		return &FailedError{Failed: f}
	}
	return nil
}

// FailedError says that some objects could not be migrated; the others
// were.
type FailedError struct {
	Failed int
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d object(s) could not be migrated and were left as they were (see the lines marked failed)", e.Failed)
}

// PrintSummary writes the summary line and, when a backup was taken, where.
func (r Result) PrintSummary(w io.Writer) {
	if r.NotServed {
		return
	}
	fmt.Fprintln(w, r.Summary())
}
