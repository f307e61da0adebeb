package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/pipeline"
)

// engine is what the window needs of an inference engine: the pipeline's Engine, closed when the device changes.
type engine interface {
	pipeline.Engine
	Close() error
}

// analystParts says where the analyst's parts come from: the program's are realParts; tests put in their own to
// count opens, decodes and model runs through the pipeline's seams.
type analystParts struct {
	catalogue func() (*inference.Catalogue, error)
	engine    func(inference.Device) (engine, error)
	reader    pipeline.Reader
}

// realParts are the bundled models plus --models folders, ONNX Runtime engines and dicomio.
func realParts(ortLib string, modelDirs []string) analystParts {
	return analystParts{
		catalogue: func() (*inference.Catalogue, error) { return inference.LoadCatalogue(models.Bundle(), modelDirs...) },
		engine: func(dev inference.Device) (engine, error) {
			threads, _ := windowShare(runtime.NumCPU())
			return inference.NewEngine(inference.Options{Device: dev, LibraryPath: ortLib, Threads: threads})
		},
		reader: pipeline.Files{},
	}
}

// windowShare is the window's one rule for its cores (the command line keeps every core busy instead): one core is
// left to the window — its Fyne thread paints and answers the person — and classification gets the others, at
// least one. ONNX Runtime's intra-op threads per session are that many, and the batch's decode workers (which also
// run the gate's forward) that many but at most two: they only need to keep the model fed, and each holds a
// decoded image. With every core running ONNX Runtime, a drop of 3,000 slices left the window's tasks waiting
// 470–710 ms at worst, with one core left 280–340 ms (three runs each, 2 cores, TestRealWindowThousands'
// heartbeat). On two cores that is one ONNX Runtime thread and one decode worker (the earlier defaults, all cores
// and two workers, made up to four busy threads there); a decode worker and the engine can still be busy at once.
func windowShare(cpus int) (ortThreads, decodeWorkers int) {
	work := max(1, cpus-1)
	return work, min(work, 2)
}

// analyst is the window's one way to read and classify files: every record the window shows — AI panel, batch
// table, overlay, export — comes from a pipeline.Classifier on its engine. It starts in the background (model
// checksums, ONNX Runtime) so the window draws its first frame at once; until then Models is empty, Ready reports
// no problem and the calls that need it wait. The engine is replaced when the user picks another device.
type analyst struct {
	parts   analystParts
	started chan struct{}
	cat     *inference.Catalogue
	models  []modelInfo
	gateM   *modelInfo // the catalogue's gate, nil without one

	// run is held for reading by every classification and for writing while the engine is replaced.
	run sync.RWMutex
	eng engine
	// mu guards device and ready, which the UI thread reads without waiting for a run.
	mu     sync.Mutex
	device inference.Device
	ready  error
}

// newAnalyst returns an analyst that has not started: call start.
func newAnalyst(parts analystParts) *analyst {
	return &analyst{parts: parts, started: make(chan struct{})}
}

// start loads the catalogue and starts the engine on device in a goroutine, then calls onReady (from that
// goroutine). Missing ONNX Runtime or missing models are not fatal: viewing works and Ready says why
// classification cannot.
func (a *analyst) start(device string, onReady func()) {
	go func() {
		a.load(device)
		close(a.started)
		if onReady != nil {
			onReady()
		}
	}()
}

func (a *analyst) load(device string) {
	cat, err := a.parts.catalogue()
	if err != nil {
		a.ready = fmt.Errorf("cannot read the models folder: %w", err)
		return
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(os.Stderr, "tumortracer: model skipped: %v\n", p)
	}
	a.cat = cat
	// The Model list offers classifiers only: the gate decides which may answer, it answers nothing itself
	// (pipeline.GateChooser).
	for _, m := range cat.Classifiers() {
		a.models = append(a.models, infoOf(m))
	}
	if g := cat.Gate(); g != nil {
		info := infoOf(g)
		a.gateM = &info
	}
	dev, err := inference.ParseDevice(device)
	if err != nil {
		dev = inference.DeviceAuto
	}
	if err := a.useDevice(dev); err != nil {
		fmt.Fprintf(os.Stderr, "tumortracer: %v\n", err)
	}
}

// isStarted reports whether the start-up has finished.
func (a *analyst) isStarted() bool {
	select {
	case <-a.started:
		return true
	default:
		return false
	}
}

// wait returns once the start-up has finished, or ctx's error.
func (a *analyst) wait(ctx context.Context) error {
	select {
	case <-a.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Models lists the models the user can pick, in display order (none before the start-up has finished).
func (a *analyst) Models() []modelInfo {
	if !a.isStarted() {
		return nil
	}
	return a.models
}

// gate returns the card of the gate that routes images (nil before the start-up has finished, or without one).
func (a *analyst) gate() *modelInfo {
	if !a.isStarted() {
		return nil
	}
	return a.gateM
}

// model returns the card of the model with id.
func (a *analyst) model(id string) (modelInfo, bool) {
	for _, m := range a.Models() {
		if m.ID == id {
			return m, true
		}
	}
	return modelInfo{}, false
}

// Ready is nil when classification can run (or the start-up is still under way), else why it cannot.
func (a *analyst) Ready() error {
	if !a.isStarted() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready != nil {
		return a.ready
	}
	if len(a.models) == 0 {
		return &pipeline.Problem{Sentence: "No classification models are installed.", Err: pipeline.ErrNoModel}
	}
	return nil
}

// Device names the execution device in use ("cpu", "cuda"), or what the analyst is doing instead.
func (a *analyst) Device() string {
	if !a.isStarted() {
		return "starting"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.device == "" {
		return "none"
	}
	return string(a.device)
}

// SetDevice selects "auto", "cpu" or "cuda" for the following runs. It waits for the start-up and for running
// classifications, so call it off the UI thread.
func (a *analyst) SetDevice(name string) error {
	dev, err := inference.ParseDevice(name)
	if err != nil {
		return err
	}
	a.wait(context.Background())
	if a.cat == nil {
		return a.Ready()
	}
	return a.useDevice(dev)
}

// useDevice starts an engine on dev and closes the previous one once no run uses it; on failure the engine in
// use stays.
func (a *analyst) useDevice(dev inference.Device) error {
	eng, err := a.parts.engine(dev)
	if err != nil {
		if errors.Is(err, inference.ErrRuntimeMissing) {
			a.mu.Lock()
			a.ready = err
			a.mu.Unlock()
		}
		return err
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

// Open reads a file for the viewer; its frames are decoded on demand, once, and the same scan is analysed.
func (a *analyst) Open(path string) (*pipeline.Scan, error) {
	return pipeline.Open(a.parts.reader, path)
}

// classifier is the pipeline on the current engine; the caller holds run for reading while it is used. allow gives
// the answers of images that fail a check, marked out of scope ("Show anyway").
func (a *analyst) classifier(modelID string, allow bool, sal pipeline.SaliencyMode, workers, batch int) *pipeline.Classifier {
	var eng pipeline.Engine
	if a.eng != nil {
		eng = a.eng
	}
	return pipeline.New(a.cat, eng, pipeline.Options{ModelID: modelID, AllowOutOfScope: allow, Saliency: sal,
		IncludePatient: true, Reader: a.parts.reader, Workers: workers, BatchSize: batch})
}

// Analyse classifies frame of a scan the viewer opened, with modelID ("" = chosen by content) and a saliency map;
// allow is the person's "Show anyway" for this file.
func (a *analyst) Analyse(ctx context.Context, s *pipeline.Scan, frame int, modelID string, allow bool) pipeline.Result {
	if err := a.wait(ctx); err != nil {
		return pipeline.Result{Record: pipeline.ErrorRecord(s.Path, err)}
	}
	if err := a.Ready(); err != nil {
		return pipeline.Result{Record: pipeline.ErrorRecord(s.Path, err)}
	}
	a.run.RLock()
	defer a.run.RUnlock()
	return a.classifier(modelID, allow, pipeline.SaliencyAll, 1, 1).Analyse(ctx, s, frame)
}

// Batch classifies files for the batch table through the pipeline's batch runner (decode on windowShare's workers
// while the engine runs batches) and calls emit once per input, in order, from the batch's goroutine; inputs not
// reached when ctx is cancelled get none. anyway holds the files whose answers the person asked for although a
// check refuses them ("Show anyway"; nil for none). Saliency maps come with the records of models that have a CAM
// (small, and free with the forward run), so the overlay can show a record without running the model again.
func (a *analyst) Batch(ctx context.Context, inputs []pipeline.Input, modelID string, anyway map[string]bool, emit func(pipeline.Result)) {
	if err := a.wait(ctx); err != nil {
		return
	}
	if err := a.Ready(); err != nil {
		for _, in := range inputs {
			emit(pipeline.Result{Record: pipeline.ErrorRecord(in.Path, err)})
		}
		return
	}
	a.run.RLock()
	defer a.run.RUnlock()
	_, workers := windowShare(runtime.NumCPU())
	// Runs of inputs alike in "Show anyway" go through one classifier each, in order.
	for start := 0; start < len(inputs) && ctx.Err() == nil; {
		allow, end := anyway[inputs[start].Path], start+1
		for end < len(inputs) && anyway[inputs[end].Path] == allow {
			end++
		}
		// Small batches keep few decoded images in flight: the window stays responsive and memory low.
		_, err := a.classifier(modelID, allow, pipeline.SaliencyCAM, workers, 4).Run(ctx, inputs[start:end], func(r pipeline.Result) error {
			r.Image = nil // the row keeps the record and the small saliency grid only
			emit(r)
			return nil
		}, nil)
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "tumortracer: batch: %v\n", err)
		}
		start = end
	}
}

// errUnknownFormat means an export format other than csv or json was asked for.
var errUnknownFormat = errors.New("unknown export format")

// Export writes records with the pipeline's CSV or JSON Lines writer: the columns of `tumortracer classify`;
// patient identifiers only when asked for.
func (a *analyst) Export(w io.Writer, format string, recs []pipeline.Record, includePatient bool) error {
	return exportAs(format, recs, func() (recordWriter[pipeline.Record], error) {
		cw := pipeline.NewCSVWriter(w, pipeline.ClassColumns(a.exportModels(false)), includePatient)
		return cw, cw.WriteHeader()
	}, func() recordWriter[pipeline.Record] { return pipeline.NewJSONWriter(w, includePatient) })
}

// recordWriter is a pipeline writer of per-file or per-series records.
type recordWriter[R any] interface{ Write(R) error }

// exportAs writes recs with the CSV or the JSON Lines writer the format names.
func exportAs[R any](format string, recs []R, csv func() (recordWriter[R], error), json func() recordWriter[R]) error {
	var rw recordWriter[R]
	switch format {
	case "csv":
		var err error
		if rw, err = csv(); err != nil {
			return err
		}
	case "json":
		rw = json()
	default:
		return fmt.Errorf("export format %q: %w", format, errUnknownFormat)
	}
	for _, r := range recs {
		if err := rw.Write(r); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
	}
	return nil
}

// exportModels are the models whose classes are the CSV's p_ columns: all of them, or with seriesRule those that
// state a series rule (only they give series scores).
func (a *analyst) exportModels(seriesRule bool) []*inference.Model {
	var out []*inference.Model
	if a.wait(context.Background()); a.cat != nil {
		for _, m := range a.cat.Classifiers() { // the gate adds no p_ columns
			if !seriesRule || m.Manifest.Series != nil {
				out = append(out, m)
			}
		}
	}
	return out
}
