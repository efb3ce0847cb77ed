// Package configfile holds what the cloudcore and edgecore configuration
// packages share: strict YAML decoding with field paths in errors, YAML
// encoding, a collector for validation problems, and path re-rooting.
//
// It knows nothing about either file's schema; the typed packages
// (components/apis/cloudcore/v1alpha1, components/apis/edgecore/v1alpha2)
// pass their structs in and re-export the error types.
package configfile

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one field of a configuration: a value of the
// wrong type while decoding, or a value that fails validation.
type FieldError struct {
	// File is the file (or document name) the field was read from; empty for
	// validation problems, which concern values rather than a file.
	File string
	// Path is the field's dotted JSON path, e.g. "modules.edgeHub.heartbeat".
	// Empty when the problem is with the whole document.
	Path string
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// UnknownFieldError reports a key in a configuration file that the schema
// does not have, usually a typo.
type UnknownFieldError struct {
	// File is the file (or document name) being decoded.
	File string
	// Path is the full dotted path of the unknown key as written, e.g.
	// "modules.edgeHub.websockt".
	Path string
	// Suggestion is the closest known key at the same level, or "".
	Suggestion string
}

func (e *UnknownFieldError) Error() string {
	msg := fmt.Sprintf("unknown field %q", e.Path)
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	if e.Suggestion != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", e.Suggestion)
	}
	return msg
}

// joinPath appends key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
