package ui

import (
	"fmt"
	"io"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
	"github.com/tumortracer/tumortracer/report"
	"github.com/tumortracer/tumortracer/study"
)

// What a person does with series: open one from the browser or the keyboard, jump to its key slice, export its
// result and its key-slice report.

// indexChanged is the library's news: the series results (at once, so that no result outlives the grouping it
// was made from), the browser and the shown file's stack follow.
func (vw *viewer) indexChanged() {
	vw.results.recompute()
	vw.restack()
}

// seriesResultsChanged is the results' news: the browser's AI states, the series panel and the strip follow.
func (vw *viewer) seriesResultsChanged() {
	vw.browser.rebuild()
	vw.seriesPanel.refreshFor(vw.seriesPanel.uid)
	vw.refreshStrip()
	vw.state.seriesShown(vw)
}

// currentSeries is the series whose slices the slider moves through, nil when it moves through something else.
func (vw *viewer) currentSeries() *study.Series {
	key, ok := strings.CutPrefix(vw.current, "series/")
	if !ok {
		return nil
	}
	return vw.lib.index.Series(key)
}

// refreshStrip draws one mark per position of the stack: the slices' scores for the series label (each picture's
// top probability in a folder of pictures), refused and failed slices, the key slice and the slice on screen.
func (vw *viewer) refreshStrip() {
	if len(vw.stack) <= 1 {
		vw.strip.set(nil, -1)
		vw.strip.Hide()
		return
	}
	marks := make([]stripMark, len(vw.stack))
	if s := vw.currentSeries(); s != nil {
		if r := vw.results.of(s.Key); r != nil && len(r.analyses) == len(vw.stack) {
			counted := vw.anywaySeries[s.Key]
			for i, a := range r.analyses {
				marks[i] = markOf(a, r.sum.Model, r.sum.Label, counted)
			}
			if k := r.sum.Key; k >= 0 && k < len(marks) {
				marks[k].key = true
			}
		}
	} else {
		for i, p := range vw.stack {
			if row := vw.batch.byPath[p.path]; row != nil && row.final() {
				marks[i] = markOf(row.result, "", "", true)
			}
		}
	}
	vw.strip.set(marks, vw.stackAt)
	vw.strip.Show()
}

// markOf is a slice's mark: its probability for label when model answered it, else its top probability; refused
// when no model may answer it, or when it was answered out of scope and such answers do not count (!counted).
func markOf(a *analysis, model, label string, counted bool) stripMark {
	switch {
	case a == nil:
		return stripMark{state: markPending}
	case a.rec.Refused(), a.rec.AnsweredOutOfScope() && !counted:
		return stripMark{state: markRefused}
	case a.failed():
		return stripMark{state: markFailed}
	}
	if p, ok := a.rec.P(label); ok && a.rec.Model == model {
		return stripMark{state: markClassified, p: p}
	}
	return stripMark{state: markClassified, p: a.rec.Probability}
}

// openSeries shows a series: its key slice once it has one, else its middle slice.
func (vw *viewer) openSeries(key string) {
	s := vw.lib.index.Series(key)
	if s == nil || !s.Classifiable() {
		return
	}
	at := len(s.Slices) / 2
	if r := vw.results.of(key); r != nil && r.series == s && r.sum.Key >= 0 {
		at = r.sum.Key
	}
	vw.showSlice(s.Slices[at])
}

// openGroup shows a folder of pictures, from its first picture (or the one on screen when it is among them).
func (vw *viewer) openGroup(i int) {
	ix := vw.lib.index
	if i < 0 || i >= len(ix.Groups) || len(ix.Groups[i].Entries) == 0 {
		return
	}
	if vw.current == groupUID(i) {
		return
	}
	vw.showSlice(study.Slice{Path: ix.Entries[ix.Groups[i].Entries[0]].Path})
}

// showSlice shows a slice: a frame of the file on screen, or another file.
func (vw *viewer) showSlice(sl study.Slice) {
	if vw.scan != nil && sl.Path == vw.path {
		vw.stack, vw.stackAt, vw.current = vw.stackFor(sl.Path, sl.Frame)
		if sl.Frame != vw.frame {
			vw.showFrame(sl.Frame)
		}
		vw.refreshFrameBar()
		vw.refreshCorners()
		vw.seriesPanel.refresh()
		return
	}
	vw.loadAt(sl.Path, sl.Frame, true)
}

// goToKeySlice is the K key and the panel's button: the key slice of the series on screen.
func (vw *viewer) goToKeySlice() {
	s := vw.currentSeries()
	if s == nil {
		if key, ok := strings.CutPrefix(vw.seriesPanel.uid, "series/"); ok {
			vw.openSeries(key) // the panel shows another series than the screen: go there
		}
		return
	}
	r := vw.results.of(s.Key)
	if r == nil || r.sum.Key < 0 {
		vw.setStatus("This series has no key slice yet.")
		return
	}
	sl := r.series.Slices[r.sum.Key]
	for i, p := range vw.stack {
		if p == (slicePos{sl.Path, sl.Frame}) {
			vw.goToIndex(i)
			return
		}
	}
	vw.showSlice(sl)
}

// switchSeries is the [ and ] keys: the previous or next series (or folder of pictures) in the browser's order.
func (vw *viewer) switchSeries(d int) {
	order := vw.browser.order
	if len(order) == 0 {
		return
	}
	at := -1
	for i, uid := range order {
		if uid == vw.current {
			at = i
		}
	}
	next := at + d
	if at < 0 {
		next = 0
	}
	if next < 0 || next >= len(order) || next == at {
		return
	}
	uid := order[next]
	if it := vw.browser.items[uid]; it.series != nil {
		vw.openSeries(it.series.Key)
	} else {
		vw.openGroup(it.group)
	}
}

// seriesRecords are the per-series export's records: one per series of the library, then one per file outside
// any series, as `classify --per series` writes them.
func (vw *viewer) seriesRecords(includePatient bool) []pipeline.SeriesRecord {
	ix := vw.lib.index
	var out []pipeline.SeriesRecord
	for _, s := range ix.AllSeries() {
		var sum pipeline.SeriesSummary
		if r := vw.results.of(s.Key); r != nil {
			sum = r.sum
		}
		out = append(out, pipeline.NewSeriesRecord(ix, s, sum, includePatient))
	}
	return append(out, pipeline.LeftoverRecords(ix)...)
}

// ExportSeries writes series records with the pipeline's writers: the columns of `classify --per series`.
func (a *analyst) ExportSeries(w io.Writer, format string, recs []pipeline.SeriesRecord, includePatient bool) error {
	return exportAs(format, recs, func() (recordWriter[pipeline.SeriesRecord], error) {
		cw := pipeline.NewSeriesCSVWriter(w, pipeline.ClassColumns(a.exportModels(true)), includePatient)
		return cw, cw.WriteHeader()
	}, func() recordWriter[pipeline.SeriesRecord] { return pipeline.NewSeriesJSONWriter(w, includePatient) })
}

// reportSeries is the series whose key-slice report the Report… button and menu write: the series panel's.
func (vw *viewer) reportSeries() *seriesResult {
	if r := vw.seriesPanel.lastResult; r != nil && r.sum.Key >= 0 {
		return r
	}
	if s := vw.currentSeries(); s != nil {
		if r := vw.results.of(s.Key); r != nil && r.sum.Key >= 0 {
			return r
		}
	}
	return nil
}

// showReport asks where to save the key-slice report of the series in the panel, and writes it.
func (vw *viewer) showReport() {
	r := vw.reportSeries()
	if r == nil {
		dialog.ShowInformation("Key-slice report", "No series with a result is selected: pick a CT series in the browser once its slices are classified.", vw.win)
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			vw.showError("Cannot save the report", err)
			return
		}
		if w == nil {
			return
		}
		open := vw.scan
		go func() {
			err := vw.writeReport(w, r, open)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			vw.onUI(func() {
				if err != nil {
					vw.showError("Cannot write the report", err)
					return
				}
				vw.setStatus("Saved the key-slice report to " + w.URI().Path() + ".")
			})
		}()
	}, vw.win)
	d.SetFileName("tumortracer-key-slice-" + r.series.Key + ".png")
	d.Show()
}

// writeReport draws the key-slice report of r (package report) as PNG: the key slice as the model saw it with its
// CAM, the series, the model and version, the series result and rule, the research-use sentence. It renders the
// key slice through open when that is its file, else opens it; call it off the Fyne thread.
func (vw *viewer) writeReport(w io.Writer, r *seriesResult, open *pipeline.Scan) error {
	sum, s := r.sum, r.series
	if sum.Key < 0 || sum.Rule == nil {
		return fmt.Errorf("series %s has no key slice", s.Key)
	}
	sl, a := s.Slices[sum.Key], r.analyses[sum.Key]
	m := vw.an.manifestLookup()(sum.Model)
	if m == nil {
		return fmt.Errorf("model %s: %w", sum.Model, inference.ErrModelNotFound)
	}
	img, err := vw.renderSlice(open, sl.Path, sl.Frame, m)
	if err != nil {
		return err
	}
	label := m.Classes[m.ClassIndex(sum.Label)].Name
	title := s.Description
	if title == "" {
		title = "Series"
	}
	result := fmt.Sprintf("%s, series score %.3f. %s", label, sum.Score, seriesCounts(&sum, sum.Device))
	if sum.Pending > 0 {
		result += fmt.Sprintf(" Still classifying %d slices: this is the result so far.", sum.Pending)
	}
	k := report.KeySlice{
		Image: img, Saliency: a.saliency,
		Title:       fmt.Sprintf("%s — series %s, key %s", title, orDash(s.Number), s.Key),
		Slice:       fmt.Sprintf("slice %d of %d in acquisition order: %s", sum.Key+1, len(s.Slices), sliceLabel(sl)),
		Model:       fmt.Sprintf("%s (%s)", m.Title, m.ID),
		Version:     sum.Version,
		Result:      result,
		SliceResult: fmt.Sprintf("%s %.3f on this slice", label, probabilityOf(a, sum.Label)),
		Rule:        sum.Rule.Name() + ": " + sum.Rule.Sentence(),
		Disclaimer:  about.Disclaimer,
	}
	return report.WritePNG(w, k)
}
