// Package ui is TumorTracer's viewer window (Fyne): an image view with window/level, zoom, pan and frame
// scrolling, corner annotations and a metadata panel; an AI panel with per-class probabilities, the saliency
// overlay and the model card; a study browser that groups what was opened patient → study → series, with each
// series' result, the score strip along the frame slider and the key-slice report; and a batch table for dropped
// files and folders with progress, Cancel and export.
//
// Decoding and inference run in goroutines; widgets are changed only on the Fyne thread, through viewer.onUI.
// Research use only — not for diagnosis.
package ui

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/about"
)

// AppID is the application id, as in FyneApp.toml.
const AppID = "org.tumortracer.viewer"

// memoryLimit is the Go heap's soft limit for the viewer (GOMEMLIMIT overrides it), and gcPercent the heap's
// growth between collections (GOGC overrides it).
const (
	memoryLimit = 200 << 20
	gcPercent   = 50
)

// windowFlags are the window's command-line options.
type windowFlags struct {
	ortLib, device, modelID string
	overlay                 bool
	modelDirs               []string
}

// parseFlags reads the window's options; the rest of args are files and folders to open. A bad flag prints the
// window's own usage to stderr.
func parseFlags(args []string, stderr io.Writer) (windowFlags, []string, error) {
	var f windowFlags
	fs := flag.NewFlagSet("tumortracer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.ortLib, "ort-lib", "", "ONNX Runtime library `PATH`")
	fs.StringVar(&f.device, "device", "auto", "execution device: auto, cpu or cuda")
	fs.StringVar(&f.modelID, "model", "", "classify with the model `ID` instead of the one the gate chooses by content (the checks still run)")
	fs.BoolVar(&f.overlay, "overlay", false, "start with the saliency overlay on")
	fs.Func("models", "also load model folders from `DIR` (repeatable)", func(s string) error {
		f.modelDirs = append(f.modelDirs, s)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer [options] [FILE|FOLDER...]")
		fmt.Fprintln(stderr, "Opens the viewer window; files and folders given are queued and the first is shown.")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "Command-line verbs (classify, info, render, …): tumortracer help")
		fmt.Fprintln(stderr, about.Disclaimer)
	}
	err := fs.Parse(args)
	return f, fs.Args(), err
}

// limitMemory sets the viewer's heap limit and growth unless GOMEMLIMIT and GOGC are set. A batch decodes files of
// any size one after another, which is mostly garbage soon: by default the heap grows to twice its live size
// between collections, and with half that growth a drop of 1,000 DICOM files peaks some 20 MB lower for 3 % more
// time (dicomio/NOTES.md). The limit caps the heap where the live data is large; it is soft, so a viewer holding
// more (a large colour frame as float32 values) is slowed, never stopped.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// Main opens the viewer window with the given files and folders and returns the process exit status.
func Main(args []string, b about.Build) int {
	f, files, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return about.ExitOK
	}
	if err != nil {
		return about.ExitUsage
	}
	limitMemory()
	a := app.NewWithID(AppID)
	a.SetIcon(appIcon)
	a.Settings().SetTheme(readingTheme{})
	w := a.NewWindow("TumorTracer")
	vw := newWindow(a, w, f, b)
	vw.state = newStateWriter(os.Getenv(StateEnv))
	vw.install()
	w.Resize(fyne.NewSize(1280, 820))
	if len(files) > 0 {
		vw.open(files)
	}
	w.ShowAndRun()
	return about.ExitOK
}

// newWindow builds the viewer on w with the program's parts: the analyst (bundled and --models models, ONNX
// Runtime on f.device, dicomio) starting in the background.
func newWindow(a fyne.App, w fyne.Window, f windowFlags, b about.Build) *viewer {
	an := newAnalyst(realParts(f.ortLib, f.modelDirs))
	vw := newViewer(a, w, an, b)
	vw.modelID = f.modelID // before any file is opened, so its record is made with this model once
	if f.overlay {
		vw.ai.overlayCheck.SetChecked(true)
	}
	an.start(f.device, func() { vw.onUI(func() { vw.ai.analyserReady(f.modelID) }) })
	return vw
}

// install puts the viewer's content, menus, shortcuts and drop handler on its window.
func (vw *viewer) install() {
	w := vw.win
	w.SetContent(vw.content)
	w.SetMainMenu(vw.mainMenu())
	w.SetOnDropped(vw.dropped)
	c := w.Canvas()
	for _, s := range vw.shortcuts() {
		if s.shortcut != nil {
			c.AddShortcut(s.shortcut, func(fyne.Shortcut) { s.run() })
		}
	}
	c.SetOnTypedKey(vw.typedKey)
	c.SetOnTypedRune(vw.typedRune)
	vw.state.watchFirstFrame(vw)
}

// dropped queues dropped files and folders.
func (vw *viewer) dropped(_ fyne.Position, uris []fyne.URI) {
	paths := make([]string, 0, len(uris))
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	vw.open(paths)
}

// shortcut is one keyboard command, listed in the help dialog.
type shortcut struct {
	keys     string
	what     string
	shortcut fyne.Shortcut // nil for plain keys handled by typedKey/typedRune
	run      func()
}

func (vw *viewer) shortcuts() []shortcut {
	ctrl := func(k fyne.KeyName, mod fyne.KeyModifier) fyne.Shortcut {
		return &desktop.CustomShortcut{KeyName: k, Modifier: mod}
	}
	return []shortcut{
		{"Ctrl+O", "open files", ctrl(fyne.KeyO, fyne.KeyModifierShortcutDefault), vw.showOpenFile},
		{"Ctrl+Shift+O", "open a folder (queued as a batch)", ctrl(fyne.KeyO, fyne.KeyModifierShortcutDefault|fyne.KeyModifierShift), vw.showOpenFolder},
		{"Ctrl+E", "export the batch table as CSV or JSON", ctrl(fyne.KeyE, fyne.KeyModifierShortcutDefault), vw.showExport},
		{"Ctrl+M", "show the model card", ctrl(fyne.KeyM, fyne.KeyModifierShortcutDefault), func() { vw.ai.showCard() }},
		{"Ctrl+Q", "quit", nil, nil},
		{"F1 or ?", "this help", nil, vw.showHelp},
		{"Wheel, + / −", "zoom around the pointer / the centre", nil, nil},
		{"Shift+wheel", "previous / next frame or slice", nil, nil},
		{"Left-drag", "pan (adjusts W/L instead when “W/L drag” is ticked)", nil, nil},
		{"Right-drag", "window/level: right = wider, down = higher centre", nil, nil},
		{"W", "toggle W/L drag mode", nil, nil},
		{"R or Home", "reset: fit to window, file window", nil, nil},
		{"I", "invert", nil, nil},
		{"A", "toggle square (aspect-corrected) pixels", nil, nil},
		{"S", "toggle the saliency overlay", nil, nil},
		{"1 … 5", "CT presets: lung, mediastinum, soft tissue, bone, brain", nil, nil},
		{"0", "the file's own window", nil, nil},
		{"↑ ↓ ← →, Page Up/Down", "previous / next frame or slice (the series' slices in acquisition order)", nil, nil},
		{"K", "jump to the series' key slice", nil, nil},
		{"[ and ]", "previous / next series in the study browser", nil, nil},
		{"Esc", "cancel the running batch", nil, nil},
	}
}

func (vw *viewer) typedKey(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyUp, fyne.KeyPageUp, fyne.KeyLeft:
		vw.step(-1)
	case fyne.KeyDown, fyne.KeyPageDown, fyne.KeyRight:
		vw.step(1)
	case fyne.KeyHome:
		vw.resetAll()
	case fyne.KeyEscape:
		vw.batch.cancelRun()
	case fyne.KeyF1:
		vw.showHelp()
	}
}

func (vw *viewer) typedRune(r rune) {
	switch r {
	case '+', '=':
		vw.zoomBy(1.25)
	case '-':
		vw.zoomBy(0.8)
	case 'r', 'R':
		vw.resetAll()
	case 'i', 'I':
		vw.invertCheck.SetChecked(!vw.invertCheck.Checked)
	case 'a', 'A':
		vw.aspectCheck.SetChecked(!vw.aspectCheck.Checked)
	case 'w', 'W':
		vw.wlCk.SetChecked(!vw.wlCk.Checked)
	case 's', 'S':
		vw.ai.toggleOverlay()
	case '?':
		vw.showHelp()
	case 'k', 'K':
		vw.goToKeySlice()
	case '[':
		vw.switchSeries(-1)
	case ']':
		vw.switchSeries(1)
	case '0':
		vw.presetSelect.SetSelected("File window")
	case '1', '2', '3', '4', '5':
		if i := int(r - '1'); i < len(vw.presetSelect.Options)-2 {
			vw.presetSelect.SetSelectedIndex(i + 2)
		}
	}
}

// resetAll fits the image and restores the file's window.
func (vw *viewer) resetAll() {
	vw.view.Reset()
	if vw.scan != nil {
		vw.view.SetWindow(vw.defaultWindow())
		vw.presetSelect.ClearSelected()
	}
}

func (vw *viewer) mainMenu() *fyne.MainMenu {
	item := func(label string, run func(), s fyne.Shortcut) *fyne.MenuItem {
		m := fyne.NewMenuItem(label, run)
		m.Shortcut = s
		return m
	}
	sc := map[string]fyne.Shortcut{}
	for _, s := range vw.shortcuts() {
		sc[s.what] = s.shortcut
	}
	file := fyne.NewMenu("File",
		item("Open files…", vw.showOpenFile, sc["open files"]),
		item("Open folder…", vw.showOpenFolder, sc["open a folder (queued as a batch)"]),
		fyne.NewMenuItemSeparator(),
		item("Export results…", vw.showExport, sc["export the batch table as CSV or JSON"]),
		item("Key-slice report…", vw.showReport, nil),
	)
	var presets []*fyne.MenuItem
	for i, name := range vw.presetSelect.Options {
		i, name := i, name
		presets = append(presets, fyne.NewMenuItem(name, func() { vw.presetSelect.SetSelectedIndex(i) }))
	}
	wl := fyne.NewMenuItem("Window", nil)
	wl.ChildMenu = fyne.NewMenu("", presets...)
	fileWins := fyne.NewMenuItem("File windows", func() { vw.showFileWindows() })
	view := fyne.NewMenu("View",
		item("Zoom in", func() { vw.zoomBy(1.25) }, nil),
		item("Zoom out", func() { vw.zoomBy(0.8) }, nil),
		item("Reset view", vw.resetAll, nil),
		fyne.NewMenuItemSeparator(),
		wl, fileWins,
		item("Invert", func() { vw.invertCheck.SetChecked(!vw.invertCheck.Checked) }, nil),
		item("Square pixels", func() { vw.aspectCheck.SetChecked(!vw.aspectCheck.Checked) }, nil),
		item("Saliency overlay", vw.ai.toggleOverlay, nil),
	)
	help := fyne.NewMenu("Help",
		item("Keyboard shortcuts", vw.showHelp, nil),
		item("Model card", func() { vw.ai.showCard() }, sc["show the model card"]),
		item("About", vw.showAbout, nil),
	)
	return fyne.NewMainMenu(file, view, help)
}

// showFileWindows lets the user pick one of the file's own VOI windows.
func (vw *viewer) showFileWindows() {
	wins := vw.fileWindows()
	if len(wins) == 0 {
		dialog.ShowInformation("File windows", "This file carries no window of its own.", vw.win)
		return
	}
	names := make([]string, len(wins))
	for i, w := range wins {
		names[i] = w.Name
	}
	var d dialog.Dialog
	list := widget.NewRadioGroup(names, func(s string) {
		for _, w := range wins {
			if w.Name == s {
				vw.view.SetWindow(w)
			}
		}
		if d != nil {
			d.Hide()
		}
	})
	d = dialog.NewCustom("File windows", "Close", list, vw.win)
	d.Show()
}

func (vw *viewer) showHelp() {
	var b strings.Builder
	for _, s := range vw.shortcuts() {
		fmt.Fprintf(&b, "%-20s %s\n", s.keys, s.what)
	}
	l := widget.NewLabelWithStyle(b.String(), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	dialog.ShowCustom("Keyboard shortcuts", "Close", l, vw.win)
}

func (vw *viewer) showAbout() {
	dialog.ShowInformation("About TumorTracer",
		fmt.Sprintf("TumorTracer %s (commit %s)\nChest CT and chest X-ray viewer with on-device classifiers.\n\n%s",
			vw.build.Version, vw.build.Commit, about.Disclaimer), vw.win)
}

func (vw *viewer) showOpenFile() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			vw.showError("Cannot open the file", err)
			return
		}
		if r == nil {
			return
		}
		path := r.URI().Path()
		_ = r.Close()
		vw.open([]string{path})
	}, vw.win)
	d.Resize(fyne.NewSize(800, 560))
	d.Show()
}

func (vw *viewer) showOpenFolder() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil {
			vw.showError("Cannot open the folder", err)
			return
		}
		if u == nil {
			return
		}
		vw.open([]string{u.Path()})
	}, vw.win)
	d.Resize(fyne.NewSize(800, 560))
	d.Show()
}
