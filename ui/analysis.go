package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
)

// analysis is one classification as the window keeps it: the pipeline's record — the one the batch table's row,
// the AI panel and the export all show — and the saliency map for the overlay, on its own small grid (nil when
// none was computed: a batch row of a model without a CAM). It holds no pixels.
type analysis struct {
	rec      pipeline.Record
	saliency *inference.Saliency
	elapsed  time.Duration // preprocessing, forward run and saliency
	// allowed says the record was made with out-of-scope answers allowed ("Show anyway"), so that a refusal it
	// still holds (no model to ask) is not made again.
	allowed bool
}

// analysisOf keeps what the window shows of a pipeline result.
func analysisOf(r pipeline.Result) *analysis {
	a := &analysis{rec: r.Record}
	if p := r.Prediction; p != nil {
		a.saliency = p.Saliency
		a.elapsed = p.Timing.Preprocess + p.Timing.Forward + p.Timing.Saliency
	}
	return a
}

// failed reports a record without an answer: an error or a refusal.
func (a *analysis) failed() bool { return a.rec.Status != pipeline.StatusOK }

// refused reports a refusal: no model may answer the image (Reason says why).
func (a *analysis) refused() bool { return a.rec.Refused() }

// sentence is what the window says about a failed record (its sentence and the window's hint).
func (a *analysis) sentence() string {
	if p := a.rec.Problem(); p != nil {
		return p.ForWindow()
	}
	return a.rec.Error
}

// refreshAnalysis shows the analysis of the frame on screen. On the file's analysis frame that is the file's
// record (its batch row's): shown when made, awaited when the batch or the viewer is making it, made by the
// viewer from the open scan when still to do. On any other frame of a multi-frame file it is that frame's own
// analysis, run on demand through the same pipeline and kept while the file is shown.
func (vw *viewer) refreshAnalysis() {
	if vw.scan == nil {
		return
	}
	row := vw.batch.byPath[vw.path]
	if err := vw.an.Ready(); err != nil {
		vw.shown = nil
		vw.ai.showUnavailable(err)
		vw.view.SetSaliency(nil)
		vw.batch.release(row) // queued again, for when classification becomes possible
		return
	}
	if row != nil && vw.frame != pipeline.AnalysisFrame(vw.scan) {
		vw.batch.release(row) // opened on another frame (a slice of a series): the batch makes the file's record
	}
	if row != nil && vw.frame == pipeline.AnalysisFrame(vw.scan) {
		switch {
		case row.reservedIdle():
			vw.analyseRecord(row)
		case row.status == rowRunning:
			vw.ai.showRunning() // batch.finish shows it
		case row.result != nil:
			vw.display(row.result)
		default:
			vw.analyseRecord(row)
		}
		return
	}
	if a := vw.frameStore[slicePos{vw.path, vw.frame}]; a != nil {
		vw.display(a)
		return
	}
	vw.analyseFrame(vw.frame)
}

// analyseRecord makes the file's record from the open scan and finishes its batch row with it.
func (vw *viewer) analyseRecord(row *batchRow) {
	gen := vw.batch.claim(row)
	s, model, allow := vw.scan, vw.modelID, vw.anyway[vw.path]
	vw.ai.showRunning()
	go func() {
		res := vw.an.Analyse(context.Background(), s, pipeline.AnalysisFrame(s), model, allow)
		a := analysisOf(res)
		a.allowed = allow
		vw.onUI(func() { vw.batch.finish(row, gen, a) })
	}()
}

// analyseFrame classifies another frame of the shown file on demand; moving on cancels it.
func (vw *viewer) analyseFrame(frame int) {
	if vw.frameCancel != nil {
		vw.frameCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	vw.frameCancel = cancel
	s, model, allow := vw.scan, vw.modelID, vw.anyway[vw.path]
	vw.ai.showRunning()
	go func() {
		res := vw.an.Analyse(ctx, s, frame, model, allow)
		if ctx.Err() != nil {
			return
		}
		vw.onUI(func() {
			if s != vw.scan || model != vw.modelID {
				return
			}
			a := analysisOf(res)
			a.allowed = allow
			vw.frameStore[slicePos{s.Path, frame}] = a
			vw.results.changed()
			if frame == vw.frame {
				vw.display(a)
			}
		})
	}()
}

// recordFinished is called by the batch table when row's record is made: the panel shows it when it is the
// record of what is on screen.
func (vw *viewer) recordFinished(row *batchRow) {
	vw.results.changed()
	if vw.scan != nil && row.Path == vw.path && vw.frame == pipeline.AnalysisFrame(vw.scan) && vw.an.Ready() == nil {
		vw.display(row.result)
	}
}

// reanalyse makes the shown file's record again, and the shown frame's analysis, after the model or the device
// changed: the row, the panel and the export then show the new record.
func (vw *viewer) reanalyse() {
	if vw.scan == nil {
		return
	}
	for p := range vw.frameStore {
		if p.path == vw.path {
			delete(vw.frameStore, p)
		}
	}
	if err := vw.an.Ready(); err != nil {
		vw.ai.showUnavailable(err)
		return
	}
	if row := vw.batch.byPath[vw.path]; row != nil {
		vw.analyseRecord(row)
	}
	if vw.frame != pipeline.AnalysisFrame(vw.scan) {
		vw.analyseFrame(vw.frame)
	}
}

// showAnyway makes the shown file's record (and the shown frame's analysis) again with the refused answer allowed:
// the person insists, and every view then shows the answer marked out of scope.
func (vw *viewer) showAnyway() {
	if vw.scan == nil {
		return
	}
	vw.anyway[vw.path] = true
	vw.reanalyse()
}

// display puts an analysis in the AI panel and its saliency map in the overlay.
func (vw *viewer) display(a *analysis) {
	vw.shown = a
	note := vw.frameNote(a)
	switch {
	case a.refused():
		vw.ai.showRefused(a, note)
		vw.view.SetSaliency(nil)
	case a.failed():
		vw.ai.showError(a, note)
		vw.view.SetSaliency(nil)
	default:
		m, ok := vw.an.model(a.rec.Model)
		if !ok {
			m = modelInfo{ID: a.rec.Model, Version: a.rec.Version, Title: a.rec.Model, PositiveClass: -1}
		}
		vw.ai.showResult(a, m, note)
		vw.view.SetSaliency(a.saliency)
	}
	vw.state.resultShown(vw)
}

// frameNote says which frame of a multi-frame file a result belongs to ("" for single-frame files).
func (vw *viewer) frameNote(a *analysis) string {
	n := vw.scan.Frames()
	if n <= 1 || a.rec.Frame < 1 {
		return ""
	}
	note := fmt.Sprintf("Frame %d of %d", a.rec.Frame, n)
	if rf := pipeline.AnalysisFrame(vw.scan) + 1; a.rec.Frame != rf {
		return note + fmt.Sprintf(" (the table's record is frame %d).", rf)
	}
	return note + " (the file's record)."
}
