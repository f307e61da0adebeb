// Command phantom draws TumorTracer's bundled sample scans: a synthetic chest radiograph and a synthetic chest CT
// slice, written as DICOM Part 10 files, so that the packages ship a scan to try without carrying anyone's data.
//
// Usage:
//
//	go run ./packaging/phantom -kind cxr -o dist/samples/phantom-chest-xray.dcm
//	go run ./packaging/phantom -kind ct -o dist/samples/phantom-chest-ct.dcm
//
// The images are drawn, not acquired: they are for trying the software, and say nothing about any patient.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses the flags and writes the requested files; it returns the process exit status.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("phantom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", string(KindCXR), "phantom to draw: cxr or ct")
	size := fs.Int("size", 512, "rows and columns")
	out := fs.String("o", "", "DICOM file to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "phantom: give the DICOM file to write with -o FILE.dcm")
		return 2
	}
	p, err := New(Kind(*kind), *size)
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %v\n", err)
		return 2
	}
	var buf bytes.Buffer
	err = p.WriteDICOM(&buf)
	if err == nil {
		err = writeFile(*out, buf.Bytes())
	}
	if err != nil {
		fmt.Fprintf(stderr, "phantom: %v\n", err)
		return 1
	}
	return 0
}

// writeFile writes data to path through a temporary file in the same folder, so a failed build never leaves a
// half-written sample for the packager to pick up.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".phantom-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
