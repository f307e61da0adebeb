package ui

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
	"github.com/disintegration/imaging"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
	"github.com/tumortracer/tumortracer/study"
)

// seriesPanel shows the browser item on screen (or the one a person selected): for a series its geometry and
// problems, its series result with the rule that made it (and that the rule is not validated), the counts of
// classified and refused slices, the out-of-scope mark of a result that counts slices answered anyway, "Show
// anyway" while a check refuses some of its slices, and the key slice with its CAM; for a folder of pictures why it
// has no series result.
type seriesPanel struct {
	vw                                     *viewer
	content                                *fyne.Container
	title, facts, problems, result, counts *widget.Label
	rule, keyLine, outMark                 *widget.Label
	keyImage                               *canvas.Image
	keyButton, reportButton, anyway        *widget.Button
	uid                                    string
	keyShown                               keyImageID // what keyImage shows
	keyWanted                              keyImageID // what is being rendered
	lastResult                             *seriesResult
	keyRendered                            chan struct{} // closed and replaced whenever a key image lands (tests)
}

// keyImageID names a key-slice image: the slice, the model whose display image it is, and its saliency map.
type keyImageID struct {
	pos   slicePos
	model string
	sal   *inference.Saliency
}

func newSeriesPanel(vw *viewer) *seriesPanel {
	p := &seriesPanel{vw: vw, keyRendered: make(chan struct{})}
	label := func(style fyne.TextStyle) *widget.Label {
		l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, style)
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	p.title = label(fyne.TextStyle{Bold: true})
	p.facts = label(fyne.TextStyle{})
	p.problems = label(fyne.TextStyle{})
	p.problems.Importance = widget.WarningImportance
	p.result = label(fyne.TextStyle{Bold: true})
	p.counts = label(fyne.TextStyle{})
	p.rule = label(fyne.TextStyle{Italic: true})
	p.rule.Importance = widget.LowImportance
	p.keyLine = label(fyne.TextStyle{})
	p.outMark = label(fyne.TextStyle{Bold: true})
	p.outMark.Importance = widget.WarningImportance
	p.anyway = widget.NewButton("Show anyway", func() {
		if key, ok := strings.CutPrefix(p.uid, "series/"); ok {
			vw.showSeriesAnyway(key)
		}
	})
	p.keyImage = canvas.NewImageFromImage(nil)
	p.keyImage.FillMode = canvas.ImageFillContain
	p.keyImage.SetMinSize(fyne.NewSize(160, 160))
	p.keyButton = widget.NewButton("Key slice (K)", vw.goToKeySlice)
	p.reportButton = widget.NewButton("Report…", vw.showReport)
	p.content = container.NewVBox(p.title, p.facts, p.problems, widget.NewSeparator(), p.result, p.outMark, p.counts,
		p.rule, p.anyway, p.keyLine, p.keyImage, container.NewHBox(p.keyButton, p.reportButton))
	p.refreshFor("")
	return p
}

// refresh shows the item on screen.
func (p *seriesPanel) refresh() { p.refreshFor(p.vw.current) }

// refreshFor shows browser item uid ("" for none).
func (p *seriesPanel) refreshFor(uid string) {
	p.uid = uid
	vw := p.vw
	for _, l := range []*widget.Label{p.facts, p.problems, p.result, p.counts, p.rule, p.keyLine, p.outMark} {
		l.SetText("")
		l.Hide()
	}
	p.anyway.Hide()
	p.keyImage.Hide()
	p.keyButton.Disable()
	p.reportButton.Disable()
	p.lastResult = nil
	it, ok := vw.browser.items[uid]
	switch {
	case !ok:
		p.title.SetText("No series on screen.")
	case it.group >= 0:
		p.title.SetText(it.title)
		p.show(p.facts, "PNG and JPEG images are classified one by one (see the table). A folder of pictures is not an acquisition, so it has no series result.")
	case it.series != nil:
		p.showSeries(it.series)
	default:
		p.title.SetText(it.title)
		p.show(p.facts, it.detail)
	}
}

func (p *seriesPanel) show(l *widget.Label, text string) {
	l.SetText(text)
	if text != "" {
		l.Show()
	}
}

func (p *seriesPanel) showSeries(s *study.Series) {
	vw := p.vw
	p.title.SetText(vw.browser.items[seriesUID(s.Key)].title)
	p.show(p.facts, seriesFacts(s))
	p.show(p.problems, strings.Join(s.Problems, " "))
	if !s.Classifiable() {
		p.show(p.result, "Listed, not classified: this series holds "+string(s.Kind)+" objects only.")
		return
	}
	r := vw.results.of(s.Key)
	if r == nil {
		p.show(p.result, "Waiting for the slices' results.")
		return
	}
	p.lastResult = r
	sum := r.sum
	switch sum.Status {
	case pipeline.StatusOK:
		res := fmt.Sprintf("%s — series score %.1f%%", vw.className(sum.Model, sum.Label), 100*sum.Score)
		if sum.Pending > 0 {
			res += fmt.Sprintf(" so far (%d of %d slices to go)", sum.Pending, sum.Slices)
		}
		p.show(p.result, res)
		p.show(p.rule, fmt.Sprintf("Rule %s: %s", sum.Rule.Name(), sum.Rule.Sentence()))
	case pipeline.StatusRefused, pipeline.StatusError:
		verb := "Refused: "
		switch {
		case sum.Status == pipeline.StatusError:
			verb = "Failed: "
		case sum.NoSeriesRule():
			verb = "No series result: " // its slices were answered, each on its own
		}
		p.show(p.result, verb+sum.Problem.ForWindow())
	default:
		p.show(p.result, fmt.Sprintf("Classifying: %d of %d slices done.", sum.Slices-sum.Pending, sum.Slices))
	}
	p.show(p.counts, seriesCounts(&sum, vw.an.Device()))
	if sum.Reason != "" {
		p.show(p.outMark, "OUT OF SCOPE — shown anyway: "+sum.Reason)
	}
	if !vw.anywaySeries[s.Key] && overridable(r) {
		p.anyway.Show() // the slices' answers, marked out of scope, counted in the series result
	}
	if sum.Key < 0 {
		return
	}
	key := r.analyses[sum.Key]
	sl := r.series.Slices[sum.Key]
	p.show(p.keyLine, fmt.Sprintf("Key slice %d of %d (%s): %s %.1f%% on it.", sum.Key+1, len(s.Slices),
		sliceLabel(sl), vw.className(sum.Model, sum.Label), 100*probabilityOf(key, sum.Label)))
	p.keyButton.Enable()
	p.reportButton.Enable()
	p.keyImage.Show()
	p.wantKeyImage(keyImageID{pos: slicePos{sl.Path, sl.Frame}, model: sum.Model, sal: key.saliency})
}

// wantKeyImage renders the key slice as the model saw it, with its CAM, unless that image is shown or coming.
func (p *seriesPanel) wantKeyImage(id keyImageID) {
	if id == p.keyShown || id == p.keyWanted {
		return
	}
	p.keyWanted = id
	vw := p.vw
	open := vw.scan
	go func() {
		img, err := vw.keySliceImage(open, id)
		vw.onUI(func() {
			if p.keyWanted != id {
				return
			}
			p.keyWanted = keyImageID{}
			if err != nil {
				fyne.LogError("key slice image", err)
				return
			}
			p.keyShown = id
			p.keyImage.Image = imaging.Fit(img, 320, 320, imaging.Linear)
			p.keyImage.Refresh()
			close(p.keyRendered)
			p.keyRendered = make(chan struct{})
		})
	}()
}

// overridable reports a series some of whose slices a check refused that the person may override (or were
// answered anyway one by one, which the series does not count until asked to).
func overridable(r *seriesResult) bool {
	for _, a := range r.analyses {
		if a != nil && (a.rec.Overridable() || a.rec.AnsweredOutOfScope()) {
			return true
		}
	}
	return false
}

// seriesFacts is a series' modality, body part, slices and geometry in one line.
func seriesFacts(s *study.Series) string {
	var parts []string
	if m := strings.TrimSpace(s.Modality + " " + s.BodyPart); m != "" {
		parts = append(parts, m)
	}
	if s.Classifiable() {
		order := fmt.Sprintf("%s ordered by %s", plural(len(s.Slices), "slice", "slices"), s.OrderedBy)
		if s.OrderedBy == study.OrderPosition && s.Spacing > 0 {
			order += fmt.Sprintf(", %.3g mm apart", s.Spacing)
		}
		if s.Plane != "" {
			order += " (" + s.Plane + ")"
		}
		parts = append(parts, order)
	}
	if n := len(s.Objects); n > 0 {
		parts = append(parts, plural(n, "other object", "other objects"))
	}
	return strings.Join(parts, " · ")
}

// seriesCounts says how many slices were classified, refused and failed, by which model on which device.
func seriesCounts(sum *pipeline.SeriesSummary, device string) string {
	s := fmt.Sprintf("%d of %d slices classified", sum.Classified, sum.Slices)
	switch {
	case sum.Refused > 0 && sum.OutOfScope > 0 && sum.Reason == "":
		s += fmt.Sprintf(", %d refused (left out; %d of them answered anyway one by one)", sum.Refused, sum.OutOfScope)
	case sum.Refused > 0:
		s += fmt.Sprintf(", %d refused (left out)", sum.Refused)
	default:
		s += ", none refused"
	}
	if sum.Reason != "" {
		s += fmt.Sprintf(" (%d out of scope, shown anyway)", sum.OutOfScope)
	}
	if sum.Failed > 0 {
		s += fmt.Sprintf(", %d failed", sum.Failed)
	}
	if sum.Model != "" {
		d := sum.Device
		if d == "" {
			d = device
		}
		s += fmt.Sprintf(" · %s %s on %s", sum.Model, sum.Version, strings.ToUpper(d))
	}
	return s + "."
}

// sliceLabel names a slice for people: its file, and its frame in a multi-frame file.
func sliceLabel(sl study.Slice) string {
	name := filepath.Base(sl.Path)
	if sl.Frame > 0 {
		name += fmt.Sprintf(", frame %d", sl.Frame+1)
	}
	if sl.HasLocation {
		name += fmt.Sprintf(", %.1f mm", sl.Location)
	}
	return name
}

// probabilityOf is an analysis' probability for class id (0 when it has none).
func probabilityOf(a *analysis, id string) float64 {
	if a == nil {
		return 0
	}
	p, _ := a.rec.P(id)
	return p
}

// className is a class's display name in model id's card.
func (vw *viewer) className(model, class string) string {
	if m, ok := vw.an.model(model); ok {
		return m.className(class)
	}
	return class
}

// renderSlice renders frame of a slice's file — through open, the file on screen, when it is that file; else
// opening it — as model m classifies it (pipeline.DisplayImage), or in the file's own window when m is nil
// (thumbnails).
func (vw *viewer) renderSlice(open *pipeline.Scan, path string, frame int, m *inference.Manifest) (image.Image, error) {
	s := open
	if s == nil || s.Path != path {
		var err error
		if s, err = vw.an.Open(path); err != nil {
			return nil, err
		}
	}
	if m == nil {
		return s.File.Render(frame, s.File.DefaultWindow(frame), dicomio.RenderOptions{})
	}
	return pipeline.DisplayImage(s, frame, m)
}

// keySliceImage is the key slice as its model saw it, with its saliency map over it (the report's and the panel's
// picture).
func (vw *viewer) keySliceImage(open *pipeline.Scan, id keyImageID) (image.Image, error) {
	m := vw.an.manifestLookup()(id.model)
	if m == nil {
		return nil, fmt.Errorf("model %s: %w", id.model, inference.ErrModelNotFound)
	}
	img, err := vw.renderSlice(open, id.pos.path, id.pos.frame, m)
	if err != nil || id.sal == nil {
		return img, err
	}
	return inference.Overlay(img, id.sal, 0.45), nil
}
