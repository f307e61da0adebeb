package ui

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// frameData is one frame ready for display: its values in modality units and what the renderer needs to know
// about them. It is built off the UI thread and never changed afterwards.
type frameData struct {
	values              []float32 // samples interleaved, row-major
	rows, cols, samples int
	min, max            float32
	integral            bool // every value is a whole number, so a lookup table indexed by value covers the frame
	mono1               bool // MONOCHROME1: low values are white
	rowSpacing          float64
	colSpacing          float64
	unit                string // "HU" for CT, else ""
}

// newFrameData wraps values (len rows*cols*samples) and scans them once for their range.
func newFrameData(values []float32, rows, cols, samples int) *frameData {
	f := &frameData{values: values, rows: rows, cols: cols, samples: samples, integral: true}
	if len(values) == 0 {
		return f
	}
	f.min, f.max = values[0], values[0]
	for _, v := range values {
		if v < f.min {
			f.min = v
		}
		if v > f.max {
			f.max = v
		}
		if f.integral && v != float32(math.Trunc(float64(v))) {
			f.integral = false
		}
	}
	return f
}

// minMaxWindow is the window spanning the frame's range, the fallback when a file carries none.
func (f *frameData) minMaxWindow() dicomio.Window {
	w := float64(f.max - f.min)
	if f.integral {
		w++
	}
	if w <= 0 {
		w = 1
	}
	return dicomio.Window{Name: "min-max", Center: float64(f.min) + w/2, Width: w, Function: dicomio.VOILinear}
}

// wlStep is how much one Fyne unit of right-drag changes the window width (horizontal) or centre (vertical):
// a thousandth of the frame's value range, and at least 1 for whole-number data so 8-bit images still move.
func (f *frameData) wlStep() float64 {
	s := float64(f.max-f.min) / 1000
	if f.integral && s < 1 {
		s = 1
	}
	if s <= 0 {
		s = 1e-3
	}
	return s
}

// lutLimit is the largest value range rendered through a lookup table rather than one VOI call per pixel.
const lutLimit = 1 << 20

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

	sal        *saliencyMap
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

	lut        []uint8
	lutKey     lutKey
	buf        *image.RGBA
	lastRender time.Duration
}

type lutKey struct {
	win   dicomio.Window
	flip  bool
	frame *frameData
}

// saliencyMap is one class's activation map, normalised to 0…1, stretched over the whole image (the model saw
// the whole image resized, so the map's grid covers it edge to edge).
type saliencyMap struct {
	w, h   int
	values []float32
}

// newSaliencyMap normalises a w×h map to 0…1; a flat map becomes all zeros.
func newSaliencyMap(values []float32, w, h int) *saliencyMap {
	if w <= 0 || h <= 0 || len(values) != w*h {
		return nil
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	out := make([]float32, len(values))
	if hi > lo {
		for i, v := range values {
			out[i] = (v - lo) / (hi - lo)
		}
	}
	return &saliencyMap{w: w, h: h, values: out}
}

// at samples the map bilinearly at map coordinates (x, y), pixel centres at integers.
func (s *saliencyMap) at(x, y float64) float32 {
	x = math.Max(0, math.Min(float64(s.w-1), x))
	y = math.Max(0, math.Min(float64(s.h-1), y))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, s.w-1), min(y0+1, s.h-1)
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	a := s.values[y0*s.w+x0]*(1-fx) + s.values[y0*s.w+x1]*fx
	b := s.values[y1*s.w+x0]*(1-fx) + s.values[y1*s.w+x1]*fx
	return a*(1-fy) + b*fy
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

// SetSaliency sets (or with nil clears) the overlay map.
func (v *imageView) SetSaliency(s *saliencyMap) {
	v.sal = s
	v.raster.Refresh()
}

// SetOverlay turns the overlay on or off and sets its opacity (0…1).
func (v *imageView) SetOverlay(on bool, opacity float64) {
	v.salOn, v.salOpacity = on, math.Max(0, math.Min(1, opacity))
	v.raster.Refresh()
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
		v.cx, v.cy = float64(v.frame.cols)/2, float64(v.frame.rows)/2
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
	if f == nil || f.cols == 0 || f.rows == 0 || s.Width <= 0 || s.Height <= 0 {
		return 1
	}
	fit := math.Min(float64(s.Width)/float64(f.cols), float64(s.Height)/(float64(f.rows)*v.pixelAspect()))
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
		w = f.minMaxWindow()
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
	if x < 0 || y < 0 || x >= f.cols || y >= f.rows {
		return ""
	}
	i := (y*f.cols + x) * f.samples
	if f.samples == 3 {
		return fmt.Sprintf("x %d  y %d  RGB %g %g %g", x, y, f.values[i], f.values[i+1], f.values[i+2])
	}
	val := fmt.Sprintf("%g", f.values[i])
	if f.unit != "" {
		val += " " + f.unit
	}
	return fmt.Sprintf("x %d  y %d  %s", x, y, val)
}

// flip reports whether low output values are shown white: MONOCHROME1, or the user's inversion, not both.
func (v *imageView) flip() bool { return v.frame != nil && v.frame.mono1 != v.invert }

// grey maps a modality value to its displayed 8-bit grey level.
func grey(w dicomio.Window, value float64, flip bool) uint8 {
	o := w.Apply(value)
	if flip {
		o = 1 - o
	}
	return uint8(math.Max(0, math.Min(255, o*255+0.5)))
}

// affineOf returns a, b with grey = clamp(a·v + b, 0, 255) for the linear VOI functions — the same mapping as
// Window.Apply (PS3.3 C.11.2.1.2: the piecewise definition is the clamped line) scaled to 8 bits, with the
// display flip folded in; ok is false for SIGMOID, LUT and one-wide windows.
func affineOf(w dicomio.Window, flip bool) (a, b float64, ok bool) {
	if w.LUT != nil {
		return 0, 0, false
	}
	switch w.Function {
	case dicomio.VOISigmoid:
		return 0, 0, false
	case dicomio.VOILinearExact:
		if w.Width <= 0 {
			return 0, 0, false
		}
		a, b = 1/w.Width, 0.5-w.Center/w.Width
	default:
		if w.Width <= 1 {
			return 0, 0, false
		}
		a, b = 1/(w.Width-1), 0.5-(w.Center-0.5)/(w.Width-1)
	}
	a, b = a*255, b*255
	if flip {
		a, b = -a, 255-b
	}
	return a, b, true
}

// ensureLUT builds a value-indexed table for whole-number grey frames so the per-pixel cost is one load.
func (v *imageView) ensureLUT() []uint8 {
	f := v.frame
	if f == nil || !f.integral || f.samples != 1 || float64(f.max-f.min) >= lutLimit {
		return nil
	}
	key := lutKey{win: v.win, flip: v.flip(), frame: f}
	key.win.LUT = nil // compared by the pointer below
	if v.lut != nil && v.lutKey == key && v.lutKey.win.LUT == v.win.LUT {
		return v.lut
	}
	n := int(f.max-f.min) + 1
	if cap(v.lut) >= n {
		v.lut = v.lut[:n]
	} else {
		v.lut = make([]uint8, n)
	}
	base := float64(f.min)
	for i := range v.lut {
		v.lut[i] = grey(v.win, base+float64(i), key.flip)
	}
	key.win.LUT = v.win.LUT
	v.lutKey = key
	return v.lut
}

// render is the raster generator: it draws the visible part of the frame at the raster's pixel size.
func (v *imageView) render(w, h int) image.Image {
	start := time.Now()
	if w <= 0 || h <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	if v.buf == nil || v.buf.Rect.Dx() != w || v.buf.Rect.Dy() != h {
		v.buf = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	dst := v.buf
	// Opaque black: one row by hand, the rest copied.
	row0 := dst.Pix[:w*4]
	for i := range row0 {
		row0[i] = 0
		if i%4 == 3 {
			row0[i] = 0xff
		}
	}
	for py := 1; py < h; py++ {
		copy(dst.Pix[py*dst.Stride:py*dst.Stride+w*4], row0)
	}
	f := v.frame
	size := v.Size()
	if f == nil || f.cols == 0 || f.rows == 0 || size.Width <= 0 {
		v.lastRender = time.Since(start)
		if v.onRender != nil {
			v.onRender(false)
		}
		return dst
	}
	scale := float64(w) / float64(size.Width)
	scaleY := float64(h) / float64(size.Height)
	z := v.zoom()
	ay := v.pixelAspect()

	// Image coordinates of each output column and row (pixel centres), and the nearest pixel index.
	xs := make([]float64, w)
	ix := make([]int, w)
	for px := range w {
		fx := v.cx + ((float64(px)+0.5)/scale-float64(size.Width)/2)/z
		xs[px] = fx
		ix[px] = int(math.Floor(fx))
		if fx < 0 || ix[px] >= f.cols {
			ix[px] = -1
		}
	}
	flip := v.flip()
	a, b, affine := affineOf(v.win, flip)
	var lut []uint8
	if !affine {
		lut = v.ensureLUT() // sigmoid and LUT windows: one Apply per value in range instead of per pixel
	}
	base := int(f.min)
	sal := v.sal
	if !v.salOn {
		sal = nil
	}
	// Output columns showing the image form one run, x0 ≤ px < x1 (the mapping is monotonic).
	x0, x1 := 0, w
	for x0 < w && ix[x0] < 0 {
		x0++
	}
	for x1 > x0 && ix[x1-1] < 0 {
		x1--
	}
	prevY := -1
	for py := range h {
		fy := v.cy + ((float64(py)+0.5)/scaleY-float64(size.Height)/2)/(z*ay)
		iy := int(math.Floor(fy))
		if fy < 0 || iy >= f.rows || x0 >= x1 {
			continue
		}
		row := dst.Pix[py*dst.Stride : py*dst.Stride+w*4]
		if iy == prevY && sal == nil {
			// Magnified: this output row shows the same image row as the one above.
			copy(row[x0*4:x1*4], dst.Pix[(py-1)*dst.Stride+x0*4:(py-1)*dst.Stride+x1*4])
			continue
		}
		prevY = iy
		srow := iy * f.cols
		switch {
		case f.samples != 1:
			for px := x0; px < x1; px++ {
				k := (srow + ix[px]) * f.samples
				o := row[px*4 : px*4+3 : px*4+3]
				o[0] = grey(v.win, float64(f.values[k]), v.invert)
				o[1] = grey(v.win, float64(f.values[k+1]), v.invert)
				o[2] = grey(v.win, float64(f.values[k+2]), v.invert)
			}
		case affine:
			src := f.values[srow : srow+f.cols]
			for px := x0; px < x1; px++ {
				y := a*float64(src[ix[px]]) + b
				g := uint8(0)
				if y >= 255 {
					g = 255
				} else if y > 0 {
					g = uint8(y + 0.5)
				}
				o := row[px*4 : px*4+3 : px*4+3]
				o[0], o[1], o[2] = g, g, g
			}
		case lut != nil:
			src := f.values[srow : srow+f.cols]
			for px := x0; px < x1; px++ {
				g := lut[int(src[ix[px]])-base]
				o := row[px*4 : px*4+3 : px*4+3]
				o[0], o[1], o[2] = g, g, g
			}
		default:
			src := f.values[srow : srow+f.cols]
			for px := x0; px < x1; px++ {
				g := grey(v.win, float64(src[ix[px]]), flip)
				o := row[px*4 : px*4+3 : px*4+3]
				o[0], o[1], o[2] = g, g, g
			}
		}
		if sal != nil {
			my := fy/float64(f.rows)*float64(sal.h) - 0.5
			for px := x0; px < x1; px++ {
				s := sal.at(xs[px]/float64(f.cols)*float64(sal.w)-0.5, my)
				c := heatTable[int(s*255)]
				al := float32(v.salOpacity) * s
				o := row[px*4 : px*4+3 : px*4+3]
				o[0] = uint8(float32(o[0])*(1-al) + float32(c.R)*al + 0.5)
				o[1] = uint8(float32(o[1])*(1-al) + float32(c.G)*al + 0.5)
				o[2] = uint8(float32(o[2])*(1-al) + float32(c.B)*al + 0.5)
			}
		}
	}
	v.lastRender = time.Since(start)
	if v.onRender != nil {
		v.onRender(true)
	}
	return dst
}

// heatColour maps 0…1 to the overlay's colour scale: inference's colormap, so the viewer's overlay and the
// classify verb's saliency images agree.
func heatColour(t float64) color.NRGBA { return inference.Colormap(float32(t)) }

var heatTable = func() (t [256]color.NRGBA) {
	for i := range t {
		t[i] = heatColour(float64(i) / 255)
	}
	return t
}()
