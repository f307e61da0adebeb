package codec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// tsJPEGBaselineUID is JPEG Baseline (Process 1): 8-bit lossy DCT, decoded with the standard library.
const tsJPEGBaselineUID = "1.2.840.10008.1.2.4.50"

func init() {
	decoders[tsJPEGBaselineUID] = decodeJPEGBaseline
}

// decodeJPEGBaseline decodes an 8-bit baseline JPEG frame. Grey stays grey; colour comes back as interleaved
// RGB whatever the stream's own colour space (YCbCr by JFIF default, RGB when an Adobe marker or component ids
// say so), since the standard library already makes that decision.
func decodeJPEGBaseline(data []byte, p Params) (Frame, error) {
	if p.BitsAllocated != 8 {
		return Frame{}, fmt.Errorf("jpeg baseline: %d bits allocated, baseline JPEG is 8-bit: %w", p.BitsAllocated, ErrMismatch)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Frame{}, fmt.Errorf("jpeg baseline: %v: %w", err, ErrCorrupt)
	}
	if cfg.Width != p.Columns || cfg.Height != p.Rows {
		return Frame{}, fmt.Errorf("jpeg baseline: stream is %d×%d but the dataset says %d×%d: %w", cfg.Width, cfg.Height, p.Columns, p.Rows, ErrMismatch)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return Frame{}, fmt.Errorf("jpeg baseline: %v: %w", err, ErrCorrupt)
	}
	w, h := p.Columns, p.Rows
	switch m := img.(type) {
	case *image.Gray:
		if p.SamplesPerPixel != 1 {
			return Frame{}, fmt.Errorf("jpeg baseline: grey stream for a %d-sample image: %w", p.SamplesPerPixel, ErrMismatch)
		}
		out := make([]byte, w*h)
		for y := range h {
			copy(out[y*w:(y+1)*w], m.Pix[y*m.Stride:])
		}
		return Frame{Data: out, Photometric: monochrome(p.Photometric)}, nil
	case *image.YCbCr:
		if p.SamplesPerPixel != 3 {
			return Frame{}, fmt.Errorf("jpeg baseline: colour stream for a %d-sample image: %w", p.SamplesPerPixel, ErrMismatch)
		}
		out := make([]byte, w*h*3)
		for y := range h {
			for x := range w {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := 3 * (y*w + x)
				out[o], out[o+1], out[o+2] = r, g, b
			}
		}
		return Frame{Data: out, Photometric: "RGB"}, nil
	case *image.RGBA:
		if p.SamplesPerPixel != 3 {
			return Frame{}, fmt.Errorf("jpeg baseline: colour stream for a %d-sample image: %w", p.SamplesPerPixel, ErrMismatch)
		}
		out := make([]byte, w*h*3)
		for y := range h {
			for x := range w {
				i, o := y*m.Stride+4*x, 3*(y*w+x)
				out[o], out[o+1], out[o+2] = m.Pix[i], m.Pix[i+1], m.Pix[i+2]
			}
		}
		return Frame{Data: out, Photometric: "RGB"}, nil
	}
	return Frame{}, fmt.Errorf("jpeg baseline: %T images (CMYK) are not supported in DICOM: %w", img, ErrCorrupt)
}

// monochrome keeps a grey frame's declared interpretation (MONOCHROME1 stays inverted for display).
func monochrome(declared string) string {
	if declared == "MONOCHROME1" {
		return declared
	}
	return "MONOCHROME2"
}
