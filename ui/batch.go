package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// rowStatus is where a batch row is in its life.
type rowStatus int

const (
	rowQueued rowStatus = iota
	rowRunning
	rowDone
	rowFailed
	rowCancelled
)

func (s rowStatus) String() string {
	return [...]string{"queued", "running", "done", "failed", "cancelled"}[s]
}

// batchRow is one queued file. It keeps the record only — never the scan or its pixels — so a batch of thousands
// of files stays small; clicking the row re-opens the file.
type batchRow struct {
	Path   string
	status rowStatus
	rec    batchRecord
	viewed bool
}

// The table's columns; sortable by tapping the header.
var batchColumns = []string{"File", "Modality", "Status", "Top class", "Probability"}

// batchPanel is the batch table with its progress bar, Cancel and Export.
type batchPanel struct {
	vw       *viewer
	content  fyne.CanvasObject
	table    *widget.Table
	progress *widget.ProgressBar
	count    *widget.Label
	cancel   *widget.Button
	export   *widget.Button

	rows    []*batchRow
	byPath  map[string]*batchRow
	sortCol int
	sortAsc bool

	running    bool
	stop       context.CancelFunc
	started    time.Time
	doneAtRun  int // rows finished when this run started (for the ETA)
	lastUpdate time.Time
	finished   int // rows in a final state
	onIdle     func()
}

func newBatchPanel(vw *viewer) *batchPanel {
	p := &batchPanel{vw: vw, byPath: map[string]*batchRow{}, sortCol: -1, sortAsc: true}
	p.table = widget.NewTableWithHeaders(
		func() (int, int) { return len(p.rows), len(batchColumns) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if id.Row >= len(p.rows) {
				l.SetText("")
				return
			}
			l.SetText(p.cell(p.rows[id.Row], id.Col))
		})
	p.table.ShowHeaderColumn = false
	p.table.CreateHeader = func() fyne.CanvasObject {
		return widget.NewButton("", nil)
	}
	p.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		b := o.(*widget.Button)
		if id.Col < 0 || id.Col >= len(batchColumns) {
			return
		}
		t := batchColumns[id.Col]
		if id.Col == p.sortCol {
			if p.sortAsc {
				t += " ▲"
			} else {
				t += " ▼"
			}
		}
		b.SetText(t)
		col := id.Col
		b.OnTapped = func() { p.sortBy(col) }
	}
	for i, w := range []float32{260, 80, 200, 170, 90} {
		p.table.SetColumnWidth(i, w)
	}
	p.table.OnSelected = func(id widget.TableCellID) {
		if id.Row >= 0 && id.Row < len(p.rows) {
			vw.load(p.rows[id.Row].Path, false)
		}
	}
	p.progress = widget.NewProgressBar()
	p.count = widget.NewLabel("No files queued.")
	p.cancel = widget.NewButton("Cancel", p.cancelRun)
	p.cancel.Disable()
	p.export = widget.NewButton("Export…", vw.showExport)
	bar := container.NewBorder(nil, nil, nil, container.NewHBox(p.count, p.cancel, p.export), p.progress)
	p.content = container.NewBorder(bar, nil, nil, nil, p.table)
	return p
}

func (p *batchPanel) cell(r *batchRow, col int) string {
	switch col {
	case 0:
		return filepath.Base(r.Path)
	case 1:
		return r.rec.Modality
	case 2:
		if r.status == rowFailed && r.rec.Err != "" {
			return "failed: " + r.rec.Err
		}
		return r.status.String()
	case 3:
		return r.rec.Top
	case 4:
		if r.status == rowDone {
			return fmt.Sprintf("%.1f%%", 100*r.rec.Prob)
		}
	}
	return ""
}

// add queues files not already in the table and returns how many were new.
func (p *batchPanel) add(files []string) int {
	n := 0
	for _, f := range files {
		if _, ok := p.byPath[f]; ok {
			continue
		}
		r := &batchRow{Path: f}
		p.byPath[f] = r
		p.rows = append(p.rows, r)
		n++
	}
	if n > 0 {
		p.resort()
		p.table.Refresh()
		p.refreshProgress()
	}
	return n
}

// markViewed notes that path is the file on screen.
func (p *batchPanel) markViewed(path string) {
	for _, r := range p.rows {
		r.viewed = r.Path == path
	}
}

func (p *batchPanel) sortBy(col int) {
	if p.sortCol == col {
		p.sortAsc = !p.sortAsc
	} else {
		p.sortCol, p.sortAsc = col, true
	}
	p.resort()
	p.table.Refresh()
}

func (p *batchPanel) resort() {
	if p.sortCol < 0 {
		return
	}
	col, asc := p.sortCol, p.sortAsc
	sort.SliceStable(p.rows, func(i, j int) bool {
		a, b := p.rows[i], p.rows[j]
		var less, more bool
		switch col {
		case 4:
			less, more = a.rec.Prob < b.rec.Prob, a.rec.Prob > b.rec.Prob
		case 0:
			less, more = a.Path < b.Path, a.Path > b.Path
		default:
			x, y := strings.ToLower(p.cell(a, col)), strings.ToLower(p.cell(b, col))
			less, more = x < y, x > y
		}
		if asc {
			return less
		}
		return more
	})
}

// start classifies the queued rows one after another off the UI thread; rows added meanwhile join the run.
func (p *batchPanel) start() {
	if p.running {
		return
	}
	if p.vw.an.Ready() != nil {
		p.count.SetText(fmt.Sprintf("%d files queued; classification unavailable.", len(p.rows)))
		return
	}
	for _, r := range p.rows {
		if r.status == rowCancelled {
			r.status = rowQueued
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.running, p.stop = true, cancel
	p.started = time.Now()
	p.doneAtRun = p.finished
	p.cancel.Enable()
	model := p.vw.modelID
	go func() {
		for ctx.Err() == nil {
			var next []*batchRow
			p.vw.onUIWait(func() { next = p.takeQueued() })
			if len(next) == 0 {
				break
			}
			paths := make([]string, len(next))
			byPath := make(map[string]*batchRow, len(next))
			for i, r := range next {
				paths[i] = r.Path
				byPath[r.Path] = r
			}
			p.vw.an.Batch(ctx, paths, model, func(rec batchRecord) {
				if r := byPath[rec.Path]; r != nil {
					p.vw.onUI(func() { p.finish(r, rec) })
				}
			})
		}
		p.vw.onUI(p.runEnded)
	}()
}

// takeQueued marks every queued row running and returns them in table order (none when the run was cancelled).
func (p *batchPanel) takeQueued() []*batchRow {
	if !p.running {
		return nil
	}
	var out []*batchRow
	for _, r := range p.rows {
		if r.status == rowQueued {
			r.status = rowRunning
			out = append(out, r)
		}
	}
	return out
}

func (p *batchPanel) finish(r *batchRow, rec batchRecord) {
	r.rec = rec
	if rec.Err != "" {
		r.status = rowFailed
	} else {
		r.status = rowDone
	}
	p.finished++
	if time.Since(p.lastUpdate) > 100*time.Millisecond {
		p.lastUpdate = time.Now()
		if p.sortCol >= 2 {
			p.resort()
		}
		p.table.Refresh()
		p.refreshProgress()
	}
	p.vw.state.batchProgress(p)
}

func (p *batchPanel) runEnded() {
	p.running = false
	p.stop = nil
	for _, r := range p.rows {
		if r.status == rowRunning {
			r.status = rowCancelled
		}
	}
	p.cancel.Disable()
	p.resort()
	p.table.Refresh()
	p.refreshProgress()
	p.vw.state.batchProgress(p)
	if p.onIdle != nil {
		p.onIdle()
	}
}

func (p *batchPanel) cancelRun() {
	if p.stop != nil {
		p.stop()
		p.running = false
		p.count.SetText("Cancelling…")
	}
}

// counts returns how many rows are done, failed and still queued.
func (p *batchPanel) counts() (done, failed, queued int) {
	for _, r := range p.rows {
		switch r.status {
		case rowDone:
			done++
		case rowFailed:
			failed++
		case rowQueued, rowRunning, rowCancelled:
			queued++
		}
	}
	return
}

func (p *batchPanel) refreshProgress() {
	total := len(p.rows)
	if total == 0 {
		p.progress.SetValue(0)
		p.count.SetText("No files queued.")
		return
	}
	done, failed, queued := p.counts()
	p.progress.SetValue(float64(done+failed) / float64(total))
	text := fmt.Sprintf("%d / %d classified", done+failed, total)
	if failed > 0 {
		text += fmt.Sprintf(", %d failed", failed)
	}
	if p.running && queued > 0 {
		ran := p.finished - p.doneAtRun
		if ran > 0 {
			per := time.Since(p.started) / time.Duration(ran)
			text += ", about " + (per * time.Duration(queued)).Round(time.Second).String() + " left"
		}
	}
	p.count.SetText(text)
}

// records returns the finished rows' records in table order.
func (p *batchPanel) records() []batchRecord {
	out := make([]batchRecord, 0, len(p.rows))
	for _, r := range p.rows {
		if r.status == rowDone || r.status == rowFailed {
			out = append(out, r.rec)
		}
	}
	return out
}

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
