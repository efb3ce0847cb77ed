package store

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrInUse is returned by Open and Check when another process holds the
	// file lock.
	ErrInUse = errors.New("meta.db is in use by another process (is edgecore running?)")
	// ErrCorrupt is matched by every *CorruptError.
	ErrCorrupt = errors.New("meta.db is corrupt")
	// ErrSchemaTooNew is matched by a *SchemaError for a file written by a newer
	// release than this binary.
	ErrSchemaTooNew = errors.New("meta.db schema is newer than this binary supports")
	// ErrClosed is returned by operations on a closed DB.
	ErrClosed = errors.New("meta.db is closed")
	// ErrInvalidKey is returned for a resource key that cannot be stored.
	ErrInvalidKey = errors.New("invalid resource key")
	// ErrInvalidObject is returned for an object whose data is not JSON.
	ErrInvalidObject = errors.New("invalid object")
	// ErrInvalidEntry is returned for an empty outbox message.
	ErrInvalidEntry = errors.New("invalid outbox entry")
	// ErrReservedKey is returned by SetMeta for keys the store manages itself.
	ErrReservedKey = errors.New("reserved meta key")
)

// maxProblems bounds the problems a CorruptError lists.
const maxProblems = 10

// RecoveryAdvice is what an operator should do with a damaged meta.db. The
// cloud resends every object once the node reconnects; only edge reports that
// were still queued are lost.
const RecoveryAdvice = "restore a backup (keadm upgrade keeps one in /etc/kubeedge/backup/) or move the file aside to start empty; " +
	"the cloud will resend everything (edge reports still queued are lost)"

// CorruptError reports a meta.db that bbolt cannot read or that fails the
// consistency check.
type CorruptError struct {
	// Path is the database file.
	Path string
	// Problems are the first problems found (at most 10).
	Problems []string
	// More counts problems found beyond Problems.
	More int
	// Err is the underlying bbolt error or recovered fault, if any.
	Err error
}

// Error says what is wrong and what to do about it.
func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "meta.db at %s is corrupt (", e.Path)
	var parts []string
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	parts = append(parts, e.Problems...)
	b.WriteString(strings.Join(parts, "; "))
	if e.More > 0 {
		fmt.Fprintf(&b, "; and %d more", e.More)
	}
	b.WriteString("): ")
	b.WriteString(RecoveryAdvice)
	return b.String()
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

// problems collects check findings, keeping the first maxProblems.
type problems struct {
	list []string
	more int
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) < maxProblems {
		p.list = append(p.list, fmt.Sprintf(format, args...))
		return
	}
	p.more++
}

func (p *problems) empty() bool { return len(p.list) == 0 }

func (p *problems) err(path string) error {
	if p.empty() {
		return nil
	}
	return &CorruptError{Path: path, Problems: p.list, More: p.more}
}

// SchemaError reports a schema version this binary cannot open.
type SchemaError struct {
	// Path is the database file.
	Path string
	// Found is the version stamped in the file.
	Found int
	// Supported is the newest version this binary knows (CurrentSchema).
	Supported int
	// Backup is a pre-upgrade backup beside the file that this binary can
	// open, if one exists.
	Backup string
}

// Error says which versions clash and what to do about it.
func (e *SchemaError) Error() string {
	msg := fmt.Sprintf("meta.db at %s has schema version %d, newer than this binary supports (%d): "+
		"it was written by a newer edgecore; run that release again", e.Path, e.Found, e.Supported)
	if e.Backup != "" {
		return msg + ", or restore " + e.Backup + " (written before the upgrade)"
	}
	return msg + ", or move the file aside to start empty (the cloud will resend everything)"
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaTooNew }
