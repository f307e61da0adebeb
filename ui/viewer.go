package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/cli"
	"github.com/tumortracer/tumortracer/dicomio"
)

// viewer is the main window: the image view with its corner text, the AI panel, the metadata panel and the batch
// table. Its fields are touched on the Fyne thread only; goroutines hand results back through onUI (bridge.go).
type viewer struct {
	app   fyne.App
	win   fyne.Window
	an    analyser
	build cli.Build

	view                           *imageView
	cornerTL, cornerTR             *cornerText
	cornerBL, cornerBR             *cornerText
	frameSlider                    *widget.Slider
	frameLabel                     *widget.Label
	presetSelect                   *widget.Select
	invertCheck, aspectCheck, wlCk *widget.Check
	status                         *widget.Label
	meta                           *widget.List
	metaTags                       []dicomio.Tag
	ai                             *aiPanel
	batch                          *batchPanel
	content                        fyne.CanvasObject

	// What is shown.
	scan     *dicomio.Scan
	path     string
	frame    int      // frame index within scan
	series   []string // files of the shown file's folder that are in the batch, in batch order
	seriesAt int
	hover    string
	modelID  string // "" = pick by modality
	result   *result

	seq            uint64 // bumped by every load, so a stale completion is dropped
	loadCancel     context.CancelFunc
	classifyCancel context.CancelFunc

	state *stateWriter // test/measurement hook, nil unless TUMORTRACER_UI_STATE is set
}

// newViewer builds the window's content; it does not show the window.
func newViewer(a fyne.App, w fyne.Window, an analyser, b cli.Build) *viewer {
	vw := &viewer{app: a, win: w, an: an, build: b}
	vw.view = newImageView()
	vw.view.onChange = vw.refreshCorners
	vw.view.onHover = func(s string) { vw.hover = s; vw.refreshCorners() }
	vw.view.onStep = func(d int) { vw.step(d) }

	vw.cornerTL = newCornerText(fyne.TextAlignLeading)
	vw.cornerTR = newCornerText(fyne.TextAlignTrailing)
	vw.cornerBL = newCornerText(fyne.TextAlignLeading)
	vw.cornerBR = newCornerText(fyne.TextAlignTrailing)
	corners := container.New(&cornerLayout{}, vw.cornerTL.box, vw.cornerTR.box, vw.cornerBL.box, vw.cornerBR.box)
	viewArea := container.NewStack(vw.view, corners)

	vw.frameSlider = widget.NewSlider(0, 0)
	vw.frameSlider.Step = 1
	vw.frameSlider.OnChanged = func(f float64) { vw.goToIndex(int(f)) }
	vw.frameLabel = widget.NewLabel("")
	frameBar := container.NewBorder(nil, nil, widget.NewLabel("Frame"), vw.frameLabel, vw.frameSlider)

	names := []string{"File window", "Min–max"}
	for _, p := range dicomio.CTPresets {
		names = append(names, presetTitle(p.Name))
	}
	vw.presetSelect = widget.NewSelect(names, vw.choosePreset)
	vw.presetSelect.PlaceHolder = "Window preset"
	vw.invertCheck = widget.NewCheck("Invert", func(on bool) { vw.view.SetInvert(on) })
	vw.aspectCheck = widget.NewCheck("Square pixels", func(on bool) { vw.view.SetAspectCorrect(on) })
	vw.aspectCheck.SetChecked(true)
	vw.wlCk = widget.NewCheck("W/L drag", func(on bool) { vw.view.wlMode = on })

	toolbar := widget.NewToolbar(
		widget.NewToolbarAction(theme.FileIcon(), vw.showOpenFile),
		widget.NewToolbarAction(theme.FolderOpenIcon(), vw.showOpenFolder),
		widget.NewToolbarSeparator(),
		widget.NewToolbarAction(theme.ZoomInIcon(), func() { vw.zoomBy(1.25) }),
		widget.NewToolbarAction(theme.ZoomOutIcon(), func() { vw.zoomBy(0.8) }),
		widget.NewToolbarAction(theme.ZoomFitIcon(), vw.view.Reset),
		widget.NewToolbarSeparator(),
		widget.NewToolbarAction(theme.DocumentSaveIcon(), vw.showExport),
		widget.NewToolbarAction(theme.HelpIcon(), vw.showHelp),
	)
	top := container.NewHBox(toolbar, vw.presetSelect, vw.invertCheck, vw.aspectCheck, vw.wlCk)

	vw.ai = newAIPanel(vw)
	vw.meta = widget.NewList(func() int { return len(vw.metaTags) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i < len(vw.metaTags) {
				t := vw.metaTags[i]
				o.(*widget.Label).SetText(fmt.Sprintf("%s %s: %s", t.Tag, t.Keyword, t.Value))
			}
		})
	side := container.NewAppTabs(
		container.NewTabItem("AI", container.NewVScroll(vw.ai.content)),
		container.NewTabItem("Metadata", vw.meta),
	)

	vw.batch = newBatchPanel(vw)
	vw.status = widget.NewLabel("Open a DICOM, PNG or JPEG file or folder (Ctrl+O), or drop files onto the window.")
	vw.status.Truncation = fyne.TextTruncateEllipsis

	imageCol := container.NewBorder(nil, frameBar, nil, nil, viewArea)
	hs := container.NewHSplit(imageCol, side)
	hs.Offset = 0.72
	vs := container.NewVSplit(hs, vw.batch.content)
	vs.Offset = 0.78
	vw.content = container.NewBorder(top, vw.status, nil, nil, vs)
	vw.refreshCorners()
	vw.refreshFrameBar()
	return vw
}

// presetTitle turns a preset name ("soft-tissue") into its menu title ("Soft tissue").
func presetTitle(name string) string {
	s := strings.ReplaceAll(name, "-", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (vw *viewer) choosePreset(title string) {
	f := vw.view.frame
	if f == nil {
		return
	}
	switch title {
	case "File window":
		vw.view.SetWindow(vw.defaultWindow())
	case "Min–max":
		vw.view.SetWindow(f.minMaxWindow())
	default:
		for _, p := range dicomio.CTPresets {
			if presetTitle(p.Name) == title {
				vw.view.SetWindow(p)
			}
		}
		for _, w := range vw.fileWindows() {
			if w.Name == title {
				vw.view.SetWindow(w)
			}
		}
	}
}

// fileWindows are the file's own windows, named for the menu.
func (vw *viewer) fileWindows() []dicomio.Window {
	if vw.scan == nil {
		return nil
	}
	out := make([]dicomio.Window, len(vw.scan.Windows))
	for i, w := range vw.scan.Windows {
		if w.Name == "" {
			w.Name = fmt.Sprintf("File window %d", i+1)
		} else {
			w.Name = "File: " + w.Name
		}
		out[i] = w
	}
	return out
}

func (vw *viewer) defaultWindow() dicomio.Window {
	if vw.scan == nil {
		return dicomio.Window{Center: 127.5, Width: 256, Function: dicomio.VOILinear}
	}
	return vw.scan.DefaultWindow(vw.frame)
}

func (vw *viewer) zoomBy(f float64) {
	s := vw.view.Size()
	vw.view.zoomAt(fyne.NewPos(s.Width/2, s.Height/2), f)
}

// setStatus shows one sentence in the status line.
func (vw *viewer) setStatus(s string) { vw.status.SetText(s) }

// showError puts a one-sentence error in the status line; details go to the log.
func (vw *viewer) showError(what string, err error) {
	fyne.LogError(what, err)
	vw.setStatus(what + ": " + firstSentence(err))
}

// firstSentence is the part of an error meant for a person: up to the first " (" detail or newline.
func firstSentence(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, " ("); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "; "); i >= 0 {
		s = s[:i]
	}
	return s
}

// --- frames and series ---

// frameCount is how many positions the frame slider has: the frames of a multi-frame file, else the slices of
// the series (the shown file's folder).
func (vw *viewer) frameCount() int {
	if vw.scan != nil && vw.scan.NumFrames > 1 {
		return vw.scan.NumFrames
	}
	return max(1, len(vw.series))
}

func (vw *viewer) frameIndex() int {
	if vw.scan != nil && vw.scan.NumFrames > 1 {
		return vw.frame
	}
	return vw.seriesAt
}

// step moves d frames (or slices) forward, clamped.
func (vw *viewer) step(d int) { vw.goToIndex(vw.frameIndex() + d) }

// goToIndex shows frame i of a multi-frame file, or slice i of the series.
func (vw *viewer) goToIndex(i int) {
	n := vw.frameCount()
	i = max(0, min(n-1, i))
	if i == vw.frameIndex() {
		return
	}
	if vw.scan != nil && vw.scan.NumFrames > 1 {
		vw.showFrame(i)
		return
	}
	if i < len(vw.series) {
		vw.seriesAt = i
		vw.load(vw.series[i], true)
	}
}

func (vw *viewer) refreshFrameBar() {
	n := vw.frameCount()
	vw.frameSlider.Max = float64(max(0, n-1))
	vw.frameSlider.Value = float64(vw.frameIndex())
	vw.frameSlider.Refresh()
	what := "frame"
	if vw.scan == nil || vw.scan.NumFrames <= 1 {
		what = "slice"
	}
	vw.frameLabel.SetText(fmt.Sprintf("%s %d / %d", what, vw.frameIndex()+1, n))
	if n <= 1 {
		vw.frameSlider.Disable()
	} else {
		vw.frameSlider.Enable()
	}
}

// seriesOf lists the batch's files in path's folder, in batch order, and path's position among them.
func (vw *viewer) seriesOf(path string) ([]string, int) {
	dir := filepath.Dir(path)
	var out []string
	at := 0
	for _, r := range vw.batch.rows {
		if filepath.Dir(r.Path) == dir {
			if r.Path == path {
				at = len(out)
			}
			out = append(out, r.Path)
		}
	}
	if len(out) == 0 {
		return []string{path}, 0
	}
	return out, at
}

// --- corner text ---

func (vw *viewer) refreshCorners() {
	s := vw.scan
	if s == nil {
		vw.cornerTL.set()
		vw.cornerTR.set()
		vw.cornerBL.set(vw.hover)
		vw.cornerBR.set(cli.Disclaimer)
		return
	}
	m := s.Meta
	vw.cornerTL.set(m.PatientName, m.PatientID, formatDate(m.StudyDate), m.StudyDescription)
	series := ""
	if m.SeriesNumber != "" || m.InstanceNumber != "" {
		series = fmt.Sprintf("Se %s  Im %s", orDash(m.SeriesNumber), orDash(m.InstanceNumber))
	}
	frame := ""
	if s.NumFrames > 1 {
		frame = fmt.Sprintf("Frame %d/%d", vw.frame+1, s.NumFrames)
	} else if len(vw.series) > 1 {
		frame = fmt.Sprintf("Slice %d/%d", vw.seriesAt+1, len(vw.series))
	}
	vw.cornerTR.set(strings.TrimSpace(m.Modality+" "+m.BodyPart), m.SeriesDescription, series, frame)
	w := vw.view.win
	wl := fmt.Sprintf("W %s  L %s", trimFloat(w.Width), trimFloat(w.Center))
	if w.LUT != nil {
		wl = "VOI LUT"
	}
	if w.Name != "" {
		wl += "  (" + w.Name + ")"
	}
	if vw.view.invert {
		wl += "  inverted"
	}
	vw.cornerBL.set(wl, fmt.Sprintf("Zoom %.0f%%", vw.view.zoom()*100/vw.view.scaleToPixels()), vw.hover)
	size := fmt.Sprintf("%d × %d", s.Columns, s.Rows)
	if s.PixelSpacing.Row > 0 {
		size += fmt.Sprintf("  %.3g × %.3g mm", s.PixelSpacing.Column, s.PixelSpacing.Row)
	}
	vw.cornerBR.set(filepath.Base(s.Path), size, cli.Disclaimer)
}

// scaleToPixels converts Fyne units to screen pixels, so zoom reads 100% when one image pixel is one screen pixel.
func (v *imageView) scaleToPixels() float64 {
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil && c.Scale() > 0 {
		return 1 / float64(c.Scale())
	}
	return 1
}

func formatDate(d string) string {
	if len(d) == 8 {
		return d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// trimFloat formats a window value for the corner: whole numbers as they are, others to two decimals at most.
func trimFloat(f float64) string {
	if math.Abs(f) >= 1e9 || (f != 0 && math.Abs(f) < 0.01) {
		return fmt.Sprintf("%.3g", f)
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// cornerText is a stack of small lines drawn over the image, like a viewer's corner annotations.
type cornerText struct {
	box   *fyne.Container
	align fyne.TextAlign
	lines []*canvas.Text
}

func newCornerText(align fyne.TextAlign) *cornerText {
	c := &cornerText{align: align, box: container.NewVBox()}
	return c
}

// text is the lines joined with newlines.
func (c *cornerText) text() string {
	out := make([]string, 0, len(c.box.Objects))
	for _, o := range c.box.Objects {
		out = append(out, o.(*canvas.Text).Text)
	}
	return strings.Join(out, "\n")
}

// set replaces the lines; empty lines are skipped.
func (c *cornerText) set(lines ...string) {
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	for len(c.lines) < len(keep) {
		t := canvas.NewText("", colCornerText)
		t.TextSize = 12
		t.Alignment = c.align
		c.lines = append(c.lines, t)
	}
	objs := make([]fyne.CanvasObject, len(keep))
	for i, l := range keep {
		c.lines[i].Text = l
		c.lines[i].Refresh()
		objs[i] = c.lines[i]
	}
	c.box.Objects = objs
	c.box.Refresh()
}

// colCornerText is light enough to read over the dark parts of an image, where viewers put their annotations.
var colCornerText = color.NRGBA{R: 0xe8, G: 0xe8, B: 0xd0, A: 0xff}

// cornerLayout puts its four children in the top-left, top-right, bottom-left and bottom-right corners.
type cornerLayout struct{}

func (cornerLayout) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	const pad = 6
	for i, o := range objs {
		m := o.MinSize()
		o.Resize(m)
		x, y := float32(pad), float32(pad)
		if i%2 == 1 {
			x = s.Width - m.Width - pad
		}
		if i >= 2 {
			y = s.Height - m.Height - pad
		}
		o.Move(fyne.NewPos(x, y))
	}
}

func (cornerLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(0, 0) }

var _ fyne.Layout = cornerLayout{}

// --- loading ---

// open queues files and folders (recursively) in the batch and shows the first new file; with more than one file it
// classifies the batch in the background.
func (vw *viewer) open(paths []string) {
	if len(paths) == 0 {
		return
	}
	vw.setStatus("Looking for images…")
	go func() {
		files, err := expandPaths(paths)
		vw.onUI(func() {
			if err != nil {
				vw.showError("Some dropped items could not be read", err)
			}
			if len(files) == 0 {
				if err == nil {
					vw.setStatus("No files found in what was opened.")
				}
				return
			}
			added := vw.batch.add(files)
			vw.load(files[0], false)
			if added > 0 {
				vw.batch.start()
			}
		})
	}()
}

// load opens path off the UI thread and shows it; keepView keeps zoom, pan and window (slice scrolling).
func (vw *viewer) load(path string, keepView bool) {
	vw.seq++
	seq := vw.seq
	if vw.loadCancel != nil {
		vw.loadCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	vw.loadCancel = cancel
	vw.setStatus("Opening " + filepath.Base(path) + "…")
	go func() {
		started := time.Now()
		s, err := dicomio.Open(path)
		var fd *frameData
		if err == nil {
			fd, err = frameDataOf(s, 0)
		}
		if ctx.Err() != nil {
			return
		}
		vw.onUI(func() {
			if seq != vw.seq {
				return
			}
			if err != nil {
				vw.showError("Cannot open "+filepath.Base(path), err)
				return
			}
			prevWin := vw.view.win
			sameSeries := keepView && vw.scan != nil && filepath.Dir(vw.path) == filepath.Dir(path)
			vw.scan, vw.path, vw.frame = s, path, 0
			vw.series, vw.seriesAt = vw.seriesOf(path)
			w := s.DefaultWindow(0)
			if sameSeries && prevWin.Width > 0 {
				w = prevWin
			}
			vw.view.SetFrame(fd, w, sameSeries)
			vw.view.SetSaliency(nil)
			vw.metaTags = s.Meta.Tags
			vw.meta.Refresh()
			vw.refreshFrameBar()
			vw.refreshCorners()
			vw.setStatus(fmt.Sprintf("Opened %s (%s, %d ms).", filepath.Base(path), s.Format, time.Since(started).Milliseconds()))
			vw.batch.markViewed(path)
			vw.state.imageShown(vw)
			vw.classify()
		})
	}()
}

// showFrame switches to frame i of the current multi-frame scan.
func (vw *viewer) showFrame(i int) {
	s := vw.scan
	if s == nil {
		return
	}
	vw.seq++
	seq := vw.seq
	go func() {
		fd, err := frameDataOf(s, i)
		vw.onUI(func() {
			if seq != vw.seq || s != vw.scan {
				return
			}
			if err != nil {
				vw.showError(fmt.Sprintf("Cannot show frame %d", i+1), err)
				return
			}
			vw.frame = i
			vw.view.SetFrame(fd, vw.view.win, true)
			vw.refreshFrameBar()
			vw.refreshCorners()
			vw.classify()
		})
	}()
}

// frameDataOf reads frame i of s for display.
func frameDataOf(s *dicomio.Scan, i int) (*frameData, error) {
	vals, err := s.Frame(i)
	if err != nil {
		return nil, err
	}
	fd := newFrameData(vals, s.Rows, s.Columns, max(1, s.SamplesPerPixel))
	if len(vals) < s.Rows*s.Columns*fd.samples {
		return nil, fmt.Errorf("frame %d has %d values for %d×%d pixels: %w", i, len(vals), s.Columns, s.Rows, dicomio.ErrTruncated)
	}
	fd.mono1 = s.Photometric == "MONOCHROME1"
	fd.rowSpacing, fd.colSpacing = s.PixelSpacing.Row, s.PixelSpacing.Column
	if s.Meta.Modality == "CT" || s.RescaleType == "HU" {
		fd.unit = "HU"
	}
	return fd, nil
}

// classify runs the chosen model on the shown frame off the UI thread; a newer request cancels an older one.
func (vw *viewer) classify() {
	if vw.classifyCancel != nil {
		vw.classifyCancel()
	}
	s, frame, model := vw.scan, vw.frame, vw.modelID
	if s == nil {
		return
	}
	if err := vw.an.Ready(); err != nil {
		vw.ai.showUnavailable(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	vw.classifyCancel = cancel
	vw.ai.showRunning()
	go func() {
		r, err := vw.an.Classify(ctx, s, frame, model)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return
		}
		vw.onUI(func() {
			if s != vw.scan || frame != vw.frame || model != vw.modelID {
				return
			}
			if err != nil {
				vw.result = nil
				vw.ai.showError(err)
				vw.view.SetSaliency(nil)
				vw.state.resultShown(vw)
				return
			}
			vw.result = r
			vw.ai.showResult(r)
			vw.view.SetSaliency(newSaliencyMap(r.Saliency, r.SalW, r.SalH))
			vw.state.resultShown(vw)
		})
	}()
}
