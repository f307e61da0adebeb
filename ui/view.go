package ui

import (
	"fmt"
	"image"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// frameData is one frame ready for display: its pixels (shared with the analysis: the scan's decoded frame) and
// what the renderer needs to know about them. It is built off the UI thread and never changed afterwards.
type frameData struct {
	*dicomio.Pixels
	mono1      bool // MONOCHROME1: low values are white
	rowSpacing float64
	colSpacing float64
	unit       string // "HU" for CT, else ""
}

// wlStep is how much one Fyne unit of right-drag changes the window width (horizontal) or centre (vertical):
// a thousandth of the frame's value range, and at least 1 for whole-number data so 8-bit images still move.
func (f *frameData) wlStep() float64 {
	s := float64(f.Max-f.Min) / 1000
	if f.Integral && s < 1 {
		s = 1
	}
	if s <= 0 {
		s = 1e-3
	}
	return s
}

// Zoom limits relative to fit-to-window.
const (
	minZoom = 0.05
	maxZoom = 64
)

// imageView is the viewer's image widget. It renders at the screen's pixel resolution: each screen pixel samples
// its nearest image pixel, so the cost of a window/level change is bounded by the window size, not the image
// size. Left-drag pans (or adjusts W/L in W/L mode), right-drag adjusts W/L, the wheel zooms around the cursor.
// All fields are touched on the Fyne thread only (event handlers and the raster generator run there).
type imageView struct {
	widget.BaseWidget

	raster *canvas.Raster
	frame  *frameData
	win    dicomio.Window

	invert, aspect bool
	zoomRel        float64 // 1 = fit to the widget
	cx, cy         float64 // image point (column, row) shown at the widget centre
	wlMode         bool    // left-drag adjusts W/L instead of panning
	rightDown      bool
	lastRight      fyne.Position

	sal        *inference.Saliency
	salOn      bool
	salOpacity float64

	// onChange runs after the window, zoom or pan changed (corner text); onHover after the pointer moved,
	// with a readout of the value under it ("" when outside the image).
	onChange func()
	onHover  func(string)
	// onStep moves d frames or slices (Shift/Ctrl + wheel).
	onStep func(d int)
	// onRender, when set, runs after each paint of the raster (start-up measurement).
	onRender func(withImage bool)

	// greys maps values to grey levels for greyKey; rebuilt when the window, the flip or the frame changes.
	greys      *dicomio.GreyMap
	greyKey    greyKey
	buf        *image.RGBA
	rowBuf     renderRows
	lastRender time.Duration
}

type greyKey struct {
	win   dicomio.Window
	flip  bool
	frame *frameData
}

func newImageView() *imageView {
	v := &imageView{zoomRel: 1, salOpacity: 0.45, aspect: true}
	v.raster = canvas.NewRaster(v.render)
	v.raster.ScaleMode = canvas.ImageScalePixels
	v.ExtendBaseWidget(v)
	return v
}

// CreateRenderer implements fyne.Widget.
func (v *imageView) CreateRenderer() fyne.WidgetRenderer {
	bg := canvas.NewRectangle(colViewport)
	return &imageViewRenderer{v: v, bg: bg}
}

type imageViewRenderer struct {
	v  *imageView
	bg *canvas.Rectangle
}

func (r *imageViewRenderer) Layout(s fyne.Size) {
	r.bg.Resize(s)
	r.v.raster.Resize(s)
}
func (r *imageViewRenderer) MinSize() fyne.Size { return fyne.NewSize(200, 200) }
func (r *imageViewRenderer) Refresh() {
	r.bg.Refresh()
	r.v.raster.Refresh()
}
func (r *imageViewRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.bg, r.v.raster}
}
func (r *imageViewRenderer) Destroy() {}

// SetFrame shows a frame with a window; keepView keeps zoom and pan (scrolling through slices of one series).
func (v *imageView) SetFrame(f *frameData, w dicomio.Window, keepView bool) {
	v.frame = f
	v.win = w
	if !keepView || f == nil {
		v.resetView()
	}
	v.changed()
}

// SetWindow changes the VOI window.
func (v *imageView) SetWindow(w dicomio.Window) {
	v.win = w
	v.changed()
}

// SetInvert sets the user's extra inversion.
func (v *imageView) SetInvert(on bool) { v.invert = on; v.changed() }

// SetAspectCorrect toggles display of non-square pixels at their physical aspect ratio.
func (v *imageView) SetAspectCorrect(on bool) { v.aspect = on; v.changed() }

// Reset fits the image to the widget and centres it.
func (v *imageView) Reset() { v.resetView(); v.changed() }

func (v *imageView) resetView() {
	v.zoomRel = 1
	if v.frame != nil {
		v.cx, v.cy = float64(v.frame.Columns)/2, float64(v.frame.Rows)/2
	}
}

func (v *imageView) changed() {
	v.raster.Refresh()
	if v.onChange != nil {
		v.onChange()
	}
}

// pixelAspect is the displayed height of one pixel relative to its width.
func (v *imageView) pixelAspect() float64 {
	f := v.frame
	if !v.aspect || f == nil || f.rowSpacing <= 0 || f.colSpacing <= 0 {
		return 1
	}
	return f.rowSpacing / f.colSpacing
}

// zoom is Fyne units per image column.
func (v *imageView) zoom() float64 {
	f := v.frame
	s := v.Size()
	if f == nil || f.Columns == 0 || f.Rows == 0 || s.Width <= 0 || s.Height <= 0 {
		return 1
	}
	fit := math.Min(float64(s.Width)/float64(f.Columns), float64(s.Height)/(float64(f.Rows)*v.pixelAspect()))
	return fit * v.zoomRel
}

// toImage maps a widget position to image coordinates (column, row; pixel i spans [i, i+1)).
func (v *imageView) toImage(p fyne.Position) (float64, float64) {
	s := v.Size()
	z := v.zoom()
	return v.cx + (float64(p.X)-float64(s.Width)/2)/z, v.cy + (float64(p.Y)-float64(s.Height)/2)/(z*v.pixelAspect())
}

// wheelZoom is the zoom factor exponent per unit of wheel delta: one notch (25 units on Linux and Windows)
// zooms by e^0.2 ≈ 1.22.
const wheelZoom = 0.008

// Scrolled zooms around the pointer (the image point under it stays put); with Shift or Ctrl held it steps
// through frames or slices instead, one per notch.
func (v *imageView) Scrolled(e *fyne.ScrollEvent) {
	if v.frame == nil {
		return
	}
	if d, ok := fyne.CurrentApp().Driver().(desktop.Driver); ok && v.onStep != nil &&
		d.CurrentKeyModifiers()&(fyne.KeyModifierShift|fyne.KeyModifierControl) != 0 {
		switch {
		case e.Scrolled.DY > 0 || e.Scrolled.DX > 0:
			v.onStep(-1)
		case e.Scrolled.DY < 0 || e.Scrolled.DX < 0:
			v.onStep(1)
		}
		return
	}
	v.zoomAt(e.Position, math.Exp(float64(e.Scrolled.DY)*wheelZoom))
}

func (v *imageView) zoomAt(p fyne.Position, factor float64) {
	ix, iy := v.toImage(p)
	v.zoomRel = math.Max(minZoom, math.Min(maxZoom, v.zoomRel*factor))
	s := v.Size()
	z := v.zoom()
	v.cx = ix - (float64(p.X)-float64(s.Width)/2)/z
	v.cy = iy - (float64(p.Y)-float64(s.Height)/2)/(z*v.pixelAspect())
	v.changed()
}

// Dragged pans, or in W/L mode adjusts the window like a right-drag.
func (v *imageView) Dragged(e *fyne.DragEvent) {
	if v.frame == nil {
		return
	}
	if v.wlMode {
		v.adjustWindow(e.Dragged.DX, e.Dragged.DY)
		return
	}
	z := v.zoom()
	v.cx -= float64(e.Dragged.DX) / z
	v.cy -= float64(e.Dragged.DY) / (z * v.pixelAspect())
	v.changed()
}

// DragEnd implements fyne.Draggable.
func (v *imageView) DragEnd() {}

// adjustWindow applies a W/L drag of (dx, dy) Fyne units: width += dx·step, centre += dy·step, step from
// frameData.wlStep. A window given as a LUT starts from the frame's min–max window.
func (v *imageView) adjustWindow(dx, dy float32) {
	f := v.frame
	if f == nil || (dx == 0 && dy == 0) {
		return
	}
	w := v.win
	if w.LUT != nil || w.Width <= 0 {
		w = f.MinMaxWindow()
	}
	step := f.wlStep()
	w.Width += float64(dx) * step
	w.Center += float64(dy) * step
	minWidth := step
	if w.Function != dicomio.VOILinearExact && w.Function != dicomio.VOISigmoid {
		minWidth = 1 // PS3.3 C.11.2.1.2: a LINEAR window is at least 1 wide
	}
	w.Width = math.Max(minWidth, w.Width)
	w.Name = "custom"
	v.win = w
	v.changed()
}

// MouseDown starts a right-drag window/level adjustment.
func (v *imageView) MouseDown(e *desktop.MouseEvent) {
	if e.Button == desktop.MouseButtonSecondary {
		v.rightDown = true
		v.lastRight = e.Position
	}
}

// MouseUp ends a right-drag.
func (v *imageView) MouseUp(e *desktop.MouseEvent) {
	if e.Button == desktop.MouseButtonSecondary {
		v.rightDown = false
	}
}

// MouseIn implements desktop.Hoverable.
func (v *imageView) MouseIn(e *desktop.MouseEvent) { v.MouseMoved(e) }

// MouseMoved reports the value under the pointer and, while the right button is held, adjusts the window.
func (v *imageView) MouseMoved(e *desktop.MouseEvent) {
	if v.rightDown && e.Button&desktop.MouseButtonSecondary != 0 {
		d := e.Position.Subtract(v.lastRight)
		v.lastRight = e.Position
		v.adjustWindow(d.X, d.Y)
	} else if v.rightDown {
		v.rightDown = false // released outside the widget
	}
	if v.onHover != nil {
		v.onHover(v.readout(e.Position))
	}
}

// MouseOut implements desktop.Hoverable.
func (v *imageView) MouseOut() {
	if v.onHover != nil {
		v.onHover("")
	}
}

// readout describes the pixel under p: position and value in modality units (HU for CT).
func (v *imageView) readout(p fyne.Position) string {
	f := v.frame
	if f == nil {
		return ""
	}
	fx, fy := v.toImage(p)
	x, y := int(math.Floor(fx)), int(math.Floor(fy))
	if x < 0 || y < 0 || x >= f.Columns || y >= f.Rows {
		return ""
	}
	i := (y*f.Columns + x) * f.Samples
	if f.Samples == 3 {
		return fmt.Sprintf("x %d  y %d  RGB %g %g %g", x, y, f.Values[i], f.Values[i+1], f.Values[i+2])
	}
	val := fmt.Sprintf("%g", f.Values[i])
	if f.unit != "" {
		val += " " + f.unit
	}
	return fmt.Sprintf("x %d  y %d  %s", x, y, val)
}

// flip reports whether low output values are shown white: MONOCHROME1, or the user's inversion, not both.
func (v *imageView) flip() bool { return v.frame != nil && v.frame.mono1 != v.invert }
