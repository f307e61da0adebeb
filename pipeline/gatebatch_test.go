package pipeline

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
)

// batchEngine is the decision engine with a log of every run: the model, and each image the engine would
// normalise for that model (inference.ModelImage: for an image carrying its model image, that very image).
type batchEngine struct {
	*decisionEngine
	mu   sync.Mutex
	runs []batchRun
}

type batchRun struct {
	model  string
	inputs []*image.Gray
}

func (e *batchEngine) Classify(ctx context.Context, m *inference.Model, imgs []image.Image, sal bool) ([]inference.Prediction, error) {
	r := batchRun{model: m.Manifest.ID}
	for _, img := range imgs {
		r.inputs = append(r.inputs, inference.ModelImage(img, m.Manifest.Input))
	}
	e.mu.Lock()
	e.runs = append(e.runs, r)
	e.mu.Unlock()
	return e.decisionEngine.Classify(ctx, m, imgs, sal)
}

// TestRunBatchesTheGate: Run opens and decodes each file once and runs the gate once per batch of files (eight, then
// two), not once per file; the classifiers run once per batch and model. The slice model has the gate's input size,
// so it normalises the very grey image the gate did (made once, on the decode worker); the film model's input
// differs and gets its own.
func TestRunBatchesTheGate(t *testing.T) {
	dir := t.TempDir()
	var inputs []Input
	for i := range 10 {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writePNG(t, p, 11+i%2, 9) // 11 wide: a chest film to the scripted gate, 12: a CT slice
		inputs = append(inputs, Input{Path: p})
	}
	rd, eng := &countingReader{}, &batchEngine{decisionEngine: newDecisionEngine(t)}
	var got []Result
	sum, err := New(decisionCatalogue(t), eng, Options{Reader: rd, Workers: 3}).Run(context.Background(), inputs,
		func(r Result) error { got = append(got, r); return nil }, nil)
	if err != nil || sum.Failed != 0 || len(got) != 10 {
		t.Fatalf("%+v, %v, %d records", sum, err, len(got))
	}
	for i, r := range got {
		if want := map[int]string{0: "film", 1: "slice"}[i%2]; r.Record.Model != want || r.Record.Path != inputs[i].Path {
			t.Errorf("record %d: %s by %q, want %s", i, r.Record.Path, r.Record.Model, want)
		}
	}
	if rd.opens != 10 || len(rd.frames) != 10 {
		t.Errorf("%d opens and %d decodes for 10 files", rd.opens, len(rd.frames))
	}
	gateSaw := map[*image.Gray]bool{}
	count := map[string][]int{}
	for _, r := range eng.runs {
		count[r.model] = append(count[r.model], len(r.inputs))
		if r.model == "gate" {
			for _, g := range r.inputs {
				gateSaw[g] = true
			}
		}
	}
	if fmt.Sprint(count["gate"]) != "[8 2]" || fmt.Sprint(count["film"]) != "[4 1]" || fmt.Sprint(count["slice"]) != "[4 1]" {
		t.Errorf("images per run: gate %v, film %v, slice %v; want [8 2], [4 1], [4 1]", count["gate"], count["film"], count["slice"])
	}
	for _, r := range eng.runs {
		for _, g := range r.inputs {
			if shared := gateSaw[g]; r.model != "gate" && shared != (r.model == "slice") {
				t.Errorf("%s normalised a %v image the gate's run shared: %v", r.model, g.Bounds().Size(), shared)
			}
		}
	}
}

// TestLookKeepsTheScanOnlyWhenNeeded: with the bundled models, a CT slice is rendered for the gate with the lung
// window, which ct-lung shares; cxr-pneumonia would render it with the file's window, but it does not accept CT, so
// it can only refuse the file and the scan is not kept for its render (its file bytes and frame wait for no gate
// run). Asked for out-of-scope answers, cxr-pneumonia may answer after all, and the scan is kept.
func TestLookKeepsTheScanOnlyWhenNeeded(t *testing.T) {
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ct.dcm")
	writeGrey(t, path, "CT", 7, 12, [][]uint16{make([]uint16, 7*12)})
	s, err := Open(Files{}, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		l, _, err := GateChooser{Catalogue: cat, AllowOutOfScope: allow}.look(s, 0)
		if err != nil || l == nil {
			t.Fatalf("look: %v", err)
		}
		var shared []string
		for _, m := range l.shared {
			shared = append(shared, m.Manifest.ID)
		}
		if fmt.Sprint(shared) != "[ct-lung]" || (l.scan != nil) != allow {
			t.Errorf("allow %v: models sharing the gate's image %v, scan kept %v", allow, shared, l.scan != nil)
		}
	}
}
