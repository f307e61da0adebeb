package ui

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/pipeline"
)

// writeGreyPNG writes a 16-bit grey PNG whose value at (x, y) is f(x, y).
func writeGreyPNG(t testing.TB, path string, w, h int, f func(x, y int) uint16) {
	t.Helper()
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray16(x, y, color.Gray16{Y: f(x, y)})
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// frameOf wraps values of a w×h grey frame for the view.
func frameOf(t testing.TB, vals []float32, w, h int) *frameData {
	t.Helper()
	px, err := dicomio.NewPixels(vals, h, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &frameData{Pixels: px}
}

// ramp is a synthetic CT-like frame: values from -1000 to about 3000 across a w×h grid.
func ramp(t testing.TB, w, h int) *frameData {
	vals := make([]float32, w*h)
	for i := range vals {
		vals[i] = float32(-1000 + i*4000/len(vals))
	}
	f := frameOf(t, vals, w, h)
	f.unit = "HU"
	return f
}

// linearVOI is PS3.3 C.11.2.1.2.1 written out independently of dicomio, scaled to 8 bits.
func linearVOI(x, c, w float64) uint8 {
	var y float64
	switch {
	case x <= c-0.5-(w-1)/2:
		y = 0
	case x > c-0.5+(w-1)/2:
		y = 255
	default:
		y = ((x-(c-0.5))/(w-1) + 0.5) * 255
	}
	return uint8(math.Floor(y + 0.5))
}

// viewInWindow puts a view of exactly w×h units in a test window, so one unit is one image pixel at fit.
func viewInWindow(t *testing.T, f *frameData, win dicomio.Window) (*imageView, fyne.Window) {
	t.Helper()
	v := newImageView()
	w := test.NewTempWindow(t, v)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(float32(f.Columns), float32(f.Rows)))
	v.Resize(fyne.NewSize(float32(f.Columns), float32(f.Rows)))
	v.SetFrame(f, win, false)
	return v, w
}

func checkPixelsEqualVOI(t *testing.T, v *imageView, f *frameData, c, w float64, flip bool) {
	t.Helper()
	img := v.render(f.Columns, f.Rows).(*image.RGBA)
	bad := 0
	for y := range f.Rows {
		for x := range f.Columns {
			want := linearVOI(float64(f.Values[y*f.Columns+x]), c, w)
			if flip {
				want = uint8(math.Floor(255 - float64(want) + 0.5))
			}
			got := img.RGBAAt(x, y)
			if (got.R != want && got.R+1 != want && got.R != want+1) || got.R != got.G || got.G != got.B {
				if bad < 5 {
					t.Errorf("pixel (%d,%d) value %g: got %v, want grey %d (C %g W %g)", x, y, f.Values[y*f.Columns+x], got, want, c, w)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d pixels differ from the VOI formula", bad, f.Rows*f.Columns)
	}
}

func TestRenderEqualsVOIFormula(t *testing.T) {
	test.NewTempApp(t)
	for _, tc := range []struct {
		name     string
		integral bool
		mono1    bool
		c, w     float64
	}{
		{"lung window, whole numbers (lookup table)", true, false, -600, 1500},
		{"soft tissue, whole numbers", true, false, 40, 400},
		{"fractional values (per-pixel path)", false, false, 40, 400},
		{"MONOCHROME1 is shown inverted", true, true, 500, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ramp(t, 64, 48)
			if !tc.integral {
				for i := range f.Values {
					f.Values[i] += 0.25
				}
				f = frameOf(t, f.Values, 64, 48)
			}
			if f.Integral != tc.integral {
				t.Fatalf("integral = %v, want %v", f.Integral, tc.integral)
			}
			f.mono1 = tc.mono1
			v, _ := viewInWindow(t, f, dicomio.Window{Center: tc.c, Width: tc.w, Function: dicomio.VOILinear})
			checkPixelsEqualVOI(t, v, f, tc.c, tc.w, tc.mono1)
		})
	}
}

func TestRightDragAdjustsWindow(t *testing.T) {
	test.NewTempApp(t)
	f := ramp(t, 64, 48)
	v, _ := viewInWindow(t, f, dicomio.Window{Center: 40, Width: 400, Function: dicomio.VOILinear})
	step := f.wlStep()
	if want := float64(f.Max-f.Min) / 1000; math.Abs(step-want) > 1e-9 {
		t.Fatalf("step = %g, want range/1000 = %g", step, want)
	}
	// Right button down at (10,10), move to (40,-10 relative): +30 right, −20 up.
	v.MouseDown(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(10, 10)}})
	v.MouseMoved(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(25, 0)}})
	v.MouseMoved(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(40, -10)}})
	v.MouseUp(&desktop.MouseEvent{Button: desktop.MouseButtonSecondary, PointEvent: fyne.PointEvent{Position: fyne.NewPos(40, -10)}})
	wantW, wantC := 400+30*step, 40-20*step
	if math.Abs(v.win.Width-wantW) > 1e-9 || math.Abs(v.win.Center-wantC) > 1e-9 {
		t.Fatalf("after right-drag (+30, −20): W %g L %g, want W %g L %g", v.win.Width, v.win.Center, wantW, wantC)
	}
	checkPixelsEqualVOI(t, v, f, wantC, wantW, false)

	// Moving without the button changes nothing.
	v.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(5, 5)}})
	if v.win.Width != wantW {
		t.Fatalf("hover after release changed the width to %g", v.win.Width)
	}
	// The width never drops below 1 for a LINEAR window.
	v.adjustWindow(-1e6, 0)
	if v.win.Width != 1 {
		t.Fatalf("width after a huge leftward drag = %g, want 1", v.win.Width)
	}
}

func TestWLModeLeftDragAndPan(t *testing.T) {
	test.NewTempApp(t)
	f := ramp(t, 64, 48)
	v, w := viewInWindow(t, f, dicomio.Window{Center: 0, Width: 1000, Function: dicomio.VOILinear})
	cx, cy := v.cx, v.cy
	test.Drag(w.Canvas(), fyne.NewPos(20, 20), 8, -4)
	z := v.zoom()
	if math.Abs(v.cx-(cx-8/z)) > 1e-9 || math.Abs(v.cy-(cy+4/z)) > 1e-9 {
		t.Fatalf("pan by (8,−4) at zoom %g: centre (%g,%g), want (%g,%g)", z, v.cx, v.cy, cx-8/z, cy+4/z)
	}
	v.wlMode = true
	test.Drag(w.Canvas(), fyne.NewPos(20, 20), 10, 5)
	step := f.wlStep()
	if math.Abs(v.win.Width-(1000+10*step)) > 1e-9 || math.Abs(v.win.Center-5*step) > 1e-9 {
		t.Fatalf("W/L-mode drag: W %g L %g, want W %g L %g", v.win.Width, v.win.Center, 1000+10*step, 5*step)
	}
}

func TestWheelZoomKeepsPointUnderCursor(t *testing.T) {
	test.NewTempApp(t)
	f := ramp(t, 64, 48)
	v, w := viewInWindow(t, f, dicomio.Window{Center: 0, Width: 1000})
	p := fyne.NewPos(13, 30)
	bx, by := v.toImage(p)
	v.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: p}, Scrolled: fyne.Delta{DY: 20}})
	if v.zoomRel <= 1 {
		t.Fatalf("wheel up did not zoom in: zoomRel %g", v.zoomRel)
	}
	ax, ay := v.toImage(p)
	if math.Abs(ax-bx) > 1e-9 || math.Abs(ay-by) > 1e-9 {
		t.Fatalf("point under the cursor moved from (%g,%g) to (%g,%g)", bx, by, ax, ay)
	}
	// Through the canvas (test.Scroll sends position 0,0): zoom out, and the corner point stays.
	before := v.zoomRel
	cx0, cy0 := v.toImage(fyne.NewPos(0, 0))
	test.Scroll(w.Canvas(), fyne.NewPos(5, 5), 0, -20)
	if v.zoomRel >= before {
		t.Fatalf("wheel down did not zoom out: %g → %g", before, v.zoomRel)
	}
	cx1, cy1 := v.toImage(fyne.NewPos(0, 0))
	if math.Abs(cx1-cx0) > 1e-9 || math.Abs(cy1-cy0) > 1e-9 {
		t.Fatalf("corner point moved from (%g,%g) to (%g,%g)", cx0, cy0, cx1, cy1)
	}
	// At 2× zoom around the top-left corner, output pixel (px, py) shows image pixel (px/2, py/2).
	v.Reset()
	v.SetWindow(dicomio.Window{Center: 1000, Width: 4001, Function: dicomio.VOILinear})
	v.zoomAt(fyne.NewPos(0, 0), 2)
	img := v.render(64, 48).(*image.RGBA)
	for _, py := range []int{0, 17, 47} {
		for px := range 64 {
			want := linearVOI(float64(f.Values[(py/2)*f.Columns+px/2]), 1000, 4001)
			if got := img.RGBAAt(px, py).R; got != want {
				t.Fatalf("2× zoom: output (%d,%d) = %d, want image pixel (%d,%d) = %d", px, py, got, px/2, py/2, want)
			}
		}
	}
}

func TestAspectCorrection(t *testing.T) {
	test.NewTempApp(t)
	f := ramp(t, 40, 40)
	f.rowSpacing, f.colSpacing = 1.0, 0.5 // each pixel twice as tall as wide
	v, _ := viewInWindow(t, f, dicomio.Window{Center: 1000, Width: 4000})
	v.Resize(fyne.NewSize(200, 200))
	if got := v.pixelAspect(); got != 2 {
		t.Fatalf("pixel aspect = %g, want 2", got)
	}
	// Fit: 40 rows × 2 tall must fit 200 → zoom 2.5 units per column.
	if z := v.zoom(); math.Abs(z-2.5) > 1e-9 {
		t.Fatalf("zoom with square pixels = %g, want 2.5", z)
	}
	v.SetAspectCorrect(false)
	if z := v.zoom(); math.Abs(z-5) > 1e-9 {
		t.Fatalf("zoom without correction = %g, want 5", z)
	}
}

func TestReadoutShowsHU(t *testing.T) {
	test.NewTempApp(t)
	f := ramp(t, 64, 48)
	v, _ := viewInWindow(t, f, dicomio.Window{Center: 0, Width: 1000})
	got := v.readout(fyne.NewPos(3.5, 2.5))
	want := fmt.Sprintf("x 3  y 2  %g HU", f.Values[2*64+3])
	if got != want {
		t.Fatalf("readout = %q, want %q", got, want)
	}
	if got := v.readout(fyne.NewPos(-5, 2)); got != "" {
		t.Fatalf("readout outside the image = %q, want empty", got)
	}
}

// uiWork is one function handed to the Fyne thread; done (when set) is closed after it ran or was dropped.
type uiWork struct {
	f    func()
	done chan struct{}
}

// uiQueue stands in for Fyne's event loop in tests: goroutines queue work and the test goroutine runs it in
// waitFor, so widgets are only touched from one goroutine, as in the real app.
var uiQueue = make(chan uiWork, 4096)

func init() {
	uiDo = func(f func()) { uiQueue <- uiWork{f: f} }
	uiDoAndWait = func(f func()) {
		done := make(chan struct{})
		uiQueue <- uiWork{f: f, done: done}
		<-done
	}
}

// runUI runs the queued work (drop: discard it, for work left over by an earlier test).
func runUI(drop bool) {
	for {
		select {
		case w := <-uiQueue:
			if !drop {
				w.f()
			}
			if w.done != nil {
				close(w.done)
			}
		default:
			return
		}
	}
}

// waitFor runs queued UI work until cond holds (10 s at most).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForTB(t, 10*time.Second, what, cond)
}

func TestDropQueuesFilesAndFoldersRecursively(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	dir := t.TempDir()
	for _, p := range []string{"a/1.png", "a/b/2.png", "a/b/c/3.png", "a/.hidden/4.png", "a/.5.png", "single.png"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		writeGreyPNG(t, full, 8, 8, func(x, y int) uint16 { return uint16(x * y * 100) })
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link to a file is queued; a link to a folder is not followed.
	if err := os.Symlink(filepath.Join(dir, "single.png"), filepath.Join(dir, "a", "b", "link.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a"), filepath.Join(dir, "a", "b", "loop")); err != nil {
		t.Fatal(err)
	}
	vw.dropped(fyne.NewPos(10, 10), []fyne.URI{
		storage.NewFileURI(filepath.Join(dir, "a")),
		storage.NewFileURI(filepath.Join(dir, "single.png")),
	})
	waitFor(t, "the batch to finish", func() bool {
		done, failed, _ := vw.batch.counts()
		return !vw.batch.running && done+failed == 5
	})
	var got []string
	for _, r := range vw.batch.rows {
		rel, _ := filepath.Rel(dir, r.Path)
		got = append(got, rel)
	}
	want := []string{"a/1.png", "a/b/2.png", "a/b/c/3.png", "a/b/link.png", "single.png"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued %v, want %v (hidden files and notes.txt skipped, folders recursed)", got, want)
	}
	// Dropping the same folder again queues nothing new.
	if added := vw.batch.add(pipeline.Expand([]string{filepath.Join(dir, "a")})); len(added) != 0 {
		t.Fatalf("re-adding queued files added %d rows", len(added))
	}
	waitFor(t, "the first file to be shown", func() bool { return vw.scan != nil })
	if vw.scan.File.Columns != 8 || vw.scan.File.Meta.Modality != "OT" {
		t.Fatalf("shown scan is %d columns, modality %q", vw.scan.File.Columns, vw.scan.File.Meta.Modality)
	}
}

func TestBatchTableSortsAndOpensRows(t *testing.T) {
	eng := &scriptedEngine{pneumonia: func(img image.Image) float64 { return float64(img.Bounds().Dx()%10) / 10 }}
	vw := newTestViewer(t, scriptedParts(eng, nil, nil))
	dir := t.TempDir()
	var files []string
	for i, n := range []string{"b.png", "aaaa.png", "ccccccc.png"} {
		p := filepath.Join(dir, n)
		writeGreyPNG(t, p, 5+2*i, 6, func(x, y int) uint16 { return uint16(x + y) })
		files = append(files, p)
	}
	bad := filepath.Join(dir, "zz.bad")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	vw.open(append(files, bad))
	waitFor(t, "the batch", func() bool {
		done, failed, _ := vw.batch.counts()
		return !vw.batch.running && done+failed == 4
	})
	_, failed, _ := vw.batch.counts()
	if failed != 1 {
		t.Fatalf("%d failed rows, want 1 (zz.bad)", failed)
	}
	badRow := rowOf(vw, "zz.bad")
	if got, want := vw.batch.cell(badRow, 2), "failed: This file is not a DICOM, PNG or JPEG file, so it cannot be shown or classified."; got != want {
		t.Fatalf("status of the failed row = %q, want %q", got, want)
	}
	// Sort by probability, descending on the second tap: the table's order changes, the queue's does not.
	queued := fmt.Sprint(vw.batch.queue)
	vw.batch.sortBy(4)
	vw.batch.sortBy(4)
	for i := 1; i < len(vw.batch.rows); i++ {
		if vw.batch.rows[i-1].probability() < vw.batch.rows[i].probability() {
			t.Fatalf("rows not sorted by probability descending: %v then %v", vw.batch.rows[i-1].probability(), vw.batch.rows[i].probability())
		}
	}
	if fmt.Sprint(vw.batch.rows) == queued || fmt.Sprint(vw.batch.queue) != queued {
		t.Fatal("sorting must reorder the table only, never the queue the batch and the slices follow")
	}
	// Clicking a row opens that file.
	target := vw.batch.rows[0].Path
	if target == vw.path {
		target = vw.batch.rows[1].Path
	}
	for i, r := range vw.batch.rows {
		if r.Path == target {
			vw.batch.table.Select(widget.TableCellID{Row: i, Col: 0})
		}
	}
	waitFor(t, "the clicked row to be shown", func() bool { return vw.path == target })
	if got := len(vw.batch.records()); got != 4 {
		t.Fatalf("records for export = %d, want 4", got)
	}
}

func TestBatchCancel(t *testing.T) {
	eng := &scriptedEngine{delay: 50 * time.Millisecond}
	vw := newTestViewer(t, scriptedParts(eng, nil, nil))
	dir := t.TempDir()
	var files []string
	for i := range 40 {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writeGreyPNG(t, p, 4, 4, func(x, y int) uint16 { return 1 })
		files = append(files, p)
	}
	vw.open(files)
	waitFor(t, "the batch to start", func() bool { d, _, _ := vw.batch.counts(); return d >= 2 })
	vw.batch.cancelRun()
	waitFor(t, "the batch to stop", func() bool { return !vw.batch.running && vw.batch.stop == nil })
	done, _, queued := vw.batch.counts()
	if done >= 40 || queued == 0 {
		t.Fatalf("after Cancel: %d done, %d still queued; want the run stopped early", done, queued)
	}
	// Looking at cancelled files afterwards classifies the one on screen, and does not restart the batch.
	vw.load(files[38], false)
	vw.load(files[39], false) // the person moves on before 38 is open
	waitFor(t, "file 39's record", func() bool { r := rowOf(vw, "39.png"); return r.status == rowDone && vw.shown == r.result })
	if vw.batch.running || rowOf(vw, "38.png").status != rowCancelled {
		t.Fatalf("after looking at two cancelled files: batch running %v, file 38 %v", vw.batch.running, rowOf(vw, "38.png").status)
	}
}

func TestAIPanelShowsResultAndThreshold(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "x.png")
	writeGreyPNG(t, p, 32, 32, func(x, y int) uint16 { return uint16(x * 2000) })
	vw.open([]string{p})
	waitFor(t, "a result", func() bool { return vw.shown != nil })
	if got, want := vw.ai.modelLine.Text, "Model: Test classifier 1.2.3 (cxr-test) on CPU"; got != want {
		t.Fatalf("model line %q, want %q", got, want)
	}
	if vw.ai.frameLine.Text != "" {
		t.Fatalf("a single-frame file's result names a frame: %q", vw.ai.frameLine.Text)
	}
	if vw.ai.disclaimer.Text != about.Disclaimer {
		t.Fatalf("disclaimer %q", vw.ai.disclaimer.Text)
	}
	if len(vw.ai.barList) != 2 || vw.ai.barList[1].threshold != 0.4 || vw.ai.barList[0].threshold != 0 {
		t.Fatalf("bars: %d, threshold mark on the positive class only expected", len(vw.ai.barList))
	}
	if !vw.ai.barList[1].top || vw.ai.barList[0].top {
		t.Fatal("the top class's bar is not the highlighted one")
	}
	if vw.ai.topLine.Text != "Top class: Pneumonia (70.0%)\nPneumonia at or above threshold 0.40" {
		t.Fatalf("top line %q", vw.ai.topLine.Text)
	}
	// The overlay: S toggles it; the hot saliency cell tints the image.
	vw.win.Canvas().Capture() // lays the window out
	if vw.view.Size().Width < 100 {
		t.Fatalf("image view is %v after layout", vw.view.Size())
	}
	plain := image.NewRGBA(image.Rect(0, 0, 200, 200))
	copy(plain.Pix, vw.view.render(200, 200).(*image.RGBA).Pix) // render reuses its buffer
	vw.typedRune('s')
	if !vw.view.salOn || vw.view.sal == nil {
		t.Fatal("S did not turn the overlay on")
	}
	tinted := vw.view.render(200, 200).(*image.RGBA)
	diff := 0
	for i := range plain.Pix {
		if plain.Pix[i] != tinted.Pix[i] {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("the overlay changed no pixels")
	}
}

func TestClassificationUnavailableSaysWhy(t *testing.T) {
	eng := &scriptedEngine{}
	missing := fmt.Errorf("tried lib/x.so: %w", inference.ErrRuntimeMissing)
	vw := newTestViewer(t, scriptedParts(eng, nil, missing))
	dir := t.TempDir()
	p := filepath.Join(dir, "x.png")
	writeGreyPNG(t, p, 16, 16, func(x, y int) uint16 { return uint16(x) })
	vw.open([]string{p})
	waitFor(t, "the image", func() bool { return vw.scan != nil })
	got := vw.ai.statusLine.Text
	if !strings.HasPrefix(got, "Classification needs the ONNX Runtime library") || strings.Contains(got, "--ort-lib") || strings.Contains(got, "tried") {
		t.Fatalf("AI panel says %q: want the sentence, without the command line's flags or the detail", got)
	}
	if runs, _ := eng.counts(); runs != 0 {
		t.Fatal("the engine ran although classification is unavailable")
	}
	if r := rowOf(vw, "x.png"); r == nil || r.status != rowQueued {
		t.Fatalf("the shown file's row is %+v, want it queued for when classification is possible", r)
	}
}

// TestGoldenViewAndPanel renders the image view (synthetic scan, overlay on) and the AI panel with a scripted
// result in the test theme and compares them with testdata/*.png; a mismatch is written to testdata/failed/.
func TestGoldenViewAndPanel(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "phantom.png")
	// A phantom: a bright disc with a darker square inside on a dark background.
	writeGreyPNG(t, p, 64, 48, func(x, y int) uint16 {
		dx, dy := float64(x-32), float64(y-24)
		switch {
		case x >= 26 && x < 34 && y >= 18 && y < 26:
			return 20000
		case dx*dx+dy*dy < 20*20:
			return 50000
		}
		return uint16(200 * (x + y))
	})
	vw.open([]string{p})
	waitFor(t, "a result", func() bool { return vw.shown != nil && !vw.batch.running })
	vw.ai.overlayCheck.SetChecked(true)
	vw.ai.opacity.SetValue(0.6)

	view := newImageView()
	w := test.NewTempWindow(t, view)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(160, 120))
	view.SetFrame(vw.view.frame, vw.view.win, false)
	view.SetSaliency(vw.view.sal)
	view.SetOverlay(true, 0.6)
	test.AssertImageMatches(t, "view_overlay.png", w.Canvas().Capture())

	view.SetOverlay(false, 0.6)
	view.SetInvert(true)
	view.zoomAt(fyne.NewPos(40, 30), 2)
	test.AssertImageMatches(t, "view_inverted_zoomed.png", w.Canvas().Capture())

	panel := test.NewTempWindow(t, vw.ai.content)
	panel.Resize(fyne.NewSize(360, 520))
	test.AssertImageMatches(t, "ai_panel.png", panel.Canvas().Capture())
}

func TestModelCardAndHelpDialogs(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	vw.ai.showCard()
	top := vw.win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("the model card did not open")
	}
	if !strings.Contains(test.RenderObjectToMarkup(top), "A test model card.") {
		t.Fatal("the model card dialog does not show the card text")
	}
	vw.win.Canvas().Overlays().Remove(top)
	vw.typedKey(&fyne.KeyEvent{Name: fyne.KeyF1})
	help := vw.win.Canvas().Overlays().Top()
	if help == nil || !strings.Contains(test.RenderObjectToMarkup(help), "Right-drag") {
		t.Fatal("F1 did not open the shortcut list")
	}
}

func TestSliceScrollingThroughAFolderKeepsTheWindow(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	dir := t.TempDir()
	for i := range 3 {
		writeGreyPNG(t, filepath.Join(dir, fmt.Sprintf("slice%d.png", i)), 16, 16, func(x, y int) uint16 { return uint16(1000*i + x) })
	}
	vw.open([]string{dir})
	waitFor(t, "the first slice", func() bool { return vw.scan != nil && len(vw.stack) == 3 })
	if vw.frameCount() != 3 || vw.frameIndex() != 0 {
		t.Fatalf("slider has %d positions at %d, want 3 at 0", vw.frameCount(), vw.frameIndex())
	}
	custom := dicomio.Window{Name: "custom", Center: 1500, Width: 800, Function: dicomio.VOILinear}
	vw.view.SetWindow(custom)
	vw.typedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	waitFor(t, "the second slice", func() bool { return filepath.Base(vw.path) == "slice1.png" && vw.scan != nil })
	if vw.view.win != custom {
		t.Fatalf("window after scrolling = %+v, want the user's %+v kept", vw.view.win, custom)
	}
	if got := vw.frameLabel.Text; got != "slice 2 / 3" {
		t.Fatalf("frame label %q", got)
	}
	if v := vw.view.frame.Values[3]; v != 1003 {
		t.Fatalf("second slice shows value %g at x=3, want 1003", v)
	}
	vw.typedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
	waitFor(t, "back to the first slice", func() bool { return filepath.Base(vw.path) == "slice0.png" })
}

func TestMultiFrameFileScrollsFrames(t *testing.T) {
	f := testenv.DataPath(t, "dicom", "pydicom-data", "OBXXXX1A_2frame.dcm")
	vw, _ := newScriptedViewer(t)
	vw.open([]string{f})
	waitFor(t, "the file", func() bool { return vw.scan != nil })
	if vw.scan.Frames() != 2 || vw.frameCount() != 2 || vw.frame != 1 {
		t.Fatalf("%d frames, slider %d, opened on frame %d (want the record's frame, 2 of 2)", vw.scan.Frames(), vw.frameCount(), vw.frame+1)
	}
	second := append([]float32(nil), vw.view.frame.Values...)
	vw.step(-1)
	waitFor(t, "frame 1", func() bool { return vw.frame == 0 })
	if !strings.Contains(vw.cornerTR.text(), "Frame 1/2") {
		t.Fatalf("corner text %q lacks Frame 1/2", vw.cornerTR.text())
	}
	file, err := dicomio.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := file.Frame(0)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range want {
		if want[i] != vw.view.frame.Values[i] {
			t.Fatalf("shown frame differs from Scan.Frame(0) at %d", i)
		}
		if second[i] != want[i] {
			same = false
		}
	}
	if same {
		t.Fatal("frames 1 and 2 are identical; the test cannot tell them apart")
	}
}

func TestTrimFloat(t *testing.T) {
	for in, want := range map[float64]string{1500: "1500", -600: "-600", 32767.5: "32767.5", 0.123456: "0.12", 127.505: "127.51", 0: "0", 0.001: "0.001"} {
		if got := trimFloat(in); got != want {
			t.Errorf("trimFloat(%g) = %q, want %q", in, got, want)
		}
	}
}
