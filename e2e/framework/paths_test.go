package framework

import (
	"errors"
	"strings"
	"testing"
)

// A missing real part is an error naming the part and the make target.
func TestMissingPartsNameTheFix(t *testing.T) {
	t.Setenv("KUBEEDGE_E2E_CACHE", t.TempDir())
	_, err := FindControlPlane()
	var missing *MissingError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("FindControlPlane with an empty cache: %v", err)
	}

	t.Setenv("KUBEEDGE_OUTPUT", t.TempDir())
	if _, err := ImageTarball("pause"); !errors.As(err, &missing) || !strings.Contains(err.Error(), "make images") {
		t.Fatalf("ImageTarball with no images: %v", err)
	}
	if _, err := ProjectBinary("edgecore"); !errors.As(err, &missing) || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("ProjectBinary with no build: %v", err)
	}
}

func TestReadVersions(t *testing.T) {
	v, err := ReadVersions()
	if err != nil || !strings.HasPrefix(v.Kubernetes, "v1.") || !strings.HasPrefix(v.Etcd, "v3.") {
		t.Fatalf("ReadVersions = %+v, %v", v, err)
	}
}
