package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	devconv "github.com/cleanedge/kubeedge/migrate"
)

// document is one YAML document of the input files.
type document struct {
	source string
	text   string
	hdr    docHeader
}

// docHeader is what identifies a document.
type docHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		DeviceModelRef *struct {
			Name string `json:"name"`
		} `json:"deviceModelRef"`
	} `json:"spec"`
}

func (d document) isV1alpha1(kind string) bool {
	return d.hdr.APIVersion == v1alpha1.SchemeGroupVersion.String() && d.hdr.Kind == kind
}

func (d document) nsName() string {
	if d.hdr.Metadata.Namespace == "" {
		return d.hdr.Metadata.Name
	}
	return d.hdr.Metadata.Namespace + "/" + d.hdr.Metadata.Name
}

// RunFiles converts the v1alpha1 Devices and DeviceModels of cfg.Files and
// writes every document, converted or passed through, as one YAML stream to
// cfg.Output (stdout when empty). The files are converted as one stream, so a
// Device gets the property visitors of its model from any of the files.
// A document that cannot be converted is written as it was and reported
// failed. With cfg.DryRun nothing is written: a diff per converted object
// goes to stdout. Progress lines go to progress.
func RunFiles(cfg Config, stdout, progress io.Writer) (Result, error) {
	res := Result{Mode: ModeFiles, DryRun: cfg.DryRun}
	docs, err := readDocuments(cfg.Files)
	if err != nil {
		return res, err
	}
	if len(docs) == 0 {
		return res, errNoObjects
	}
	converted, results, err := convertDocuments(docs)
	if err != nil {
		return res, err
	}

	var stream bytes.Buffer
	for i, d := range docs {
		r := results[i]
		res.Objects = append(res.Objects, r)
		if cfg.DryRun && r.Outcome == Migrated {
			diff, err := documentDiff(d, converted[i])
			if err != nil {
				return res, err
			}
			io.WriteString(stdout, diff)
		}
		fmt.Fprintf(progress, "[%d/%d] %s", i+1, len(docs), r.line(cfg.DryRun))
		if i > 0 {
			stream.WriteString("---\n")
		}
		stream.WriteString(converted[i])
		stream.WriteString("\n")
	}
	if cfg.DryRun {
		return res, nil
	}
	if cfg.Output == "" {
		_, err = stdout.Write(stream.Bytes())
		return res, err
	}
	if err := os.WriteFile(cfg.Output, stream.Bytes(), 0o644); err != nil {
		return res, fmt.Errorf("--output: %w", err)
	}
	fmt.Fprintf(progress, "wrote %s\n", cfg.Output)
	return res, nil
}

// readDocuments reads the files (directories: every *.yaml and *.yml under
// them, in lexical order) and splits them into documents.
func readDocuments(paths []string) ([]document, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--from-file: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(path); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--from-file: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("--from-file: no *.yaml or *.yml file in %s", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var docs []document
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--from-file: %w", err)
		}
		for i, text := range devconv.SplitDocuments(data) {
			d := document{source: f, text: text}
			if err := yaml.Unmarshal([]byte(text), &d.hdr); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f, i+1, err)
			}
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// convertDocuments converts the documents as one stream and returns, for
// each document, its output text and its result. Documents that cannot be
// converted (and models held back for them) keep their text.
func convertDocuments(docs []document) ([]string, []ObjectResult, error) {
	failed := map[int]*devconv.ConvertError{}
	var (
		kept []int
		outs []string
		rep  devconv.Report
	)
	for {
		kept = kept[:0]
		var in bytes.Buffer
		for i, d := range docs {
			if failed[i] == nil {
				kept = append(kept, i)
				in.WriteString("---\n" + d.text + "\n")
			}
		}
		out, r, err := devconv.ConvertYAML(in.Bytes())
		if err == nil {
			outs, rep = devconv.SplitDocuments(out), r
			break
		}
		if len(r.Errors) == 0 {
			return nil, nil, err
		}
		// Set aside the documents that failed and convert the rest again.
		matched := 0
		for _, ce := range r.Errors {
			for _, i := range kept {
				d := docs[i]
				if failed[i] == nil && d.hdr.Kind == ce.Kind && d.nsName() == ce.Name &&
					d.hdr.APIVersion == v1alpha1.SchemeGroupVersion.String() {
					failed[i] = ce
					matched++
				}
			}
		}
		if matched == 0 {
			return nil, nil, err
		}
	}
	if len(outs) != len(kept) {
		return nil, nil, fmt.Errorf("internal error: %d documents converted into %d", len(kept), len(outs))
	}

	texts := make([]string, len(docs))
	results := make([]ObjectResult, len(docs))
	for i, d := range docs {
		results[i] = ObjectResult{Kind: d.hdr.Kind, Namespace: d.hdr.Metadata.Namespace, Name: d.hdr.Metadata.Name, Source: d.source}
		if results[i].Kind == "" && results[i].Name == "" {
			results[i].Name = "(document without kind)"
		}
		texts[i] = d.text
		if ce := failed[i]; ce != nil {
			results[i].Outcome, results[i].Field, results[i].Reason = Failed, ce.Field, ce.Reason
		}
	}
	for k, i := range kept {
		texts[i] = outs[k]
		d := docs[i]
		if d.isV1alpha1("Device") || d.isV1alpha1("DeviceModel") {
			results[i].Outcome = Migrated
			results[i].Problems = problemsOf(rep.Problems, d.hdr.Kind, d.hdr.Metadata.Namespace, d.hdr.Metadata.Name)
		} else {
			results[i].Outcome, results[i].Reason = Unchanged, unchangedReason(d)
		}
	}

	// Hold back the models of failed devices: converting a model drops its
	// property visitors, which the device still needs.
	for i, ce := range failed {
		d := docs[i]
		if !d.isV1alpha1("Device") || d.hdr.Spec.DeviceModelRef == nil {
			continue
		}
		key := devconv.ModelKey(d.hdr.Metadata.Namespace, d.hdr.Spec.DeviceModelRef.Name)
		for j, m := range docs {
			if failed[j] == nil && m.isV1alpha1("DeviceModel") && devconv.ModelKey(m.hdr.Metadata.Namespace, m.hdr.Metadata.Name) == key {
				texts[j] = m.text
				results[j].Outcome, results[j].Problems = Failed, nil
				results[j].Field, results[j].Reason = "", heldBackReason(ce.Kind+" "+ce.Name)
			}
		}
	}
	return texts, results, nil
}

func heldBackReason(device string) string {
	return fmt.Sprintf("held back: %s uses it and could not be converted; migrating the model now would drop the property visitors that device still needs", device)
}

func unchangedReason(d document) string {
	switch {
	case d.hdr.APIVersion == v1alpha2.SchemeGroupVersion.String():
		return "already " + d.hdr.APIVersion
	case d.hdr.Kind == "":
		return "no object"
	default:
		return "not a devices.kubeedge.io/v1alpha1 object"
	}
}

func problemsOf(all []devconv.Problem, kind, ns, name string) []devconv.Problem {
	var ps []devconv.Problem
	for _, p := range all {
		if p.Kind == kind && p.Namespace == ns && p.Name == name {
			ps = append(ps, p)
		}
	}
	return ps
}

// documentDiff is the diff of a converted document, both sides written with
// sorted keys so that only real changes show.
func documentDiff(d document, converted string) (string, error) {
	var obj interface{}
	if err := yaml.Unmarshal([]byte(d.text), &obj); err != nil {
		return "", fmt.Errorf("%s: %w", d.source, err)
	}
	before, err := yaml.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.source, err)
	}
	ref := d.hdr.Kind + " " + d.nsName()
	return unifiedDiff(
		fmt.Sprintf("%s (%s, %s)", ref, d.hdr.APIVersion, d.source),
		fmt.Sprintf("%s (%s)", ref, v1alpha2.SchemeGroupVersion.String()),
		string(before), strings.TrimRight(converted, "\n")+"\n"), nil
}

// errNoObjects is returned when the inputs hold no document at all.
var errNoObjects = errors.New("--from-file: no YAML documents found")
