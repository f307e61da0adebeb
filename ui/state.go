package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/pipeline"
)

// StateEnv names the file the viewer describes its layout and progress in, for the window test and for
// start-up measurements: where the image, the probability bars and the model line are on screen (in window
// pixels), what they show, and when the first frame, image and result were drawn. Unset, nothing is written.
const StateEnv = "TUMORTRACER_UI_STATE"

// uiState is the JSON written to $TUMORTRACER_UI_STATE.
type uiState struct {
	PID   int     `json:"pid"`
	Scale float32 `json:"scale"` // screen pixels per Fyne unit
	// Unix nanoseconds: first paint of the window, first paint with an image, result shown.
	FirstFrameNS int64 `json:"first_frame_ns,omitempty"`
	FirstImageNS int64 `json:"first_image_ns,omitempty"`
	ResultNS     int64 `json:"result_ns,omitempty"`
	// IndexedNS is when the library finished indexing what was opened; MaxUIDelayMS the longest a task handed to
	// the Fyne thread waited to run (a heartbeat every 50 ms): how long the window was unresponsive at worst.
	IndexedNS    int64   `json:"indexed_ns,omitempty"`
	IndexedFiles int     `json:"indexed_files,omitempty"`
	MaxUIDelayMS float64 `json:"max_ui_delay_ms"`

	File       string   `json:"file,omitempty"`
	Modality   string   `json:"modality,omitempty"`
	View       rect     `json:"view"`
	Image      rect     `json:"image"` // the drawn image, clipped to the view
	Window     string   `json:"window,omitempty"`
	ModelLine  textRect `json:"model_line"`
	Disclaimer textRect `json:"disclaimer"`
	Top        string   `json:"top,omitempty"`
	Error      string   `json:"error,omitempty"`
	// Refusal is the refusal sentence shown where the bars would be; Gate the line saying what the gate saw;
	// OutOfScope the mark of an answer shown anyway; ShowAnyway whether the button is offered.
	Refusal    *textRect `json:"refusal,omitempty"`
	Gate       string    `json:"gate,omitempty"`
	OutOfScope string    `json:"out_of_scope,omitempty"`
	ShowAnyway bool      `json:"show_anyway,omitempty"`
	Bars       []barRect `json:"bars,omitempty"`
	RenderMS   float64   `json:"render_ms"`

	Batch batchState `json:"batch"`

	// The study browser, the score strip and the series panel's result line, and every series' result.
	Browser      rect          `json:"browser"`
	Strip        rect          `json:"strip"`
	StripMarks   int           `json:"strip_marks"`
	SeriesResult textRect      `json:"series_result"`
	Series       []seriesState `json:"series,omitempty"`
}

// seriesState is one series as the browser lists it and the series panel summarises it.
type seriesState struct {
	Key, Description, Kind string
	Slices, Classified     int
	Refused, Pending       int
	Status, Label, Rule    string
	Score                  float64
	KeySlice               string
	Item                   string // the browser's line
}

type rect struct{ X, Y, W, H int }

type textRect struct {
	Text string `json:"text"`
	rect
}

type barRect struct {
	Class     string  `json:"class"`
	Prob      float64 `json:"prob"`
	Threshold float64 `json:"threshold,omitempty"`
	rect              // the bar's track; the filled part starts at X
}

type batchState struct {
	Total, Done, Failed, Queued int
	// Refused counts the rows no model may answer (part of Done); Models the answered rows per model.
	Refused int
	Models  map[string]int `json:",omitempty"`
	Running bool
}

// stateWriter keeps uiState and rewrites the file on each event; a nil *stateWriter does nothing.
type stateWriter struct {
	path string
	st   uiState
}

func newStateWriter(path string) *stateWriter {
	if path == "" {
		return nil
	}
	return &stateWriter{path: path, st: uiState{PID: os.Getpid()}}
}

// watchFirstFrame records the first paint of the view, with and without an image.
func (s *stateWriter) watchFirstFrame(vw *viewer) {
	if s == nil {
		return
	}
	vw.view.onRender = func(withImage bool) {
		now := time.Now().UnixNano()
		changed := false
		if s.st.FirstFrameNS == 0 {
			s.st.FirstFrameNS, changed = now, true
			go s.heartbeat(vw) // from the first paint on: the window's start-up is not a freeze
		}
		if withImage && s.st.FirstImageNS == 0 {
			s.st.FirstImageNS, changed = now, true
		}
		if changed {
			// Positions are known only after this paint's layout; read them on the next turn of the loop.
			go vw.onUI(func() { s.capture(vw); s.write() })
		}
	}
}

func (s *stateWriter) imageShown(vw *viewer) {
	if s == nil {
		return
	}
	s.capture(vw)
	s.write()
}

func (s *stateWriter) resultShown(vw *viewer) {
	if s == nil {
		return
	}
	if s.st.ResultNS == 0 {
		s.st.ResultNS = time.Now().UnixNano()
	}
	// The bars are laid out on the next paint; capture after it.
	go func() {
		time.Sleep(300 * time.Millisecond)
		vw.onUI(func() { s.capture(vw); s.write() })
	}()
}

// heartbeat hands the Fyne thread a task every 50 ms and keeps the longest wait before one ran.
func (s *stateWriter) heartbeat(vw *viewer) {
	for {
		time.Sleep(50 * time.Millisecond)
		sent := time.Now()
		vw.onUI(func() {
			if d := float64(time.Since(sent).Microseconds()) / 1000; d > s.st.MaxUIDelayMS {
				s.st.MaxUIDelayMS = d
			}
		})
	}
}

// indexed records the end of indexing.
func (s *stateWriter) indexed(vw *viewer) {
	if s == nil {
		return
	}
	s.st.IndexedNS, s.st.IndexedFiles = time.Now().UnixNano(), len(vw.lib.index.Entries)
	s.write()
}

// seriesShown records the series results whenever they change.
func (s *stateWriter) seriesShown(vw *viewer) {
	if s == nil {
		return
	}
	s.st.Series = s.st.Series[:0]
	ix := vw.lib.index
	for _, se := range ix.AllSeries() {
		it := vw.browser.items[seriesUID(se.Key)]
		st := seriesState{Key: se.Key, Description: se.Description, Kind: string(se.Kind), Slices: len(se.Slices),
			Item: it.title + " — " + it.detail + " — " + it.ai}
		if r := vw.results.of(se.Key); r != nil {
			sum := r.sum
			st.Classified, st.Refused, st.Pending, st.Status, st.Label, st.Score = sum.Classified, sum.Refused, sum.Pending, sum.Status, sum.Label, sum.Score
			if sum.Rule != nil {
				st.Rule = sum.Rule.Name()
			}
			if sum.Key >= 0 {
				st.KeySlice = pipeline.SliceName(ix, r.series.Slices[sum.Key])
			}
		}
		s.st.Series = append(s.st.Series, st)
	}
	// Positions are known after the next paint.
	go func() {
		time.Sleep(300 * time.Millisecond)
		vw.onUI(func() { s.capture(vw); s.write() })
	}()
}

func (s *stateWriter) batchProgress(p *batchPanel) {
	if s == nil {
		return
	}
	done, failed, queued := p.counts()
	s.st.Batch = batchState{Total: len(p.rows), Done: done, Failed: failed, Queued: queued, Running: p.running,
		Refused: p.refusedCount(), Models: map[string]int{}}
	for _, r := range p.rows {
		if r.status == rowDone && r.result != nil {
			s.st.Batch.Models[r.result.rec.Model]++
		}
	}
	if !p.running || (done+failed)%50 == 0 {
		s.write()
	}
}

// capture reads positions and texts from the widgets (Fyne thread).
func (s *stateWriter) capture(vw *viewer) {
	c := vw.win.Canvas()
	scale := c.Scale()
	s.st.Scale = scale
	d := fyne.CurrentApp().Driver()
	toRect := func(o fyne.CanvasObject) rect {
		p := d.AbsolutePositionForObject(o)
		z := o.Size()
		return rect{X: int(p.X * scale), Y: int(p.Y * scale), W: int(z.Width * scale), H: int(z.Height * scale)}
	}
	s.st.View = toRect(vw.view)
	s.st.Image = rect{}
	if f := vw.view.frame; f != nil {
		v := vw.view
		size := v.Size()
		z := v.zoom()
		ay := v.pixelAspect()
		x0 := float64(size.Width)/2 - v.cx*z
		y0 := float64(size.Height)/2 - v.cy*z*ay
		x1 := x0 + float64(f.Columns)*z
		y1 := y0 + float64(f.Rows)*z*ay
		x0, y0 = max(x0, 0), max(y0, 0)
		x1, y1 = min(x1, float64(size.Width)), min(y1, float64(size.Height))
		if x1 > x0 && y1 > y0 {
			s.st.Image = rect{
				X: s.st.View.X + int(x0*float64(scale)), Y: s.st.View.Y + int(y0*float64(scale)),
				W: int((x1 - x0) * float64(scale)), H: int((y1 - y0) * float64(scale)),
			}
		}
		s.st.Window = vw.cornerBL.text()
	}
	if vw.scan != nil {
		s.st.File = vw.path
		s.st.Modality = vw.scan.File.Meta.Modality
	}
	s.st.ModelLine = textRect{Text: vw.ai.modelLine.Text, rect: toRect(vw.ai.modelLine)}
	s.st.Disclaimer = textRect{Text: vw.ai.disclaimer.Text, rect: toRect(vw.ai.disclaimer)}
	s.st.Top = vw.ai.topLine.Text
	s.st.Refusal, s.st.Gate, s.st.OutOfScope = nil, "", ""
	if a := vw.shown; a != nil && a.refused() && len(vw.ai.bars.Objects) == 1 {
		s.st.Refusal = &textRect{Text: a.rec.Reason, rect: toRect(vw.ai.bars.Objects[0])}
	}
	if vw.ai.gateLine.Visible() {
		s.st.Gate = vw.ai.gateLine.Text
	}
	if vw.ai.outMark.Visible() {
		s.st.OutOfScope = vw.ai.outMark.Text
	}
	s.st.ShowAnyway = vw.ai.anyway.Visible()
	s.st.Error = ""
	if imp := vw.ai.statusLine.Importance; imp == widget.DangerImportance || imp == widget.WarningImportance {
		s.st.Error = vw.ai.statusLine.Text
	}
	s.st.Bars = s.st.Bars[:0]
	for _, b := range vw.ai.barList {
		r := toRect(b)
		// The track is the last barHeight units above the bottom padding; see probBarRenderer.Layout.
		th := (b.Size().Height - barHeight - 8 + 2) * scale
		r.Y += int(th)
		r.H = int(barHeight * scale)
		s.st.Bars = append(s.st.Bars, barRect{Class: b.name, Prob: b.prob, Threshold: b.threshold, rect: r})
	}
	s.st.RenderMS = float64(vw.view.lastRender.Microseconds()) / 1000
	s.st.Browser = toRect(vw.browser.tree)
	s.st.Strip, s.st.StripMarks = rect{}, len(vw.strip.marks)
	if vw.strip.Visible() {
		s.st.Strip = toRect(vw.strip)
	}
	s.st.SeriesResult = textRect{Text: vw.seriesPanel.result.Text, rect: toRect(vw.seriesPanel.result)}
}

// write replaces the file atomically so a reader never sees half of it.
func (s *stateWriter) write() {
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		fyne.LogError("write ui state", err)
		return
	}
	if err := os.Rename(tmp, filepath.Clean(s.path)); err != nil {
		fyne.LogError("write ui state", err)
	}
}
