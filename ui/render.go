package ui

import (
	"image"
	"math"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
)

// renderRows is the per-column scratch space of a render, kept between renders.
type renderRows struct {
	us   []float64 // each output column's centre across the image (0 … 1), for sampling the saliency map
	ix   []int     // the image column each output column shows, −1 outside the image
	grey []uint8   // one output row of grey levels
}

// render is the raster generator: it draws the visible part of the frame at the raster's pixel size. Each output
// pixel shows its nearest image pixel through dicomio's GreyMap (the same grey levels as dicomio.Render), and
// the overlay is inference's OverlayRow (the same formula as `classify --saliency` files), so the cost is bounded
// by the window size, not the image size.
func (v *imageView) render(w, h int) image.Image {
	start := time.Now()
	dst := v.blank(w, h)
	f := v.frame
	size := v.Size()
	if w <= 0 || h <= 0 || f == nil || f.Columns == 0 || f.Rows == 0 || size.Width <= 0 || size.Height <= 0 {
		v.rendered(start, false)
		return dst
	}
	x0, x1 := v.mapColumns(w, float64(w)/float64(size.Width))
	greys := v.greyMap()
	sal := v.overlayMap()
	scaleY := float64(h) / float64(size.Height)
	zy := v.zoom() * v.pixelAspect()
	prevY := -1
	for py := range h {
		fy := v.cy + ((float64(py)+0.5)/scaleY-float64(size.Height)/2)/zy
		iy := int(math.Floor(fy))
		if fy < 0 || iy >= f.Rows || x0 >= x1 {
			continue
		}
		row := dst.Pix[py*dst.Stride : py*dst.Stride+w*4]
		if iy == prevY && sal == nil {
			// Magnified: this output row shows the same image row as the one above.
			copy(row[x0*4:x1*4], dst.Pix[(py-1)*dst.Stride+x0*4:(py-1)*dst.Stride+x1*4])
			continue
		}
		prevY = iy
		v.drawRow(row, iy, x0, x1, greys)
		if sal != nil {
			sal.OverlayRow(row[x0*4:x1*4], v.rowBuf.us[x0:x1], fy/float64(f.Rows), v.salOpacity)
		}
	}
	v.rendered(start, true)
	return dst
}

// blank returns the reused w×h output buffer, opaque black.
func (v *imageView) blank(w, h int) *image.RGBA {
	w, h = max(w, 1), max(h, 1)
	if v.buf == nil || v.buf.Rect.Dx() != w || v.buf.Rect.Dy() != h {
		v.buf = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	dst := v.buf
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
	return dst
}

// rendered notes the render's time and tells the start-up measurement.
func (v *imageView) rendered(start time.Time, withImage bool) {
	v.lastRender = time.Since(start)
	if v.onRender != nil {
		v.onRender(withImage)
	}
}

// mapColumns computes which image column each of w output columns shows (scale: output pixels per Fyne unit) and
// returns the run x0 ≤ px < x1 of output columns inside the image (the mapping is monotonic).
func (v *imageView) mapColumns(w int, scale float64) (x0, x1 int) {
	rb := &v.rowBuf
	if cap(rb.ix) < w {
		rb.us, rb.ix, rb.grey = make([]float64, w), make([]int, w), make([]uint8, w)
	}
	rb.us, rb.ix, rb.grey = rb.us[:w], rb.ix[:w], rb.grey[:w]
	cols := v.frame.Columns
	z := v.zoom()
	half := float64(v.Size().Width) / 2
	for px := range w {
		fx := v.cx + ((float64(px)+0.5)/scale-half)/z
		rb.us[px] = fx / float64(cols)
		rb.ix[px] = int(math.Floor(fx))
		if fx < 0 || rb.ix[px] >= cols {
			rb.ix[px] = -1
		}
	}
	x0, x1 = 0, w
	for x0 < w && rb.ix[x0] < 0 {
		x0++
	}
	for x1 > x0 && rb.ix[x1-1] < 0 {
		x1--
	}
	return x0, x1
}

// greyMap is the frame's value → grey mapping for the current window and flip, rebuilt only when they change.
func (v *imageView) greyMap() *dicomio.GreyMap {
	key := greyKey{win: v.win, flip: v.flip(), frame: v.frame}
	if v.greys == nil || key != v.greyKey {
		v.greys, v.greyKey = dicomio.NewGreyMap(v.win, key.flip, v.frame.Pixels), key
	}
	return v.greys
}

// drawRow draws image row iy into output columns x0 … x1-1 of row.
func (v *imageView) drawRow(row []uint8, iy, x0, x1 int, g *dicomio.GreyMap) {
	f := v.frame
	ix := v.rowBuf.ix[x0:x1]
	if f.Samples != 1 {
		// Colour: each sample through the window (the identity for PNG/JPEG).
		src := f.Values[iy*f.Columns*f.Samples : (iy+1)*f.Columns*f.Samples]
		for i, x := range ix {
			k := x * f.Samples
			o := row[(x0+i)*4 : (x0+i)*4+3 : (x0+i)*4+3]
			o[0], o[1], o[2] = g.Grey(src[k]), g.Grey(src[k+1]), g.Grey(src[k+2])
		}
		return
	}
	grey := v.rowBuf.grey[:len(ix)]
	g.Gather(grey, f.Values[iy*f.Columns:(iy+1)*f.Columns], ix)
	for i, gv := range grey {
		o := row[(x0+i)*4 : (x0+i)*4+3 : (x0+i)*4+3]
		o[0], o[1], o[2] = gv, gv, gv
	}
}
