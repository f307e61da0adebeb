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

// Saliency is a map of where the model looked for the predicted class, at the image's native size, each value in
// [0, 1] (1 = most important), row-major.
type Saliency struct {
	Method        string
	Class         string
	Width, Height int
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

// upsample resizes a w×h map to W×H bilinearly with pixel centres aligned (PyTorch's align_corners=False).
func upsample(src []float32, w, h, W, H int) []float32 {
	out := make([]float32, W*H)
	if w < 1 || h < 1 || len(src) < w*h {
		return out
	}
	type tap struct {
		i0, i1 int
		f      float32
	}
	taps := func(n, N int) []tap {
		t := make([]tap, N)
		scale := float64(n) / float64(N)
		for i := range t {
			c := (float64(i)+0.5)*scale - 0.5
			if c < 0 {
				c = 0
			}
			i0 := int(c)
			if i0 > n-1 {
				i0 = n - 1
			}
			i1 := min(i0+1, n-1)
			t[i] = tap{i0, i1, float32(c - float64(i0))}
		}
		return t
	}
	tx, ty := taps(w, W), taps(h, H)
	for y, ry := range ty {
		r0, r1 := src[ry.i0*w:], src[ry.i1*w:]
		o := out[y*W : (y+1)*W]
		for x, cx := range tx {
			top := r0[cx.i0] + (r0[cx.i1]-r0[cx.i0])*cx.f
			bot := r1[cx.i0] + (r1[cx.i1]-r1[cx.i0])*cx.f
			o[x] = top + (bot-top)*ry.f
		}
	}
	return out
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

// SaliencyLayer renders s as a colour image whose alpha grows with saliency (alpha × value), for drawing over the
// display image at the same size.
func SaliencyLayer(s *Saliency, alpha float64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, s.Width, s.Height))
	alpha = math.Max(0, math.Min(1, alpha))
	for i, v := range s.Values {
		c := Colormap(v)
		c.A = uint8(alpha*float64(min(max(v, 0), 1))*255 + 0.5)
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// Overlay blends s over base (the display image the saliency was computed for, same size) with the given
// opacity, weighted by saliency, and returns an opaque RGBA image for saving or showing.
func Overlay(base image.Image, s *Saliency, alpha float64) *image.RGBA {
	b := base.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	alpha = math.Max(0, math.Min(1, alpha))
	grey, _ := base.(*image.Gray)
	rgba, _ := base.(*image.RGBA)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			var r, g, bl uint8
			switch {
			case grey != nil:
				v := grey.Pix[y*grey.Stride+x]
				r, g, bl = v, v, v
			case rgba != nil:
				p := rgba.Pix[y*rgba.Stride+4*x:]
				r, g, bl = p[0], p[1], p[2]
			default:
				c := color.RGBAModel.Convert(base.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
				r, g, bl = c.R, c.G, c.B
			}
			var v float32
			if x < s.Width && y < s.Height {
				v = min(max(s.Values[y*s.Width+x], 0), 1)
			}
			i := out.PixOffset(x, y)
			if v == 0 {
				out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = r, g, bl, 0xff
				continue
			}
			c := Colormap(v)
			a := alpha * float64(v)
			mix := func(under, over uint8) uint8 {
				return uint8(float64(under)*(1-a) + float64(over)*a + 0.5)
			}
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = mix(r, c.R), mix(g, c.G), mix(bl, c.B), 0xff
		}
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
