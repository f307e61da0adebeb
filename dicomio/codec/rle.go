package codec

import (
	"encoding/binary"
	"fmt"
)

// tsRLE is RLE Lossless (DICOM PS3.5 Annex G).
const tsRLE = "1.2.840.10008.1.2.5"

func init() { decoders[tsRLE] = decodeRLE }

// decodeRLE decodes one RLE Lossless frame: a 64-byte header with the segment count and offsets, then one
// PackBits segment per byte plane, most significant byte of each sample first, samples in order (PS3.5 G.2).
// Bits Allocated 1 is decoded as one packed bit plane (first pixel in the least significant bit) and returned one
// byte per pixel, the width FrameSize declares.
func decodeRLE(data []byte, p Params) (Frame, error) {
	if p.BitsAllocated != 1 && p.BitsAllocated != 8 && p.BitsAllocated != 16 && p.BitsAllocated != 32 {
		return Frame{}, fmt.Errorf("rle: %d bits allocated is not 1, 8, 16 or 32: %w", p.BitsAllocated, ErrCorrupt)
	}
	if len(data) < 64 {
		return Frame{}, fmt.Errorf("rle: header is %d bytes, want 64: %w", len(data), ErrCorrupt)
	}
	bytesPerSample := p.BitsAllocated / 8
	if p.BitsAllocated == 1 {
		bytesPerSample = 1
	}
	want := p.SamplesPerPixel * bytesPerSample
	nseg := int(binary.LittleEndian.Uint32(data))
	if nseg != want || nseg > 15 {
		return Frame{}, fmt.Errorf("rle: header lists %d segments, the frame needs %d: %w", nseg, want, ErrCorrupt)
	}
	var offsets [16]int
	for i := 0; i < nseg; i++ {
		offsets[i] = int(binary.LittleEndian.Uint32(data[4+4*i:]))
		if offsets[i] < 64 || offsets[i] > len(data) || (i > 0 && offsets[i] < offsets[i-1]) {
			return Frame{}, fmt.Errorf("rle: segment %d offset %d is outside the %d-byte frame: %w", i+1, offsets[i], len(data), ErrCorrupt)
		}
	}
	offsets[nseg] = len(data)

	pixels := p.Rows * p.Columns
	planeLen := pixels
	if p.BitsAllocated == 1 {
		planeLen = (pixels + 7) / 8
	}
	out := make([]byte, p.FrameSize())
	plane := make([]byte, planeLen)
	for s := 0; s < p.SamplesPerPixel; s++ {
		for b := 0; b < bytesPerSample; b++ {
			seg := s*bytesPerSample + b
			if err := unpackBits(plane, data[offsets[seg]:offsets[seg+1]]); err != nil {
				return Frame{}, fmt.Errorf("rle: segment %d: %w", seg+1, err)
			}
			if p.BitsAllocated == 1 {
				for i := 0; i < pixels; i++ {
					out[i] = plane[i>>3] >> (i & 7) & 1
				}
				continue
			}
			// Segment b holds byte (bytesPerSample-1-b) of each little-endian sample.
			stride := p.SamplesPerPixel * bytesPerSample
			pos := s*bytesPerSample + bytesPerSample - 1 - b
			for _, v := range plane {
				out[pos] = v
				pos += stride
			}
		}
	}
	return Frame{Data: out, Photometric: p.Photometric}, nil
}

// unpackBits fills dst from one PackBits segment. Encoders may pad a segment to even length, so input left over
// once dst is full is ignored; a segment that ends before dst is full is an error.
func unpackBits(dst, src []byte) error {
	n, i := 0, 0
	for n < len(dst) {
		if i >= len(src) {
			return fmt.Errorf("segment ends after %d of %d bytes: %w", n, len(dst), ErrTruncated)
		}
		h := int(int8(src[i]))
		i++
		switch {
		case h >= 0:
			count := h + 1
			if i+count > len(src) {
				return fmt.Errorf("literal run of %d bytes passes the end of the segment: %w", count, ErrTruncated)
			}
			if n+count > len(dst) {
				return fmt.Errorf("literal run of %d bytes overflows the %d-byte plane: %w", count, len(dst), ErrCorrupt)
			}
			copy(dst[n:], src[i:i+count])
			n += count
			i += count
		case h != -128:
			count := 1 - h
			if i >= len(src) {
				return fmt.Errorf("replicate run has no byte to repeat: %w", ErrTruncated)
			}
			if n+count > len(dst) {
				return fmt.Errorf("replicate run of %d bytes overflows the %d-byte plane: %w", count, len(dst), ErrCorrupt)
			}
			v := src[i]
			i++
			for k := n; k < n+count; k++ {
				dst[k] = v
			}
			n += count
		}
	}
	return nil
}
