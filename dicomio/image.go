package dicomio

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// decodeImage turns a PNG or JPEG into a Scan of modality "OT": grey images keep one sample (8 or 16 bits),
// everything else becomes RGB (alpha ignored, as PIL's "L" conversion ignores it).
func decodeImage(buf []byte, format Format, o options) (*Scan, error) {
	var cfg image.Config
	var err error
	if format == FormatPNG {
		cfg, err = png.DecodeConfig(bytes.NewReader(buf))
	} else {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(buf))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s header: %v: %w", format, err, ErrMalformed)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s has invalid dimensions %d×%d: %w", format, cfg.Width, cfg.Height, ErrMalformed)
	}
	if cfg.Width > MaxDimension || cfg.Height > MaxDimension || int64(cfg.Width)*int64(cfg.Height)*3 > MaxSamples {
		return nil, fmt.Errorf("%s is %d×%d, beyond the size limits: %w", format, cfg.Width, cfg.Height, ErrTooLarge)
	}
	// Deflate expands at most ~1032:1 and baseline JPEG needs some bits per 8×8 block, so a header that
	// promises far more pixels than the file could carry is refused before the decoder allocates them.
	if pixels := int64(cfg.Width) * int64(cfg.Height); pixels > 64*1024+2048*int64(len(buf)) {
		return nil, fmt.Errorf("%s header promises %d×%d pixels, more than a %d-byte file can hold: %w", format, cfg.Width, cfg.Height, len(buf), ErrTruncated)
	}
	s := &Scan{Format: format, Rows: cfg.Height, Columns: cfg.Width, NumFrames: 1, RescaleSlope: 1}
	s.Meta.Modality = "OT"
	grey, bits := colourModel(cfg.ColorModel)
	s.SamplesPerPixel, s.BitsAllocated, s.BitsStored, s.HighBit = 3, bits, bits, bits-1
	s.Photometric, s.StoredPhotometric = "RGB", "RGB"
	if grey {
		s.SamplesPerPixel = 1
		s.Photometric, s.StoredPhotometric = "MONOCHROME2", "MONOCHROME2"
	}
	s.storedSPP = s.SamplesPerPixel
	full := float64(uint32(1)<<bits - 1)
	s.colorMax = float32(full)
	// The identity window: v/full, so that an 8-bit image renders to exactly its own grey levels.
	s.Windows = []Window{{Name: "full range", Center: full / 2, Width: full, Function: VOILinearExact}}
	if o.metadataOnly {
		return s, nil
	}
	var vals []float32
	var raw []byte
	if format == FormatJPEG {
		vals, raw = jpegLikeLibjpeg(buf, s)
	}
	if vals == nil {
		var img image.Image
		if format == FormatPNG {
			img, err = png.Decode(bytes.NewReader(buf))
		} else {
			img, err = jpeg.Decode(bytes.NewReader(buf))
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %v: %w", format, err, ErrMalformed)
		}
		vals, raw = imageSamples(img, s.SamplesPerPixel, bits)
	}
	// Samples lie in [0, full]: start from the empty range there (plain comparisons; the min and max builtins,
	// which order NaN and signed zeros, took half of opening a 224×224 JPEG).
	lo, hi := valueRange(vals, float32(full), 0)
	s.integral = true
	s.pixels = imageFrame(vals, lo, hi, rawFrame{data: raw, photometric: s.StoredPhotometric})
	return s, nil
}

// colourModel says whether an image is grey and how many bits its samples have.
func colourModel(m color.Model) (grey bool, bits int) {
	switch m {
	case color.GrayModel:
		return true, 8
	case color.Gray16Model:
		return true, 16
	case color.RGBA64Model, color.NRGBA64Model:
		return false, 16
	}
	return false, 8
}

// imageSamples extracts the samples as float32 values and as little-endian stored bytes.
func imageSamples(img image.Image, spp, bits int) ([]float32, []byte) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := w * h * spp
	vals := make([]float32, n)
	bps := bits / 8
	raw := make([]byte, n*bps)
	put := func(i int, v uint32) {
		vals[i] = float32(v)
		if bps == 1 {
			raw[i] = byte(v)
		} else {
			raw[2*i], raw[2*i+1] = byte(v), byte(v>>8)
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				put(y*w+x, uint32(v))
			}
		}
		return vals, raw
	case *image.Gray16:
		for y := range h {
			for x := range w {
				o := y*m.Stride + 2*x
				put(y*w+x, uint32(m.Pix[o])<<8|uint32(m.Pix[o+1]))
			}
		}
		return vals, raw
	case *image.NRGBA:
		// Most CT PNGs are RGBA: one pass over re-sliced rows, without put's per-sample width test.
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			v, r := vals[3*w*y:3*w*(y+1)], raw[3*w*y:3*w*(y+1)]
			for x := range w {
				p, vp, rp := row[4*x:4*x+3:4*x+3], v[3*x:3*x+3:3*x+3], r[3*x:3*x+3:3*x+3]
				rp[0], rp[1], rp[2] = p[0], p[1], p[2]
				vp[0], vp[1], vp[2] = float32(p[0]), float32(p[1]), float32(p[2])
			}
		}
		return vals, raw
	case *image.YCbCr:
		if bits == 8 && spp == 3 {
			for y := range h {
				for x := range w {
					yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
					r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
					i := 3 * (y*w + x)
					put(i, uint32(r))
					put(i+1, uint32(g))
					put(i+2, uint32(bl))
				}
			}
			return vals, raw
		}
	case *image.NRGBA64:
		for y := range h {
			for x := range w {
				o := y*m.Stride + 8*x
				i := 3 * (y*w + x)
				for c := range 3 {
					put(i+c, uint32(m.Pix[o+2*c])<<8|uint32(m.Pix[o+2*c+1]))
				}
			}
		}
		return vals, raw
	}
	// Everything else (YCbCr JPEG, paletted and opaque RGBA PNG, CMYK JPEG) through the colour model; for
	// opaque images premultiplied and straight values agree.
	for y := range h {
		for x := range w {
			i := (y*w + x) * spp
			if spp == 1 {
				g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				put(i, uint32(g.Y))
				continue
			}
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			if bits == 16 {
				c16 := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				put(i, uint32(c16.R))
				put(i+1, uint32(c16.G))
				put(i+2, uint32(c16.B))
				continue
			}
			put(i, uint32(c.R))
			put(i+1, uint32(c.G))
			put(i+2, uint32(c.B))
		}
	}
	return vals, raw
}

// jpegLikeLibjpeg decodes an 8-bit JPEG exactly as PIL does, which the models were trained on (see
// codec.DecodeJPEGFile: libjpeg-turbo where linked, else package codec's DCT decoder, which reproduces IJG libjpeg's
// islow IDCT, fancy upsampling and YCbCr → RGB); Go's image/jpeg differs by one grey level on about 1 % of pixels.
// It returns nil when both decline (progressive without libjpeg-turbo, CMYK, …), and image/jpeg takes over.
func jpegLikeLibjpeg(buf []byte, s *Scan) ([]float32, []byte) {
	raw, err := codec.DecodeJPEGFile(buf, s.Columns, s.Rows, s.SamplesPerPixel)
	if err != nil {
		return nil, nil
	}
	vals := make([]float32, len(raw))
	for i, b := range raw {
		vals[i] = float32(b)
	}
	return vals, raw
}
