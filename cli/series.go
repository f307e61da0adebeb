package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
	"github.com/tumortracer/tumortracer/study"
)

// seriesTally counts the records of a --per series run.
type seriesTally struct {
	ok, refused, failed, files int
}

func (t *seriesTally) count(r *pipeline.SeriesRecord) {
	switch {
	case r.Series == "":
		t.files++
		t.failed++
	case r.Status == pipeline.StatusOK:
		t.ok++
	case r.Status == pipeline.StatusRefused:
		t.refused++
	default:
		t.failed++
	}
}

// runSeries is `classify --per series`: the paths are expanded by the folder rules of --per file, their headers
// indexed into patients, studies and series (pipeline.IndexPaths, study.Build: a DICOMDIR contributes the files it
// lists), every slice
// of every series classified through the pipeline, and one record written per series as soon as it is done; then a
// record for every file that is part of no series (it could not be read, has no series, or is a PNG/JPEG picture),
// so every input has a line. A refused series is an answer; exit status 1 when some record is an error. With
// --saliency, the key slice of each series is written there with its overlay.
func (o *classifyOptions) runSeries(cat *inference.Catalogue, eng pipeline.Engine, sal pipeline.SaliencyMode, out io.Writer, classes []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.modelID == "" {
		// Series scores come only from models that state a series rule: their classes are the p_ columns.
		var withRule []*inference.Model
		for _, m := range cat.Models() {
			if m.Manifest.Series != nil {
				withRule = append(withRule, m)
			}
		}
		classes = pipeline.ClassColumns(withRule)
	}
	w, err := o.seriesWriter(out, classes)
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
		return about.ExitFailed
	}
	files, failed := pipeline.IndexPaths(pipeline.Expand(o.paths))
	var unlisted []pipeline.SeriesRecord
	for _, in := range failed {
		unlisted = append(unlisted, pipeline.FileSeriesRecord(in.Path, in.Err))
	}
	ix, err := study.Build(ctx, files, study.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer classify: interrupted while reading the files' headers\n")
		return about.ExitFailed
	}
	// With --allow-out-of-scope the slices that fail a check are answered, marked, and count in their series'
	// result, which is then marked out of scope too (pipeline.SummariseSeries).
	clf := pipeline.New(cat, eng, pipeline.Options{ModelID: o.modelID, AllowOutOfScope: o.allowOutOfScope, Saliency: sal,
		IncludePatient: o.patient, BatchSize: o.batch})
	var t seriesTally
	write := func(r pipeline.SeriesRecord) error {
		t.count(&r)
		if p := r.Problem(); p != nil && p.Err != nil && r.Status == pipeline.StatusError && !errors.Is(p, inference.ErrRuntimeMissing) {
			fmt.Fprintf(stderr, "tumortracer classify: %s: %v\n", describeSeriesRecord(&r), p.Err)
		}
		return w.Write(r)
	}
	all := ix.AllSeries()
	for i, s := range all {
		res, err := clf.RunSeries(ctx, ix, s, nil)
		if err != nil {
			fmt.Fprintf(stderr, "tumortracer classify: %d series classified, %d refused, %d failed. %s\n", t.ok, t.refused, t.failed, about.Disclaimer)
			fmt.Fprintf(stderr, "tumortracer classify: interrupted after %d of %d series: %v\n", i, len(all), err)
			return about.ExitFailed
		}
		if k := res.Key; o.salDir != "" && k != nil && k.Prediction != nil && k.Prediction.Saliency != nil {
			name := filepath.Join(o.salDir, "series-"+s.Key+".key-slice.saliency.png")
			if err := writeOverlayFile(name, *k); err != nil {
				fmt.Fprintf(stderr, "tumortracer classify: saliency for series %s: %v\n", s.Key, err)
				t.failed++
			}
		}
		if err := write(res.Record); err != nil {
			fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
			return about.ExitFailed
		}
	}
	for _, r := range append(unlisted, pipeline.LeftoverRecords(ix)...) {
		if err := write(r); err != nil {
			fmt.Fprintf(stderr, "tumortracer classify: write: %v\n", err)
			return about.ExitFailed
		}
	}
	fmt.Fprintf(stderr, "tumortracer classify: %d series classified, %d refused, %d failed (%d files in no series). %s\n",
		t.ok, t.refused, t.failed-t.files, t.files, about.Disclaimer)
	if t.failed > 0 {
		return about.ExitFailed
	}
	return about.ExitOK
}

// describeSeriesRecord names a record in a log line: its series, or its file.
func describeSeriesRecord(r *pipeline.SeriesRecord) string {
	if r.Series != "" {
		return "series " + r.Series
	}
	return r.KeySlice
}

// seriesWriter is the CSV (header written) or JSON Lines writer of series records, with the command line's hints.
func (o *classifyOptions) seriesWriter(out io.Writer, classes []string) (pipeline.SeriesRecordWriter, error) {
	if o.format == "json" {
		jw := pipeline.NewSeriesJSONWriter(out, o.patient)
		jw.CommandLine = true
		return jw, nil
	}
	cw := pipeline.NewSeriesCSVWriter(out, classes, o.patient)
	cw.CommandLine = true
	return cw, cw.WriteHeader()
}
