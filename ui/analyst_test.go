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
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/pipeline"
)

// fixtureAnalyst is the window's analyst with its real parts on the inference test fixture tiny-cam (random
// weights), using the repository's lib/libonnxruntime.so.1; it skips when the library is absent.
func fixtureAnalyst(t *testing.T) *analyst {
	t.Helper()
	lib := filepath.Join(repoRoot(t), "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		testenv.Missing(t, "needs ONNX Runtime at %s (make deps): %v", lib, err)
	}
	an := newAnalyst(realParts(lib, []string{filepath.Join(repoRoot(t), "inference", "testdata", "tiny-cam")}))
	an.start("cpu", nil)
	if err := an.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := an.Ready(); err != nil {
		t.Fatalf("analyst not ready: %v", err)
	}
	return an
}

func TestAnalystClassifiesWithSaliency(t *testing.T) {
	an := fixtureAnalyst(t)
	p := filepath.Join(t.TempDir(), "scan.png")
	writeGreyPNG(t, p, 40, 30, func(x, y int) uint16 { return uint16(x*1000 + y*300) })
	s, err := an.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r := an.Analyse(context.Background(), s, 0, "tiny-cam", false)
	rec := r.Record
	if rec.Status != pipeline.StatusOK || rec.Model != "tiny-cam" || rec.Version != "0.0.1" || rec.Device != "cpu" || rec.Frame != 1 {
		t.Fatalf("record %+v", rec)
	}
	sum := 0.0
	best := 0
	for i, p := range rec.Probabilities {
		sum += p.Probability
		if p.Probability > rec.Probabilities[best].Probability {
			best = i
		}
	}
	if len(rec.Probabilities) != 3 || math.Abs(sum-1) > 1e-6 || rec.Probabilities[best].ID != rec.Label {
		t.Fatalf("probabilities %v (sum %g), label %s: want 3 classes summing to 1 with the label the largest", rec.Probabilities, sum, rec.Label)
	}
	// The saliency map stays on the CAM's own small grid, in 0…1.
	sal := r.Prediction.Saliency
	if sal == nil || sal.Width*sal.Height != len(sal.Values) || sal.Width >= 40 || sal.Height >= 30 {
		t.Fatalf("saliency %+v, want a grid smaller than the 40×30 image", sal)
	}
	for _, v := range sal.Values {
		if v < 0 || v > 1 {
			t.Fatalf("saliency value %g outside 0…1", v)
		}
	}
	// Batch: one record per file in order, failures with one sentence.
	bad := filepath.Join(t.TempDir(), "bad.png")
	if err := os.WriteFile(bad, []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	var recs []pipeline.Record
	an.Batch(context.Background(), []pipeline.Input{{Path: p}, {Path: bad}}, "tiny-cam", nil, func(r pipeline.Result) { recs = append(recs, r.Record) })
	if len(recs) != 2 || recs[0].Path != p || recs[1].Path != bad {
		t.Fatalf("batch records %+v", recs)
	}
	if recs[0].Status != pipeline.StatusOK || recs[0].Modality != "OT" || recs[0].Label == "" || recs[0].Model != "tiny-cam" {
		t.Fatalf("good record %+v", recs[0])
	}
	// The batch's record of a file equals the viewer's.
	for i, c := range recs[0].Probabilities {
		if c != rec.Probabilities[i] {
			t.Fatalf("batch %v, viewer %v: one file, two answers", recs[0].Probabilities, rec.Probabilities)
		}
	}
	if recs[1].Error == "" || strings.Contains(recs[1].Error, "\n") || !strings.HasSuffix(recs[1].Error, ".") {
		t.Fatalf("bad file's error %q, want one sentence", recs[1].Error)
	}
}

func TestExportColumnsAndPatientTick(t *testing.T) {
	an := newAnalyst(scriptedParts(&scriptedEngine{}, nil, nil))
	an.start("cpu", nil)
	an.wait(context.Background())
	rec := pipeline.Record{Path: "a.dcm", Status: pipeline.StatusOK, Model: "cxr-test", Version: "1.2.3", Device: "cpu", Frame: 2,
		Label: "pneumonia", Probability: 0.5, Probabilities: []pipeline.ClassValue{{ID: "normal", Probability: 0.5},
			{ID: "pneumonia", Probability: 0.5}},
		PatientID: "PID-7", PatientName: "Doe^Jane"}
	formula := `=HYPERLINK("http:x","y").jpeg`
	recs := []pipeline.Record{rec, pipeline.ErrorRecord("b.dcm", dicomio.ErrTruncated), pipeline.ErrorRecord(formula, dicomio.ErrNotImage)}
	for _, include := range []bool{false, true} {
		var buf bytes.Buffer
		if err := an.Export(&buf, "csv", recs, include); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := "path,status,error,reason,out_of_scope,model,gate,seen_as,scope_score,version,device,label,probability,frame,p_normal,p_pneumonia"
		if include {
			want += ",patient_id,patient_name"
		}
		if got := strings.Join(rows[0], ","); got != want {
			t.Fatalf("include=%v: header %q, want %q", include, got, want)
		}
		if len(rows) != 4 || rows[1][0] != "a.dcm" || rows[1][11] != "pneumonia" || rows[1][13] != "2" || rows[1][15] != "0.500000" || rows[2][1] != "error" {
			t.Fatalf("include=%v: rows %q", include, rows)
		}
		// A file named like a formula is text in the spreadsheet.
		if rows[3][0] != "'"+formula {
			t.Fatalf("include=%v: formula file's cell %q", include, rows[3][0])
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
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"path":"a.dcm"`) || strings.Contains(js.String(), "PID-7") ||
		!strings.HasPrefix(lines[2], `{"path":"=HYPERLINK(\"http:x\",\"y\").jpeg"`) {
		t.Fatalf("JSON Lines export: %q", js.String())
	}
	if err := an.Export(&js, "xml", recs, false); !errors.Is(err, errUnknownFormat) {
		t.Fatalf("unknown format error = %v", err)
	}
}

// TestGateIsNotInTheModelList: the bundled gate decides which model may answer and answers nothing itself, so the
// window neither offers it in the Model list nor exports its classes as p_ columns (it routes: pipeline.GateChooser).
func TestGateIsNotInTheModelList(t *testing.T) {
	parts := scriptedParts(&scriptedEngine{}, nil, nil)
	parts.catalogue = func() (*inference.Catalogue, error) { return inference.LoadCatalogue(models.Bundle()) }
	an := newAnalyst(parts)
	an.start("cpu", nil)
	an.wait(context.Background())
	if gate, err := an.cat.Get("gate"); err != nil || !gate.Manifest.IsGate() {
		t.Fatalf("the bundled gate: %v", err)
	}
	var ids []string
	for _, m := range an.Models() {
		ids = append(ids, m.ID)
	}
	if fmt.Sprint(ids) != "[ct-lung cxr-pneumonia]" {
		t.Errorf("Model list %v, want the two classifiers", ids)
	}
	var buf bytes.Buffer
	if err := an.Export(&buf, "csv", nil, false); err != nil {
		t.Fatal(err)
	}
	if header := buf.String(); strings.Contains(header, "p_other") || strings.Contains(header, "p_chest-ct") || !strings.Contains(header, "p_pneumonia") {
		t.Errorf("export header %q", header)
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
	an := fixtureAnalyst(t)
	dir := t.TempDir()
	var inputs []pipeline.Input
	for i := range 30 {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writeGreyPNG(t, p, 64, 64, func(x, y int) uint16 { return uint16(x*y + i) })
		inputs = append(inputs, pipeline.Input{Path: p})
	}
	done := make(chan int)
	go func() {
		n := 0
		an.Batch(context.Background(), inputs, "tiny-cam", nil, func(pipeline.Result) { n++ })
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

// TestWindowShare: the window keeps one core for itself; ONNX Runtime gets the rest and the batch decodes on at
// most two of them.
func TestWindowShare(t *testing.T) {
	for _, c := range []struct{ cpus, threads, workers int }{{1, 1, 1}, {2, 1, 1}, {3, 2, 2}, {16, 15, 2}} {
		if th, w := windowShare(c.cpus); th != c.threads || w != c.workers {
			t.Errorf("windowShare(%d) = %d ORT threads, %d decode workers; want %d, %d", c.cpus, th, w, c.threads, c.workers)
		}
	}
}
