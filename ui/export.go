package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// showExport asks for the format and whether to include patient identifiers, then for the file.
func (vw *viewer) showExport() {
	recs := vw.batch.records()
	if len(recs) == 0 {
		dialog.ShowInformation("Export", "Nothing to export yet: classify some files first.", vw.win)
		return
	}
	format := widget.NewRadioGroup([]string{"CSV", "JSON"}, nil)
	format.SetSelected("CSV")
	format.Horizontal = true
	ids := widget.NewCheck("Include patient identifiers", nil)
	noun := "records"
	if len(recs) == 1 {
		noun = "record"
	}
	note := widget.NewLabel(fmt.Sprintf("%d %s, with the columns of `tumortracer classify`.", len(recs), noun))
	dialog.ShowCustomConfirm("Export results", "Choose file…", "Cancel",
		container.NewVBox(note, format, ids), func(ok bool) {
			if !ok {
				return
			}
			f := strings.ToLower(format.Selected)
			include := ids.Checked
			d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
				if err != nil {
					vw.showError("Cannot save the export", err)
					return
				}
				if w == nil {
					return
				}
				go func() {
					err := vw.an.Export(w, f, recs, include)
					if cerr := w.Close(); err == nil {
						err = cerr
					}
					vw.onUI(func() {
						if err != nil {
							vw.showError("Cannot write the export", err)
							return
						}
						vw.setStatus(fmt.Sprintf("Exported %d records to %s.", len(recs), w.URI().Path()))
					})
				}()
			}, vw.win)
			d.SetFileName("tumortracer-results." + f)
			d.Show()
		}, vw.win)
}
