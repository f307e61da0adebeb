package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

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

func runClassify(args []string, _ Build, stdout, stderr io.Writer) int {
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
	timings := fs.Bool("timings", false, "print the time spent per stage (decode, preprocess, forward) as one JSON line on standard error")
	var modelDirs listFlag
	fs.Var(&modelDirs, "models", "also load model folders from `DIR` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer classify [--model ID] [--device auto|cpu|cuda] [--saliency DIR] [--format csv|json] [-o FILE] [--models DIR] [--ort-lib PATH] PATH...")
		fmt.Fprintln(stderr, "PATHs are files or folders (recursed). Exit status: 0 all classified, 1 some failed, 2 usage error.")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	usage := func(format string, a ...interface{}) int {
		fmt.Fprintf(stderr, "tumortracer classify: "+format+"\n", a...)
		return ExitUsage
	}
	if len(paths) == 0 {
		fs.Usage()
		return ExitUsage
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
		fmt.Fprintf(stderr, "tumortracer classify: %v\n", inference.ErrRuntimeMissing)
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
					return ExitFailed
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
	var w pipeline.RecordWriter = pipeline.NewJSONWriter(out, *patient)
	if *format == "csv" {
		cw := pipeline.NewCSVWriter(out, classes, *patient)
		if err := cw.WriteHeader(); err != nil {
			fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
			return ExitFailed
		}
		w = cw
	}

	// A batch allocates a megabyte or so per image and keeps little, so with the default GOGC the collector runs
	// every few images; collecting at five times the live heap (tens of MB) saves about 8 % of the CPU time.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	clf := pipeline.New(cat, eng, pipeline.Options{ModelID: *modelID, Saliency: *salDir != "", IncludePatient: *patient, BatchSize: *batch})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := 0
	var stages stageTimes
	start := time.Now()
	emit := func(r pipeline.Result) error {
		stages.add(r)
		if r.Prediction != nil && r.Prediction.Saliency != nil && *salDir != "" {
			if err := writeOverlay(*salDir, r); err != nil {
				fmt.Fprintf(stderr, "tumortracer classify: saliency for %s: %v\n", r.Record.Path, err)
				failed++
			}
		}
		return w.Write(r.Record)
	}
	sum, err := clf.Run(ctx, pipeline.Expand(paths), emit, nil)
	if *timings {
		stages.print(stderr, sum.Total, time.Since(start))
	}
	fmt.Fprintf(stderr, "tumortracer classify: %d classified, %d failed. %s\n", sum.OK, sum.Failed, Disclaimer)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "tumortracer classify: interrupted after %d of %d files\n", sum.OK+sum.Failed, sum.Total)
		} else {
			fmt.Fprintf(stderr, "tumortracer classify: %v\n", err)
		}
		return ExitFailed
	}
	if sum.Failed > 0 || failed > 0 {
		return ExitFailed
	}
	return ExitOK
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

// stageTimes sums each record's stage times for --timings: decode (open, decode, render), preprocess (grey, resize,
// normalise) and forward (the record's share of its batch's ONNX Runtime run). Decoding and most preprocessing run
// on several workers at once and overlap the model, so the stages add up to more than the wall time.
type stageTimes struct {
	decode, preprocess, forward time.Duration
}

func (st *stageTimes) add(r pipeline.Result) {
	st.decode += r.Decode
	if r.Prediction != nil {
		st.preprocess += r.Prediction.Timing.Preprocess
		st.forward += r.Prediction.Timing.Forward
	}
}

func (st *stageTimes) print(w io.Writer, files int, wall time.Duration) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }
	fmt.Fprintf(w, "{\"files\":%d,\"wall_ms\":%v,\"decode_ms\":%v,\"preprocess_ms\":%v,\"forward_ms\":%v}\n",
		files, ms(wall), ms(st.decode), ms(st.preprocess), ms(st.forward))
}
