package inference

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Luma converts an 8-bit display image to grey with PIL's "L" formula (19595 R + 38470 G + 7471 B + 0x8000) >> 16
// on the non-premultiplied colour; alpha is ignored. A *image.Gray is returned as it is. The RGBA and NRGBA loops
// work on re-sliced rows so that the compiler drops their bounds checks: every colour JPEG `classify` reads comes
// through here.
func Luma(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	luma := func(r, g, bl uint32) uint8 { return uint8((19595*r + 38470*g + 7471*bl + 0x8000) >> 16) }
	switch src := img.(type) {
	case *image.NRGBA:
		for y := range h {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			o := out.Pix[y*out.Stride : y*out.Stride+w]
			for x := range o {
				p := row[4*x : 4*x+4 : 4*x+4]
				o[x] = luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))
			}
		}
	case *image.RGBA:
		for y := range h {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			o := out.Pix[y*out.Stride : y*out.Stride+w]
			for x := range o {
				p := row[4*x : 4*x+4 : 4*x+4]
				r, g, bl := uint32(p[0]), uint32(p[1]), uint32(p[2])
				if a := uint32(p[3]); a != 0xff && a != 0 {
					// Undo premultiplication so that alpha is ignored as PIL does.
					r, g, bl = min(r*0xff/a, 0xff), min(g*0xff/a, 0xff), min(bl*0xff/a, 0xff)
				}
				o[x] = luma(r, g, bl)
			}
		}
	default:
		for y := range h {
			o := out.Pix[y*out.Stride:]
			for x := range w {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				o[x] = luma(uint32(c.R), uint32(c.G), uint32(c.B))
			}
		}
	}
	return out
}

// ModelImage is the grey image at the model's input size that Preprocess normalises: img through Luma and
// ResizeLinear. Preprocess(ModelImage(img, in), …) gives exactly what Preprocess(img, …) gives, so a batch can
// make it on its decode workers and leave only the normalisation to the goroutine that runs the model.
func ModelImage(img image.Image, in InputSpec) *image.Gray {
	return ResizeLinear(Luma(img), in.Width, in.Height)
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
	grey := ModelImage(img, in)
	pix, stride := grey.Pix, grey.Stride
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
				o[x] = lut[row[x]]
			}
		}
	}
	return nil
}

// linearWeights is imaging v1.6.2's precomputeWeights for its Linear filter (support 1): for each destination
// index, the source indices and normalised weights, computed with the same float64 operations in the same order.
func linearWeights(dst, src int) (idx []int32, w []float64, start []int) {
	du := float64(src) / float64(dst)
	scale := math.Max(du, 1)
	ru := math.Ceil(scale)
	start = make([]int, dst+1)
	for v := 0; v < dst; v++ {
		fu := (float64(v)+0.5)*du - 0.5
		begin := max(int(math.Ceil(fu-ru)), 0)
		end := min(int(math.Floor(fu+ru)), src-1)
		first := len(w)
		var sum float64
		for u := begin; u <= end; u++ {
			x := math.Abs((float64(u) - fu) / scale)
			if x < 1 && 1-x != 0 {
				sum += 1 - x
				idx = append(idx, int32(u))
				w = append(w, 1-x)
			}
		}
		if sum != 0 {
			for i := first; i < len(w); i++ {
				w[i] /= sum
			}
		}
		start[v+1] = len(w)
	}
	return idx, w, start
}

// clampRound is imaging's clamp: round half up by int64(x + 0.5), limited to 0 … 255.
func clampRound(x float64) uint8 {
	v := int64(x + 0.5)
	if v > 255 {
		return 255
	}
	if v > 0 {
		return uint8(v)
	}
	return 0
}

// passWeights returns, per destination index, the taps (source index, alpha-weighted weight 255·w) and 1/Σ(255·w),
// the summed alpha accumulated in tap order exactly as imaging's passes do.
func passWeights(dstLen, srcLen int) (idx []int32, aw []float64, start []int, inv []float64) {
	idx, w, start := linearWeights(dstLen, srcLen)
	aw = make([]float64, len(w))
	for i := range w {
		aw[i] = 255 * w[i]
	}
	inv = make([]float64, dstLen)
	for x := range inv {
		var a float64
		for k := start[x]; k < start[x+1]; k++ {
			a += aw[k]
		}
		if a != 0 {
			inv[x] = 1 / a
		}
	}
	return idx, aw, start, inv
}

// ResizeLinear resizes a grey image to width×height with results identical to
// imaging.Resize(img, width, height, imaging.Linear) (v1.6.2) but on one channel: horizontal pass, then vertical
// pass, each sample weighted by alpha (255·w), each sum accumulated in the same order, divided by the summed alpha
// and rounded to 8 bits; an image already that size is returned as it is. The loops run over re-sliced taps and
// rows so that the compiler drops most bounds checks; the floating-point operations and their order are imaging's.
func ResizeLinear(img *image.Gray, width, height int) *image.Gray {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw == width && sh == height {
		return img
	}
	src := img
	if sw != width {
		tmp := image.NewGray(image.Rect(0, 0, width, sh))
		idx, aw, start, inv := passWeights(width, sw)
		for y := range sh {
			row := src.Pix[y*src.Stride : y*src.Stride+sw]
			out := tmp.Pix[y*tmp.Stride : y*tmp.Stride+width]
			for x := range out {
				if inv[x] == 0 {
					continue
				}
				taps := idx[start[x]:start[x+1]]
				ws := aw[start[x]:start[x+1]]
				ws = ws[:len(taps)]
				var r float64
				for k, i := range taps {
					r += float64(row[i]) * ws[k]
				}
				out[x] = clampRound(r * inv[x])
			}
		}
		src = tmp
	}
	if sh != height {
		tmp := image.NewGray(image.Rect(0, 0, width, height))
		idx, aw, start, inv := passWeights(height, sh)
		acc := make([]float64, width)
		for y := range height {
			if inv[y] == 0 {
				continue
			}
			clear(acc)
			// Row by row rather than column by column: each pixel still adds its taps in the same order.
			for k := start[y]; k < start[y+1]; k++ {
				row := src.Pix[int(idx[k])*src.Stride : int(idx[k])*src.Stride+width]
				row = row[:len(acc)]
				wk := aw[k]
				for x, v := range row {
					acc[x] += float64(v) * wk
				}
			}
			out := tmp.Pix[y*tmp.Stride : y*tmp.Stride+width]
			out = out[:len(acc)]
			for x, a := range acc {
				out[x] = clampRound(a * inv[y])
			}
		}
		src = tmp
	}
	return src
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
