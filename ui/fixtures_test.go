package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
)

// The window's tests run the real pipeline (dicomio, model choice, records) on a scripted engine, so that they
// need no ONNX Runtime and can count opens, decodes and model runs through the pipeline's seams.

// testManifest is the model the scripted engine answers for: a binary classifier with a threshold.
const testManifest = `id: cxr-test
version: 1.2.3
title: Test classifier
task: classification
modalities: [OT, CR, DX, CT]
input: {name: image, layout: NCHW, channels: 1, height: 16, width: 16}
preprocessing: {grayscale: pil-luma, resize: linear, mean: [0.5], std: [0.25], voi: {CT: {preset: lung}, default: {preset: file}}}
outputs: {logits: logits, cam: cam, kind: logits, temperature: 1.0}
classes:
  - {id: normal, name: Normal}
  - {id: pneumonia, name: Pneumonia}
positive_class: pneumonia
threshold: 0.4
evaluation: {dataset: none, n: 0, accuracy: 0, macro_f1: 0, auc: 0, sensitivity: 0, specificity: 0, ece: 0, threshold: 0.4, files: ""}
training: {data: "none", licence: "CC0"}
intended_use: "A test model card."
limitations: ["Scripted answers."]
series: {rule: top-k-mean, k: 2, validated: false, note: "A test rule."}
sha256: `

// testCatalogue holds cxr-test with a stand-in model file (the scripted engine never reads it).
func testCatalogue() (*inference.Catalogue, error) {
	onnx := []byte("scripted engine: no ONNX")
	sum := sha256.Sum256(onnx)
	return inference.LoadCatalogue(fstest.MapFS{
		"cxr-test/model.yaml": {Data: []byte(testManifest + hex.EncodeToString(sum[:]) + "\n")},
		"cxr-test/model.onnx": {Data: onnx},
	})
}

// scriptedEngine answers every image: P(pneumonia) is 0.7, or from pneumonia(image) when set; with saliency, a
// 4×4 map with one hot cell. A gate (gateCatalogue's) calls an image 13 pixels wide "other" and any other image a
// chest radiograph, at 0.9. It counts runs and images, the gate's images apart (gateImages: how many it runs on, whatever the batching).
type scriptedEngine struct {
	mu           sync.Mutex
	runs, images int
	gateImages   int
	delay        time.Duration
	pneumonia    func(image.Image) float64
}

func (e *scriptedEngine) Classify(ctx context.Context, m *inference.Model, imgs []image.Image, saliency bool) ([]inference.Prediction, error) {
	if m.Manifest.IsGate() {
		return e.gate(m, imgs), nil
	}
	e.mu.Lock()
	e.runs++
	e.images += len(imgs)
	delay := e.delay
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay * time.Duration(len(imgs))):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]inference.Prediction, len(imgs))
	for i, img := range imgs {
		p1 := 0.7
		if e.pneumonia != nil {
			p1 = e.pneumonia(img)
		}
		label, p := "pneumonia", p1
		if p1 < m.Manifest.Threshold {
			label, p = "normal", 1-p1
		}
		out[i] = inference.Prediction{ModelID: m.Manifest.ID, ModelVersion: m.Manifest.Version, Device: "cpu", Label: label, Probability: p,
			Classes: []inference.ClassProbability{{ID: "normal", Name: "Normal", Probability: 1 - p1}, {ID: "pneumonia", Name: "Pneumonia", Probability: p1}},
			Timing:  inference.Timing{Forward: 12 * time.Millisecond}}
		if saliency {
			sal := make([]float32, 16)
			sal[5] = 1 // one hot cell
			out[i].Saliency = &inference.Saliency{Method: inference.SaliencyCAM, Class: label, Width: 4, Height: 4, Values: sal}
		}
	}
	return out, nil
}

// gate answers for gateCatalogue's gate.
func (e *scriptedEngine) gate(m *inference.Model, imgs []image.Image) []inference.Prediction {
	e.mu.Lock()
	e.gateImages += len(imgs)
	e.mu.Unlock()
	out := make([]inference.Prediction, len(imgs))
	for i, img := range imgs {
		label, other := "chest-radiograph", 0.1
		if img.Bounds().Dx() == 13 {
			label, other = "other", 0.9
		}
		out[i] = inference.Prediction{ModelID: m.Manifest.ID, Device: "cpu", Label: label, Probability: 0.9,
			Classes: []inference.ClassProbability{{ID: "chest-radiograph", Probability: 1 - other}, {ID: "other", Probability: other}}}
	}
	return out
}

func (e *scriptedEngine) Close() error { return nil }

func (e *scriptedEngine) counts() (runs, images int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs, e.images
}

// countingReader is dicomio with counts of opens and of frame decodes (dicomio's observer, which sees the one
// frame cache, so a frame served from it is not counted).
type countingReader struct {
	mu     sync.Mutex
	opened []string
	frames []int
}

func (r *countingReader) Open(path string) (*dicomio.Scan, error) {
	r.mu.Lock()
	r.opened = append(r.opened, path)
	r.mu.Unlock()
	return dicomio.Open(path, dicomio.WithDecodeObserver(func(i int) {
		r.mu.Lock()
		r.frames = append(r.frames, i)
		r.mu.Unlock()
	}))
}

func (r *countingReader) counts() (opens int, frames []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.opened), append([]int(nil), r.frames...)
}

// gateManifest is a gate routing chest radiographs to cxr-test and refusing the rest.
const gateManifest = `id: test-gate
version: 0.9.0
title: Test gate
task: gate
modalities: [OT, CR, DX, CT]
input: {name: image, layout: NCHW, channels: 1, height: 16, width: 16}
preprocessing: {grayscale: pil-luma, resize: linear, mean: [0.5], std: [0.25]}
outputs: {logits: logits, kind: logits, temperature: 1.0}
classes:
  - {id: chest-radiograph, name: Chest radiograph}
  - {id: other, name: Other}
routes: {chest-radiograph: cxr-test}
evaluation: {dataset: none, n: 0, accuracy: 0, macro_f1: 0, auc: 0, sensitivity: 0, specificity: 0, ece: 0, threshold: 0, files: ""}
training: {data: "none", licence: "CC0"}
intended_use: "A test gate."
limitations: ["Scripted answers."]
sha256: `

// gateCatalogue is testCatalogue's cxr-test, with a child-only population, behind gateManifest's gate.
func gateCatalogue() (*inference.Catalogue, error) {
	onnx := []byte("scripted engine: no ONNX")
	sum := hex.EncodeToString(func() []byte { s := sha256.Sum256(onnx); return s[:] }())
	return inference.LoadCatalogue(fstest.MapFS{
		"cxr-test/model.yaml": {Data: []byte(testManifest + sum + "\npopulation: {description: Children., age_years: {min: 1, max: 5}}\n")},
		"cxr-test/model.onnx": {Data: onnx},
		"gate/model.yaml":     {Data: []byte(gateManifest + sum + "\n")},
		"gate/model.onnx":     {Data: onnx},
	})
}

// scriptedParts are the test catalogue, eng (or, with engineErr, an engine that cannot start) and rd.
func scriptedParts(eng *scriptedEngine, rd pipeline.Reader, engineErr error) analystParts {
	if rd == nil {
		rd = pipeline.Files{}
	}
	return analystParts{
		catalogue: testCatalogue,
		engine: func(inference.Device) (engine, error) {
			if engineErr != nil {
				return nil, engineErr
			}
			return eng, nil
		},
		reader: rd,
	}
}

// newTestViewer builds the whole window on parts, with the analyst started.
func newTestViewer(t *testing.T, parts analystParts) *viewer {
	t.Helper()
	runUI(true)
	a := test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	an := newAnalyst(parts)
	vw := newViewer(a, w, an, about.Build{Version: "test", Commit: "none"})
	started := make(chan struct{})
	an.start("cpu", func() { vw.onUI(func() { vw.ai.analyserReady(""); close(started) }) })
	waitFor(t, "the analyst", func() bool {
		select {
		case <-started:
			return true
		default:
			return false
		}
	})
	vw.install()
	w.Resize(fyne.NewSize(1100, 720))
	return vw
}

// newScriptedViewer is newTestViewer with a scripted engine and dicomio.
func newScriptedViewer(t *testing.T) (*viewer, *scriptedEngine) {
	t.Helper()
	eng := &scriptedEngine{}
	return newTestViewer(t, scriptedParts(eng, nil, nil)), eng
}

// rowOf returns the batch row of the file whose name is base.
func rowOf(vw *viewer, base string) *batchRow {
	for _, r := range vw.batch.rows {
		if strings.HasSuffix(r.Path, "/"+base) {
			return r
		}
	}
	return nil
}

// waitForTB runs queued UI work until cond holds or the timeout passes.
func waitForTB(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runUI(false)
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
