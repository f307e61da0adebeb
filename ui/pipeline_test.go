package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
)

// fixtureAnalyser is the real pipeline analyser on the inference test fixture tiny-cam (random weights), using the
// repository's lib/libonnxruntime.so.1; it skips when the library is absent.
func fixtureAnalyser(t *testing.T) *pipelineAnalyser {
	t.Helper()
	lib := filepath.Join(repoRoot(t), "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("needs ONNX Runtime at %s (make deps): %v", lib, err)
	}
	an := newPipelineAnalyser(lib, "cpu", []string{filepath.Join(repoRoot(t), "inference", "testdata", "tiny-cam")})
	pa, ok := an.(*pipelineAnalyser)
	if !ok {
		t.Fatalf("analyser is %T: %v", an, an.Ready())
	}
	if err := pa.Ready(); err != nil {
		t.Fatalf("analyser not ready: %v", err)
	}
	return pa
}

func TestPipelineAnalyserClassifiesWithSaliency(t *testing.T) {
	an := fixtureAnalyser(t)
	p := filepath.Join(t.TempDir(), "scan.png")
	writeGreyPNG(t, p, 40, 30, func(x, y int) uint16 { return uint16(x*1000 + y*300) })
	s, err := dicomio.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := an.Classify(context.Background(), s, 0, "tiny-cam")
	if err != nil {
		t.Fatalf("classify: %v", err)
	}
	if r.Model.ID != "tiny-cam" || r.Model.Version != "0.0.1" || r.Device != "CPU" {
		t.Fatalf("model %s %s on %s", r.Model.ID, r.Model.Version, r.Device)
	}
	sum := 0.0
	best := 0
	for i, p := range r.Probs {
		sum += p
		if p > r.Probs[best] {
			best = i
		}
	}
	if len(r.Probs) != 3 || math.Abs(sum-1) > 1e-6 || r.Top != best {
		t.Fatalf("probs %v (sum %g), top %d, want 3 classes summing to 1 with the top the largest", r.Probs, sum, r.Top)
	}
	// The saliency map covers the image at its native size, in 0…1.
	if r.SalW != 40 || r.SalH != 30 || len(r.Saliency) != 1200 {
		t.Fatalf("saliency %d×%d (%d values), want 40×30", r.SalW, r.SalH, len(r.Saliency))
	}
	for _, v := range r.Saliency {
		if v < 0 || v > 1 {
			t.Fatalf("saliency value %g outside 0…1", v)
		}
	}
	// Batch: one record per file in order, failures with one sentence.
	bad := filepath.Join(t.TempDir(), "bad.png")
	if err := os.WriteFile(bad, []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	var recs []batchRecord
	an.Batch(context.Background(), []string{p, bad}, "tiny-cam", func(r batchRecord) { recs = append(recs, r) })
	if len(recs) != 2 || recs[0].Path != p || recs[1].Path != bad {
		t.Fatalf("batch records %+v", recs)
	}
	if recs[0].Err != "" || recs[0].Modality != "OT" || recs[0].Top == "" || recs[0].Model != "tiny-cam 0.0.1" {
		t.Fatalf("good record %+v", recs[0])
	}
	if recs[1].Err == "" || strings.Contains(recs[1].Err, "\n") || !strings.HasSuffix(recs[1].Err, ".") {
		t.Fatalf("bad file's error %q, want one sentence", recs[1].Err)
	}
}

func TestExportColumnsAndPatientTick(t *testing.T) {
	cat, err := inference.LoadCatalogue(nil, filepath.Join(repoRoot(t), "inference", "testdata", "tiny-cam"))
	if err != nil || len(cat.Models()) != 1 {
		t.Fatalf("fixture catalogue: %v (%d models)", err, len(cat.Models()))
	}
	an := &pipelineAnalyser{cat: cat}
	rec := pipeline.Record{Path: "a.dcm", Status: pipeline.StatusOK, Model: "tiny-cam", Version: "0.0.1", Device: "cpu",
		Label: "beta", Probability: 0.5, Probabilities: []pipeline.ClassValue{{ID: "alpha", Probability: 0.2},
			{ID: "beta", Probability: 0.5}, {ID: "gamma", Probability: 0.3}},
		PatientID: "PID-7", PatientName: "Doe^Jane"}
	recs := []batchRecord{recordOf(rec, "CT"), recordOf(pipeline.ErrorRecord("b.dcm", errors.New("file is truncated")), "")}
	for _, include := range []bool{false, true} {
		var buf bytes.Buffer
		if err := an.Export(&buf, "csv", recs, include); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := "path,status,error,model,version,device,label,probability,p_alpha,p_beta,p_gamma"
		if include {
			want += ",patient_id,patient_name"
		}
		if got := strings.Join(rows[0], ","); got != want {
			t.Fatalf("include=%v: header %q, want %q", include, got, want)
		}
		if len(rows) != 3 || rows[1][0] != "a.dcm" || rows[1][6] != "beta" || rows[1][9] != "0.500000" || rows[2][1] != "error" {
			t.Fatalf("include=%v: rows %q", include, rows)
		}
		if has := strings.Contains(buf.String()+strings.Join(rows[1], ","), "Doe^Jane"); has != include {
			t.Fatalf("include=%v: patient name present = %v", include, has)
		}
	}
	var js bytes.Buffer
	if err := an.Export(&js, "json", recs, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"path":"a.dcm"`) || strings.Contains(js.String(), "PID-7") {
		t.Fatalf("JSON Lines export: %q", js.String())
	}
	if err := an.Export(&js, "xml", recs, false); !errors.Is(err, errUnknownFormat) {
		t.Fatalf("unknown format error = %v", err)
	}
}

func TestModelCardText(t *testing.T) {
	cat, err := inference.LoadCatalogue(nil, filepath.Join(repoRoot(t), "inference", "testdata", "tiny-cam"))
	if err != nil {
		t.Fatal(err)
	}
	info := infoOf(cat.Models()[0])
	for _, want := range []string{"Test fixture tiny-cam — tiny-cam 0.0.1", "Intended use\nTests only.", "Limitations\n• Random weights.",
		"Training data: random initialisation (seed 1)", "Research use only — not for diagnosis."} {
		if !strings.Contains(info.Card, want) {
			t.Errorf("card lacks %q:\n%s", want, info.Card)
		}
	}
	if info.PositiveClass != -1 || len(info.Classes) != 3 || info.Classes[1] != "Beta" {
		t.Fatalf("classes %v positive %d", info.Classes, info.PositiveClass)
	}
}

func TestDeviceSwitchDuringBatch(t *testing.T) {
	an := fixtureAnalyser(t)
	dir := t.TempDir()
	var paths []string
	for i := range 30 {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writeGreyPNG(t, p, 64, 64, func(x, y int) uint16 { return uint16(x*y + i) })
		paths = append(paths, p)
	}
	done := make(chan int)
	go func() {
		n := 0
		an.Batch(context.Background(), paths, "tiny-cam", func(batchRecord) { n++ })
		done <- n
	}()
	switched := make(chan error)
	go func() { switched <- an.SetDevice("cpu") }()
	// The UI thread's questions are answered while the switch waits for the batch.
	start := time.Now()
	if err := an.Ready(); err != nil || an.Device() == "" {
		t.Fatalf("Ready %v, device %q", err, an.Device())
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("Ready took %v while a device switch was pending", d)
	}
	if n := <-done; n != 30 {
		t.Fatalf("batch emitted %d records, want 30", n)
	}
	if err := <-switched; err != nil {
		t.Fatalf("switch to cpu: %v", err)
	}
	// A device that cannot be had keeps the engine in use.
	if err := an.SetDevice("quantum"); !errors.Is(err, inference.ErrDeviceUnavailable) {
		t.Fatalf("unknown device error = %v", err)
	}
	if err := an.Ready(); err != nil {
		t.Fatalf("after a refused switch the analyser is not ready: %v", err)
	}
}

// TestFiguresListTheCardImages checks that the model-card dialog gets every figure evaluate.py writes beside a
// model, the reliability diagram included, and nothing for images that are absent.
func TestFiguresListTheCardImages(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"roc.png", "reliability.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := figures(&inference.Model{Manifest: inference.Manifest{ID: "m"}, Source: dir})
	if len(got) != 2 || string(got["ROC curve"]) != "roc.png" || string(got["Reliability diagram"]) != "reliability.png" {
		t.Errorf("figures = %v, want the ROC curve and the reliability diagram only", got)
	}
}
