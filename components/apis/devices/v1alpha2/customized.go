package v1alpha2

import (
	"encoding/json"
	"fmt"
)

// CustomizedValue is a free-form JSON object (customizedValues, configData).
type CustomizedValue struct {
	Data map[string]interface{} `json:"-"`
}

// MarshalJSON writes Data as a JSON object.
func (c CustomizedValue) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.Data)
}

// UnmarshalJSON reads a JSON object into Data.
func (c *CustomizedValue) UnmarshalJSON(b []byte) error {
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("customized value: %w", err)
	}
	c.Data = m
	return nil
}

// DeepCopyInto copies c into out. Values decoded from JSON are copied
// structurally; anything else goes through a JSON round trip.
func (c *CustomizedValue) DeepCopyInto(out *CustomizedValue) {
	if c.Data == nil {
		out.Data = nil
		return
	}
	out.Data = make(map[string]interface{}, len(c.Data))
	for k, v := range c.Data {
		out.Data[k] = copyJSONValue(v)
	}
}

// DeepCopy returns a deep copy of c.
func (c *CustomizedValue) DeepCopy() *CustomizedValue {
	if c == nil {
		return nil
	}
	out := new(CustomizedValue)
	c.DeepCopyInto(out)
	return out
}

func copyJSONValue(v interface{}) interface{} {
	switch x := v.(type) {
	case nil, string, bool, float64, float32, int, int32, int64, uint, uint32, uint64, json.Number:
		return x
	case map[string]interface{}:
		m := make(map[string]interface{}, len(x))
		for k, e := range x {
			m[k] = copyJSONValue(e)
		}
		return m
	case []interface{}:
		s := make([]interface{}, len(x))
		for i, e := range x {
			s[i] = copyJSONValue(e)
		}
		return s
	default:
		b, err := json.Marshal(x)
		if err != nil {
			panic(fmt.Sprintf("customized value: cannot copy %T: %v", x, err))
		}
		var out interface{}
		if err := json.Unmarshal(b, &out); err != nil {
			panic(fmt.Sprintf("customized value: cannot copy %T: %v", x, err))
		}
		return out
	}
}
