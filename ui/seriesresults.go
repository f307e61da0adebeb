package ui

import (
	"context"
	"time"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
	"github.com/tumortracer/tumortracer/study"
)

// Series results in the window. A slice's record is its file's batch row (a single-frame file, or the analysis
// frame of a multi-frame file) or its frame's own analysis (the other frames of a multi-frame file, classified by
// frameJobs through the same pipeline); the series result is pipeline.SummariseSeries over those records — the
// function `classify --per series` calls — so the browser, the series panel, the strip and the export agree with
// the command line. A series counts its slices answered out of scope only after the person asked for that in its
// panel ("Show anyway": viewer.anywaySeries), as `--allow-out-of-scope` does for the command line; the per-slice
// "Show anyway" of the AI panel shows one slice's answer and leaves the series result as it was.

// slicePos is one slice of a navigation stack: a file, and the frame of it.
type slicePos struct {
	path  string
	frame int
}

// seriesResult is one series as the window knows it: its slices' analyses (nil while pending) and their summary;
// sum.Key and analyses index series.Slices, the grouping the result was made from (recompute runs whenever the
// library regroups, so it is the library's).
type seriesResult struct {
	series   *study.Series
	analyses []*analysis
	sum      pipeline.SeriesSummary
}

// seriesResults keeps every series' result, recomputed a few times a second at most while records arrive.
type seriesResults struct {
	vw        *viewer
	byKey     map[string]*seriesResult
	scheduled bool
}

// resultsEvery is the shortest time between two recomputations while records arrive.
const resultsEvery = 150 * time.Millisecond

func newSeriesResults(vw *viewer) *seriesResults {
	return &seriesResults{vw: vw, byKey: map[string]*seriesResult{}}
}

// changed asks for a recomputation soon (Fyne thread).
func (r *seriesResults) changed() {
	if r.scheduled {
		return
	}
	r.scheduled = true
	go func() {
		time.Sleep(resultsEvery)
		r.vw.onUI(r.recompute)
	}()
}

// of returns the result of the series with key (nil when unknown).
func (r *seriesResults) of(key string) *seriesResult { return r.byKey[key] }

// recompute summarises every series of the library's index from the records the window has, asks frameJobs for
// the frames still to classify, makes again the refused slices of series whose out-of-scope answers were asked
// for, and tells the browser, the series panel and the strip.
func (r *seriesResults) recompute() {
	r.scheduled = false
	vw := r.vw
	ix := vw.lib.index
	lookup := vw.an.manifestLookup()
	byKey := make(map[string]*seriesResult, len(r.byKey))
	var frames, redo []slicePos
	for _, s := range ix.AllSeries() {
		res := &seriesResult{series: s, analyses: make([]*analysis, len(s.Slices)), sum: pipeline.SeriesSummary{Key: -1}}
		recs := make([]*pipeline.Record, len(s.Slices))
		anyway := vw.anywaySeries[s.Key]
		for i, sl := range s.Slices {
			a, own := vw.sliceAnalysis(ix, sl)
			switch {
			case a != nil && anyway && a.rec.Overridable() && !a.allowed:
				redo = append(redo, slicePos{sl.Path, sl.Frame})
			case a != nil:
				res.analyses[i], recs[i] = a, &a.rec
			case own:
				frames = append(frames, slicePos{sl.Path, sl.Frame})
			}
		}
		if s.Classifiable() {
			res.sum = pipeline.SummariseSeries(recs, lookup, anyway)
		}
		byKey[s.Key] = res
	}
	r.byKey = byKey
	vw.redoAnyway(redo)
	vw.frames.want(frames)
	vw.seriesResultsChanged()
}

// redoAnyway makes again, with out-of-scope answers allowed, the refused slices of series whose out-of-scope
// answers the person asked for: a file's record through the batch, another frame through frameJobs (its stored
// analysis is dropped, so that the next recompute asks for it).
func (vw *viewer) redoAnyway(slices []slicePos) {
	requeued := false
	for _, p := range slices {
		vw.anyway[p.path] = true
		if row := vw.batch.byPath[p.path]; row != nil && row.final() && row.result.rec.Frame == p.frame+1 {
			requeued = vw.batch.requeue(row) || requeued
			continue
		}
		delete(vw.frameStore, p)
		delete(vw.frames.queued, p)
	}
	if requeued {
		vw.batch.start()
	}
	if len(slices) > 0 {
		vw.results.changed()
	}
}

// showSeriesAnyway is the series panel's "Show anyway": the series' slices that a check refused are made again
// with their answers allowed, marked out of scope, and count in the series result, which is marked so too.
func (vw *viewer) showSeriesAnyway(key string) {
	vw.anywaySeries[key] = true
	vw.results.recompute()
}

// sliceAnalysis is the analysis of slice sl, nil while pending; own reports a frame that needs its own analysis
// (not its file's record).
func (vw *viewer) sliceAnalysis(ix *study.Index, sl study.Slice) (a *analysis, own bool) {
	e := &ix.Entries[sl.Entry]
	if sl.Frame == max(e.Frames, 1)/2 { // the file's analysis frame (pipeline.AnalysisFrame)
		if row := vw.batch.byPath[sl.Path]; row != nil && row.final() {
			return row.result, false
		}
		return nil, false
	}
	return vw.frameStore[slicePos{sl.Path, sl.Frame}], true
}

// manifestLookup looks up the manifests of the analyst's models (none before the start-up has finished).
func (a *analyst) manifestLookup() pipeline.ModelLookup {
	if !a.isStarted() {
		return func(string) *inference.Manifest { return nil }
	}
	return pipeline.CatalogueLookup(a.cat)
}

// frameJobs classifies the frames of multi-frame series files that are not their file's analysis frame, one file
// at a time, opening each file once (pipeline.Input.Scan), on the analyst's batch path; results go to the
// viewer's frame store, where the on-demand analyses of the frame slider live too.
type frameJobs struct {
	vw      *viewer
	queued  map[slicePos]bool
	queue   []slicePos
	running bool
	stop    context.CancelFunc
}

func newFrameJobs(vw *viewer) *frameJobs { return &frameJobs{vw: vw, queued: map[slicePos]bool{}} }

// want queues the frames not queued yet and starts the runner (Fyne thread). Nothing is queued while
// classification is unavailable.
func (f *frameJobs) want(frames []slicePos) {
	if f.vw.an.Ready() != nil || !f.vw.an.isStarted() {
		return
	}
	for _, p := range frames {
		if !f.queued[p] {
			f.queued[p] = true
			f.queue = append(f.queue, p)
		}
	}
	if f.running || len(f.queue) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.running, f.stop = true, cancel
	go f.run(ctx)
}

// cancel stops the runner; the frames it had not done may be asked for again.
func (f *frameJobs) cancel() {
	if f.stop != nil {
		f.stop()
	}
}

// next takes the queued frames of the first queued file that still has frames to classify (Fyne thread).
func (f *frameJobs) next() (string, []int) {
	for len(f.queue) > 0 {
		path := f.queue[0].path
		var frames []int
		rest := f.queue[:0]
		for _, p := range f.queue {
			switch {
			case p.path != path:
				rest = append(rest, p)
			case f.vw.frameStore[p] == nil: // the frame slider may have classified it meanwhile
				frames = append(frames, p.frame)
			}
		}
		f.queue = rest
		if len(frames) > 0 {
			return path, frames
		}
	}
	return "", nil
}

func (f *frameJobs) run(ctx context.Context) {
	vw := f.vw
	for ctx.Err() == nil {
		var path string
		var frames []int
		var model string
		var allow bool
		vw.onUIWait(func() { path, frames = f.next(); model, allow = vw.modelID, vw.anyway[path] })
		if len(frames) == 0 {
			break
		}
		s, err := vw.an.Open(path)
		inputs := make([]pipeline.Input, len(frames))
		for i, fr := range frames {
			inputs[i] = pipeline.Input{Path: path, Scan: s, Frame: fr + 1, Err: err}
		}
		done := 0
		vw.an.Batch(ctx, inputs, model, map[string]bool{path: allow}, func(r pipeline.Result) {
			// Run emits in input order, so the i-th result is the i-th frame's, even an error record that
			// reached no frame.
			a, pos := analysisOf(r), slicePos{path, frames[done]}
			a.allowed = allow
			done++
			vw.onUI(func() {
				if model == vw.modelID {
					vw.frameStore[pos] = a
					vw.results.changed()
				}
			})
		})
	}
	vw.onUI(func() {
		f.running, f.stop = false, nil
		if ctx.Err() != nil {
			// Cancelled: what was not done may be asked for again.
			for _, p := range f.queue {
				delete(f.queued, p)
			}
			f.queue = nil
			for p := range f.queued {
				if vw.frameStore[p] == nil {
					delete(f.queued, p)
				}
			}
		}
	})
}
