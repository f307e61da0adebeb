package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tumortracer/tumortracer/cli"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/pipeline"
)

// pipelineAnalyser is the viewer's analyser backed by package pipeline: the bundled models (plus --models
// folders) on one inference engine. The engine is replaced when the user picks another device; mu keeps a run
// from using an engine while it is closed.
type pipelineAnalyser struct {
	cat    *inference.Catalogue
	ortLib string
	models []modelInfo

	// run is held for reading by every classification and for writing while the engine is replaced.
	run sync.RWMutex
	eng *inference.Engine
	// mu guards device and ready, which the UI thread reads without waiting for a run.
	mu     sync.Mutex
	device inference.Device
	ready  error
}

// newPipelineAnalyser loads the model catalogue and starts the engine. Missing ONNX Runtime or missing models
// are not fatal: the viewer runs and Ready says why classification cannot.
func newPipelineAnalyser(ortLib, device string, modelDirs []string) analyser {
	cat, err := inference.LoadCatalogue(models.Bundle(), modelDirs...)
	if err != nil {
		return unavailable{reason: fmt.Errorf("cannot read the models folder: %w", err)}
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(os.Stderr, "tumortracer: model skipped: %v\n", p)
	}
	a := &pipelineAnalyser{cat: cat, ortLib: ortLib}
	for _, m := range cat.Models() {
		a.models = append(a.models, infoOf(m))
	}
	dev, err := inference.ParseDevice(device)
	if err != nil {
		dev = inference.DeviceAuto
	}
	if err := a.SetDevice(string(dev)); err != nil {
		fmt.Fprintf(os.Stderr, "tumortracer: %v\n", err)
	}
	return a
}

func (a *pipelineAnalyser) Models() []modelInfo { return a.models }

func (a *pipelineAnalyser) Ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready != nil {
		return a.ready
	}
	if len(a.models) == 0 {
		return errors.New("no classification models are installed")
	}
	return nil
}

func (a *pipelineAnalyser) Device() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return string(a.device)
}

// SetDevice starts an engine on the named device and closes the previous one once no run uses it (it waits for
// running classifications, so call it off the UI thread).
func (a *pipelineAnalyser) SetDevice(name string) error {
	dev, err := inference.ParseDevice(name)
	if err != nil {
		return err
	}
	eng, err := inference.NewEngine(inference.Options{Device: dev, LibraryPath: a.ortLib})
	if err != nil {
		if errors.Is(err, inference.ErrRuntimeMissing) {
			a.mu.Lock()
			a.ready = err
			a.mu.Unlock()
		}
		return err // keep the engine we have
	}
	a.run.Lock()
	defer a.run.Unlock()
	old := a.eng
	a.eng = eng
	a.mu.Lock()
	a.device, a.ready = dev, nil
	a.mu.Unlock()
	if old != nil {
		if cerr := old.Close(); cerr != nil {
			fmt.Fprintf(os.Stderr, "tumortracer: close engine: %v\n", cerr)
		}
	}
	return nil
}

func (a *pipelineAnalyser) classifier(modelID string) *pipeline.Classifier {
	return pipeline.New(a.cat, a.eng, pipeline.Options{ModelID: modelID, Saliency: true, IncludePatient: true})
}

func (a *pipelineAnalyser) Classify(ctx context.Context, s *dicomio.Scan, frame int, modelID string) (*result, error) {
	if err := a.Ready(); err != nil {
		return nil, err
	}
	a.run.RLock()
	defer a.run.RUnlock()
	r, err := a.classifier(modelID).ClassifyScan(ctx, s, frame)
	if err != nil {
		return nil, err
	}
	m, err := a.cat.Get(r.Record.Model)
	if err != nil {
		return nil, err
	}
	return resultOf(m, r.Prediction), nil
}

// resultOf turns a prediction into what the AI panel shows.
func resultOf(m *inference.Model, p *inference.Prediction) *result {
	r := &result{Model: infoOf(m), Device: strings.ToUpper(p.Device), Top: -1}
	for i, c := range p.Classes {
		r.Probs = append(r.Probs, c.Probability)
		if c.ID == p.Label {
			r.Top = i
		}
	}
	if r.Model.PositiveClass >= 0 {
		r.Positive = p.Label == m.Manifest.PositiveClass
	}
	if s := p.Saliency; s != nil && len(s.Values) == s.Width*s.Height {
		r.Saliency, r.SalW, r.SalH = s.Values, s.Width, s.Height
	}
	t := p.Timing.Preprocess + p.Timing.Forward + p.Timing.Saliency
	r.ElapsedMillis = float64(t.Microseconds()) / 1000
	return r
}

// Batch classifies paths in order through pipeline's batch runner (parallel decode, batched inference) and emits
// one record per file; files not reached when ctx is cancelled get none.
func (a *pipelineAnalyser) Batch(ctx context.Context, paths []string, modelID string, emit func(batchRecord)) {
	inputs := make([]pipeline.Input, len(paths))
	for i, p := range paths {
		inputs[i] = pipeline.Input{Path: p}
	}
	if err := a.Ready(); err != nil {
		for _, p := range paths {
			emit(recordOf(pipeline.ErrorRecord(p, err), ""))
		}
		return
	}
	a.run.RLock()
	defer a.run.RUnlock()
	// Small batches keep few decoded images in flight: the window stays responsive and memory low.
	clf := pipeline.New(a.cat, a.eng, pipeline.Options{ModelID: modelID, IncludePatient: true, Workers: 2, BatchSize: 4})
	_, err := clf.Run(ctx, inputs, func(r pipeline.Result) error {
		// The record has no modality; the header alone is cheap to read again.
		modality := ""
		if s, err := dicomio.Open(r.Record.Path, dicomio.MetadataOnly()); err == nil {
			modality = s.Meta.Modality
		}
		b := recordOf(r.Record, modality)
		if m, err := a.cat.Get(r.Record.Model); err == nil {
			for _, c := range m.Manifest.Classes {
				if c.ID == r.Record.Label && c.Name != "" {
					b.Top = c.Name
				}
			}
		}
		emit(b)
		return nil
	}, nil)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "tumortracer: batch: %v\n", err)
	}
}

// recordOf keeps what the table shows next to the pipeline's record.
func recordOf(r pipeline.Record, modality string) batchRecord {
	b := batchRecord{Path: r.Path, Modality: modality, Prob: r.Probability, Raw: r}
	if r.Status != pipeline.StatusOK {
		b.Err = sentence(errors.New(r.Error))
		return b
	}
	b.Model = r.Model + " " + r.Version
	b.Top = r.Label
	return b
}

// Export writes the records with pipeline's CSV or JSON Lines writer: the columns of `tumortracer classify`;
// patient identifiers only when asked for.
func (a *pipelineAnalyser) Export(w io.Writer, format string, recs []batchRecord, includePatient bool) error {
	var rw pipeline.RecordWriter
	switch format {
	case "csv":
		cw := pipeline.NewCSVWriter(w, pipeline.ClassColumns(a.cat.Models()), includePatient)
		if err := cw.WriteHeader(); err != nil {
			return err
		}
		rw = cw
	case "json":
		rw = pipeline.NewJSONWriter(w, includePatient)
	default:
		return fmt.Errorf("export format %q: %w", format, errUnknownFormat)
	}
	for _, r := range recs {
		pr, ok := r.Raw.(pipeline.Record)
		if !ok {
			pr = pipeline.ErrorRecord(r.Path, errors.New(r.Err))
		}
		if err := rw.Write(pr); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
	}
	return nil
}

// errUnknownFormat means an export format other than csv or json was asked for.
var errUnknownFormat = errors.New("unknown export format")

// infoOf describes a model for the picker and the card.
func infoOf(m *inference.Model) modelInfo {
	man := m.Manifest
	info := modelInfo{ID: man.ID, Version: man.Version, Title: man.Title, Modalities: man.Modalities,
		PositiveClass: -1, Threshold: man.Threshold}
	for i, c := range man.Classes {
		name := c.Name
		if name == "" {
			name = c.ID
		}
		info.Classes = append(info.Classes, name)
		if c.ID == man.PositiveClass && man.PositiveClass != "" {
			info.PositiveClass = i
		}
	}
	info.Card = cardText(&man)
	info.Figures = figures(m)
	return info
}

// cardText is the model card: what the model is for, how it was evaluated and on what, and its limits.
func cardText(m *inference.Manifest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s %s\nModalities: %s\n", m.Title, m.ID, m.Version, strings.Join(m.Modalities, ", "))
	names := make([]string, len(m.Classes))
	for i, c := range m.Classes {
		names[i] = c.Name
	}
	fmt.Fprintf(&b, "Classes: %s\n", strings.Join(names, ", "))
	if m.PositiveClass != "" {
		fmt.Fprintf(&b, "Positive class: %s at threshold %.2f\n", m.PositiveClass, m.Threshold)
	}
	e := m.Evaluation
	fmt.Fprintf(&b, "\nIntended use\n%s\n", strings.TrimSpace(m.IntendedUse))
	fmt.Fprintf(&b, "\nEvaluation: %s (n = %d)\n", e.Dataset, e.N)
	fmt.Fprintf(&b, "Accuracy %.3f · macro F1 %.3f · AUC %.3f · sensitivity %.3f · specificity %.3f · ECE %.3f\n",
		e.Accuracy, e.MacroF1, e.AUC, e.Sensitivity, e.Specificity, e.ECE)
	for _, c := range m.Classes {
		if pc, ok := e.PerClass[c.ID]; ok {
			fmt.Fprintf(&b, "  %s: sensitivity %.3f, specificity %.3f, AUC %.3f\n", c.Name, pc.Sensitivity, pc.Specificity, pc.AUC)
		}
	}
	if len(e.Confusion) > 0 {
		fmt.Fprintf(&b, "Confusion (rows = truth, columns = prediction): %v\n", e.Confusion)
	}
	t := m.Training
	fmt.Fprintf(&b, "\nTraining data: %s\nLicence: %s\n", t.Data, t.Licence)
	if t.Removed != "" {
		fmt.Fprintf(&b, "Removed: %s\n", t.Removed)
	}
	if len(m.Limitations) > 0 {
		b.WriteString("\nLimitations\n")
		for _, l := range m.Limitations {
			fmt.Fprintf(&b, "• %s\n", l)
		}
	}
	b.WriteString("\n" + cli.Disclaimer)
	return b.String()
}

// figures reads the card's ROC, confusion-matrix and reliability images from the model folder when they exist.
func figures(m *inference.Model) map[string][]byte {
	out := map[string][]byte{}
	for title, name := range map[string]string{"ROC curve": "roc.png", "Confusion matrix": "confusion.png", "Reliability diagram": "reliability.png"} {
		var data []byte
		var err error
		if m.Source == "bundled" {
			data, err = fs.ReadFile(models.Bundle(), m.Manifest.ID+"/"+name)
		} else {
			data, err = os.ReadFile(filepath.Join(m.Source, m.Manifest.ID, name))
			if err != nil {
				data, err = os.ReadFile(filepath.Join(m.Source, name))
			}
		}
		if err == nil {
			out[title] = data
		}
	}
	return out
}
