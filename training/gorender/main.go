// Command gorender writes the 8-bit display images the application classifies, so the gate's training data is
// rendered by the application's own code: pipeline.Open (dicomio), then pipeline.DisplayImage with a model's VOI
// windows (the manifest's preprocessing.voi). PNG and JPEG come out as they are; DICOM is windowed per Modality.
//
// Usage: go run ./training/gorender -model DIR [-frames middle|all] < jobs.tsv > report.tsv
//
// jobs.tsv holds "source<TAB>destination.png" per line. With -frames middle the frame the application
// classifies (pipeline.AnalysisFrame) is written to the destination; with -frames all every frame is written, the
// destination's ".png" replaced by "_fNNN.png". report.tsv has one line per written image: "source<TAB>frame<TAB>
// destination<TAB>modality<TAB>body part<TAB>rows<TAB>columns<TAB>window", and "source<TAB>-1<TAB>error<TAB>
// message" for a file that could not be read or rendered; the command goes on after such a file.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
)

func main() {
	modelDir := flag.String("model", "", "model folder whose model.yaml names the VOI windows")
	frames := flag.String("frames", "middle", "middle: the frame the application classifies; all: every frame")
	flag.Parse()
	if *modelDir == "" || (*frames != "middle" && *frames != "all") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*modelDir, *frames == "all", os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gorender:", err)
		os.Exit(1)
	}
}

// readManifest reads the model folder's manifest without requiring model.onnx: only the VOI windows are used.
func readManifest(dir string) (*inference.Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, inference.ManifestFile))
	if err != nil {
		return nil, err
	}
	return inference.ParseManifest(data)
}

func run(modelDir string, all bool, jobs io.Reader, report io.Writer) error {
	man, err := readManifest(modelDir)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(report)
	defer out.Flush()
	sc := bufio.NewScanner(jobs)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		src, dst, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("job line %q has no tab", line)
		}
		if err := render(man, src, dst, all, out); err != nil {
			fmt.Fprintf(out, "%s\t-1\terror\t%s\n", src, strings.ReplaceAll(err.Error(), "\t", " "))
		}
	}
	return sc.Err()
}

func render(man *inference.Manifest, src, dst string, all bool, out io.Writer) error {
	scan, err := pipeline.Open(pipeline.Files{}, src)
	if err != nil {
		return err
	}
	first, last := pipeline.AnalysisFrame(scan), pipeline.AnalysisFrame(scan)
	if all {
		first, last = 0, scan.Frames()-1
	}
	for f := first; f <= last; f++ {
		img, err := pipeline.DisplayImage(scan, f, man)
		if err != nil {
			return fmt.Errorf("frame %d: %w", f, err)
		}
		w, _ := pipeline.Window(scan.File, f, man) // for the report only; DisplayImage used the same
		name := dst
		if all {
			name = strings.TrimSuffix(dst, ".png") + fmt.Sprintf("_f%03d.png", f)
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		fh, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := png.Encode(fh, img); err != nil {
			fh.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := fh.Close(); err != nil {
			return err
		}
		b := img.Bounds()
		fmt.Fprintf(out, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", src, f, name, scan.File.Meta.Modality, scan.File.Meta.BodyPart,
			b.Dy(), b.Dx(), strings.ReplaceAll(w.String(), "\t", " "))
	}
	return nil
}
