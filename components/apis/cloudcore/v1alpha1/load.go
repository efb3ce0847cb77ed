package v1alpha1

import (
	"fmt"
	"os"

	"github.com/cleanedge/kubeedge/components/apis/internal/configfile"
)

// FieldError is a value of the wrong type (from Load/Decode) or a value that
// fails Validate, naming the field path and the fix.
type FieldError = configfile.FieldError

// UnknownFieldError is a key the schema does not have, with its full path.
type UnknownFieldError = configfile.UnknownFieldError

// decodeOptions describe cloudcore.yaml to the decoder.
var decodeOptions = configfile.Options{
	Kind:        Kind,
	APIVersions: []string{APIVersion, APIVersionHelm},
}

// Load reads the file at path: the defaults (NewDefault), then the file's
// keys on top. Problems are reported together, each prefixed with path, for
// example:
//
//	/etc/kubeedge/config/cloudcore.yaml: unknown field "modules.cloudHub.websockt" (did you mean "websocket"?)
//
// Load does not validate; call Validate once the caller has filled what it
// fills (FillHostDefaults, flags).
func Load(path string) (*CloudCore, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading cloudcore configuration: %w", err)
	}
	return decode(path, data)
}

// Decode is Load for a document already in memory; errors are prefixed with
// "cloudcore.yaml".
func Decode(data []byte) (*CloudCore, error) {
	return decode("cloudcore.yaml", data)
}

func decode(name string, data []byte) (*CloudCore, error) {
	c := NewDefault()
	if err := configfile.Decode(name, data, c, decodeOptions); err != nil {
		return nil, err
	}
	return c, nil
}

// Marshal writes the whole configuration as YAML, keys sorted
// (--defaultconfig, and files written by keadm). Decode(Marshal()) gives back
// an equal configuration.
func (c *CloudCore) Marshal() ([]byte, error) {
	return configfile.Marshal(c)
}

// MarshalMinimal writes apiVersion, kind and only the keys a user usually
// edits (--minconfig). Decoding the output fills the rest with defaults.
func (c *CloudCore) MarshalMinimal() ([]byte, error) {
	return configfile.MarshalOnly(c, minimalKeys)
}
