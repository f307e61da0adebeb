package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"
)

// No file of the corpus, and nothing DCMTK or GDCM writes, uses restart intervals, so these tests encode their own
// codestreams: a small JPEG lossless encoder (T.81 Annex H, every predictor, restart intervals that do and do not
// end on a row) and DC-only sequential DCT images whose decoded value is known exactly.

// bitWriter writes an entropy-coded segment with 0xFF byte stuffing.
type bitWriter struct {
	buf  bytes.Buffer
	acc  uint32
	nacc int
}

func (w *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>i)&1
		w.nacc++
		if w.nacc == 8 {
			w.byte(byte(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) byte(b byte) {
	w.buf.WriteByte(b)
	if b == 0xFF {
		w.buf.WriteByte(0)
	}
}

// flush pads the last byte with ones, as T.81 F.1.2.3 requires before a marker.
func (w *bitWriter) flush() {
	for w.nacc != 0 {
		w.put(1, 1)
	}
}

// flatHuffman is a table giving each of the symbols 0..16 a 5-bit code (its own value).
func flatHuffman(class, id byte) []byte {
	seg := []byte{class<<4 | id}
	var counts [16]byte
	counts[4] = 17
	seg = append(seg, counts[:]...)
	for s := 0; s <= 16; s++ {
		seg = append(seg, byte(s))
	}
	return seg
}

func marker(m byte, payload []byte) []byte {
	out := []byte{0xFF, m, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(len(payload)+2))
	return append(out, payload...)
}

// encodeCategory writes a difference as its category (5-bit code) and extra bits (T.81 F.1.2.1, H.1.2.2).
func encodeCategory(w *bitWriter, diff int32) {
	if diff == -32768 || diff == 32768 {
		w.put(16, 5)
		return
	}
	mag, cat := diff, 0
	if mag < 0 {
		mag = -mag
	}
	for mag>>cat != 0 {
		cat++
	}
	w.put(uint32(cat), 5)
	if cat > 0 {
		v := diff
		if v < 0 {
			v += 1<<cat - 1
		}
		w.put(uint32(v), cat)
	}
}

// encodeLossless encodes samples (interleaved, nf components) with predictor sv and restart interval ri.
func encodeLossless(samples []uint16, width, height, nf, precision, sv, ri int) []byte {
	var out []byte
	out = append(out, 0xFF, mSOI)
	sof := []byte{byte(precision), byte(height >> 8), byte(height), byte(width >> 8), byte(width), byte(nf)}
	sos := []byte{byte(nf)}
	for c := 0; c < nf; c++ {
		sof = append(sof, byte(c+1), 0x11, 0)
		sos = append(sos, byte(c+1), 0)
	}
	sos = append(sos, byte(sv), 0, 0)
	out = append(out, marker(mSOF3, sof)...)
	out = append(out, marker(mDHT, flatHuffman(0, 0))...)
	if ri > 0 {
		out = append(out, marker(mDRI, []byte{byte(ri >> 8), byte(ri)})...)
	}
	out = append(out, marker(mSOS, sos)...)
	var w bitWriter
	row := width * nf
	reset, intervalRow, left, rst := true, 0, ri, 0
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			if ri > 0 {
				if left == 0 {
					w.flush()
					w.buf.Write([]byte{0xFF, byte(mRST0 + rst%8)})
					rst++
					left = ri
					reset, intervalRow = true, y
				}
				left--
			}
			for c := 0; c < nf; c++ {
				i := (y*width+x)*nf + c
				var px int32
				switch {
				case reset:
					px = 1 << (precision - 1)
				case y == intervalRow:
					px = int32(samples[i-nf])
				case x == 0:
					px = int32(samples[i-row])
				default:
					ra, rb, rc := int32(samples[i-nf]), int32(samples[i-row]), int32(samples[i-row-nf])
					px = [8]int32{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[sv]
				}
				// Differences are taken modulo 2^16 (H.1.2.1) and coded in the range −32767..32768.
				diff := int32(int16(uint16(int32(samples[i]) - px)))
				if diff == -32768 {
					diff = 32768
				}
				encodeCategory(&w, diff)
			}
			reset = false
		}
	}
	w.flush()
	out = append(out, w.buf.Bytes()...)
	return append(out, 0xFF, mEOI)
}

func TestLosslessRestartIntervals(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		name                      string
		w, h, nf, precision, bits int
	}{
		{"8bit-mono", 37, 23, 1, 8, 8},
		{"12bit-mono", 64, 17, 1, 12, 16},
		{"16bit-mono", 31, 19, 1, 16, 16},
		{"8bit-rgb", 29, 11, 3, 8, 8},
	} {
		samples := make([]uint16, tc.w*tc.h*tc.nf)
		for i := range samples {
			// A smooth ramp with noise, so differences are small but not trivial, plus a few extremes.
			v := (i/tc.nf)%tc.w*(1<<tc.precision)/tc.w + rng.Intn(9) - 4
			samples[i] = uint16(min(max(v, 0), 1<<tc.precision-1))
		}
		samples[5] = 1<<tc.precision - 1
		samples[6] = 0
		for sv := 1; sv <= 7; sv++ {
			for _, ri := range []int{0, 1, 7, tc.w, 2*tc.w + 3} {
				stream := encodeLossless(samples, tc.w, tc.h, tc.nf, tc.precision, sv, ri)
				p := Params{Rows: tc.h, Columns: tc.w, SamplesPerPixel: tc.nf, BitsAllocated: tc.bits, BitsStored: tc.precision}
				f, err := Decode(tsJPEGLossless, stream, p)
				if err != nil {
					t.Fatalf("%s sv%d ri%d: %v", tc.name, sv, ri, err)
				}
				for i, want := range samples {
					var got uint16
					if tc.bits == 8 {
						got = uint16(f.Data[i])
					} else {
						got = binary.LittleEndian.Uint16(f.Data[2*i:])
					}
					if got != want {
						t.Fatalf("%s sv%d ri%d: sample %d is %d, want %d", tc.name, sv, ri, i, got, want)
					}
				}
			}
		}
	}
}

// encodeFlatDCT encodes a grey image of 8x8 blocks that are each flat: only DC coefficients, quantiser 8, so a
// block's decoded value is exactly center + its DC coefficient.
func encodeFlatDCT(dc []int32, bw, bh, precision, ri int) []byte {
	out := []byte{0xFF, mSOI}
	q := []byte{0}
	sofMarker := byte(mSOF1)
	if precision == 12 {
		q[0] = 0x10
		for i := 0; i < 64; i++ {
			q = append(q, 0, 8)
		}
	} else {
		sofMarker = mSOF0
		for i := 0; i < 64; i++ {
			q = append(q, 8)
		}
	}
	out = append(out, marker(mDQT, q)...)
	w, h := bw*8, bh*8
	out = append(out, marker(sofMarker, []byte{byte(precision), byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0})...)
	out = append(out, marker(mDHT, flatHuffman(0, 0))...)
	out = append(out, marker(mDHT, flatHuffman(1, 0))...) // symbol 0 is EOB
	if ri > 0 {
		out = append(out, marker(mDRI, []byte{byte(ri >> 8), byte(ri)})...)
	}
	out = append(out, marker(mSOS, []byte{1, 1, 0, 0, 63, 0})...)
	var bwr bitWriter
	pred, left, rst := int32(0), ri, 0
	for i, v := range dc {
		if ri > 0 {
			if left == 0 {
				bwr.flush()
				bwr.buf.Write([]byte{0xFF, byte(mRST0 + rst%8)})
				rst++
				left = ri
				pred = 0
			}
			left--
		}
		_ = i
		encodeCategory(&bwr, v-pred)
		pred = v
		bwr.put(0, 5) // EOB
	}
	bwr.flush()
	out = append(out, bwr.buf.Bytes()...)
	return append(out, 0xFF, mEOI)
}

func TestDCTRestartIntervals(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, precision := range []int{8, 12} {
		bw, bh := 7, 5
		center := int32(1) << (precision - 1)
		dc := make([]int32, bw*bh)
		for i := range dc {
			dc[i] = int32(rng.Intn(int(2*center))) - center
		}
		for _, ri := range []int{0, 1, 3, bw, 11} {
			stream := encodeFlatDCT(dc, bw, bh, precision, ri)
			bits := 8
			if precision == 12 {
				bits = 16
			}
			p := Params{Rows: bh * 8, Columns: bw * 8, SamplesPerPixel: 1, BitsAllocated: bits, BitsStored: precision}
			f, err := Decode(tsJPEGExtended, stream, p)
			if err != nil {
				t.Fatalf("precision %d ri %d: %v", precision, ri, err)
			}
			for y := 0; y < bh*8; y++ {
				for x := 0; x < bw*8; x++ {
					want := center + dc[(y/8)*bw+x/8]
					i := y*bw*8 + x
					got := int32(f.Data[i])
					if bits == 16 {
						got = int32(binary.LittleEndian.Uint16(f.Data[2*i:]))
					}
					if got != want {
						t.Fatalf("precision %d ri %d: pixel %d,%d is %d, want %d", precision, ri, x, y, got, want)
					}
				}
			}
		}
	}
}

// TestBrokenStreams checks that damaged codestreams give the package's sentinel errors.
func TestBrokenStreams(t *testing.T) {
	samples := make([]uint16, 16*16)
	for i := range samples {
		samples[i] = uint16(i * 7 % 251)
	}
	good := encodeLossless(samples, 16, 16, 1, 8, 1, 16)
	p := Params{Rows: 16, Columns: 16, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8}
	if _, err := Decode(tsJPEGLossless, good, p); err != nil {
		t.Fatalf("good stream: %v", err)
	}
	wrongRST := bytes.Replace(good, []byte{0xFF, mRST0 + 2}, []byte{0xFF, mRST0 + 5}, 1)
	for _, c := range []struct {
		name string
		data []byte
		p    Params
		want error
	}{
		{"empty", nil, p, ErrCorrupt},
		{"not jpeg", []byte("hello world, not a jpeg"), p, ErrCorrupt},
		{"cut in scan", good[:len(good)/2], p, ErrTruncated},
		{"cut in header", good[:20], p, ErrTruncated},
		{"wrong restart marker", wrongRST, p, ErrCorrupt},
		{"wrong size", good, Params{Rows: 16, Columns: 17, SamplesPerPixel: 1, BitsAllocated: 8}, ErrMismatch},
		{"too deep", encodeLossless(samples, 16, 16, 1, 12, 1, 0), p, ErrMismatch},
		{"rle short header", []byte{1, 0, 0, 0}, p, ErrCorrupt},
	} {
		ts := tsJPEGLossless
		if c.name[:3] == "rle" {
			ts = tsRLE
		}
		_, err := Decode(ts, c.data, c.p)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Decode("1.2.840.10008.1.2.4.100", good, p); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MPEG-2: error %v, want ErrUnsupported", err)
	}
}
