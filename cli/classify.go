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

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/pipeline"
)

func init() {
	register("classify", "classify scans with the model the gate picks, or refuse them with a reason (CSV or JSON Lines, one record per file)", runClassify)
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

// classifyOptions are classify's flags and paths.
type classifyOptions struct {
	modelID, salDir, format, outPath, ortLib string
	per                                      string // "file" or "series"
	device                                   inference.Device
	patient, timings, allowOutOfScope        bool
	batch                                    int
	modelDirs                                listFlag
	paths                                    []string
}

// parseClassify reads classify's command line; on failure it returns the exit status (usage printed).
func parseClassify(args []string, stderr io.Writer) (classifyOptions, int, bool) {
	var o classifyOptions
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.modelID, "model", "", "model `ID` for every file (default: chosen by what the image shows; the checks still run)")
	fs.BoolVar(&o.allowOutOfScope, "allow-out-of-scope", false, "give the model's answer for an image that fails a check instead of refusing it; the record says out_of_scope=true and why")
	device := fs.String("device", "auto", "execution provider: auto, cpu or cuda")
	fs.StringVar(&o.salDir, "saliency", "", "write a saliency overlay PNG per input into `DIR`")
	fs.StringVar(&o.format, "format", "csv", "output format: csv or json (JSON Lines)")
	fs.StringVar(&o.outPath, "o", "", "write records to `FILE` instead of standard output")
	fs.StringVar(&o.ortLib, "ort-lib", "", "ONNX Runtime library `PATH` (default: $"+inference.LibraryEnv+", lib/ beside the executable, the system)")
	fs.BoolVar(&o.patient, "patient", false, "add patient_id and patient_name columns (off by default: records carry no identifiers)")
	fs.IntVar(&o.batch, "batch", 8, "images per model run")
	fs.BoolVar(&o.timings, "timings", false, "print the time spent per stage (decode, preprocess, forward) as one JSON line on standard error")
	fs.StringVar(&o.per, "per", "file", "one record per `file` (frame) or per series (every slice classified, then the model's series rule)")
	fs.Var(&o.modelDirs, "models", "also load model folders from `DIR` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer classify [--per file|series] [--patient] [--model ID] [--allow-out-of-scope] [--device auto|cpu|cuda] [--saliency DIR] [--format csv|json] [-o FILE] [--models DIR] [--ort-lib PATH] PATH...")
		fmt.Fprintln(stderr, "PATHs are files or folders (recursed; hidden files and files that are no image by name, like notes.txt, are skipped in folders).")
		fmt.Fprintln(stderr, "Each file is classified by the model for what it shows (chest radiograph, chest CT slice), or refused with a reason (status refused).")
		fmt.Fprintln(stderr, "Exit status: 0 no file failed (refusals are answers), 1 some failed, 2 usage error.")
		fs.PrintDefaults()
	}
	usage := func(format string, a ...interface{}) (classifyOptions, int, bool) {
		fmt.Fprintf(stderr, "tumortracer classify: "+format+"\n", a...)
		return o, about.ExitUsage, false
	}
	var err error
	o.paths, err = parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return o, about.ExitOK, false
	case err != nil:
		return o, about.ExitUsage, false
	case len(o.paths) == 0:
		fs.Usage()
		return o, about.ExitUsage, false
	case o.format != "csv" && o.format != "json":
		return usage("--format must be csv or json, not %q", o.format)
	case o.batch < 1:
		return usage("--batch must be at least 1")
	case o.per != "file" && o.per != "series":
		return usage("--per must be file or series, not %q", o.per)
	}
	if o.device, err = inference.ParseDevice(*device); err != nil {
		return usage("%v", err)
	}
	return o, 0, true
}

// startEngine starts ONNX Runtime. Without it every file still gets its record (the engine is nil) and the
// person reads the sentence once; asking for CUDA where it cannot run is one clear error (ok false), not one
// per file. The returned function closes the engine.
func (o *classifyOptions) startEngine(cat *inference.Catalogue, stderr io.Writer) (pipeline.Engine, func(), bool) {
	eng, err := inference.NewEngine(inference.Options{Device: o.device, LibraryPath: o.ortLib, BatchSize: o.batch})
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer classify: %s\n", pipeline.Explain(err).ForCLI())
		return nil, func() {}, true
	}
	if o.device == inference.DeviceCUDA {
		probe := cat.Classifiers()
		if m, err := cat.Get(o.modelID); err == nil {
			probe = []*inference.Model{m}
		}
		if len(probe) > 0 {
			if _, err := eng.Device(probe[0]); errors.Is(err, inference.ErrDeviceUnavailable) {
				fmt.Fprintf(stderr, "tumortracer classify: %v\n", err)
				eng.Close()
				return nil, nil, false
			}
		}
	}
	return eng, func() { eng.Close() }, true
}

// recordWriter is the CSV (header written) or JSON Lines writer, with the command line's hints in error cells.
func (o *classifyOptions) recordWriter(out io.Writer, classes []string) (pipeline.RecordWriter, error) {
	if o.format == "json" {
		jw := pipeline.NewJSONWriter(out, o.patient)
		jw.CommandLine = true
		return jw, nil
	}
	cw := pipeline.NewCSVWriter(out, classes, o.patient)
	cw.CommandLine = true
	return cw, cw.WriteHeader()
}

func runClassify(args []string, _ about.Build, stdout, stderr io.Writer) int {
	o, code, ok := parseClassify(args, stderr)
	if !ok {
		return code
	}
	usage := func(format string, a ...interface{}) int {
		fmt.Fprintf(stderr, "tumortracer classify: "+format+"\n", a...)
		return about.ExitUsage
	}
	cat, err := loadCatalogue(o.modelDirs, stderr)
	if err != nil {
		return usage("%v", err)
	}
	// Gates add no p_ columns and cannot be forced: a gate decides which classifier may answer (pipeline.GateChooser).
	classes := pipeline.ClassColumns(cat.Classifiers())
	if o.modelID != "" {
		m, err := cat.Get(o.modelID)
		if err != nil {
			return usage("%v", err)
		}
		if _, p := (pipeline.ModalityChooser{Catalogue: cat, ModelID: o.modelID}).Select(""); p != nil {
			return usage("%s", p.ForCLI())
		}
		classes = pipeline.ClassColumns([]*inference.Model{m})
	}
	sal := pipeline.SaliencyOff
	if o.salDir != "" {
		if err := os.MkdirAll(o.salDir, 0o755); err != nil {
			return usage("saliency folder: %v", err)
		}
		sal = pipeline.SaliencyAll
	}
	eng, closeEngine, ok := o.startEngine(cat, stderr)
	if !ok {
		return about.ExitFailed
	}
	defer closeEngine()
	out := stdout
	if o.outPath != "" {
		f, err := os.Create(o.outPath)
		if err != nil {
			return usage("%v", err)
		}
		defer f.Close()
		out = f
	}
	if o.per == "series" {
		return o.runSeries(cat, eng, sal, out, classes, stderr)
	}
	w, err := o.recordWriter(out, classes)
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
		return about.ExitFailed
	}
	// A batch allocates a megabyte or so per image and keeps little, so with the default GOGC the collector runs
	// every few images; collecting at five times the live heap (tens of MB) saves about 8 % of the CPU time.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	clf := pipeline.New(cat, eng, pipeline.Options{ModelID: o.modelID, AllowOutOfScope: o.allowOutOfScope, Saliency: sal,
		IncludePatient: o.patient, BatchSize: o.batch})
	return o.run(clf, w, stderr)
}

// run classifies every path, writing each record as soon as it and all before it are done, and returns the
// exit status.
func (o *classifyOptions) run(clf *pipeline.Classifier, w pipeline.RecordWriter, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := 0
	var stages stageTimes
	start := time.Now()
	emit := func(r pipeline.Result) error {
		stages.add(r)
		if p := r.Record.Problem(); r.Record.Status == pipeline.StatusError && p != nil && p.Err != nil && !errors.Is(p, inference.ErrRuntimeMissing) {
			// The record carries the sentence; the log gets the cause. (A refusal is an answer: its record says why.)
			fmt.Fprintf(stderr, "tumortracer classify: %s: %v\n", r.Record.Path, p.Err)
		}
		if r.Prediction != nil && r.Prediction.Saliency != nil && o.salDir != "" {
			if err := writeOverlay(o.salDir, r); err != nil {
				fmt.Fprintf(stderr, "tumortracer classify: saliency for %s: %v\n", r.Record.Path, err)
				failed++
			}
		}
		return w.Write(r.Record)
	}
	sum, err := clf.Run(ctx, pipeline.Expand(o.paths), emit, nil)
	if o.timings {
		stages.print(stderr, sum.Total, time.Since(start))
	}
	fmt.Fprintf(stderr, "tumortracer classify: %d classified, %d refused, %d failed. %s\n", sum.OK, sum.Refused, sum.Failed, about.Disclaimer)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "tumortracer classify: interrupted after %d of %d files\n", sum.OK+sum.Refused+sum.Failed, sum.Total)
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
	return writeOverlayFile(filepath.Join(dir, overlayName(r.Record.Path)), r)
}

// writeOverlayFile writes r's image with its saliency overlay as a PNG file at path.
func writeOverlayFile(path string, r pipeline.Result) error {
	img := inference.Overlay(r.Image, r.Prediction.Saliency, 0.5)
	f, err := os.Create(path)
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
// normalise), forward (the record's share of its batch's ONNX Runtime run of the classifier) and gate (its share of
// the gate's run, which overlaps the classifier's). Decoding and most preprocessing run on several workers at once
// and overlap the models, so the stages add up to more than the wall time.
type stageTimes struct {
	decode, preprocess, forward, gate time.Duration
}

func (st *stageTimes) add(r pipeline.Result) {
	st.decode += r.Decode
	st.gate += r.Gate
	if r.Prediction != nil {
		st.preprocess += r.Prediction.Timing.Preprocess
		st.forward += r.Prediction.Timing.Forward
	}
}

func (st *stageTimes) print(w io.Writer, files int, wall time.Duration) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }
	fmt.Fprintf(w, "{\"files\":%d,\"wall_ms\":%v,\"decode_ms\":%v,\"preprocess_ms\":%v,\"forward_ms\":%v,\"gate_ms\":%v}\n",
		files, ms(wall), ms(st.decode), ms(st.preprocess), ms(st.forward), ms(st.gate))
}
