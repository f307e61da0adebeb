package inference

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
)

// Luma converts an 8-bit display image to grey with PIL's "L" formula (19595 R + 38470 G + 7471 B + 0x8000) >> 16
// on the non-premultiplied colour; alpha is ignored. A *image.Gray is returned as it is.
func Luma(img image.Image) *image.Gray {
	if c, ok := img.(*carried); ok {
		img = c.Image
	}
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		lumaRow(out.Pix[y*out.Stride:y*out.Stride+b.Dx()], img, y)
	}
	return out
}

// lumaRow writes row y (counted from the top of img's bounds) of Luma(img) into dst, which holds one row. The RGBA
// and NRGBA loops work on re-sliced rows so that the compiler drops their bounds checks: every colour JPEG
// `classify` reads comes through here.
func lumaRow(dst []uint8, img image.Image, y int) {
	luma := func(r, g, bl uint32) uint8 { return uint8((19595*r + 38470*g + 7471*bl + 0x8000) >> 16) }
	b := img.Bounds()
	w := len(dst)
	switch src := img.(type) {
	case *image.Gray:
		i := src.PixOffset(b.Min.X, b.Min.Y+y)
		copy(dst, src.Pix[i:i+w])
	case *image.NRGBA:
		i := src.PixOffset(b.Min.X, b.Min.Y+y)
		row := src.Pix[i : i+4*w]
		for x := range dst {
			p := row[4*x : 4*x+4 : 4*x+4]
			dst[x] = luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))
		}
	case *image.RGBA:
		i := src.PixOffset(b.Min.X, b.Min.Y+y)
		row := src.Pix[i : i+4*w]
		for x := range dst {
			p := row[4*x : 4*x+4 : 4*x+4]
			r, g, bl := uint32(p[0]), uint32(p[1]), uint32(p[2])
			if a := uint32(p[3]); a != 0xff && a != 0 {
				// Undo premultiplication so that alpha is ignored as PIL does.
				r, g, bl = min(r*0xff/a, 0xff), min(g*0xff/a, 0xff), min(bl*0xff/a, 0xff)
			}
			dst[x] = luma(r, g, bl)
		}
	default:
		for x := range dst {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			dst[x] = luma(uint32(c.R), uint32(c.G), uint32(c.B))
		}
	}
}

// ModelImage is the grey image at the model's input size that Preprocess normalises: img through Luma and
// ResizeLinear. Preprocess(ModelImage(img, in), …) gives exactly what Preprocess(img, …) gives, so a batch can
// make it on its decode workers and leave only the normalisation to the goroutine that runs the model. An image
// from WithModelImage whose grey image has the input's size returns that image.
func ModelImage(img image.Image, in InputSpec) *image.Gray {
	if c, ok := img.(*carried); ok {
		if b := c.grey.Bounds(); b.Dx() == in.Width && b.Dy() == in.Height {
			return c.grey
		}
		img = c.Image
	}
	b := img.Bounds()
	if _, grey := img.(*image.Gray); grey || b.Dx() == in.Width {
		return ResizeLinear(Luma(img), in.Width, in.Height)
	}
	// Colour to be resized across: grey each row into one buffer as the horizontal pass reads it, instead of
	// making the whole grey image first (the same values, in one pass and without its allocation).
	buf := make([]uint8, b.Dx())
	return resizeRows(func(y int) []uint8 { lumaRow(buf, img, y); return buf }, b.Dx(), b.Dy(), in.Width, in.Height)
}

// WithModelImage returns img carrying grey, which must be ModelImage(img, in) for some input in: Preprocess (and
// ModelImage) for a model with that input size then normalise grey instead of making it again, while the image
// itself — its Bounds, its pixels — is img. So the image that a decode worker rendered and made grey once can be
// handed to several models of one input size (the gate and the classifier it routes to), and an Engine that
// looks at the display image still sees it.
func WithModelImage(img image.Image, grey *image.Gray) image.Image {
	if c, ok := img.(*carried); ok {
		img = c.Image
	}
	return &carried{Image: img, grey: grey}
}

// carried is an image with its model image (WithModelImage).
type carried struct {
	image.Image
	grey *image.Gray
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

// passTaps are one resampling pass's taps: for destination index x, k source indices idx[x·k:(x+1)·k] with their
// alpha-weighted weights aw (255·w), and 1/Σ(255·w) (0 for an index no tap reaches), the summed alpha accumulated
// in tap order exactly as imaging's passes do. Every index has k taps: those beyond its own are padded with weight
// +0, which adds exactly nothing to a sum of non-negative products, so a pass may sum several indices side by side.
type passTaps struct {
	k   int
	idx []int32
	aw  []float64
	inv []float64
}

// tapsFor returns the taps of a pass from srcLen to dstLen samples, cached: a batch meets a few sizes many times.
func tapsFor(dstLen, srcLen int) *passTaps {
	key := [2]int{dstLen, srcLen}
	tapCache.mu.Lock()
	t, ok := tapCache.m[key]
	tapCache.mu.Unlock()
	if ok {
		return t
	}
	idx, w, start := linearWeights(dstLen, srcLen)
	t = &passTaps{inv: make([]float64, dstLen)}
	for x := range dstLen {
		t.k = max(t.k, start[x+1]-start[x])
	}
	t.idx, t.aw = make([]int32, dstLen*t.k), make([]float64, dstLen*t.k)
	for x := range dstLen {
		var a float64
		for j, i := 0, start[x]; i < start[x+1]; j, i = j+1, i+1 {
			t.idx[x*t.k+j], t.aw[x*t.k+j] = idx[i], 255*w[i]
			a += t.aw[x*t.k+j]
		}
		for j := start[x+1] - start[x]; j < t.k; j++ {
			t.idx[x*t.k+j] = t.idx[x*t.k] // weight 0: any index in range
		}
		if a != 0 {
			t.inv[x] = 1 / a
		}
	}
	tapCache.mu.Lock()
	if len(tapCache.m) >= maxCachedTaps {
		clear(tapCache.m) // a long session of many sizes starts over rather than grow
	}
	tapCache.m[key] = t
	tapCache.mu.Unlock()
	return t
}

// maxCachedTaps bounds tapCache. A batch of one scanner's files meets a size or two; a folder of every kind meets
// hundreds, and a pass's taps take up to a hundred kilobytes (a 3340-pixel side to 128: 53 taps of 12 bytes for
// each of 128 pixels), so the cache starts over rather than hold them all.
const maxCachedTaps = 16

var tapCache = struct {
	mu sync.Mutex
	m  map[[2]int]*passTaps
}{m: map[[2]int]*passTaps{}}

// ResizeLinear resizes a grey image to width×height with results identical to
// imaging.Resize(img, width, height, imaging.Linear) (v1.6.2) but on one channel: horizontal pass, then vertical
// pass, each sample weighted by alpha (255·w), each sum accumulated in the same order, divided by the summed alpha
// and rounded to 8 bits; an image already that size is returned as it is.
func ResizeLinear(img *image.Gray, width, height int) *image.Gray {
	b := img.Bounds()
	if b.Dx() == width && b.Dy() == height {
		return img
	}
	return resizeRows(func(y int) []uint8 {
		i := img.PixOffset(b.Min.X, b.Min.Y+y)
		return img.Pix[i : i+b.Dx()]
	}, b.Dx(), b.Dy(), width, height)
}

// resizeRows is ResizeLinear of the sw×sh grey image whose row y row(y) returns (valid until the next call).
//
// The horizontal pass sums four destination pixels side by side: one pixel's sum is a chain of dependent
// additions, so four chains keep the processor busy where one leaves it waiting (each pixel still adds its own
// taps in imaging's order). The vertical pass goes row by row for the same reason.
func resizeRows(row func(y int) []uint8, sw, sh, width, height int) *image.Gray {
	src := image.NewGray(image.Rect(0, 0, width, sh))
	if sw == width {
		for y := range sh {
			copy(src.Pix[y*src.Stride:y*src.Stride+width], row(y))
		}
	} else {
		t := tapsFor(width, sw)
		k := t.k
		for y := range sh {
			in := row(y)[:sw]
			out := src.Pix[y*src.Stride : y*src.Stride+width]
			x := 0
			for ; x+4 <= width; x += 4 {
				i0, i1, i2, i3 := t.idx[x*k:x*k+k], t.idx[(x+1)*k:(x+1)*k+k], t.idx[(x+2)*k:(x+2)*k+k], t.idx[(x+3)*k:(x+3)*k+k]
				w0, w1, w2, w3 := t.aw[x*k:x*k+k], t.aw[(x+1)*k:(x+1)*k+k], t.aw[(x+2)*k:(x+2)*k+k], t.aw[(x+3)*k:(x+3)*k+k]
				i1, i2, i3, w0, w1, w2, w3 = i1[:len(i0)], i2[:len(i0)], i3[:len(i0)], w0[:len(i0)], w1[:len(i0)], w2[:len(i0)], w3[:len(i0)]
				var r0, r1, r2, r3 float64
				for j, s0 := range i0 {
					r0 += float64(in[s0]) * w0[j]
					r1 += float64(in[i1[j]]) * w1[j]
					r2 += float64(in[i2[j]]) * w2[j]
					r3 += float64(in[i3[j]]) * w3[j]
				}
				o := out[x : x+4 : x+4]
				inv := t.inv[x : x+4 : x+4]
				o[0], o[1], o[2], o[3] = clampRound(r0*inv[0]), clampRound(r1*inv[1]), clampRound(r2*inv[2]), clampRound(r3*inv[3])
			}
			for ; x < width; x++ {
				var r float64
				ws := t.aw[x*k : x*k+k]
				for j, s := range t.idx[x*k : x*k+k] {
					r += float64(in[s]) * ws[j]
				}
				out[x] = clampRound(r * t.inv[x])
			}
		}
	}
	if sh == height {
		return src
	}
	dst := image.NewGray(image.Rect(0, 0, width, height))
	t := tapsFor(height, sh)
	acc := make([]float64, width)
	for y := range height {
		if t.inv[y] == 0 {
			continue
		}
		clear(acc)
		// Row by row rather than column by column: each pixel still adds its taps in the same order.
		ws := t.aw[y*t.k : y*t.k+t.k]
		for j, s := range t.idx[y*t.k : y*t.k+t.k] {
			if ws[j] == 0 {
				break // padding
			}
			in := src.Pix[int(s)*src.Stride : int(s)*src.Stride+width]
			in = in[:len(acc)]
			wk := ws[j]
			for x, v := range in {
				acc[x] += float64(v) * wk
			}
		}
		out := dst.Pix[y*dst.Stride : y*dst.Stride+width]
		out = out[:len(acc)]
		for x, a := range acc {
			out[x] = clampRound(a * t.inv[y])
		}
	}
	return dst
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
