package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

//go:embed cloudcore/crds/*.yaml
var crdFiles embed.FS

// CRDDir is the directory of the CRD manifests inside the embedded files.
const CRDDir = "cloudcore/crds"

// CRDFile is one embedded CRD manifest.
type CRDFile struct {
	// Name is the file name, e.g. devices_device.yaml.
	Name string
	// Data is the YAML document.
	Data []byte
}

// CRDFiles returns the CRD manifests sorted by file name.
func CRDFiles() ([]CRDFile, error) {
	entries, err := fs.ReadDir(crdFiles, CRDDir)
	if err != nil {
		return nil, fmt.Errorf("embedded CRDs: %w", err)
	}
	var files []CRDFile
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".yaml" {
			continue
		}
		data, err := crdFiles.ReadFile(path.Join(CRDDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("embedded CRDs: %w", err)
		}
		files = append(files, CRDFile{Name: e.Name(), Data: data})
	}
	slices.SortFunc(files, func(a, b CRDFile) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// CRDs returns the CRDs as apiextensions.k8s.io/v1 objects, one per file,
// in file name order. Every call returns fresh copies.
func CRDs() ([]*unstructured.Unstructured, error) {
	files, err := CRDFiles()
	if err != nil {
		return nil, err
	}
	crds := make([]*unstructured.Unstructured, 0, len(files))
	for _, f := range files {
		u, err := decode(f)
		if err != nil {
			return nil, err
		}
		crds = append(crds, u)
	}
	return crds, nil
}

func decode(f CRDFile) (*unstructured.Unstructured, error) {
	data, err := yaml.YAMLToJSON(f.Data)
	if err != nil {
		return nil, fmt.Errorf("embedded CRD %s: %w", f.Name, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("embedded CRD %s: %w", f.Name, err)
	}
	if u.GetAPIVersion() != "apiextensions.k8s.io/v1" || u.GetKind() != "CustomResourceDefinition" {
		return nil, fmt.Errorf("embedded CRD %s: got %s %s, want apiextensions.k8s.io/v1 CustomResourceDefinition",
			f.Name, u.GetAPIVersion(), u.GetKind())
	}
	return u, nil
}
