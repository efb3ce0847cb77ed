package configfile

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Options describe the document Decode expects.
type Options struct {
	// Kind is the required value of the top-level "kind" key.
	Kind string
	// APIVersions are the accepted values of "apiVersion"; the first one is
	// the one error messages recommend.
	APIVersions []string
	// Ignored lists, per struct type, keys that are accepted and dropped
	// without an error (keys upstream writes that this implementation does
	// not use). Matching is case-insensitive, like the rest of decoding.
	Ignored map[reflect.Type][]string
}

// Decode reads the YAML document data into into, a non-nil pointer to a
// struct that already holds the defaults: keys present in the document
// replace the corresponding values, keys absent leave them alone (maps are
// merged key by key and lists replaced, as encoding/json does).
//
// Decoding follows upstream's (sigs.k8s.io/yaml over encoding/json: JSON
// field names matched exactly or, failing that, case-insensitively; unquoted
// scalars such as 1234 or true accepted for string fields) but is strict:
//
//   - the document must have the expected kind and apiVersion;
//   - duplicate keys, including two spellings of one field that differ only
//     in case, are errors;
//   - every unknown key is an *UnknownFieldError naming its full path;
//   - every value of the wrong type is a *FieldError naming its full path.
//
// All problems found are returned, joined with errors.Join, each prefixed
// with name (the file name). On error, into may be partly updated.
func Decode(name string, data []byte, into any, opts Options) error {
	rv := reflect.ValueOf(into)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("configfile.Decode: want a non-nil pointer to a struct, got %T", into)
	}
	// Syntax errors and duplicate keys (YAML forbids them; upstream ignores them).
	if _, err := yaml.YAMLToJSONStrict(data); err != nil {
		return &FieldError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	raw, err := toJSON(data, rv.Elem().Type())
	if err != nil {
		return &FieldError{File: name, Msg: "invalid YAML: " + err.Error()}
	}
	if err := checkTypeMeta(name, raw, opts); err != nil {
		return err
	}
	d := &decoder{file: name, ignored: opts.Ignored}
	d.object("", raw, rv.Elem())
	return errors.Join(d.errs...)
}

// toJSON converts YAML to JSON the way sigs.k8s.io/yaml.Unmarshal does for a
// target of type typ, so that an unquoted number or boolean written for a
// string field (a token, a password, a node label value) becomes a string,
// exactly as upstream reads it. The library does that conversion only inside
// Unmarshal, so the converted JSON is captured from the decoder option it
// offers, and a throwaway value of typ is the target.
func toJSON(data []byte, typ reflect.Type) (json.RawMessage, error) {
	var raw json.RawMessage
	var captureErr error
	capture := func(d *json.Decoder) *json.Decoder {
		captureErr = d.Decode(&raw)
		return json.NewDecoder(strings.NewReader("null"))
	}
	if err := yaml.Unmarshal(data, reflect.New(typ).Interface(), capture); err != nil {
		return nil, err
	}
	if captureErr != nil {
		return nil, captureErr
	}
	return raw, nil
}

// checkTypeMeta checks the top-level kind and apiVersion.
func checkTypeMeta(name string, raw json.RawMessage, opts Options) error {
	if isNull(raw) {
		return &FieldError{File: name, Msg: fmt.Sprintf("the document is empty; want a %s configuration (apiVersion: %s, kind: %s)",
			opts.Kind, opts.APIVersions[0], opts.Kind)}
	}
	var top map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &top) != nil {
		return &FieldError{File: name, Msg: fmt.Sprintf("want a mapping at the top level, got %s", describeJSON(raw))}
	}
	var errs []error
	check := func(key string, want []string) {
		v, ok := lookupFold(top, key)
		var got string
		switch {
		case !ok || isNull(v):
			errs = append(errs, &FieldError{File: name, Path: key, Msg: fmt.Sprintf("missing; add %q", key+": "+want[0])})
			return
		case json.Unmarshal(v, &got) != nil:
			errs = append(errs, &FieldError{File: name, Path: key, Msg: fmt.Sprintf("want a string, got %s", describeJSON(v))})
			return
		case slices.Contains(want, got):
			return
		}
		quoted := make([]string, len(want))
		for i, w := range want {
			quoted[i] = fmt.Sprintf("%q", w)
		}
		errs = append(errs, &FieldError{File: name, Path: key,
			Msg: fmt.Sprintf("got %q, want %s", got, strings.Join(quoted, " or "))})
	}
	check("kind", []string{opts.Kind})
	check("apiVersion", opts.APIVersions)
	return errors.Join(errs...)
}

func lookupFold(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// decoder walks a JSON document alongside a Go value, so that every problem
// can be reported with its full path (encoding/json reports only the first
// one and names unknown fields without their parents).
type decoder struct {
	file    string
	ignored map[reflect.Type][]string
	errs    []error
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes raw into v (addressable), recursing into plain structs.
func (d *decoder) value(path string, raw json.RawMessage, v reflect.Value) {
	switch {
	case isPlainStruct(v.Type()):
		d.object(path, raw, v)
	case v.Kind() == reflect.Pointer && isPlainStruct(v.Type().Elem()):
		if isNull(raw) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.object(path, raw, v.Elem())
	default:
		d.leaf(path, raw, v)
	}
}

// object decodes a JSON object into the struct v field by field. A null
// leaves v as it is, as encoding/json does.
func (d *decoder) object(path string, raw json.RawMessage, v reflect.Value) {
	if isNull(raw) {
		return
	}
	var obj map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		d.fail(path, "want a mapping, got %s", describeJSON(raw))
		return
	}
	fields := structFields(v.Type())
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := map[string]string{} // field name -> key as written
	for _, k := range keys {
		f, ok := matchField(fields, k)
		if !ok {
			if slices.ContainsFunc(d.ignored[v.Type()], func(s string) bool { return strings.EqualFold(s, k) }) {
				continue
			}
			d.errs = append(d.errs, &UnknownFieldError{File: d.file, Path: joinPath(path, k), Suggestion: suggest(k, fields)})
			continue
		}
		p := joinPath(path, f.name)
		if prev, dup := seen[f.name]; dup {
			d.fail(p, "set twice, as %q and %q; keep one", prev, k)
			continue
		}
		seen[f.name] = k
		d.value(p, obj[k], v.FieldByIndex(f.index))
	}
}

// leaf decodes raw into v with encoding/json and translates its error.
func (d *decoder) leaf(path string, raw json.RawMessage, v reflect.Value) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		p := path
		if typeErr.Field != "" {
			p = joinPath(path, typeErr.Field)
		}
		want := v.Type()
		if typeErr.Type != nil {
			want = typeErr.Type
		}
		d.fail(p, "want %s, got %s", describeType(want), typeErr.Value)
		return
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if rest, ok := strings.CutPrefix(msg, "unknown field "); ok {
		d.errs = append(d.errs, &UnknownFieldError{File: d.file, Path: joinPath(path, strings.Trim(rest, `"`))})
		return
	}
	if rest, ok := strings.CutPrefix(msg, "time: "); ok {
		msg = rest + "; write a duration such as 10s, 1m30s or 2h"
	}
	d.fail(path, "%s", msg)
}

type field struct {
	name  string
	index []int
}

// structFields lists the JSON-visible fields of t the way encoding/json
// names them.
func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		// Embedded structs (by value) are flattened; embedded pointers are
		// not supported (the schemas here have none).
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			for _, inner := range structFields(sf.Type) {
				out = append(out, field{name: inner.name, index: append([]int{i}, inner.index...)})
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{name: name, index: []int{i}})
	}
	return out
}

// matchField finds the field for key: an exact match, else a
// case-insensitive one (encoding/json's rule).
func matchField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return field{}, false
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isPlainStruct reports whether t is a struct decoded field by field, that is
// one without its own UnmarshalJSON / UnmarshalText.
func isPlainStruct(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	pt := reflect.PointerTo(t)
	return !pt.Implements(jsonUnmarshaler) && !pt.Implements(textUnmarshaler)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// describeJSON names the kind of a JSON value for messages.
func describeJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case '"':
		return "string " + string(raw)
	case 't', 'f':
		return "bool " + string(raw)
	case 'n':
		return "null"
	default:
		return "number " + string(raw)
	}
}

// describeType names what a Go type accepts, for messages.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer (%s)", t.Kind())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a non-negative integer (%s)", t.Kind())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return describeType(t.Elem())
	default:
		return t.String()
	}
}

// suggest returns the known field name closest to key, if close enough to be
// a likely typo.
func suggest(key string, fields []field) string {
	best, bestDist := "", -1
	lk := strings.ToLower(key)
	for _, f := range fields {
		dist := editDistance(lk, strings.ToLower(f.name))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if bestDist < 0 || bestDist > max(2, len(key)/4) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
