package configfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Marshal encodes v as YAML with its JSON field names, keys sorted, so the
// output is deterministic (the same shape upstream's --defaultconfig prints).
func Marshal(v any) ([]byte, error) {
	out, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	return out, nil
}

// MarshalOnly encodes v as YAML like Marshal, keeping only the keys on the
// given dotted paths (and everything below them). It prints minimal
// configurations: since decoding starts from the defaults, the keys left out
// keep their default values when the output is read back.
func MarshalOnly(v any, keep []string) ([]byte, error) {
	full, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(full))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	want := map[string]any{}
	for _, p := range keep {
		node := want
		parts := strings.Split(p, ".")
		for i, part := range parts {
			if i == len(parts)-1 {
				node[part] = nil // keep the whole subtree
				break
			}
			next, ok := node[part].(map[string]any)
			if !ok {
				if _, whole := node[part]; whole {
					break // a parent is already kept whole
				}
				next = map[string]any{}
				node[part] = next
			}
			node = next
		}
	}
	pruned, err := json.Marshal(prune(tree, want))
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	return yaml.JSONToYAML(pruned)
}

// prune keeps the keys of tree named in want: a nil entry keeps the whole
// value, a map entry keeps the named keys of a nested object.
func prune(tree map[string]any, want map[string]any) map[string]any {
	out := map[string]any{}
	for k, w := range want {
		v, ok := tree[k]
		if !ok {
			continue
		}
		sub, nested := w.(map[string]any)
		obj, isObj := v.(map[string]any)
		if nested && isObj {
			out[k] = prune(obj, sub)
			continue
		}
		out[k] = v
	}
	return out
}
