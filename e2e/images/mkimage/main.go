// Command mkimage wraps a static binary into an OCI image-layout tarball:
//
//	mkimage -ref localhost/kubeedge/app:v1 -bin _output/images/app -out _output/images/app.tar
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cleanedge/kubeedge/e2e/images/oci"
)

func main() {
	ref := flag.String("ref", "", "full image name with tag, e.g. localhost/kubeedge/app:v1")
	bin := flag.String("bin", "", "static binary to put in the image")
	out := flag.String("out", "", "output tarball")
	flag.Parse()
	if err := run(*ref, *bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ref, bin, out string) error {
	if ref == "" || bin == "" || out == "" {
		return fmt.Errorf("-ref, -bin and -out are all required")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read binary: %w", err)
	}
	name := "/" + filepath.Base(bin)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = oci.Write(w, oci.Image{Ref: ref, Binary: data, BinaryPath: name, Entrypoint: []string{name}, Env: []string{"PATH=/"}})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}
