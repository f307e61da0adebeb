// Package pipeline is the one analysis path of TumorTracer: both `tumortracer classify` and the viewer classify
// scans here, and every view of a result — the window's AI panel, its batch table, the overlay, the exports —
// shows the Record this package made.
//
// A scan goes through the same steps wherever it comes from:
//
//	open (Reader) → choose a model (Chooser: the gate's forward run, tag checks) → decode and render the frame for
//	it → forward (Engine) → out-of-scope check (the model's scope statistics) → Record
//
// Classifier.Analyse runs them for one open scan (the viewer's path); Classifier.Run runs them for a list of files,
// decoding and rendering on worker goroutines while the gate runs once per batch of files on a goroutine of its own
// and the engine runs the classifiers' batches (the batch table's and the command line's path). The gate and a
// classifier of the same input size normalise one grey image, made once per file on a worker.
// The Chooser is GateChooser (gate.go): content chooses the model, tags and the model's statistics can only refuse,
// and a refusal is a record of its own (StatusRefused) with the sentence why. The Reader, the Chooser and the Engine
// are interfaces so that a test can count opens, decodes (a Reader that opens with dicomio.WithDecodeObserver) and
// model runs, the gate's apart from the classifiers'. Frames are cached by dicomio alone (see Scan). Records are
// written by the CSV and JSON Lines writers with the same columns everywhere.
package pipeline

import (
	"context"
	"fmt"
	"image"
	"runtime"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// Engine runs a model on 8-bit display images and returns one prediction per image; *inference.Engine is the
// program's. Without saliency, Run may hand it an image already made grey at the model's input size
// (inference.ModelImage), which inference.Preprocess turns into the same input as the display image.
type Engine interface {
	Classify(ctx context.Context, m *inference.Model, images []image.Image, saliency bool) ([]inference.Prediction, error)
}

// SaliencyMode says which predictions carry a saliency map.
type SaliencyMode int

const (
	// SaliencyOff: none.
	SaliencyOff SaliencyMode = iota
	// SaliencyCAM: those of models with a CAM output, which comes with the forward run at no extra cost (the
	// window's batch table keeps these small maps for the overlay).
	SaliencyCAM
	// SaliencyAll: every prediction; models without a CAM get occlusion sensitivity, many extra runs per image
	// (--saliency, and the image on screen).
	SaliencyAll
)

// Options configure a Classifier.
type Options struct {
	// ModelID forces one model for every scan (the --model flag) when Chooser is nil; empty chooses by content.
	ModelID string
	// AllowOutOfScope gives the answer of a scan that fails a check (the gate, the tags, the model's scope
	// statistics) instead of refusing it; the record is marked OutOfScope with the refusal's sentence as Reason
	// (--allow-out-of-scope, the window's "Show anyway").
	AllowOutOfScope bool
	// Saliency says which predictions carry a saliency map.
	Saliency SaliencyMode
	// IncludePatient adds the patient's id and name to records; off by default.
	IncludePatient bool
	// Workers is the number of files decoded at once by Run (default: the number of CPUs, at least 2: the command
	// line keeps every core busy). Decoding overlaps the model, whose own threads sleep rather than spin while they
	// wait (inference.Options.SpinWait). The window passes its own share instead (ui's windowShare: one core left to
	// the window, ONNX Runtime's threads on the others, at most two decode workers).
	Workers int
	// DecodeMemory bounds the bytes Run's workers hold while they read, decode and render files (default
	// DefaultDecodeMemory; shared by concurrent Runs of one Classifier): a worker waits for room before it opens a
	// file and before it decodes its frame, so that many workers do not decode many large frames at once (see
	// memoryBudget).
	DecodeMemory int64
	// BatchSize is the number of decoded images Run hands the engine at once (default 8).
	BatchSize int
	// Reader reads files (default Files: dicomio).
	Reader Reader
	// Chooser picks each scan's model (default GateChooser with ModelID and AllowOutOfScope on the classifier's
	// engine).
	Chooser Chooser
}

// Classifier classifies scans with the models of a catalogue. It is safe for concurrent use.
type Classifier struct {
	cat  *inference.Catalogue
	eng  Engine
	opts Options
	// budget is Options.DecodeMemory, shared by every Run of the classifier.
	budget *memoryBudget
}

// New returns a Classifier. The engine may be nil when ONNX Runtime is missing; every classification then fails
// with inference.ErrRuntimeMissing while opening and model choice still work.
func New(cat *inference.Catalogue, eng Engine, opts Options) *Classifier {
	if opts.Workers < 1 {
		opts.Workers = max(2, runtime.NumCPU())
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 8
	}
	if opts.DecodeMemory < 1 {
		opts.DecodeMemory = DefaultDecodeMemory
	}
	if opts.Reader == nil {
		opts.Reader = Files{}
	}
	if e, ok := eng.(*inference.Engine); ok && e == nil {
		eng = nil // a nil *Engine in the interface is still "no engine"
	}
	if opts.Chooser == nil {
		opts.Chooser = GateChooser{Catalogue: cat, Engine: eng, ModelID: opts.ModelID, AllowOutOfScope: opts.AllowOutOfScope}
	}
	return &Classifier{cat: cat, eng: eng, opts: opts, budget: newMemoryBudget(opts.DecodeMemory)}
}

// Catalogue returns the models the classifier chooses from.
func (c *Classifier) Catalogue() *inference.Catalogue { return c.cat }

// Open is the first step: it reads path through the classifier's Reader. The error names the path.
func (c *Classifier) Open(path string) (*Scan, error) { return Open(c.opts.Reader, path) }

// Window returns the VOI window for rendering frame of s for model m: PNG/JPEG keep their own grey levels;
// DICOM uses the manifest's preprocessing.voi entry for the scan's Modality, else its "default" entry, else the
// file's own first window (the frame's min–max without one: see dicomio.Scan.DefaultWindow).
func Window(s *dicomio.Scan, frame int, m *inference.Manifest) (dicomio.Window, error) {
	if s.Format != dicomio.FormatDICOM {
		return s.DefaultWindow(frame), nil
	}
	spec, ok := m.Preprocessing.VOI[s.Meta.Modality]
	if !ok {
		spec, ok = m.Preprocessing.VOI["default"]
	}
	switch {
	case !ok, spec.Preset == "file":
		return s.DefaultWindow(frame), nil
	case spec.Preset != "":
		w, ok := dicomio.Preset(spec.Preset)
		if !ok {
			return dicomio.Window{}, fmt.Errorf("model %s: %w: unknown VOI preset %q", m.ID, inference.ErrInvalidManifest, spec.Preset)
		}
		return w, nil
	case spec.Center != nil && spec.Width != nil:
		return dicomio.Window{Name: m.ID, Center: *spec.Center, Width: *spec.Width, Function: dicomio.VOILinear}, nil
	}
	return dicomio.Window{}, fmt.Errorf("model %s: %w: VOI entry for %s has neither a preset nor a window", m.ID, inference.ErrInvalidManifest, s.Meta.Modality)
}

// DisplayImage is the render step: frame of s as the 8-bit image model m classifies (see Window; native pixel
// grid, MONOCHROME1 inverted). It renders through the scan's frame cache: from the values the viewer holds when
// the frame is on screen (no second decode), else streaming over the stored samples (no float32 frame). A JPEG
// 2000 frame of twice AnalysisSide or more renders from its reduced-resolution decode instead, on screen or not,
// so that every front end classifies the same image.
func DisplayImage(s *Scan, frame int, m *inference.Manifest) (image.Image, error) {
	f, i := s.analysisFile(frame)
	w, err := Window(f, i, m)
	if err != nil {
		return nil, err
	}
	return f.Render(i, w, dicomio.RenderOptions{})
}

// Result is one classified input: its record plus, when it succeeded, the prediction and the display image the
// prediction was computed on (for saliency overlays). Image and Prediction are nil for an error record.
type Result struct {
	Record     Record
	Prediction *inference.Prediction
	Image      image.Image
	// Decode is the time spent reading and rendering the file (and, for Analyse, choosing its model).
	Decode time.Duration
	// Gate is, in Run, the record's share of its batch's gate run (preprocess, forward and decision): ONNX Runtime
	// time beside the classifier's Prediction.Timing.Forward.
	Gate time.Duration
}

// prepared is one scan after the steps before the forward run: its record so far and, unless err or refusal is
// set, the chosen model and the image to classify.
type prepared struct {
	rec   Record
	model *inference.Model
	img   image.Image
	// refusal is the Chooser's refusal: the record is refused without a forward run.
	refusal *Problem
	// outOfScope is the refusal overridden by Options.AllowOutOfScope; scope scores the model's features; gate is
	// what the gate saw (for the scope check's sentence).
	outOfScope *Problem
	scope      *inference.Scope
	gate       *GateView
	// look, in Run, is the scan made ready for the gate's run over the whole batch (GateChooser.decide): the
	// choice is made then, and until then the fields above and below it are not set.
	look *gateLook
	// input is img already grey at the model's input size (inference.ModelImage), made in Run (by the decode
	// workers, or shared with the gate's input) for models that give no saliency map under the classifier's mode;
	// nil otherwise. prep is the time that took, part of the preprocessing stage, not of decode.
	input  image.Image
	decode time.Duration
	prep   time.Duration
	// gateRun is the item's share of its batch's gate run (Run only; Result.Gate).
	gateRun time.Duration
	err     error
}

// prepare runs the choose and render steps for frame of s.
func (c *Classifier) prepare(ctx context.Context, s *Scan, frame int) prepared {
	t0 := time.Now()
	p := prepared{rec: c.newRecord(s, frame)}
	choice, err := c.opts.Chooser.Choose(ctx, s, frame)
	p.apply(choice, err, s, frame)
	p.decode = time.Since(t0)
	return p
}

// apply takes the Chooser's decision into p and renders frame of s for the chosen model unless the chooser's image
// is that already (s may be nil then).
func (p *prepared) apply(choice Choice, err error, s *Scan, frame int) {
	if err == nil {
		if v := choice.Gate; v != nil {
			p.gate = v
			p.rec.Gate, p.rec.SeenAs, p.rec.SeenAsProbability = v.ID(), v.Class, v.Probability
		}
		if m := choice.Model; m != nil {
			p.rec.Model, p.rec.Version = m.Manifest.ID, m.Manifest.Version
		}
	}
	switch {
	case err != nil:
		p.err = err
	case choice.Refusal != nil:
		p.refusal = choice.Refusal
	case choice.Model == nil:
		p.err = fmt.Errorf("model choice: %w", ErrNoModel)
	default:
		p.model, p.outOfScope, p.scope, p.img = choice.Model, choice.OutOfScope, choice.Scope, choice.Image
		if p.img == nil && s == nil {
			p.err = fmt.Errorf("model %s: the frame was not kept for its own window", choice.Model.Manifest.ID)
		} else if p.img == nil {
			p.img, p.err = DisplayImage(s, frame, &choice.Model.Manifest)
		}
	}
}

// Analyse classifies frame of an open scan through the same steps as Run and returns its result; a failure is an
// error record, never a missing one.
func (c *Classifier) Analyse(ctx context.Context, s *Scan, frame int) Result {
	return c.infer(ctx, []prepared{c.prepare(ctx, s, frame)})[0]
}

// saliencyFor says whether m's predictions carry a map under the classifier's mode.
func (c *Classifier) saliencyFor(m *inference.Model) bool {
	switch c.opts.Saliency {
	case SaliencyAll:
		return true
	case SaliencyCAM:
		return m.Manifest.Outputs.CAM != ""
	}
	return false
}

func (c *Classifier) classify(ctx context.Context, m *inference.Model, imgs []image.Image) ([]inference.Prediction, error) {
	if c.eng == nil {
		return nil, inference.ErrRuntimeMissing
	}
	return c.eng.Classify(ctx, m, imgs, c.saliencyFor(m))
}

// newRecord starts the record of frame of s, with patient identifiers only when asked for.
func (c *Classifier) newRecord(s *Scan, frame int) Record {
	r := Record{Path: s.Path, Status: StatusOK, Frame: frame + 1, Modality: s.File.Meta.Modality}
	if c.opts.IncludePatient {
		r.PatientID, r.PatientName = s.File.Meta.PatientID, s.File.Meta.PatientName
	}
	return r
}
