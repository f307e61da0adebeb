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
	p, err := NewPixels(vals, s.Rows, s.Columns, s.SamplesPerPixel)
	if err != nil {
		return nil, err
	}
	return s.RenderPixels(p, w, opt)
}

// RenderPixels is Render for a frame of s that the caller has already decoded (see NewPixels), so that a frame
// shown on screen and classified is decoded once.
func (s *Scan) RenderPixels(p *Pixels, w Window, opt RenderOptions) (image.Image, error) {
	if p.Rows != s.Rows || p.Columns != s.Columns || p.Samples != max(s.SamplesPerPixel, 1) {
		return nil, fmt.Errorf("pixels are %d×%d×%d, the scan %d×%d×%d: %w", p.Columns, p.Rows, p.Samples, s.Columns, s.Rows, s.SamplesPerPixel, ErrMalformed)
	}
	var img image.Image
	if s.SamplesPerPixel == 3 {
		img = s.renderRGB(p.Values, opt.Invert)
	} else {
		invert := (s.Photometric == "MONOCHROME1") != opt.Invert
		img = renderGrey(p, w, invert)
	}
	if opt.AspectCorrect {
		img = s.aspectCorrect(img)
	}
	return img, nil
}

// renderGrey maps a grey frame through the window with GreyMap.
func renderGrey(p *Pixels, w Window, invert bool) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, p.Columns, p.Rows))
	NewGreyMap(w, invert, p).Map(img.Pix, p.Values)
	return img
}

// renderRGB scales interleaved RGB samples from [0, colorMax] to 8 bits.
func (s *Scan) renderRGB(vals []float32, invert bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.Columns, s.Rows))
	full := s.colorMax
	if full <= 0 {
		full = 255
	}
	k := 255 / full
	n := s.Rows * s.Columns
	for p := range n {
		o := 4 * p
		for c := range 3 {
			y := vals[3*p+c]*k + 0.5
			if y < 0 {
				y = 0
			} else if y > 255 {
				y = 255
			}
			b := uint8(y)
			if invert {
				b = 255 - b
			}
			img.Pix[o+c] = b
		}
		img.Pix[o+3] = 255
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
