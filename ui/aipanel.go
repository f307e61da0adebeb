package ui

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // model card figures
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/pipeline"
)

const autoModel = "Auto (by content)"

// aiPanel shows the analysis of the frame on screen — the record its file's batch row shows, or for another frame
// of a multi-frame file that frame's own — with model and device pickers, the model line, the frame it belongs
// to, the permanent research-use line, per-class probability bars and the saliency overlay's controls.
type aiPanel struct {
	vw           *viewer
	content      *fyne.Container
	modelSelect  *widget.Select
	deviceSelect *widget.Select
	disclaimer   *widget.Label
	modelLine    *widget.Label
	frameLine    *widget.Label
	statusLine   *widget.Label
	topLine      *widget.Label
	// gateLine says what the gate saw (and the model's out-of-scope distance); outMark marks an answer shown
	// although it is out of scope; anyway is "Show anyway" under a refusal.
	gateLine     *widget.Label
	outMark      *widget.Label
	anyway       *widget.Button
	bars         *fyne.Container
	barList      []*probBar
	overlayCheck *widget.Check
	opacity      *widget.Slider
	cardButton   *widget.Button
	models       []modelInfo
}

func newAIPanel(vw *viewer) *aiPanel {
	p := &aiPanel{vw: vw}
	p.models = vw.an.Models()
	opts := []string{autoModel}
	for _, m := range p.models {
		opts = append(opts, modelOption(m))
	}
	// Selected is set before the callbacks so that building the panel changes nothing.
	p.modelSelect = widget.NewSelect(opts, nil)
	p.modelSelect.Selected = autoModel
	p.modelSelect.OnChanged = p.pickModel
	p.deviceSelect = widget.NewSelect([]string{"auto", "cpu", "cuda"}, nil)
	p.deviceSelect.Selected = "auto"
	p.deviceSelect.OnChanged = p.pickDevice

	p.disclaimer = widget.NewLabelWithStyle(about.Disclaimer, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.disclaimer.Importance = widget.WarningImportance
	p.modelLine = widget.NewLabel("Model: –")
	p.modelLine.Wrapping = fyne.TextWrapWord
	p.frameLine = widget.NewLabel("")
	p.frameLine.Wrapping = fyne.TextWrapWord
	p.frameLine.Hide()
	p.statusLine = widget.NewLabel("")
	p.statusLine.Wrapping = fyne.TextWrapWord
	p.topLine = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.gateLine = widget.NewLabel("")
	p.gateLine.Wrapping = fyne.TextWrapWord
	p.gateLine.Hide()
	p.outMark = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.outMark.Wrapping = fyne.TextWrapWord
	p.outMark.Importance = widget.WarningImportance
	p.outMark.Hide()
	p.anyway = widget.NewButton("Show anyway", vw.showAnyway)
	p.anyway.Hide()
	p.bars = container.NewVBox()

	p.overlayCheck = widget.NewCheck("Saliency overlay (S)", func(on bool) { p.applyOverlay() })
	p.opacity = widget.NewSlider(0, 1)
	p.opacity.Step = 0.05
	p.opacity.Value = 0.45
	p.opacity.OnChanged = func(float64) { p.applyOverlay() }
	legend := container.NewBorder(nil, nil, widget.NewLabel("low"), widget.NewLabel("high"), newColourScale())

	p.cardButton = widget.NewButton("Model card…", p.showCard)
	form := widget.NewForm(widget.NewFormItem("Model", p.modelSelect), widget.NewFormItem("Device", p.deviceSelect))
	p.content = container.NewVBox(
		p.disclaimer,
		form,
		p.modelLine,
		p.frameLine,
		p.gateLine,
		p.outMark,
		p.topLine,
		container.NewPadded(p.bars),
		p.anyway,
		p.statusLine,
		widget.NewSeparator(),
		p.overlayCheck,
		container.NewBorder(nil, nil, widget.NewLabel("Opacity"), nil, p.opacity),
		legend,
		p.cardButton,
	)
	if err := vw.an.Ready(); err != nil {
		p.showUnavailable(err)
	}
	return p
}

func modelOption(m modelInfo) string { return fmt.Sprintf("%s (%s)", m.Title, m.ID) }

func (p *aiPanel) pickModel(opt string) {
	id := ""
	for _, m := range p.models {
		if modelOption(m) == opt {
			id = m.ID
		}
	}
	if id == p.vw.modelID {
		return
	}
	p.vw.modelID = id
	p.vw.reanalyse()
}

// analyserReady fills the model picker once the analyser has started, fixes it on modelID when given, and
// shows why classification is unavailable if it is.
func (p *aiPanel) analyserReady(modelID string) {
	p.models = p.vw.an.Models()
	opts := []string{autoModel}
	for _, m := range p.models {
		opts = append(opts, modelOption(m))
	}
	p.modelSelect.SetOptions(opts)
	if modelID != "" {
		p.selectModel(modelID)
	}
	if err := p.vw.an.Ready(); err != nil {
		p.showUnavailable(err)
		p.vw.batch.refreshProgress()
	}
}

// selectModel fixes the picker on model id (unknown ids leave it on auto).
func (p *aiPanel) selectModel(id string) {
	for _, m := range p.models {
		if m.ID == id {
			p.modelSelect.SetSelected(modelOption(m))
		}
	}
}

func (p *aiPanel) pickDevice(name string) {
	if p.vw == nil || p.vw.an == nil {
		return
	}
	p.statusLine.SetText("Switching to " + name + "…")
	go func() {
		// Off the UI thread: the switch waits for running classifications to finish.
		err := p.vw.an.SetDevice(name)
		p.vw.onUI(func() {
			if err != nil {
				p.vw.showError("Cannot use device "+name, err)
				p.statusLine.SetText(pipeline.Explain(err).ForWindow())
				return
			}
			p.vw.reanalyse()
		})
	}()
}

func (p *aiPanel) applyOverlay() {
	p.vw.view.SetOverlay(p.overlayCheck.Checked, p.opacity.Value)
}

// toggleOverlay is the S key.
func (p *aiPanel) toggleOverlay() { p.overlayCheck.SetChecked(!p.overlayCheck.Checked) }

func (p *aiPanel) clearBars() {
	p.barList = nil
	p.bars.Objects = nil
	p.topLine.SetText("")
	p.anyway.Hide()
	p.setGate(nil)
	p.setOutMark("")
	p.content.Refresh()
}

// setGate says what the gate saw in the record's image and, when the model's out-of-scope statistics scored it,
// the distance and the limit; hidden when no gate ran.
func (p *aiPanel) setGate(rec *pipeline.Record) {
	if rec == nil || rec.Gate == "" {
		p.gateLine.Hide()
		return
	}
	name := rec.SeenAs
	if g := p.vw.an.gate(); g != nil {
		name = g.className(rec.SeenAs)
	}
	text := fmt.Sprintf("Seen as: %s (%.0f %%), by %s", name, 100*rec.SeenAsProbability, rec.Gate)
	if rec.Scored {
		text += fmt.Sprintf("\nOut-of-scope distance %.1f (the model's limit %.1f)", rec.ScopeScore, rec.ScopeThreshold)
	}
	p.gateLine.SetText(text)
	p.gateLine.Show()
}

// setOutMark shows the out-of-scope mark of an answer given anyway, with why ("" hides it).
func (p *aiPanel) setOutMark(reason string) {
	if reason == "" {
		p.outMark.Hide()
		return
	}
	p.outMark.SetText("OUT OF SCOPE — shown anyway: " + reason)
	p.outMark.Show()
}

// showUnavailable says why nothing can be classified (ONNX Runtime missing, no models).
func (p *aiPanel) showUnavailable(err error) {
	p.clearBars()
	p.modelLine.SetText("Model: –")
	p.setFrameNote("")
	p.statusLine.Importance = widget.WarningImportance
	p.statusLine.SetText(pipeline.Explain(err).ForWindow())
}

// setFrameNote says which frame of a multi-frame file the panel's result belongs to; the line is hidden for
// single-frame files.
func (p *aiPanel) setFrameNote(note string) {
	p.frameLine.SetText(note)
	if note == "" {
		p.frameLine.Hide()
	} else {
		p.frameLine.Show()
	}
}

func (p *aiPanel) showRunning() {
	p.statusLine.Importance = widget.LowImportance
	p.statusLine.SetText("Classifying…")
}

// showRefused shows a refusal: its sentence where the bars would be, what the gate saw, and "Show anyway" when the
// person may ask for the answer (and has not yet).
func (p *aiPanel) showRefused(a *analysis, frameNote string) {
	p.clearBars()
	rec := &a.rec
	if rec.Model != "" {
		p.modelLine.SetText(fmt.Sprintf("Model: none answers (%s %s was considered)", rec.Model, rec.Version))
	} else {
		p.modelLine.SetText("Model: none answers this image")
	}
	p.setFrameNote(frameNote)
	p.setGate(rec)
	p.topLine.SetText("Refused")
	sentence := widget.NewLabel(rec.Reason)
	sentence.Wrapping = fyne.TextWrapWord
	sentence.Importance = widget.WarningImportance
	p.bars.Objects = []fyne.CanvasObject{sentence}
	p.statusLine.Importance = widget.LowImportance
	p.statusLine.SetText("")
	if rec.Overridable() && !p.vw.anyway[rec.Path] {
		p.anyway.Show()
		p.statusLine.SetText("“Show anyway” gives the model's answer, marked out of scope wherever it appears.")
	}
	p.content.Refresh()
}

// showError shows a failed record's sentence, in the window's words.
func (p *aiPanel) showError(a *analysis, frameNote string) {
	p.clearBars()
	p.modelLine.SetText("Model: –")
	p.setFrameNote(frameNote)
	p.statusLine.Importance = widget.DangerImportance
	p.statusLine.SetText(a.sentence())
}

// showResult fills the bars and the model line from a record; the model's name and version are always shown with
// the result, and for a multi-frame file the frame it belongs to.
func (p *aiPanel) showResult(a *analysis, m modelInfo, frameNote string) {
	rec := &a.rec
	p.anyway.Hide()
	p.modelLine.SetText(fmt.Sprintf("Model: %s %s (%s) on %s", m.Title, rec.Version, m.ID, strings.ToUpper(rec.Device)))
	p.setFrameNote(frameNote)
	p.setGate(rec)
	if rec.OutOfScope {
		p.setOutMark(rec.Reason)
	} else {
		p.setOutMark("")
	}
	p.barList = p.barList[:0]
	objs := make([]fyne.CanvasObject, 0, len(rec.Probabilities))
	for i, c := range rec.Probabilities {
		b := newProbBar(m.className(c.ID), c.Probability, c.ID == rec.Label)
		if i == m.PositiveClass {
			b.threshold = m.Threshold
		}
		p.barList = append(p.barList, b)
		objs = append(objs, b)
	}
	p.bars.Objects = objs
	p.content.Refresh() // the panel's height changed with the number of bars
	top := fmt.Sprintf("Top class: %s (%.1f%%)", m.className(rec.Label), 100*rec.Probability)
	if m.PositiveClass >= 0 && m.PositiveClass < len(m.ClassIDs) {
		verdict := "below"
		if rec.Label == m.ClassIDs[m.PositiveClass] {
			verdict = "at or above"
		}
		top += fmt.Sprintf("\n%s %s threshold %.2f", m.Classes[m.PositiveClass], verdict, m.Threshold)
	}
	p.topLine.SetText(top)
	p.statusLine.Importance = widget.LowImportance
	overlay := "Overlay: saliency of the top class."
	if a.saliency == nil {
		overlay = "No saliency map: this model has no CAM and the record was made in the batch."
	}
	p.statusLine.SetText(fmt.Sprintf("Classified in %.0f ms. %s", float64(a.elapsed.Microseconds())/1000, overlay))
}

// showCard opens the model card of the shown result's model, or of the picked model.
func (p *aiPanel) showCard() {
	var m *modelInfo
	if a := p.vw.shown; a != nil && !a.failed() {
		if info, ok := p.vw.an.model(a.rec.Model); ok {
			m = &info
		}
	}
	if m == nil {
		for i := range p.models {
			if p.models[i].ID == p.vw.modelID || (p.vw.modelID == "" && m == nil) {
				m = &p.models[i]
			}
		}
	}
	if m == nil {
		dialog.ShowInformation("Model card", "No model is installed.", p.vw.win)
		return
	}
	text := widget.NewLabel(m.Card)
	text.Wrapping = fyne.TextWrapWord
	items := []fyne.CanvasObject{widget.NewLabelWithStyle(about.Disclaimer, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), text}
	titles := make([]string, 0, len(m.Figures))
	for t := range m.Figures {
		titles = append(titles, t)
	}
	sort.Strings(titles)
	for _, t := range titles {
		img, _, err := image.Decode(bytes.NewReader(m.Figures[t]))
		if err != nil {
			continue
		}
		ci := canvas.NewImageFromImage(img)
		ci.FillMode = canvas.ImageFillContain
		ci.SetMinSize(fyne.NewSize(360, 300))
		items = append(items, widget.NewLabelWithStyle(t, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), ci)
	}
	sc := container.NewVScroll(container.NewVBox(items...))
	sc.SetMinSize(fyne.NewSize(560, 480))
	d := dialog.NewCustom(fmt.Sprintf("Model card: %s %s", m.Title, m.Version), "Close", sc, p.vw.win)
	d.Show()
}

// probBar is one class's probability: name and percentage above a bar, the top class highlighted, and on the
// binary model's positive class a tick at the decision threshold.
type probBar struct {
	widget.BaseWidget
	name      string
	prob      float64
	top       bool
	threshold float64 // 0 = none
}

func newProbBar(name string, prob float64, top bool) *probBar {
	b := &probBar{name: name, prob: prob, top: top}
	b.ExtendBaseWidget(b)
	return b
}

// Colours of the bars.
var (
	colBarTrack = color.NRGBA{R: 0x2c, G: 0x2c, B: 0x2c, A: 0xff}
	colBarFill  = color.NRGBA{R: 0x4f, G: 0x9d, B: 0xc8, A: 0xff}
	colBarTop   = color.NRGBA{R: 0x6c, G: 0xc8, B: 0x6c, A: 0xff}
	colBarMark  = color.NRGBA{R: 0xf0, G: 0xf0, B: 0xf0, A: 0xff}
)

// CreateRenderer implements fyne.Widget.
func (b *probBar) CreateRenderer() fyne.WidgetRenderer {
	r := &probBarRenderer{b: b,
		name:  canvas.NewText(b.name, colForeground),
		pct:   canvas.NewText("", colForeground),
		track: canvas.NewRectangle(colBarTrack),
		fill:  canvas.NewRectangle(colBarFill),
		mark:  canvas.NewRectangle(colBarMark),
	}
	r.name.TextSize, r.pct.TextSize = 12, 12
	r.pct.Alignment = fyne.TextAlignTrailing
	r.Refresh()
	return r
}

type probBarRenderer struct {
	b                 *probBar
	name, pct         *canvas.Text
	track, fill, mark *canvas.Rectangle
}

const barHeight = 10

func (r *probBarRenderer) Layout(s fyne.Size) {
	th := r.name.MinSize().Height
	r.name.Move(fyne.NewPos(0, 0))
	r.name.Resize(fyne.NewSize(s.Width, th))
	r.pct.Move(fyne.NewPos(0, 0))
	r.pct.Resize(fyne.NewSize(s.Width, th))
	y := th + 2
	r.track.Move(fyne.NewPos(0, y))
	r.track.Resize(fyne.NewSize(s.Width, barHeight))
	p := float32(max(0, min(1, r.b.prob)))
	r.fill.Move(fyne.NewPos(0, y))
	r.fill.Resize(fyne.NewSize(s.Width*p, barHeight))
	if r.b.threshold > 0 {
		x := s.Width * float32(r.b.threshold)
		r.mark.Move(fyne.NewPos(x-1, y-3))
		r.mark.Resize(fyne.NewSize(2, barHeight+6))
		r.mark.Show()
	} else {
		r.mark.Hide()
	}
}

func (r *probBarRenderer) MinSize() fyne.Size {
	return fyne.NewSize(160, r.name.MinSize().Height+barHeight+8)
}

func (r *probBarRenderer) Refresh() {
	r.name.Text = r.b.name
	r.name.TextStyle.Bold = r.b.top
	r.pct.Text = fmt.Sprintf("%.1f%%", 100*r.b.prob)
	r.pct.TextStyle.Bold = r.b.top
	if r.b.top {
		r.fill.FillColor = colBarTop
	} else {
		r.fill.FillColor = colBarFill
	}
	r.Layout(r.b.Size())
	for _, o := range r.Objects() {
		o.Refresh()
	}
}

func (r *probBarRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.track, r.fill, r.mark, r.name, r.pct}
}

func (r *probBarRenderer) Destroy() {}
