// Package pipeline is the glue between a scan and a model that both `tumortracer classify` and the viewer use:
// it picks the model for a scan (by id, else by modality), renders the scan for the model with dicomio using the
// VOI window the model's manifest names, runs the inference engine and turns the answer into a Record — one per
// input, good or bad — that the CSV and JSON Lines writers export with the same columns everywhere.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"strings"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// Sentinel errors.
var (
	// ErrNoModel means no available model accepts the scan's modality.
	ErrNoModel = errors.New("no model accepts this image")
	// ErrAmbiguousModel means several models accept the scan's modality and none is the modality's default.
	ErrAmbiguousModel = errors.New("more than one model accepts this image")
)

// DefaultModels maps a DICOM Modality to the model chosen for it when --model is not given.
var DefaultModels = map[string]string{
	"CT": "ct-lung",
	"CR": "cxr-pneumonia",
	"DX": "cxr-pneumonia",
}

// Options configure a Classifier.
type Options struct {
	// ModelID forces one model for every scan (the --model flag); empty chooses by modality.
	ModelID string
	// Saliency asks for a saliency map with every prediction.
	Saliency bool
	// IncludePatient adds the patient's id and name to records; off by default.
	IncludePatient bool
	// Workers is the number of files decoded at once by Run (default: the number of CPUs, at least 2). Decoding
	// overlaps the model, whose own threads sleep rather than spin while they wait (inference.Options.SpinWait).
	Workers int
	// BatchSize is the number of decoded images Run hands the engine at once (default 8).
	BatchSize int
}

// Classifier classifies scans with the models of a catalogue. It is safe for concurrent use.
type Classifier struct {
	cat  *inference.Catalogue
	eng  *inference.Engine
	opts Options
}

// New returns a Classifier. The engine may be nil when ONNX Runtime is missing; every classification then fails
// with inference.ErrRuntimeMissing while model selection still works.
func New(cat *inference.Catalogue, eng *inference.Engine, opts Options) *Classifier {
	if opts.Workers < 1 {
		opts.Workers = max(2, runtime.NumCPU())
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 8
	}
	return &Classifier{cat: cat, eng: eng, opts: opts}
}

// Catalogue returns the models the classifier chooses from.
func (c *Classifier) Catalogue() *inference.Catalogue { return c.cat }

// SelectModel returns the model for a scan of the given modality ("OT" for PNG/JPEG): Options.ModelID when set;
// else the modality's default (DefaultModels) when available; else the only model that accepts the modality. The
// errors (ErrNoModel, ErrAmbiguousModel, inference.ErrModelNotFound) say which --model to give.
func (c *Classifier) SelectModel(modality string) (*inference.Model, error) {
	if c.opts.ModelID != "" {
		return c.cat.Get(c.opts.ModelID)
	}
	modality = strings.ToUpper(strings.TrimSpace(modality))
	if id, ok := DefaultModels[modality]; ok {
		if m, err := c.cat.Get(id); err == nil {
			return m, nil
		}
	}
	var fits, all []string
	var found *inference.Model
	for _, m := range c.cat.Models() {
		all = append(all, m.Manifest.ID)
		if m.Manifest.Accepts(modality) {
			fits = append(fits, m.Manifest.ID)
			found = m
		}
	}
	switch len(fits) {
	case 1:
		return found, nil
	case 0:
		if len(all) == 0 {
			return nil, fmt.Errorf("modality %s: %w: no models are installed", modality, ErrNoModel)
		}
		return nil, fmt.Errorf("modality %s: %w; give --model with one of %s", modality, ErrNoModel, strings.Join(all, ", "))
	}
	return nil, fmt.Errorf("modality %s: %w (%s); give --model %s", modality, ErrAmbiguousModel, strings.Join(fits, ", "), strings.Join(fits, " or --model "))
}

// Window returns the VOI window for rendering frame of scan for model m: PNG/JPEG keep their own grey levels;
// DICOM uses the manifest's preprocessing.voi entry for the scan's Modality, else its "default" entry, else the
// file's own first window (min–max without one).
func Window(scan *dicomio.Scan, frame int, m *inference.Manifest) (dicomio.Window, error) {
	if scan.Format != dicomio.FormatDICOM {
		return scan.DefaultWindow(frame), nil
	}
	spec, ok := m.Preprocessing.VOI[scan.Meta.Modality]
	if !ok {
		spec, ok = m.Preprocessing.VOI["default"]
	}
	switch {
	case !ok, spec.Preset == "file":
		return scan.DefaultWindow(frame), nil
	case spec.Preset != "":
		w, ok := dicomio.Preset(spec.Preset)
		if !ok {
			return dicomio.Window{}, fmt.Errorf("model %s: %w: unknown VOI preset %q", m.ID, inference.ErrInvalidManifest, spec.Preset)
		}
		return w, nil
	case spec.Center != nil && spec.Width != nil:
		return dicomio.Window{Name: m.ID, Center: *spec.Center, Width: *spec.Width, Function: dicomio.VOILinear}, nil
	}
	return dicomio.Window{}, fmt.Errorf("model %s: %w: VOI entry for %s has neither a preset nor a window", m.ID, inference.ErrInvalidManifest, scan.Meta.Modality)
}

// DisplayImage renders frame of scan as the 8-bit image model m classifies (see Window; native pixel grid,
// MONOCHROME1 inverted).
func DisplayImage(scan *dicomio.Scan, frame int, m *inference.Manifest) (image.Image, error) {
	w, err := Window(scan, frame, m)
	if err != nil {
		return nil, err
	}
	return scan.Render(frame, w, dicomio.RenderOptions{})
}

// ClassifyFrame is the frame Run classifies: the middle one of a multi-frame file, else the only one.
func ClassifyFrame(scan *dicomio.Scan) int {
	return max(scan.NumFrames, 1) / 2
}

// Result is one classified input: its record plus, when it succeeded, the prediction and the display image the
// prediction was computed on (for saliency overlays). Image and Prediction are nil for an error record.
type Result struct {
	Record     Record
	Prediction *inference.Prediction
	Image      image.Image
	// Decode is the time spent reading and rendering the file.
	Decode time.Duration
}

// ClassifyScan classifies one frame of an open scan (the viewer's path).
func (c *Classifier) ClassifyScan(ctx context.Context, scan *dicomio.Scan, frame int) (*Result, error) {
	m, err := c.SelectModel(scan.Meta.Modality)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	img, err := DisplayImage(scan, frame, &m.Manifest)
	if err != nil {
		return nil, err
	}
	res := &Result{Record: c.newRecord(scan.Path, scan), Image: img, Decode: time.Since(t0)}
	preds, err := c.classify(ctx, m, []image.Image{img})
	if err != nil {
		return nil, err
	}
	res.Prediction = &preds[0]
	res.Record.fill(m, res.Prediction)
	return res, nil
}

func (c *Classifier) classify(ctx context.Context, m *inference.Model, imgs []image.Image) ([]inference.Prediction, error) {
	if c.eng == nil {
		return nil, inference.ErrRuntimeMissing
	}
	return c.eng.Classify(ctx, m, imgs, c.opts.Saliency)
}

// newRecord starts a record for path, with patient identifiers only when asked for.
func (c *Classifier) newRecord(path string, scan *dicomio.Scan) Record {
	r := Record{Path: path, Status: StatusOK}
	if c.opts.IncludePatient && scan != nil {
		r.PatientID, r.PatientName = scan.Meta.PatientID, scan.Meta.PatientName
	}
	return r
}
