package dicomio

import (
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// RenderOptions adjust Render.
type RenderOptions struct {
	Invert        bool // extra inversion chosen by the user, on top of MONOCHROME1's
	AspectCorrect bool // resample to square pixels using the pixel spacing
}

// maxRenderSide caps the longer side of an aspect-corrected render; spacings whose ratio exceeds maxAspect are
// ignored.
const (
	maxRenderSide = 16384
	maxAspect     = 8
)

// Render returns frame as the 8-bit image a viewer shows: grey frames through w's GreyMap (VOI output × 255,
// rounded) as *image.Gray, MONOCHROME1 inverted so it displays like a film; colour frames as *image.RGBA scaled from their
// full sample range (w is ignored for colour). The image has the native pixel grid unless opt.AspectCorrect asks
// for square pixels.
//
// The frame is decoded on first use and can fail here (see Frame). A first render streams over the stored samples
// without keeping the frame's values; a frame whose values are held (Frame, Pixels, or a second render) is rendered
// from them. Render is safe to call from several goroutines at once.
func (s *Scan) Render(frame int, w Window, opt RenderOptions) (image.Image, error) {
	e, err := s.entry(frame)
	if err != nil {
		return nil, err
	}
	raw, err := e.stored(s)
	if err != nil {
		return nil, err
	}
	var img image.Image
	if s.SamplesPerPixel == 3 {
		rgba := image.NewRGBA(image.Rect(0, 0, s.Columns, s.Rows))
		s.eachValues(e, raw, func(first int, vals []float32) { s.renderRGB(vals, rgba.Pix[4*first:], opt.Invert) })
		img = rgba
	} else {
		var lo, hi float32
		if s.integral {
			lo, hi, _ = e.valueRange(s) // cannot fail: the frame is decoded
		}
		invert := (s.Photometric == "MONOCHROME1") != opt.Invert
		g := newGreyMap(w, invert, s.integral, lo, hi, s.Rows*s.Columns)
		grey := image.NewGray(image.Rect(0, 0, s.Columns, s.Rows))
		s.eachValues(e, raw, func(first int, vals []float32) { g.Map(grey.Pix[first:], vals) })
		img = grey
	}
	if opt.AspectCorrect {
		img = s.aspectCorrect(img)
	}
	return img, nil
}

// eachValues calls fn with the frame's modality values: all at once when they are kept (see renderValues), else
// chunk by chunk from the stored samples (the same conversion, without holding 4 bytes a sample).
func (s *Scan) eachValues(e *cacheEntry, raw rawFrame, fn func(first int, vals []float32)) {
	if vals := e.renderValues(s); vals != nil {
		fn(0, vals)
		return
	}
	s.eachChunk(raw, fn)
}

// renderRGB scales interleaved RGB samples from [0, colorMax] to 8 bits, writing RGBA pixels to pix. The loop
// works on re-sliced pixels so the compiler drops its bounds checks: it is on the path of every colour JPEG that
// `classify` reads.
func (s *Scan) renderRGB(vals []float32, pix []uint8, invert bool) {
	full := s.colorMax
	if full <= 0 {
		full = 255
	}
	k := 255 / full
	var flip uint8 // 255 − b is b XOR 255
	if invert {
		flip = 255
	}
	to8 := func(v float32) uint8 {
		y := v*k + 0.5
		if y < 0 {
			y = 0
		} else if y > 255 {
			y = 255
		}
		return uint8(y) ^ flip
	}
	n := len(vals) / 3
	vals, pix = vals[:3*n], pix[:4*n]
	for p := range n {
		src, dst := vals[3*p:3*p+3:3*p+3], pix[4*p:4*p+4:4*p+4]
		dst[0], dst[1], dst[2], dst[3] = to8(src[0]), to8(src[1]), to8(src[2]), 255
	}
}

// aspectCorrect stretches the axis with the larger pixel spacing so that pixels become square.
func (s *Scan) aspectCorrect(img image.Image) image.Image {
	sp := s.PixelSpacing
	if sp.Row <= 0 || sp.Column <= 0 || math.Abs(sp.Row/sp.Column-1) < 1e-3 {
		return img
	}
	if r := sp.Row / sp.Column; r > maxAspect || r < 1/maxAspect {
		return img // no real detector has such pixels; the spacing is wrong, not the image
	}
	w, h := s.Columns, s.Rows
	if sp.Row > sp.Column {
		h = int(math.Round(float64(h) * sp.Row / sp.Column))
	} else {
		w = int(math.Round(float64(w) * sp.Column / sp.Row))
	}
	w, h = min(max(w, 1), maxRenderSide), min(max(h, 1), maxRenderSide)
	out := imaging.Resize(img, w, h, imaging.Linear)
	if _, grey := img.(*image.Gray); !grey {
		return &image.RGBA{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}
	}
	g := image.NewGray(out.Rect)
	for i := range w * h {
		g.Pix[i] = out.Pix[4*i]
	}
	return g
}

// String describes the window for logs and the command line: "W1500/L-600 LINEAR (lung)".
func (w Window) String() string {
	if w.LUT != nil {
		return fmt.Sprintf("VOI LUT %d entries from %d, %d bits (%s)", len(w.LUT.Data), w.LUT.FirstMapped, w.LUT.Bits, w.Name)
	}
	f := w.Function
	if f == "" {
		f = VOILinear
	}
	return fmt.Sprintf("W%g/L%g %s (%s)", w.Width, w.Center, f, w.Name)
}
