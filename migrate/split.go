package migrate

// SplitDocuments cuts a YAML stream into documents exactly as ConvertYAML
// does: at "---" lines, dropping documents with nothing but white space and
// keeping comment-only ones. ConvertYAML writes one output document per
// document returned here, in the same order, so callers can pair input and
// output documents by index.
func SplitDocuments(data []byte) []string {
	return splitDocuments(data)
}

// ModelKey is the key ConvertYAML matches a Device's spec.deviceModelRef
// with a DeviceModel by: "<namespace>/<name>", an empty namespace counting
// as "default".
func ModelKey(namespace, name string) string {
	return modelKey(namespace, name)
}
