package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/pipeline"
)

// showExport asks for the format, per file or per series, and whether to include patient identifiers, then for
// the file.
func (vw *viewer) showExport() {
	recs := vw.batch.records()
	series := vw.lib.index.AllSeries()
	if len(recs) == 0 && len(series) == 0 {
		dialog.ShowInformation("Export", "Nothing to export yet: classify some files first.", vw.win)
		return
	}
	format := widget.NewRadioGroup([]string{"CSV", "JSON"}, nil)
	format.SetSelected("CSV")
	format.Horizontal = true
	perFile := fmt.Sprintf("One record per file (%s)", plural(len(recs), "record", "records"))
	perSeries := fmt.Sprintf("One record per series (%s, then the files outside any series)", plural(len(series), "series", "series"))
	per := widget.NewRadioGroup([]string{perFile, perSeries}, nil)
	per.SetSelected(perFile)
	ids := widget.NewCheck("Include patient identifiers (and, per series, the study and series UIDs)", nil)
	note := widget.NewLabel("The columns of `tumortracer classify`, or of `classify --per series`.")
	if pending := vw.seriesPending(); pending > 0 {
		note.SetText(note.Text + fmt.Sprintf(" %s still being classified: their records say so far.", plural(pending, "series is", "series are")))
	}
	note.Wrapping = fyne.TextWrapWord
	dialog.ShowCustomConfirm("Export results", "Choose file…", "Cancel",
		container.NewVBox(note, per, format, ids), func(ok bool) {
			if !ok {
				return
			}
			f := strings.ToLower(format.Selected)
			include := ids.Checked
			bySeries := per.Selected == perSeries
			var srecs []pipeline.SeriesRecord
			n := len(recs)
			if bySeries {
				srecs = vw.seriesRecords(include)
				n = len(srecs)
			}
			d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
				if err != nil {
					vw.showError("Cannot save the export", err)
					return
				}
				if w == nil {
					return
				}
				go func() {
					var err error
					if bySeries {
						err = vw.an.ExportSeries(w, f, srecs, include)
					} else {
						err = vw.an.Export(w, f, recs, include)
					}
					if cerr := w.Close(); err == nil {
						err = cerr
					}
					vw.onUI(func() {
						if err != nil {
							vw.showError("Cannot write the export", err)
							return
						}
						vw.setStatus(fmt.Sprintf("Exported %d records to %s.", n, w.URI().Path()))
					})
				}()
			}, vw.win)
			name := "tumortracer-results."
			if bySeries {
				name = "tumortracer-series."
			}
			d.SetFileName(name + f)
			d.Show()
		}, vw.win)
}

// seriesPending counts the series whose slices are still being classified.
func (vw *viewer) seriesPending() int {
	n := 0
	for _, r := range vw.results.byKey {
		if r.series.Classifiable() && r.sum.Pending > 0 {
			n++
		}
	}
	return n
}
