package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/pipeline"
)

// viewer is the main window: the image view with its corner text, the AI panel, the metadata panel and the batch
// table. Its fields are touched on the Fyne thread only; goroutines hand results back through onUI (bridge.go).
//
// Its jobs live in their own files: loading.go opens files and frames, navigation.go moves between frames and
// slices, analysis.go shows each frame's record, corners.go the corner text, view.go and render.go the image
// widget, saliency.go the overlay, aipanel.go, batch.go and export.go the panels and the export dialog; the study
// browser is library.go (indexing), browser.go, seriesresults.go (series results, frame jobs), seriespanel.go,
// strip.go and seriesactions.go (keys, export, report).
type viewer struct {
	app   fyne.App
	win   fyne.Window
	an    *analyst
	build about.Build

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

	// The study browser and what feeds it: the library indexes opened files into series, results summarises
	// their slices' records, frames classifies the other frames of multi-frame series files (series.go).
	lib         *library
	browser     *studyBrowser
	seriesPanel *seriesPanel
	strip       *scoreStrip
	results     *seriesResults
	frames      *frameJobs

	// What is shown.
	scan    *pipeline.Scan
	path    string
	frame   int // frame index within scan
	hover   string
	modelID string // "" = chosen by content (the gate)
	// anyway holds the files whose answer the person asked for although the gate or a check refused them ("Show
	// anyway"): their records are made again with out-of-scope answers allowed, and marked so. anywaySeries holds
	// the series (keys) whose out-of-scope answers the person asked for in the series panel: their refused slices
	// are made again so, and count in the series result (seriesresults.go).
	anyway       map[string]bool
	anywaySeries map[string]bool
	// stack is what the slider moves through (navigation.go), stackAt the shown position in it, current the
	// browser item it is ("" for none).
	stack   []slicePos
	stackAt int
	current string

	// shown is the analysis in the AI panel and the overlay; frameStore holds the analyses of frames that are not
	// their file's analysis frame: on demand for the frame on screen, and every frame of a multi-frame series
	// (the file's own record lives in its batch row).
	shown      *analysis
	frameStore map[slicePos]*analysis

	seq         uint64 // bumped by every load and frame change, so a stale completion is dropped
	frameCancel context.CancelFunc

	state *stateWriter // test/measurement hook, nil unless TUMORTRACER_UI_STATE is set
}

// newViewer builds the window's content; it does not show the window.
func newViewer(a fyne.App, w fyne.Window, an *analyst, b about.Build) *viewer {
	vw := &viewer{app: a, win: w, an: an, build: b, frameStore: map[slicePos]*analysis{}, anyway: map[string]bool{},
		anywaySeries: map[string]bool{}}
	vw.lib, vw.results, vw.frames = newLibrary(vw), newSeriesResults(vw), newFrameJobs(vw)
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
	vw.strip = newScoreStrip(func(i int) { vw.goToIndex(i) })
	frameBar := container.NewBorder(nil, nil, widget.NewLabel("Frame"), vw.frameLabel, container.NewVBox(vw.strip, vw.frameSlider))

	vw.ai = newAIPanel(vw)
	vw.batch = newBatchPanel(vw)
	vw.status = widget.NewLabel("Open a DICOM, PNG or JPEG file or folder (Ctrl+O), or drop files onto the window.")
	vw.status.Truncation = fyne.TextTruncateEllipsis

	vw.browser = newStudyBrowser(vw)
	vw.seriesPanel = newSeriesPanel(vw)
	imageCol := container.NewBorder(nil, frameBar, nil, nil, viewArea)
	hs := container.NewHSplit(imageCol, vw.sidePanel())
	hs.Offset = 0.72
	studies := container.NewVSplit(vw.browser.content, container.NewVScroll(vw.seriesPanel.content))
	studies.Offset = 0.5
	withStudies := container.NewHSplit(studies, hs)
	withStudies.Offset = 0.22
	vs := container.NewVSplit(withStudies, vw.batch.content)
	vs.Offset = 0.78
	vw.content = container.NewBorder(vw.toolbar(), vw.status, nil, nil, vs)
	vw.refreshCorners()
	vw.refreshFrameBar()
	return vw
}

// toolbar is the row above the image: file, zoom and export buttons, the window presets and the view toggles.
func (vw *viewer) toolbar() fyne.CanvasObject {
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

	tools := widget.NewToolbar(
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
	return container.NewHBox(tools, vw.presetSelect, vw.invertCheck, vw.aspectCheck, vw.wlCk)
}

// sidePanel holds the AI panel and the metadata list as tabs.
func (vw *viewer) sidePanel() fyne.CanvasObject {
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
	return container.NewAppTabs(
		container.NewTabItem("AI", container.NewVScroll(vw.ai.content)),
		container.NewTabItem("Metadata", vw.meta),
	)
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
		vw.view.SetWindow(f.MinMaxWindow())
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
	out := make([]dicomio.Window, len(vw.scan.File.Windows))
	for i, w := range vw.scan.File.Windows {
		if w.Name == "" {
			w.Name = fmt.Sprintf("File window %d", i+1)
		} else {
			w.Name = "File: " + w.Name
		}
		out[i] = w
	}
	return out
}

// defaultWindow is the shown frame's opening window: the file's own, else its min–max.
func (vw *viewer) defaultWindow() dicomio.Window {
	if vw.scan == nil || vw.view.frame == nil {
		return dicomio.Window{Center: 127.5, Width: 256, Function: dicomio.VOILinear}
	}
	return vw.scan.Window(vw.view.frame.Pixels)
}

func (vw *viewer) zoomBy(f float64) {
	s := vw.view.Size()
	vw.view.zoomAt(fyne.NewPos(s.Width/2, s.Height/2), f)
}

// setStatus shows one sentence in the status line.
func (vw *viewer) setStatus(s string) { vw.status.SetText(s) }

// showError puts what failed and the sentence of err (pipeline.Explain, the window's words) in the status line;
// the detail goes to the log.
func (vw *viewer) showError(what string, err error) {
	fyne.LogError(what, err)
	vw.setStatus(what + ". " + pipeline.Explain(err).ForWindow())
}
