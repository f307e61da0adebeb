package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/pipeline"
)

func init() {
	register("classify", "classify scans with a bundled or --models model (CSV or JSON Lines, one record per file)", runClassify)
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseInterleaved parses flags that may come before, between or after the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// loadCatalogue loads the bundled models plus --models folders, printing skipped models to stderr.
func loadCatalogue(dirs []string, stderr io.Writer) (*inference.Catalogue, error) {
	cat, err := inference.LoadCatalogue(models.Bundle(), dirs...)
	if err != nil {
		return nil, err
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(stderr, "tumortracer: model skipped: %v\n", p)
	}
	return cat, nil
}

func runClassify(args []string, _ about.Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelID := fs.String("model", "", "model `ID` for every file (default: chosen by modality)")
	device := fs.String("device", "auto", "execution provider: auto, cpu or cuda")
	salDir := fs.String("saliency", "", "write a saliency overlay PNG per input into `DIR`")
	format := fs.String("format", "csv", "output format: csv or json (JSON Lines)")
	outPath := fs.String("o", "", "write records to `FILE` instead of standard output")
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library `PATH` (default: $"+inference.LibraryEnv+", lib/ beside the executable, the system)")
	patient := fs.Bool("patient", false, "add patient_id and patient_name columns (off by default: records carry no identifiers)")
	batch := fs.Int("batch", 8, "images per model run")
	var modelDirs listFlag
	fs.Var(&modelDirs, "models", "also load model folders from `DIR` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer classify [--model ID] [--device auto|cpu|cuda] [--saliency DIR] [--format csv|json] [-o FILE] [--models DIR] [--ort-lib PATH] PATH...")
		fmt.Fprintln(stderr, "PATHs are files or folders (recursed; hidden files and files that are no image by name, like notes.txt, are skipped in folders).")
		fmt.Fprintln(stderr, "Exit status: 0 all classified, 1 some failed, 2 usage error.")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return about.ExitOK
		}
		return about.ExitUsage
	}
	usage := func(format string, a ...interface{}) int {
		fmt.Fprintf(stderr, "tumortracer classify: "+format+"\n", a...)
		return about.ExitUsage
	}
	if len(paths) == 0 {
		fs.Usage()
		return about.ExitUsage
	}
	if *format != "csv" && *format != "json" {
		return usage("--format must be csv or json, not %q", *format)
	}
	dev, err := inference.ParseDevice(*device)
	if err != nil {
		return usage("%v", err)
	}
	if *batch < 1 {
		return usage("--batch must be at least 1")
	}
	cat, err := loadCatalogue(modelDirs, stderr)
	if err != nil {
		return usage("%v", err)
	}
	classes := pipeline.ClassColumns(cat.Models())
	if *modelID != "" {
		m, err := cat.Get(*modelID)
		if err != nil {
			return usage("%v", err)
		}
		classes = pipeline.ClassColumns([]*inference.Model{m})
	}
	if *salDir != "" {
		if err := os.MkdirAll(*salDir, 0o755); err != nil {
			return usage("saliency folder: %v", err)
		}
	}

	eng, err := inference.NewEngine(inference.Options{Device: dev, LibraryPath: *ortLib, BatchSize: *batch})
	if err != nil {
		// Every file still gets its record; the person gets the sentence once.
		fmt.Fprintf(stderr, "tumortracer classify: %s\n", pipeline.Explain(err).ForCLI())
		eng = nil
	} else {
		defer eng.Close()
		if dev == inference.DeviceCUDA {
			// Asking for CUDA where it cannot run is one clear error, not one per file.
			probe := cat.Models()
			if *modelID != "" {
				m, _ := cat.Get(*modelID)
				probe = []*inference.Model{m}
			}
			if len(probe) > 0 {
				if _, err := eng.Device(probe[0]); errors.Is(err, inference.ErrDeviceUnavailable) {
					fmt.Fprintf(stderr, "tumortracer classify: %v\n", err)
					return about.ExitFailed
				}
			}
		}
	}
	out := stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return usage("%v", err)
		}
		defer f.Close()
		out = f
	}
	jw := pipeline.NewJSONWriter(out, *patient)
	jw.CommandLine = true
	var w pipeline.RecordWriter = jw
	if *format == "csv" {
		cw := pipeline.NewCSVWriter(out, classes, *patient)
		cw.CommandLine = true
		if err := cw.WriteHeader(); err != nil {
			fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
			return about.ExitFailed
		}
		w = cw
	}

	sal := pipeline.SaliencyOff
	if *salDir != "" {
		sal = pipeline.SaliencyAll
	}
	var engine pipeline.Engine
	if eng != nil {
		engine = eng
	}
	clf := pipeline.New(cat, engine, pipeline.Options{ModelID: *modelID, Saliency: sal, IncludePatient: *patient, BatchSize: *batch})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := 0
	emit := func(r pipeline.Result) error {
		if p := r.Record.Problem(); p != nil && p.Err != nil && !errors.Is(p, inference.ErrRuntimeMissing) {
			// The record carries the sentence; the log gets the cause.
			fmt.Fprintf(stderr, "tumortracer classify: %s: %v\n", r.Record.Path, p.Err)
		}
		if r.Prediction != nil && r.Prediction.Saliency != nil && *salDir != "" {
			if err := writeOverlay(*salDir, r); err != nil {
				fmt.Fprintf(stderr, "tumortracer classify: saliency for %s: %v\n", r.Record.Path, err)
				failed++
			}
		}
		return w.Write(r.Record)
	}
	sum, err := clf.Run(ctx, pipeline.Expand(paths), emit, nil)
	fmt.Fprintf(stderr, "tumortracer classify: %d classified, %d failed. %s\n", sum.OK, sum.Failed, about.Disclaimer)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "tumortracer classify: interrupted after %d of %d files\n", sum.OK+sum.Failed, sum.Total)
		} else {
			fmt.Fprintf(stderr, "tumortracer classify: %v\n", err)
		}
		return about.ExitFailed
	}
	if sum.Failed > 0 || failed > 0 {
		return about.ExitFailed
	}
	return about.ExitOK
}

// overlayName is the saliency PNG's file name for an input path: the cleaned path with separators as "__".
func overlayName(path string) string {
	p := filepath.ToSlash(filepath.Clean(path))
	p = strings.TrimPrefix(p, filepath.ToSlash(filepath.VolumeName(path)))
	for strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		p = strings.TrimPrefix(strings.TrimPrefix(p, "../"), "/")
	}
	return strings.ReplaceAll(p, "/", "__") + ".saliency.png"
}

func writeOverlay(dir string, r pipeline.Result) error {
	img := inference.Overlay(r.Image, r.Prediction.Saliency, 0.5)
	f, err := os.Create(filepath.Join(dir, overlayName(r.Record.Path)))
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
