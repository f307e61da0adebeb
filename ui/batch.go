package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/pipeline"
)

// rowStatus is where a batch row is in its life.
type rowStatus int

const (
	rowQueued rowStatus = iota
	rowRunning
	rowDone
	rowFailed
	rowCancelled
	rowRefused // no model may answer: the record says why (an answer, not a failure)
)

func (s rowStatus) String() string {
	return [...]string{"queued", "running", "done", "failed", "cancelled", "refused"}[s]
}

// batchRow is one queued file. It keeps its analysis only — the record and a small saliency grid, never the scan
// or its pixels — so a batch of thousands of files stays small; clicking the row re-opens the file.
type batchRow struct {
	Path   string
	status rowStatus
	result *analysis // the file's record once made
	viewed bool
	// byViewer is set while the viewer, not the batch, makes the record: reserved when it opens the file, and
	// analysing once its run started. gen grows with every claim, so that a superseded run's answer is dropped.
	byViewer, analysing bool
	gen                 int
}

// final reports a row whose record is made: answered, refused or failed.
func (r *batchRow) final() bool {
	return r.result != nil && (r.status == rowDone || r.status == rowFailed || r.status == rowRefused)
}

// reservedIdle reports a row the viewer reserved and has not started analysing.
func (r *batchRow) reservedIdle() bool { return r.byViewer && !r.analysing && r.status == rowRunning }

// The table's columns; sortable by tapping the header.
var batchColumns = []string{"File", "Modality", "Status", "Top class", "Probability", "Frame"}

// batchPanel is the batch table with its progress bar, Cancel and Export.
type batchPanel struct {
	vw       *viewer
	content  fyne.CanvasObject
	table    *widget.Table
	progress *widget.ProgressBar
	count    *widget.Label
	cancel   *widget.Button
	export   *widget.Button

	// queue is every row in the order it was queued: the batch classifies in this order and the viewer's
	// slices follow it. rows is the same rows in the table's (sortable) order.
	queue   []*batchRow
	rows    []*batchRow
	byPath  map[string]*batchRow
	sortCol int
	sortAsc bool

	running    bool
	cancelled  bool // the person cancelled the last run: rows the viewer gives back wait for the next
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
	for i, w := range []float32{250, 75, 200, 170, 85, 60} {
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
	a := r.result
	switch {
	case col == 0:
		return filepath.Base(r.Path)
	case a == nil && col == 2:
		return r.status.String()
	case a == nil:
		return ""
	}
	switch col {
	case 1:
		return a.rec.Modality
	case 2:
		switch {
		case r.status == rowFailed:
			return "failed: " + a.sentence()
		case r.status == rowRefused:
			return "refused: " + a.rec.Reason
		case a.rec.OutOfScope:
			return "done, out of scope (shown anyway): " + a.rec.Reason
		}
		return r.status.String()
	case 3:
		if m, ok := p.vw.an.model(a.rec.Model); ok {
			return m.className(a.rec.Label)
		}
		return a.rec.Label
	case 4:
		if r.status == rowDone {
			return fmt.Sprintf("%.1f%%", 100*a.rec.Probability)
		}
	case 5:
		if a.rec.Frame > 0 {
			return strconv.Itoa(a.rec.Frame)
		}
	}
	return ""
}

// add queues the inputs not already in the table and returns the new rows; an input that could not be listed
// gets its failed row at once.
func (p *batchPanel) add(inputs []pipeline.Input) []*batchRow {
	var added []*batchRow
	for _, in := range inputs {
		if _, ok := p.byPath[in.Path]; ok {
			continue
		}
		r := &batchRow{Path: in.Path}
		if in.Err != nil {
			r.status, r.result = rowFailed, &analysis{rec: pipeline.ErrorRecord(in.Path, in.Err)}
			p.finished++
		}
		p.byPath[in.Path] = r
		p.queue = append(p.queue, r)
		p.rows = append(p.rows, r)
		added = append(added, r)
	}
	if len(added) > 0 {
		p.resort()
		p.table.Refresh()
		p.refreshProgress()
	}
	return added
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
			pa, pb := a.probability(), b.probability()
			less, more = pa < pb, pa > pb
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

// probability is the record's probability for sorting (−1 before there is one).
func (r *batchRow) probability() float64 {
	if r.result == nil || r.result.failed() {
		return -1
	}
	return r.result.rec.Probability
}

// reserve marks a queued row as the viewer's, so that the batch does not open the file the viewer is opening.
func (p *batchPanel) reserve(r *batchRow) {
	if r != nil && (r.status == rowQueued || r.status == rowCancelled) {
		r.status, r.byViewer, r.analysing = rowRunning, true, false
		p.table.Refresh()
	}
}

// release gives a reserved row back to the batch (the viewer moved on before analysing it): the running batch
// takes it, or a new run starts unless the person cancelled the last one.
func (p *batchPanel) release(r *batchRow) {
	if r == nil || !r.reservedIdle() {
		return
	}
	r.status, r.byViewer = rowQueued, false
	if p.cancelled {
		r.status = rowCancelled
		p.table.Refresh()
		return
	}
	p.start()
}

// claim marks the row's record as being made by the viewer and returns the claim's generation for finish.
func (p *batchPanel) claim(r *batchRow) int {
	r.status, r.byViewer, r.analysing = rowRunning, true, true
	r.gen++
	p.table.Refresh()
	return r.gen
}

// requeue queues a finished row again (its record is to be made again, e.g. with "Show anyway"), unless the
// viewer is making it; start runs it.
func (p *batchPanel) requeue(r *batchRow) bool {
	if !r.final() {
		return false
	}
	r.status, r.result, r.byViewer = rowQueued, nil, false
	p.finished--
	p.table.Refresh()
	return true
}

// finishReserved finishes a reserved row whose file the viewer could not open.
func (p *batchPanel) finishReserved(r *batchRow, a *analysis) {
	if r != nil && r.reservedIdle() {
		p.finish(r, r.gen, a)
	}
}

// start classifies the queued rows off the UI thread, in the order they were queued; rows added meanwhile join
// the run.
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
	p.running, p.stop, p.cancelled = true, cancel, false
	p.started = time.Now()
	p.doneAtRun = p.finished
	p.cancel.Enable()
	model := p.vw.modelID
	go func() {
		for ctx.Err() == nil {
			var next []taken
			anyway := map[string]bool{} // the person's "Show anyway" for the rows taken, read on the Fyne thread
			p.vw.onUIWait(func() {
				next = p.takeQueued()
				for _, t := range next {
					if p.vw.anyway[t.row.Path] {
						anyway[t.row.Path] = true
					}
				}
			})
			if len(next) == 0 {
				break
			}
			inputs := make([]pipeline.Input, len(next))
			byPath := make(map[string]taken, len(next))
			for i, t := range next {
				inputs[i] = pipeline.Input{Path: t.row.Path}
				byPath[t.row.Path] = t
			}
			p.vw.an.Batch(ctx, inputs, model, anyway, func(r pipeline.Result) {
				if t, ok := byPath[r.Record.Path]; ok {
					a := analysisOf(r)
					a.allowed = anyway[r.Record.Path]
					p.vw.onUI(func() { p.finish(t.row, t.gen, a) })
				}
			})
		}
		p.vw.onUI(p.runEnded)
	}()
}

// taken is a row the batch took, with the generation of that claim.
type taken struct {
	row *batchRow
	gen int
}

// takeQueued marks every queued row running and returns them in the order they were queued (none when the run
// was cancelled).
func (p *batchPanel) takeQueued() []taken {
	if !p.running {
		return nil
	}
	var out []taken
	for _, r := range p.queue {
		if r.status == rowQueued {
			r.status, r.byViewer = rowRunning, false
			r.gen++
			out = append(out, taken{r, r.gen})
		}
	}
	return out
}

// finish stores a row's record, made by the batch or the viewer under claim gen; a superseded claim's answer is
// dropped.
func (p *batchPanel) finish(r *batchRow, gen int, a *analysis) {
	if gen != r.gen {
		return
	}
	r.result = a
	r.byViewer, r.analysing = false, false
	switch {
	case a.refused():
		r.status = rowRefused
	case a.failed():
		r.status = rowFailed
	default:
		r.status = rowDone
	}
	p.finished++
	p.vw.recordFinished(r)
	if !p.running || time.Since(p.lastUpdate) > 100*time.Millisecond {
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
		if r.status == rowRunning && !r.byViewer {
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
	p.vw.frames.cancel()
	if p.stop != nil {
		p.stop()
		p.running, p.cancelled = false, true
		p.count.SetText("Cancelling…")
	}
}

// counts returns how many rows are done (answered or refused), failed and still queued.
func (p *batchPanel) counts() (done, failed, queued int) {
	for _, r := range p.rows {
		switch r.status {
		case rowDone, rowRefused:
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
	text := fmt.Sprintf("%d / %d done", done+failed, total)
	if refused := p.refusedCount(); refused > 0 {
		text += fmt.Sprintf(", %d refused", refused)
	}
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

// refusedCount is the number of refused rows.
func (p *batchPanel) refusedCount() int {
	n := 0
	for _, r := range p.rows {
		if r.status == rowRefused {
			n++
		}
	}
	return n
}

// records returns the finished rows' records in table order.
func (p *batchPanel) records() []pipeline.Record {
	out := make([]pipeline.Record, 0, len(p.rows))
	for _, r := range p.rows {
		if r.final() {
			out = append(out, r.result.rec)
		}
	}
	return out
}
