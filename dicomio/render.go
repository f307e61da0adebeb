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

// Render returns frame as the 8-bit image a viewer shows: grey frames through w (VOI output × 255, rounded) as
// *image.Gray, MONOCHROME1 inverted so it displays like a film; colour frames as *image.RGBA scaled from their
// full sample range (w is ignored for colour). The image has the native pixel grid unless opt.AspectCorrect asks
// for square pixels.
func (s *Scan) Render(frame int, w Window, opt RenderOptions) (image.Image, error) {
	vals, err := s.Frame(frame)
	if err != nil {
		return nil, err
	}
	var img image.Image
	if s.SamplesPerPixel == 3 {
		img = s.renderRGB(vals, opt.Invert)
	} else {
		invert := (s.Photometric == "MONOCHROME1") != opt.Invert
		r := s.ranges[frame]
		img = renderGrey(vals, s.Columns, s.Rows, w, invert, s.integral, r[0], r[1])
	}
	if opt.AspectCorrect {
		img = s.aspectCorrect(img)
	}
	return img, nil
}

// renderGrey maps values through the window. Integer-valued frames with a modest range go through a table built
// with Apply (one evaluation per distinct value, then one lookup per pixel: the fastest path, and exact);
// others through a tight affine loop (LINEAR, LINEAR_EXACT) or per-pixel Apply (SIGMOID, LUT).
func renderGrey(vals []float32, cols, rows int, w Window, invert bool, integral bool, lo, hi float32) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, cols, rows))
	pix := img.Pix[:len(vals)]
	if integral && hi >= lo && hi-lo < 1<<20 && int(hi-lo)+1 <= max(len(vals), 4096) {
		base := int(lo)
		table := make([]uint8, int(hi-lo)+1)
		for j := range table {
			y := uint8(math.Floor(w.Apply(float64(base+j))*255 + 0.5))
			if invert {
				y = 255 - y
			}
			table[j] = y
		}
		for i, v := range vals {
			pix[i] = table[int(v)-base]
		}
		return img
	}
	if a, b, ok := w.affine(); ok {
		// y = clamp(a·v + b) · 255, rounded half up; inversion is 255 − y.
		fa, fb := float32(a*255), float32(b*255)+0.5
		if invert {
			fa, fb = -fa, 255-float32(b*255)+0.5
		}
		for i, v := range vals {
			y := v*fa + fb
			if y < 0 {
				y = 0
			} else if y > 255 {
				y = 255
			}
			pix[i] = uint8(y)
		}
		return img
	}
	for i, v := range vals {
		y := uint8(math.Floor(w.Apply(float64(v))*255 + 0.5))
		if invert {
			y = 255 - y
		}
		pix[i] = y
	}
	return img
}

// renderRGB scales interleaved RGB samples from [0, colorMax] to 8 bits. The loop works on re-sliced pixels so
// the compiler drops its bounds checks: it is on the path of every colour JPEG that `classify` reads.
func (s *Scan) renderRGB(vals []float32, invert bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.Columns, s.Rows))
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
	n := s.Rows * s.Columns
	vals, pix := vals[:3*n], img.Pix[:4*n]
	for p := range n {
		src, dst := vals[3*p:3*p+3:3*p+3], pix[4*p:4*p+4:4*p+4]
		dst[0], dst[1], dst[2], dst[3] = to8(src[0]), to8(src[1]), to8(src[2]), 255
	}
	return img
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
