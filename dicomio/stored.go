package dicomio

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Stored returns frame i's stored values as pydicom 2.3's Dataset.pixel_array gives them for that frame: no
// Bits Stored masking, no rescale, no colour conversion (YBR stays YBR, PALETTE COLOR stays indices),
// YBR_FULL_422 expanded to three samples, planar configuration 1 interleaved, 1-bit data unpacked to uint8,
// big endian files in big endian. For compressed files it is the codec's output.
// A compressed frame is decoded here unless it is among the frames the Scan keeps decoded, and can fail here
// (see Frame).
func (s *Scan) Stored(i int) (StoredFrame, error) {
	rf, err := s.storedFrame(i)
	if err != nil {
		return StoredFrame{}, err
	}
	shape := []int{s.Rows, s.Columns}
	if s.storedSPP > 1 {
		shape = append(shape, s.storedSPP)
	}
	pixels := s.Rows * s.Columns
	if s.BitsAllocated == 1 {
		n := pixels * s.storedSPP
		out := make([]byte, n)
		for j := range out {
			bit := rf.bitOffset + j
			out[j] = rf.data[bit>>3] >> uint(bit&7) & 1
		}
		return StoredFrame{Dtype: "|u1", Shape: shape, Data: out}, nil
	}
	bps := s.sampleBytes()
	native := rf.photometric == ""
	data := rf.data
	if native && s.StoredPhotometric == "YBR_FULL_422" && s.storedSPP == 3 {
		out := make([]byte, pixels*3*bps)
		for p := 0; p+1 < pixels; p += 2 {
			q := data[2*p*bps : (2*p+4)*bps]
			o := out[3*p*bps : (3*p+6)*bps]
			for k, src := range []int{0, 2, 3, 1, 2, 3} {
				copy(o[k*bps:(k+1)*bps], q[src*bps:(src+1)*bps])
			}
		}
		data = out
	} else if native && s.storedSPP == 3 && s.PlanarConfiguration == 1 {
		out := make([]byte, len(data))
		for c := range 3 {
			for p := range pixels {
				copy(out[(3*p+c)*bps:(3*p+c+1)*bps], data[(c*pixels+p)*bps:(c*pixels+p+1)*bps])
			}
		}
		data = out
	} else {
		data = append([]byte(nil), data...)
	}
	return StoredFrame{Dtype: s.dtype(native), Shape: shape, Data: data}, nil
}

// StoredAll returns every frame as pydicom's pixel_array gives the whole file: (frames, …) in front of the
// shape when the file has more than one frame.
func (s *Scan) StoredAll() (StoredFrame, error) {
	first, err := s.Stored(0)
	if err != nil || s.pixels.frames == 1 {
		return first, err
	}
	n := s.pixels.frames
	all := StoredFrame{Dtype: first.Dtype, Shape: append([]int{n}, first.Shape...)}
	all.Data = make([]byte, 0, len(first.Data)*n)
	all.Data = append(all.Data, first.Data...)
	for i := 1; i < n; i++ {
		f, err := s.Stored(i)
		if err != nil {
			return StoredFrame{}, err
		}
		all.Data = append(all.Data, f.Data...)
	}
	return all, nil
}

// dtype is the NumPy dtype string of stored samples.
func (s *Scan) dtype(native bool) string {
	kind := "u"
	switch {
	case s.floatPixels != 0:
		kind = "f"
	case s.PixelRepresentation == 1:
		kind = "i"
	}
	order := "<"
	if s.sampleBytes() == 1 {
		order = "|"
	} else if native && s.rawBigEndian {
		order = ">"
	}
	return fmt.Sprintf("%s%s%d", order, kind, s.sampleBytes())
}

// WriteNPY writes f as a NumPy .npy file (format version 1.0).
func WriteNPY(w io.Writer, f StoredFrame) error {
	if f.Dtype == "" || len(f.Shape) == 0 {
		return fmt.Errorf("write npy: empty frame: %w", ErrNoPixelData)
	}
	dims := make([]string, len(f.Shape))
	for i, d := range f.Shape {
		dims[i] = fmt.Sprint(d)
	}
	shape := strings.Join(dims, ", ")
	if len(f.Shape) == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", f.Dtype, shape)
	// Pad with spaces so that magic + version + length + header + "\n" is a multiple of 64 bytes.
	total := 10 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var pre [10]byte
	copy(pre[:], "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
	if _, err := w.Write(pre[:]); err != nil {
		return fmt.Errorf("write npy: %w", err)
	}
	if _, err := io.WriteString(w, header); err != nil {
		return fmt.Errorf("write npy: %w", err)
	}
	if _, err := w.Write(f.Data); err != nil {
		return fmt.Errorf("write npy: %w", err)
	}
	return nil
}
