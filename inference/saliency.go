package inference

import (
	"image"
	"image/color"
	"math"
)

// Saliency methods.
const (
	// SaliencyCAM is the class activation map of a global-average-pool + linear head (equal to Grad-CAM there).
	SaliencyCAM = "cam"
	// SaliencyOcclusion is occlusion sensitivity: the drop in the class's probability when a square window of
	// the input is set to the normalisation mean (see OcclusionWindow).
	SaliencyOcclusion = "occlusion"
)

// Saliency is a map of where the model looked for the predicted class, on its own grid — the CAM's (a few cells
// a side) or, for occlusion, the model input's — which covers the whole image edge to edge, as the model saw it
// (the image is resized to the input, not cropped). Values are in [0, 1] (1 = most important), row-major. Sample
// it with At; draw it with OverlayRow or Overlay, the one overlay formula of the viewer and of --saliency files.
type Saliency struct {
	Method        string
	Class         string
	Width, Height int // the grid's, not the image's
	Values        []float32
}

// OcclusionWindow returns the occlusion window side and stride for a model input of w×h: a window one eighth of
// the longer side (at least 1 pixel), moved by half a window, so every pixel is covered by up to four windows.
func OcclusionWindow(w, h int) (window, stride int) {
	window = max(1, max(w, h)/8)
	stride = max(1, window/2)
	return window, stride
}

// normalise rescales v in place to [0, 1] by its minimum and maximum; a constant map becomes all zeros.
func normalise(v []float32) {
	if len(v) == 0 {
		return
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if !(hi > lo) {
		clear(v)
		return
	}
	s := 1 / (hi - lo)
	for i, x := range v {
		v[i] = (x - lo) * s
	}
}

// valid reports whether the map has a grid to sample.
func (s *Saliency) valid() bool {
	return s != nil && s.Width > 0 && s.Height > 0 && len(s.Values) >= s.Width*s.Height
}

// gridCoord maps a position t in [0, 1] across the image to grid coordinates with cell centres aligned (PyTorch's
// interpolate with align_corners=False): cell i's centre is at (i+0.5)/n; beyond the outer centres the edge
// value holds. It returns the two cells to blend and the weight of the second.
func gridCoord(t float64, n int) (i0, i1 int, f float32) {
	c := t*float64(n) - 0.5
	if !(c > 0) {
		return 0, 0, 0
	}
	if c >= float64(n-1) {
		return n - 1, n - 1, 0
	}
	i0 = int(c)
	return i0, i0 + 1, float32(c - float64(i0))
}

// At samples the map bilinearly at (u, v), each in [0, 1] across the image's width and height: pixel (x, y) of a
// W×H image is at ((x+0.5)/W, (y+0.5)/H). Zero for a map without a grid.
func (s *Saliency) At(u, v float64) float32 {
	if !s.valid() {
		return 0
	}
	x0, x1, fx := gridCoord(u, s.Width)
	y0, y1, fy := gridCoord(v, s.Height)
	r0, r1 := s.Values[y0*s.Width:], s.Values[y1*s.Width:]
	top := r0[x0] + (r0[x1]-r0[x0])*fx
	bot := r1[x0] + (r1[x1]-r1[x0])*fx
	return top + (bot-top)*fy
}

// OverlayRow blends the map over one row of RGBA pixels (4 bytes each, alpha left alone): pixel i shows the image
// at horizontal position us[i] and the row is at vertical position v (both in [0, 1], see At). Each pixel moves
// towards Colormap(s) by opacity·s, where s is the sampled saliency: a cold pixel stays as it was.
func (s *Saliency) OverlayRow(pix []uint8, us []float64, v, opacity float64) {
	if !s.valid() {
		return
	}
	opacity = math.Max(0, math.Min(1, opacity))
	// Blend the row's two grid rows once; each pixel then interpolates along that line.
	y0, y1, fy := gridCoord(v, s.Height)
	var buf [64]float32
	var line []float32
	if s.Width > len(buf) {
		line = make([]float32, s.Width)
	} else {
		line = buf[:s.Width]
	}
	r0, r1 := s.Values[y0*s.Width:], s.Values[y1*s.Width:]
	for x := range line {
		line[x] = r0[x] + (r1[x]-r0[x])*fy
	}
	for i, u := range us {
		x0, x1, fx := gridCoord(u, s.Width)
		blend(pix[4*i:4*i+3:4*i+3], line[x0]+(line[x1]-line[x0])*fx, opacity)
	}
}

// blend moves one RGB pixel towards the colour of saliency value sv by opacity·sv.
func blend(p []uint8, sv float32, opacity float64) {
	sv = min(max(sv, 0), 1)
	if sv == 0 {
		return
	}
	c := Colormap(sv)
	a := opacity * float64(sv)
	mix := func(under, over uint8) uint8 { return uint8(float64(under)*(1-a) + float64(over)*a + 0.5) }
	p[0], p[1], p[2] = mix(p[0], c.R), mix(p[1], c.G), mix(p[2], c.B)
}

// Colormap returns the overlay colour for a saliency value in [0, 1] (matplotlib's perceptually uniform inferno).
func Colormap(v float32) color.NRGBA {
	if !(v > 0) {
		v = 0
	}
	i := int(min(v, 1)*255 + 0.5)
	c := inferno[i]
	return color.NRGBA{c[0], c[1], c[2], 0xff}
}

// Overlay blends s over base (the display image the saliency was computed for) with OverlayRow at the given
// opacity and returns an opaque RGBA image of base's size, for saving or showing.
func Overlay(base image.Image, s *Saliency, alpha float64) *image.RGBA {
	b := base.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	grey, _ := base.(*image.Gray)
	rgba, _ := base.(*image.RGBA)
	for y := range h {
		row := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			switch {
			case grey != nil:
				v := grey.Pix[y*grey.Stride+x]
				p[0], p[1], p[2] = v, v, v
			case rgba != nil:
				copy(p[:3], rgba.Pix[y*rgba.Stride+4*x:])
			default:
				c := color.RGBAModel.Convert(base.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
				p[0], p[1], p[2] = c.R, c.G, c.B
			}
			p[3] = 0xff
		}
	}
	us := make([]float64, w)
	for x := range us {
		us[x] = (float64(x) + 0.5) / float64(w)
	}
	for y := range h {
		s.OverlayRow(out.Pix[y*out.Stride:y*out.Stride+4*w], us, (float64(y)+0.5)/float64(h), alpha)
	}
	return out
}

// ColorScale draws the saliency colour scale as a width×height bar, low on the left and high on the right when
// the bar is wider than tall, else low at the bottom and high at the top.
func ColorScale(width, height int) *image.RGBA {
	width, height = max(width, 1), max(height, 1)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	horizontal := width >= height
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			var v float32
			if horizontal {
				v = float32(x) / float32(max(width-1, 1))
			} else {
				v = float32(height-1-y) / float32(max(height-1, 1))
			}
			c := Colormap(v)
			img.SetRGBA(x, y, color.RGBA{c.R, c.G, c.B, 0xff})
		}
	}
	return img
}
