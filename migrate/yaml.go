package migrate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
)

// ObjectRef names one object in a YAML stream.
type ObjectRef struct {
	Kind      string
	Namespace string
	Name      string
}

func (r ObjectRef) String() string { return r.Kind + " " + nsName(r.Namespace, r.Name) }

// Report says what ConvertYAML did.
type Report struct {
	// Converted lists the v1alpha1 objects converted, in input order.
	Converted []ObjectRef
	// Unchanged counts the documents passed through as they were.
	Unchanged int
	// Problems are the notes of all conversions.
	Problems []Problem
	// Errors are the objects that could not be converted.
	Errors []*ConvertError
}

var (
	groupV1alpha1 = v1alpha1.SchemeGroupVersion.String()
)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// ConvertYAML converts every devices.kubeedge.io/v1alpha1 Device and
// DeviceModel in a multi-document YAML stream and passes every other
// document (v1alpha2 objects, other kinds, comment-only documents) through
// unchanged. Converted documents are written by sigs.k8s.io/yaml (sorted
// keys); documents are separated by "---". A Device gets the visitors of the
// v1alpha1 DeviceModel it references when that model is in the same stream
// (an empty namespace counts as "default").
//
// If any object cannot be converted, out is nil, report.Errors lists every
// such object and err wraps them (errors.As finds a *ConvertError).
func ConvertYAML(docs []byte) (out []byte, report Report, err error) {
	parts := splitDocuments(docs)

	type doc struct {
		text   string
		hdr    header
		model  *v1alpha1.DeviceModel
		device *v1alpha1.Device
	}
	parsed := make([]doc, 0, len(parts))
	models := map[string]*v1alpha1.DeviceModel{}
	v2models := map[string]bool{}
	for i, text := range parts {
		d := doc{text: text}
		if err := yaml.Unmarshal([]byte(text), &d.hdr); err != nil {
			return nil, Report{}, fmt.Errorf("document %d: %w", i+1, err)
		}
		key := modelKey(d.hdr.Metadata.Namespace, d.hdr.Metadata.Name)
		if d.hdr.APIVersion == groupV1alpha1 {
			switch d.hdr.Kind {
			case "DeviceModel":
				d.model = new(v1alpha1.DeviceModel)
				if cerr := decodeStrict([]byte(text), d.model, d.hdr); cerr != nil {
					report.Errors = append(report.Errors, cerr)
					d.model = nil
				} else {
					models[key] = d.model
				}
			case "Device":
				d.device = new(v1alpha1.Device)
				if cerr := decodeStrict([]byte(text), d.device, d.hdr); cerr != nil {
					report.Errors = append(report.Errors, cerr)
					d.device = nil
				}
			}
		}
		if d.hdr.APIVersion == v1alpha2.SchemeGroupVersion.String() && d.hdr.Kind == "DeviceModel" {
			v2models[key] = true
		}
		parsed = append(parsed, d)
	}

	outDocs := make([]string, 0, len(parsed))
	for _, d := range parsed {
		var (
			obj      interface{}
			problems []Problem
			cerr     error
			ref      = ObjectRef{Kind: d.hdr.Kind, Namespace: d.hdr.Metadata.Namespace, Name: d.hdr.Metadata.Name}
		)
		switch {
		case d.model != nil:
			obj, problems, cerr = ConvertDeviceModel(d.model)
		case d.device != nil:
			var model *v1alpha1.DeviceModel
			if r := d.device.Spec.DeviceModelRef; r != nil {
				key := modelKey(d.device.Namespace, r.Name)
				model = models[key]
				if model == nil && v2models[key] {
					problems = append(problems, Problem{Kind: "Device", Namespace: d.device.Namespace, Name: d.device.Name,
						Field: "spec.propertyVisitors", Message: fmt.Sprintf("model %q is already v1alpha2: add the property visitors by hand", r.Name)})
				}
			}
			var dev *v1alpha2.Device
			var more []Problem
			dev, more, cerr = ConvertDevice(d.device, model)
			if model == nil && v2models[modelKey(d.device.Namespace, refName(d.device))] {
				more = dropProblem(more, "spec.propertyVisitors")
			}
			problems, obj = append(problems, more...), dev
		default:
			report.Unchanged++
			outDocs = append(outDocs, d.text)
			continue
		}
		if cerr != nil {
			var ce *ConvertError
			if errors.As(cerr, &ce) {
				report.Errors = append(report.Errors, ce)
				continue
			}
			return nil, Report{}, cerr
		}
		b, merr := yaml.Marshal(obj)
		if merr != nil {
			return nil, Report{}, fmt.Errorf("%s: %w", ref, merr)
		}
		report.Converted = append(report.Converted, ref)
		report.Problems = append(report.Problems, problems...)
		outDocs = append(outDocs, strings.TrimRight(string(b), "\n"))
	}

	if len(report.Errors) > 0 {
		errs := make([]error, len(report.Errors))
		for i, e := range report.Errors {
			errs[i] = e
		}
		report.Converted = nil
		if len(errs) == 1 {
			return nil, report, errs[0]
		}
		return nil, report, errors.Join(errs...)
	}

	var buf bytes.Buffer
	for i, t := range outDocs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.WriteString(t)
		buf.WriteString("\n")
	}
	return buf.Bytes(), report, nil
}

func refName(d *v1alpha1.Device) string {
	if d.Spec.DeviceModelRef == nil {
		return ""
	}
	return d.Spec.DeviceModelRef.Name
}

func dropProblem(ps []Problem, field string) []Problem {
	out := ps[:0]
	for _, p := range ps {
		if p.Field != field {
			out = append(out, p)
		}
	}
	return out
}

func modelKey(ns, name string) string {
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + name
}

var docSeparator = regexp.MustCompile(`^---(\s.*)?$`)

// splitDocuments cuts a YAML stream at "---" lines. Each document loses
// leading blank lines and trailing white space; documents with nothing but
// white space are dropped, comment-only documents are kept.
func splitDocuments(data []byte) []string {
	var docs []string
	var cur []string
	flush := func() {
		for len(cur) > 0 && strings.TrimSpace(cur[0]) == "" {
			cur = cur[1:]
		}
		text := strings.TrimRight(strings.Join(cur, "\n"), " \t\r\n")
		if text != "" {
			docs = append(docs, text)
		}
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if docSeparator.MatchString(line) {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

var typeErrorField = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.(\S+) of type`)

// decodeStrict decodes a YAML document into a typed object, refusing unknown
// and duplicate fields, and names the offending field on failure.
func decodeStrict(doc []byte, into interface{}, hdr header) *ConvertError {
	name := nsName(hdr.Metadata.Namespace, hdr.Metadata.Name)
	fail := func(field, reason string) *ConvertError {
		return &ConvertError{Kind: hdr.Kind, Name: name, Field: field, Reason: reason}
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return fail("", err.Error())
	}
	strict, err := sigsjson.UnmarshalStrict(j, into)
	if err != nil {
		field := ""
		if m := typeErrorField.FindStringSubmatch(err.Error()); m != nil {
			field = m[1]
		}
		return fail(field, err.Error())
	}
	if len(strict) > 0 {
		var fe sigsjson.FieldError
		field := ""
		if errors.As(strict[0], &fe) {
			field = fe.FieldPath()
		}
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fail(field, strings.Join(msgs, "; "))
	}
	return nil
}

// DecodeStrict decodes one YAML document into a typed object (for example a
// *v1alpha2.Device), refusing unknown and duplicate fields. The error is a
// *ConvertError naming the offending field.
func DecodeStrict(doc []byte, into interface{}) error {
	var hdr header
	_ = yaml.Unmarshal(doc, &hdr)
	if cerr := decodeStrict(doc, into, hdr); cerr != nil {
		return cerr
	}
	return nil
}
