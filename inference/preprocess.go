package inference

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/disintegration/imaging"
)

// Luma converts an 8-bit display image to grey with PIL's "L" formula (19595 R + 38470 G + 7471 B + 0x8000) >> 16
// on the non-premultiplied colour; alpha is ignored. A *image.Gray is returned as it is.
func Luma(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	luma := func(r, g, bl uint32) uint8 { return uint8((19595*r + 38470*g + 7471*bl + 0x8000) >> 16) }
	switch src := img.(type) {
	case *image.NRGBA:
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[(y)*src.Stride : (y)*src.Stride+b.Dx()*4]
			o := out.Pix[y*out.Stride:]
			for x := 0; x < b.Dx(); x++ {
				p := row[x*4 : x*4+3 : x*4+3]
				o[x] = luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))
			}
		}
	case *image.RGBA:
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+b.Dx()*4]
			o := out.Pix[y*out.Stride:]
			for x := 0; x < b.Dx(); x++ {
				p := row[x*4 : x*4+4 : x*4+4]
				r, g, bl := uint32(p[0]), uint32(p[1]), uint32(p[2])
				if a := uint32(p[3]); a != 0xff && a != 0 {
					// Undo premultiplication so that alpha is ignored as PIL does.
					r, g, bl = min(r*0xff/a, 0xff), min(g*0xff/a, 0xff), min(bl*0xff/a, 0xff)
				}
				o[x] = luma(r, g, bl)
			}
		}
	default:
		for y := 0; y < b.Dy(); y++ {
			o := out.Pix[y*out.Stride:]
			for x := 0; x < b.Dx(); x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o[x] = luma(uint32(c.R), uint32(c.G), uint32(c.B))
			}
		}
	}
	return out
}

// Preprocess turns an 8-bit display image into the model's input and writes it into dst, which must hold exactly
// channels×height×width float32 values (one image of an NCHW batch): grey by PIL's luma formula, resized with
// imaging's Linear filter (horizontal then vertical pass, each rounded to 8 bits), x = (v/255 − mean)/std, the
// grey plane replicated to every channel.
func Preprocess(img image.Image, in InputSpec, pre Preprocessing, dst []float32) error {
	plane := in.Height * in.Width
	if in.Channels < 1 || plane < 1 || len(dst) != in.Channels*plane {
		return fmt.Errorf("preprocess: %w: tensor holds %d values, input needs %d×%d×%d", ErrBadImage, len(dst), in.Channels, in.Height, in.Width)
	}
	if img == nil || img.Bounds().Empty() {
		return fmt.Errorf("preprocess: %w: the image is empty", ErrBadImage)
	}
	if len(pre.Mean) == 0 || len(pre.Std) == 0 {
		return fmt.Errorf("preprocess: %w: mean and std are missing", ErrBadImage)
	}
	grey := Luma(img)
	var pix []uint8
	stride, step := 0, 1
	if grey.Bounds().Dx() == in.Width && grey.Bounds().Dy() == in.Height {
		pix, stride = grey.Pix, grey.Stride
	} else {
		r := imaging.Resize(grey, in.Width, in.Height, imaging.Linear)
		pix, stride, step = r.Pix, r.Stride, 4 // NRGBA: every channel equals the grey value
	}
	for c := 0; c < in.Channels; c++ {
		mean, std := pre.Mean[0], pre.Std[0]
		if len(pre.Mean) == in.Channels {
			mean = pre.Mean[c]
		}
		if len(pre.Std) == in.Channels {
			std = pre.Std[c]
		}
		var lut [256]float32
		for v := range lut {
			lut[v] = float32((float64(v)/255 - mean) / std)
		}
		out := dst[c*plane : (c+1)*plane]
		for y := 0; y < in.Height; y++ {
			row := pix[y*stride:]
			o := out[y*in.Width : (y+1)*in.Width]
			for x := range o {
				o[x] = lut[row[x*step]]
			}
		}
	}
	return nil
}

// Softmax returns softmax(logits / temperature) computed in float64 with the maximum subtracted first.
func Softmax(logits []float32, temperature float64) []float64 {
	if temperature <= 0 {
		temperature = 1
	}
	out := make([]float64, len(logits))
	if len(logits) == 0 {
		return out
	}
	maxv := math.Inf(-1)
	for _, l := range logits {
		maxv = math.Max(maxv, float64(l)/temperature)
	}
	var sum float64
	for i, l := range logits {
		out[i] = math.Exp(float64(l)/temperature - maxv)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// Decide picks the predicted class from probabilities: for a binary model the positive class when its
// probability is at least the threshold, else the other class; otherwise the most probable class (first on ties).
// It returns the class index and that class's probability.
func Decide(m *Manifest, probs []float64) (int, float64) {
	if len(probs) == 0 {
		return -1, 0
	}
	if len(probs) == 2 && len(m.Classes) == 2 {
		pos := m.ClassIndex(m.PositiveClass)
		if pos >= 0 {
			if probs[pos] >= m.Threshold {
				return pos, probs[pos]
			}
			return 1 - pos, probs[1-pos]
		}
	}
	best := 0
	for i, p := range probs {
		if p > probs[best] {
			best = i
		}
	}
	return best, probs[best]
}
