package dicomio

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// nativeSyntax reports whether a transfer syntax carries uncompressed (native) pixel data.
func nativeSyntax(ts string) bool {
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflatedLE:
		return true
	}
	return false
}

// sampleBytes is the byte width of one stored sample (0 for 1-bit data).
func (s *Scan) sampleBytes() int { return s.BitsAllocated / 8 }

// storedSamplesPerFrame is the number of samples one native frame stores: YBR_FULL_422 keeps two per pixel.
func (s *Scan) storedSamplesPerFrame() int {
	if s.StoredPhotometric == "YBR_FULL_422" && s.storedSPP == 3 {
		return s.Rows * s.Columns * 2
	}
	return s.Rows * s.Columns * s.storedSPP
}

// locatePixels finds every frame's stored bytes and checks what can be checked without decoding: the pixel data
// length of native frames, the split of encapsulated ones into frames, and that a codec exists for them.
func (s *Scan) locatePixels(top topLevel, bigEndian bool) error {
	native := top.pixelValue != nil
	switch {
	case native && !nativeSyntax(s.TransferSyntax) && s.TransferSyntax != tsEncapsulatedRaw:
		return fmt.Errorf("pixel data is not encapsulated although transfer syntax %s is compressed: %w", tsName(s.TransferSyntax), ErrMalformed)
	case !native && nativeSyntax(s.TransferSyntax):
		return fmt.Errorf("pixel data is encapsulated although transfer syntax %s is uncompressed: %w", tsName(s.TransferSyntax), ErrMalformed)
	}
	px := &frameSource{frames: s.NumFrames}
	if native {
		s.rawBigEndian = bigEndian
		frameSamples := s.storedSamplesPerFrame()
		if s.BitsAllocated == 1 {
			need := (int64(frameSamples)*int64(s.NumFrames) + 7) / 8
			if int64(len(top.pixelValue)) < need {
				return fmt.Errorf("pixel data has %d bytes, %d expected: %w", len(top.pixelValue), need, ErrTruncated)
			}
			px.native = top.pixelValue[:need]
		} else {
			need := int64(frameSamples) * int64(s.sampleBytes()) * int64(s.NumFrames)
			if int64(len(top.pixelValue)) < need {
				return fmt.Errorf("pixel data has %d bytes, %d expected for %d frame(s) of %d×%d: %w", len(top.pixelValue), need, s.NumFrames, s.Columns, s.Rows, ErrTruncated)
			}
			px.native = top.pixelValue[:need]
		}
	} else {
		ts := s.TransferSyntax
		if ts != tsEncapsulatedRaw && ts != tsDeflatedFrames && !codec.Supported(ts) {
			err := codec.Unsupported(ts) // says whether this build leaves the codec out (Windows) or none exists
			return sentenceError{msg: err.Error(), errs: []error{ErrUnsupported, err}}
		}
		groups, err := splitFrames(top, s.NumFrames, ts)
		if err != nil {
			return err
		}
		px.fragments = groups
	}
	s.pixels = px
	s.integral = s.floatPixels == 0 && (s.modalityLUT != nil ||
		s.RescaleSlope == math.Trunc(s.RescaleSlope) && s.RescaleIntercept == math.Trunc(s.RescaleIntercept))
	if s.Photometric == "RGB" && s.StoredPhotometric != "PALETTE COLOR" {
		s.colorMax = float32(uint64(1)<<min(s.BitsStored, 32) - 1)
	}
	return nil
}

// retained is the number of pixel bytes the frames refer to.
func (px *frameSource) retained() int {
	n := len(px.native)
	for _, g := range px.fragments {
		for _, f := range g {
			n += len(f)
		}
	}
	return n
}

// compact copies the pixel bytes out of the file buffer they were sliced from, so that the buffer (the rest of
// a file whose pixel data is a small part of it) can be freed.
func (px *frameSource) compact() {
	if px.native != nil {
		px.native = append([]byte(nil), px.native...)
		return
	}
	block := make([]byte, 0, px.retained())
	for _, g := range px.fragments {
		for k, f := range g {
			at := len(block)
			block = append(block, f...)
			g[k] = block[at:len(block):len(block)]
		}
	}
}

// splitFrames assigns fragments to frames: by the Extended or Basic Offset Table when present, one fragment per
// frame when the counts agree, else by the start-of-image markers of JPEG, JPEG-LS and JPEG 2000. It returns
// each frame's fragment values; they are joined when the frame is decoded.
func splitFrames(top topLevel, frames int, ts string) ([][][]byte, error) {
	frags := top.frags
	if len(frags) == 0 {
		return nil, fmt.Errorf("encapsulated pixel data has no fragments: %w", ErrMalformed)
	}
	values := func(fs []fragment) [][]byte {
		out := make([][]byte, len(fs))
		for i, f := range fs {
			out[i] = f.data
		}
		return out
	}
	if frames == 1 {
		return [][][]byte{values(frags)}, nil
	}
	if offsets := offsetTable(top); len(offsets) == frames {
		out := make([][][]byte, frames)
		for i := range frames {
			lo, hi := offsets[i], uint64(math.MaxUint64)
			if i+1 < frames {
				hi = offsets[i+1]
			}
			var fs []fragment
			for _, f := range frags {
				if uint64(f.offset) >= lo && uint64(f.offset) < hi {
					fs = append(fs, f)
				}
			}
			if len(fs) == 0 {
				return nil, fmt.Errorf("offset table points frame %d at no fragment: %w", i, ErrMalformed)
			}
			out[i] = values(fs)
		}
		return out, nil
	}
	if len(frags) == frames {
		out := make([][][]byte, frames)
		for i, f := range frags {
			out[i] = [][]byte{f.data}
		}
		return out, nil
	}
	var out [][][]byte
	var cur []fragment
	for _, f := range frags {
		if frameStart(f.data) && len(cur) > 0 {
			out = append(out, values(cur))
			cur = nil
		}
		cur = append(cur, f)
	}
	out = append(out, values(cur))
	if len(out) != frames {
		return nil, fmt.Errorf("cannot split %d fragments into %d frames (%s): %w", len(frags), frames, tsName(ts), ErrMalformed)
	}
	return out, nil
}

// offsetTable returns the frame offsets of the Extended Offset Table, else of the Basic Offset Table.
func offsetTable(top topLevel) []uint64 {
	var out []uint64
	if len(top.eot) >= 8 {
		for i := 0; i+8 <= len(top.eot); i += 8 {
			out = append(out, binary.LittleEndian.Uint64(top.eot[i:]))
		}
		return out
	}
	for i := 0; i+4 <= len(top.bot); i += 4 {
		out = append(out, uint64(binary.LittleEndian.Uint32(top.bot[i:])))
	}
	return out
}

// frameStart reports whether a fragment begins a JPEG / JPEG-LS image (SOI) or a JPEG 2000 codestream (SOC SIZ).
func frameStart(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xFF && (b[1] == 0xD8 || (b[1] == 0x4F && b[2] == 0xFF && b[3] == 0x51))
}

// values converts one frame to modality values, samples interleaved, and returns its range.
func (s *Scan) values(rf rawFrame) (vals []float32, lo, hi float32) {
	n := s.Rows * s.Columns
	vals = make([]float32, n*s.SamplesPerPixel)
	s.convert(rf, 0, n, vals, nil)
	lo, hi = valueRange(vals, float32(math.Inf(1)), float32(math.Inf(-1)))
	return vals, lo, hi
}

// valueRange widens [lo, hi] to the values in vals (NaN ignored).
func valueRange(vals []float32, lo, hi float32) (float32, float32) {
	for _, v := range vals {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// convertChunk is how many pixels a streamed conversion handles at a time (even, for YBR_FULL_422 pairs).
const convertChunk = 16384

// eachChunk converts frame rf chunk by chunk, without holding the frame's values, and calls fn with each chunk's
// first pixel and its values (valid until fn returns).
func (s *Scan) eachChunk(rf rawFrame, fn func(first int, vals []float32)) {
	n := s.Rows * s.Columns
	out := make([]float32, min(n, convertChunk)*s.SamplesPerPixel)
	var stored []float32
	for first := 0; first < n; first += convertChunk {
		k := min(convertChunk, n-first)
		vals := out[:k*s.SamplesPerPixel]
		stored = s.convert(rf, first, k, vals, stored)
		fn(first, vals)
	}
}

// convert writes the modality values of the n pixels from pixel first of frame rf into out (n×SamplesPerPixel
// values, samples interleaved): Bits Stored masking and sign extension, planar and YBR_FULL_422 layouts,
// palette and YBR colour, then Modality LUT or rescale. Whole frames and chunks of one go through this same
// code, so that a streamed render equals a render of Frame's values. stored is scratch space for the stored
// samples; the grown scratch is returned. first is even (YBR_FULL_422 keeps pixels in pairs).
func (s *Scan) convert(rf rawFrame, first, n int, out, stored []float32) []float32 {
	// Native frames are as stored; codecs return interleaved samples in the photometric they name.
	native := rf.photometric == ""
	photometric := s.StoredPhotometric
	if !native {
		photometric = rf.photometric
	}
	scratch := func(k int) []float32 {
		if cap(stored) < k {
			stored = make([]float32, k)
		}
		return stored[:k]
	}
	out = out[:n*s.SamplesPerPixel]
	switch {
	case native && photometric == "YBR_FULL_422":
		in := scratch(2 * n) // Y1 Y2 Cb Cr for each pair of pixels
		s.readSamples(rf, 2*first, in)
		expand422(in, out, n)
	case native && s.storedSPP == 3 && s.PlanarConfiguration == 1:
		plane := scratch(n)
		for c := range 3 {
			s.readSamples(rf, c*s.Rows*s.Columns+first, plane)
			for p, v := range plane {
				out[3*p+c] = v
			}
		}
	case photometric == "PALETTE COLOR" && s.storedSPP == 1:
		idx := scratch(n)
		s.readSamples(rf, first, idx)
		for i, v := range idx {
			for c := range 3 {
				out[3*i+c] = float32(s.palette[c].lookup(float64(v)))
			}
		}
		return stored
	default:
		s.readSamples(rf, first*s.storedSPP, out)
	}
	switch {
	case photometric == "YBR_FULL" || photometric == "YBR_FULL_422":
		ybrToRGB(out, float32(uint64(1)<<min(s.BitsStored, 32)-1))
	case s.storedSPP == 3:
	case s.modalityLUT != nil:
		l := s.modalityLUT
		for i, v := range out {
			out[i] = float32(l.lookup(float64(v)))
		}
	case s.RescaleSlope != 1 || s.RescaleIntercept != 0:
		m, b := s.RescaleSlope, s.RescaleIntercept
		for i, v := range out {
			out[i] = float32(float64(v)*m + b)
		}
	}
	return stored
}

// readSamples reads len(out) of a frame's stored samples, from sample first on, masking to Bits Stored and
// sign-extending.
func (s *Scan) readSamples(rf rawFrame, first int, out []float32) {
	d := rf.data
	if s.BitsAllocated != 1 {
		bps := max(s.floatPixels, s.BitsAllocated) / 8
		d = d[first*bps : (first+len(out))*bps]
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if s.rawBigEndian && rf.photometric == "" {
		bo = binary.BigEndian
	}
	shift := uint(s.HighBit + 1 - s.BitsStored)
	mask := uint32(1)<<uint(s.BitsStored) - 1
	if s.BitsStored >= 32 {
		mask = math.MaxUint32
	}
	signed := s.PixelRepresentation == 1
	signBit := uint32(1) << uint(s.BitsStored-1)
	extend := func(u uint32) float32 {
		u = (u >> shift) & mask
		if signed && u&signBit != 0 {
			return float32(int64(u) - int64(mask) - 1)
		}
		return float32(u)
	}
	switch {
	case s.floatPixels == 32:
		for i := range out {
			out[i] = math.Float32frombits(bo.Uint32(d[4*i:]))
		}
	case s.floatPixels == 64:
		for i := range out {
			out[i] = float32(math.Float64frombits(bo.Uint64(d[8*i:])))
		}
	case s.BitsAllocated == 1:
		for i := range out {
			bit := rf.bitOffset + first + i
			out[i] = float32(d[bit>>3] >> uint(bit&7) & 1)
		}
	case s.BitsAllocated == 8:
		for i := range out {
			out[i] = extend(uint32(d[i]))
		}
	case s.BitsAllocated == 16 && s.BitsStored == 16 && bo == binary.LittleEndian:
		if signed {
			for i := range out {
				out[i] = float32(int16(uint16(d[2*i]) | uint16(d[2*i+1])<<8))
			}
		} else {
			for i := range out {
				out[i] = float32(uint16(d[2*i]) | uint16(d[2*i+1])<<8)
			}
		}
	case s.BitsAllocated == 16 && bo == binary.LittleEndian:
		m16, sb := uint16(mask), uint16(signBit)
		for i := range out {
			u := (uint16(d[2*i]) | uint16(d[2*i+1])<<8) >> shift & m16
			if signed && u&sb != 0 {
				out[i] = float32(int32(u) - int32(m16) - 1)
			} else {
				out[i] = float32(u)
			}
		}
	case s.BitsAllocated == 16:
		for i := range out {
			out[i] = extend(uint32(bo.Uint16(d[2*i:])))
		}
	case s.BitsAllocated == 32:
		for i := range out {
			out[i] = extend(bo.Uint32(d[4*i:]))
		}
	}
}

// expand422 turns the Y1 Y2 Cb Cr quadruples of in into full YCbCr pixels in out (pixels of them; the last of an
// odd number has no pair and stays 0, as pydicom leaves it).
func expand422(in, out []float32, pixels int) {
	clear(out)
	for p := 0; p+1 < pixels && 2*p+3 < len(in); p += 2 {
		q := in[2*p : 2*p+4]
		o := out[3*p : 3*p+6]
		o[0], o[1], o[2] = q[0], q[2], q[3]
		o[3], o[4], o[5] = q[1], q[2], q[3]
	}
}

// ybrToRGB converts YCbCr (YBR_FULL, PS3.3 C.7.6.3.1.2) to RGB in place; full is the largest sample value.
func ybrToRGB(px []float32, full float32) {
	half := (full + 1) / 2
	clamp := func(v float32) float32 {
		return float32(math.Round(float64(min(max(v, 0), full))))
	}
	for i := 0; i+2 < len(px); i += 3 {
		y, cb, cr := px[i], px[i+1]-half, px[i+2]-half
		px[i] = clamp(y + 1.402*cr)
		px[i+1] = clamp(y - 0.344136*cb - 0.714136*cr)
		px[i+2] = clamp(y + 1.772*cb)
	}
}

// lookup maps an input value through the LUT, clamping below the first and above the last entry.
func (l *LUT) lookup(v float64) float64 {
	if len(l.Data) == 0 {
		return v
	}
	i := int(math.Floor(v)) - l.FirstMapped
	if i < 0 || math.IsNaN(v) {
		i = 0
	}
	if i >= len(l.Data) {
		i = len(l.Data) - 1
	}
	return float64(l.Data[i])
}
