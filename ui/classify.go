package ui

import (
	"context"
	"io"

	"github.com/tumortracer/tumortracer/dicomio"
)

// analyser is what the viewer needs from the classification pipeline. The real one wraps package pipeline
// (pipeline.go); tests use a scripted one. Every method may be called from any goroutine.
type analyser interface {
	// Models lists the models the user can pick, in display order.
	Models() []modelInfo
	// Ready is nil when classification can run, else the one-sentence reason it cannot (e.g. ONNX Runtime is
	// missing and where to put it).
	Ready() error
	// Device names the execution device in use ("CPU", "CUDA").
	Device() string
	// SetDevice selects "auto", "cpu" or "cuda" for the following calls.
	SetDevice(name string) error
	// Classify runs modelID ("" = pick by the scan's modality) on one frame of a scan.
	Classify(ctx context.Context, s *dicomio.Scan, frame int, modelID string) (*result, error)
	// Batch classifies files by path for the batch table, in order, calling emit once per file (from the
	// batch's goroutine) and keeping no scan; files not reached when ctx is cancelled get no record.
	Batch(ctx context.Context, paths []string, modelID string, emit func(batchRecord))
	// Export writes records in the format of `tumortracer classify` ("csv" or "json").
	Export(w io.Writer, format string, records []batchRecord, includePatient bool) error
}

// modelInfo is a model as the picker and the model card show it.
type modelInfo struct {
	ID, Version, Title string
	Modalities         []string
	Classes            []string // display names, in output order
	PositiveClass      int      // index into Classes for binary models, else -1
	Threshold          float64
	// Card is the model card as plain text (figures, data, intended use, limitations); Figures are image files
	// (ROC, confusion matrix) when present, as encoded PNG bytes keyed by title.
	Card    string
	Figures map[string][]byte
}

// result is one classification shown in the AI panel.
type result struct {
	Model  modelInfo
	Device string
	Probs  []float64 // post-softmax, in Model.Classes order
	Top    int
	// Positive is the binary model's decision at its threshold; meaningful when Model.PositiveClass >= 0.
	Positive bool
	// Saliency is the top class's activation map, width×height, row-major; nil when the model has none.
	Saliency      []float32
	SalW, SalH    int
	ElapsedMillis float64
}

// batchRecord is one row of the batch table; it holds no pixels so a long batch stays small. Raw is the
// pipeline's own record (written back out by Export).
type batchRecord struct {
	Path     string
	Modality string
	Model    string // id and version
	Top      string // display name of the top class
	Prob     float64
	Err      string // one sentence; empty on success
	Raw      any
}
