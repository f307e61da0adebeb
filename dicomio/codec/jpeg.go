package codec

import (
	"encoding/binary"
	"fmt"
)

// This file holds what the JPEG lossless (T.81 Annex H) and the sequential DCT (T.81 Annex F) decoders share:
// the marker parser, Huffman tables and the entropy-coded-segment bit reader.

// Transfer syntaxes decoded by this package's own JPEG decoders.
const (
	tsJPEGBaseline  = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended  = "1.2.840.10008.1.2.4.51"
	tsJPEGLossless  = "1.2.840.10008.1.2.4.57"
	tsJPEGLossless1 = "1.2.840.10008.1.2.4.70"
)

func init() {
	decoders[tsJPEGBaseline] = decodeJPEG
	decoders[tsJPEGLossless] = decodeJPEG
	decoders[tsJPEGLossless1] = decodeJPEG
	decoders[tsJPEGExtended] = decodeJPEG
}

// JPEG markers the parser acts on.
const (
	mSOF0 = 0xC0 // baseline DCT
	mSOF1 = 0xC1 // extended sequential DCT, Huffman
	mSOF3 = 0xC3 // lossless, Huffman
	mDHT  = 0xC4
	mRST0 = 0xD0
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
	mAPP0 = 0xE0
	mAPPE = 0xEE
)

// jpegComponent is one frame component (T.81 B.2.2).
type jpegComponent struct {
	id     byte
	h, v   int
	tq     int
	dcSel  int // Huffman table of the current scan
	acSel  int
	pred   int32 // DC predictor of the current scan (DCT)
	planeW int   // DCT: width of the component plane in samples, a whole number of blocks per MCU
	planeH int
	plane  []int16 // DCT: decoded samples
}

// jpegHeader is what the markers before and between scans declare.
type jpegHeader struct {
	sof        byte
	precision  int
	width      int
	height     int
	comps      []jpegComponent
	hmax, vmax int
	restart    int
	dc, ac     [4]*huffTable
	quant      [4][64]int32
	quantSet   [4]bool
	adobe      bool
	adobeTrans int
	jfif       bool
}

// jpegScan is one start-of-scan header (T.81 B.2.3).
type jpegScan struct {
	comps  []int // indexes into jpegHeader.comps
	ss, se int   // spectral selection; for lossless ss is the predictor
	ah, al int   // successive approximation; for lossless al is the point transform
}

// decodeJPEG parses the markers of one JPEG codestream and hands each scan to the lossless or DCT decoder.
func decodeJPEG(data []byte, p Params) (Frame, error) {
	d := jpegDecoder{data: data, p: p}
	f, err := d.decode()
	if err != nil {
		return Frame{}, fmt.Errorf("jpeg: %w", err)
	}
	return f, nil
}

type jpegDecoder struct {
	data []byte
	pos  int
	p    Params
	h    jpegHeader

	lossless *losslessState
	dct      bool
	scans    int
}

// segment returns the payload of the marker segment that starts at d.pos (after the marker) and advances past it.
func (d *jpegDecoder) segment(marker byte) ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, fmt.Errorf("marker 0x%02X has no length: %w", marker, ErrTruncated)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 || d.pos+n > len(d.data) {
		return nil, fmt.Errorf("marker 0x%02X length %d runs past the codestream: %w", marker, n, ErrTruncated)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

// nextMarker skips fill bytes and returns the next marker code.
func (d *jpegDecoder) nextMarker() (byte, error) {
	for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
		// Garbage between segments: libjpeg warns and skips it, and some DICOM encoders pad frames.
		d.pos++
	}
	for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
		d.pos++
	}
	if d.pos >= len(d.data) {
		return 0, fmt.Errorf("codestream ends before its end-of-image marker: %w", ErrTruncated)
	}
	m := d.data[d.pos]
	d.pos++
	return m, nil
}

func (d *jpegDecoder) decode() (Frame, error) {
	// Some encoders put padding before SOI; require SOI as the first marker nonetheless.
	if len(d.data) < 4 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return Frame{}, fmt.Errorf("frame does not start with a start-of-image marker: %w", ErrCorrupt)
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			if d.scans > 0 && d.complete() {
				// A missing EOI after a complete image is common and harmless.
				return d.finish()
			}
			return Frame{}, err
		}
		switch {
		case m == mEOI:
			return d.finish()
		case m == mSOF0 || m == mSOF1 || m == mSOF3:
			if d.h.sof != 0 {
				return Frame{}, fmt.Errorf("second frame header: %w", ErrCorrupt)
			}
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			if err := d.parseSOF(m, seg); err != nil {
				return Frame{}, err
			}
		case m >= 0xC0 && m <= 0xCF && m != mDHT && m != 0xC8 && m != 0xCC:
			return Frame{}, fmt.Errorf("JPEG process %s (marker 0x%02X) is not one DICOM uses here: %w", sofName(m), m, ErrUnsupported)
		case m == mDHT:
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			if err := d.parseDHT(seg); err != nil {
				return Frame{}, err
			}
		case m == mDQT:
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			if err := d.parseDQT(seg); err != nil {
				return Frame{}, err
			}
		case m == mDRI:
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			if len(seg) != 2 {
				return Frame{}, fmt.Errorf("restart interval segment is %d bytes, want 2: %w", len(seg), ErrCorrupt)
			}
			d.h.restart = int(binary.BigEndian.Uint16(seg))
		case m == mSOS:
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			sc, err := d.parseSOS(seg)
			if err != nil {
				return Frame{}, err
			}
			if err := d.decodeScan(sc); err != nil {
				return Frame{}, err
			}
			d.scans++
		case m == mAPP0 || m == mAPPE:
			seg, err := d.segment(m)
			if err != nil {
				return Frame{}, err
			}
			if m == mAPP0 && len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.h.jfif = true
			}
			if m == mAPPE && len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.h.adobe = true
				d.h.adobeTrans = int(seg[11])
			}
		case m >= mRST0 && m <= mRST0+7, m == 0x01:
			// Stray restart markers between scans carry no data.
		case m == mDNL:
			return Frame{}, fmt.Errorf("number-of-lines marker (image height given after the scan) is not supported: %w", ErrUnsupported)
		default:
			// APPn, COM, JPG extensions: skip.
			if _, err := d.segment(m); err != nil {
				return Frame{}, err
			}
		}
	}
}

func sofName(m byte) string {
	switch m {
	case 0xC2:
		return "progressive DCT"
	case 0xC5, 0xC6, 0xC7:
		return "hierarchical"
	case 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
		return "arithmetic-coded"
	}
	return "unknown"
}

func (d *jpegDecoder) parseSOF(m byte, seg []byte) error {
	if len(seg) < 6 {
		return fmt.Errorf("frame header is %d bytes: %w", len(seg), ErrCorrupt)
	}
	h := &d.h
	h.sof = m
	h.precision = int(seg[0])
	h.height = int(binary.BigEndian.Uint16(seg[1:]))
	h.width = int(binary.BigEndian.Uint16(seg[3:]))
	nf := int(seg[5])
	if len(seg) != 6+3*nf || nf == 0 || nf > 4 {
		return fmt.Errorf("frame header declares %d components in %d bytes: %w", nf, len(seg), ErrCorrupt)
	}
	switch m {
	case mSOF3:
		if h.precision < 2 || h.precision > 16 {
			return fmt.Errorf("lossless precision %d is outside 2..16: %w", h.precision, ErrCorrupt)
		}
	case mSOF0:
		if h.precision != 8 {
			return fmt.Errorf("baseline precision %d is not 8: %w", h.precision, ErrCorrupt)
		}
	default:
		if h.precision != 8 && h.precision != 12 {
			return fmt.Errorf("DCT precision %d is not 8 or 12: %w", h.precision, ErrCorrupt)
		}
	}
	if h.height == 0 {
		return fmt.Errorf("number-of-lines marker (image height given after the scan) is not supported: %w", ErrUnsupported)
	}
	// The frame must be exactly what the dataset declares, so the output is FrameSize bytes.
	if h.width != d.p.Columns || h.height != d.p.Rows || nf != d.p.SamplesPerPixel {
		return fmt.Errorf("codestream is %dx%d with %d components, the dataset says %dx%d with %d: %w",
			h.width, h.height, nf, d.p.Columns, d.p.Rows, d.p.SamplesPerPixel, ErrMismatch)
	}
	if h.precision > 8*((d.p.BitsAllocated+7)/8) {
		return fmt.Errorf("codestream precision %d bits does not fit %d bits allocated: %w", h.precision, d.p.BitsAllocated, ErrMismatch)
	}
	h.comps = make([]jpegComponent, nf)
	for i := range h.comps {
		c := &h.comps[i]
		c.id = seg[6+3*i]
		c.h = int(seg[7+3*i] >> 4)
		c.v = int(seg[7+3*i] & 15)
		c.tq = int(seg[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return fmt.Errorf("component %d has sampling %dx%d, quantisation table %d: %w", i, c.h, c.v, c.tq, ErrCorrupt)
		}
		h.hmax = max(h.hmax, c.h)
		h.vmax = max(h.vmax, c.v)
	}
	if m == mSOF3 {
		for _, c := range h.comps {
			if c.h != h.comps[0].h || c.v != h.comps[0].v {
				return fmt.Errorf("lossless components with different sampling factors are not supported: %w", ErrUnsupported)
			}
		}
		return d.startLossless()
	}
	d.dct = true
	return d.startDCT()
}

func (d *jpegDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return fmt.Errorf("huffman table segment is truncated: %w", ErrCorrupt)
		}
		class, id := seg[0]>>4, int(seg[0]&15)
		if class > 1 || id > 3 {
			return fmt.Errorf("huffman table class %d id %d is invalid: %w", class, id, ErrCorrupt)
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(seg[1+i])
			total += counts[i]
		}
		if total == 0 || total > 256 || len(seg) < 17+total {
			return fmt.Errorf("huffman table lists %d codes in %d bytes: %w", total, len(seg), ErrCorrupt)
		}
		t, err := newHuffTable(counts, seg[17:17+total])
		if err != nil {
			return err
		}
		if class == 0 {
			d.h.dc[id] = t
		} else {
			d.h.ac[id] = t
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *jpegDecoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, id := seg[0]>>4, int(seg[0]&15)
		if pq > 1 || id > 3 {
			return fmt.Errorf("quantisation table precision %d id %d is invalid: %w", pq, id, ErrCorrupt)
		}
		n := 1 + 64*(1+int(pq))
		if len(seg) < n {
			return fmt.Errorf("quantisation table is truncated: %w", ErrCorrupt)
		}
		for i := 0; i < 64; i++ {
			if pq == 0 {
				d.h.quant[id][zigzag[i]] = int32(seg[1+i])
			} else {
				d.h.quant[id][zigzag[i]] = int32(binary.BigEndian.Uint16(seg[1+2*i:]))
			}
		}
		d.h.quantSet[id] = true
		seg = seg[n:]
	}
	return nil
}

func (d *jpegDecoder) parseSOS(seg []byte) (jpegScan, error) {
	var sc jpegScan
	if d.h.sof == 0 {
		return sc, fmt.Errorf("scan before the frame header: %w", ErrCorrupt)
	}
	if len(seg) < 1 {
		return sc, fmt.Errorf("empty scan header: %w", ErrCorrupt)
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return sc, fmt.Errorf("scan header declares %d components in %d bytes: %w", ns, len(seg), ErrCorrupt)
	}
	for i := 0; i < ns; i++ {
		id := seg[1+2*i]
		idx := -1
		for j, c := range d.h.comps {
			if c.id == id {
				idx = j
			}
		}
		if idx < 0 {
			return sc, fmt.Errorf("scan names component %d, which the frame does not have: %w", id, ErrCorrupt)
		}
		for _, prev := range sc.comps {
			if prev == idx {
				return sc, fmt.Errorf("scan names component %d twice: %w", id, ErrCorrupt)
			}
		}
		sc.comps = append(sc.comps, idx)
		c := &d.h.comps[idx]
		c.dcSel = int(seg[2+2*i] >> 4)
		c.acSel = int(seg[2+2*i] & 15)
		if c.dcSel > 3 || c.acSel > 3 || d.h.dc[c.dcSel] == nil || (d.dct && d.h.ac[c.acSel] == nil) {
			return sc, fmt.Errorf("scan component %d uses a Huffman table that was not defined: %w", id, ErrCorrupt)
		}
	}
	sc.ss = int(seg[1+2*ns])
	sc.se = int(seg[2+2*ns])
	sc.ah = int(seg[3+2*ns] >> 4)
	sc.al = int(seg[3+2*ns] & 15)
	return sc, nil
}

func (d *jpegDecoder) decodeScan(sc jpegScan) error {
	if d.dct {
		return d.decodeDCTScan(sc)
	}
	return d.decodeLosslessScan(sc)
}

func (d *jpegDecoder) complete() bool {
	if d.dct {
		return d.dctComplete()
	}
	return d.lossless != nil && d.lossless.complete()
}

func (d *jpegDecoder) finish() (Frame, error) {
	if d.h.sof == 0 {
		return Frame{}, fmt.Errorf("codestream has no frame header: %w", ErrCorrupt)
	}
	if d.dct {
		return d.finishDCT()
	}
	return d.finishLossless()
}

// huffTable decodes one Huffman table with a lookup of the first lutBits bits and a canonical-code walk beyond.
type huffTable struct {
	lut     [1 << lutBits]uint16 // (length<<8 | value); 0 when the code is longer than lutBits
	maxCode [18]int32            // largest code of each length, -1 when none
	valPtr  [17]int32            // index in vals of the first code of each length, minus that code
	vals    []byte
}

const lutBits = 9

func newHuffTable(counts [16]int, vals []byte) (*huffTable, error) {
	t := &huffTable{vals: append([]byte(nil), vals...)}
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		n := counts[l-1]
		t.valPtr[l] = int32(k) - code
		if n == 0 {
			t.maxCode[l] = -1
		} else {
			if code+int32(n) > 1<<l {
				return nil, fmt.Errorf("huffman table has more codes of length %d than fit: %w", l, ErrCorrupt)
			}
			for i := 0; i < n; i++ {
				if l <= lutBits {
					shift := lutBits - l
					base := int(code) << shift
					for j := 0; j < 1<<shift; j++ {
						t.lut[base+j] = uint16(l<<8) | uint16(vals[k])
					}
				}
				code++
				k++
			}
			t.maxCode[l] = code - 1
		}
		code <<= 1
	}
	t.maxCode[17] = 1<<31 - 1 // sentinel
	return t, nil
}

// bitReader reads an entropy-coded segment: it undoes 0xFF00 byte stuffing and stops at markers, supplying zero
// bits past them (as libjpeg does) while counting how many it made up so truncation is reported.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      int  // valid bits in acc
	marker bool // a marker (or the end of data) stopped the reader
	fake   int  // zero bits supplied past the data
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		if b.marker || b.pos >= len(b.data) {
			b.marker = true
			b.n += 8
			b.fake += 8
			continue
		}
		c := b.data[b.pos]
		if c == 0xFF {
			if b.pos+1 < len(b.data) && b.data[b.pos+1] == 0x00 {
				b.pos += 2
			} else {
				b.marker = true
				continue
			}
		} else {
			b.pos++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports whether more bits were consumed than the data held.
func (b *bitReader) overrun() bool { return b.n < b.fake }

func (b *bitReader) bits(n int) int32 {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
	}
	v := int32(b.acc >> (64 - n))
	b.acc <<= n
	b.n -= n
	return v
}

// receiveExtend reads n bits and extends them to a signed difference (T.81 F.2.2.1).
func (b *bitReader) receiveExtend(n int) int32 {
	if n == 0 {
		return 0
	}
	v := b.bits(n)
	if v < 1<<(n-1) {
		v += -1<<n + 1
	}
	return v
}

func (b *bitReader) decode(t *huffTable) (byte, error) {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lut[b.acc>>(64-lutBits)]; e != 0 {
		l := int(e >> 8)
		b.acc <<= l
		b.n -= l
		return byte(e), nil
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | int32(b.acc>>63)
		b.acc <<= 1
		b.n--
		if code <= t.maxCode[l] {
			idx := t.valPtr[l] + code
			if idx < 0 || int(idx) >= len(t.vals) {
				break
			}
			return t.vals[idx], nil
		}
	}
	return 0, fmt.Errorf("invalid Huffman code: %w", ErrCorrupt)
}

// restart consumes the expected RSTn marker and resets the reader to the byte after it.
func (b *bitReader) restart(n int) error {
	// Drop the bits of the current byte (the encoder padded it with ones) and find the marker.
	pos := b.pos
	for pos < len(b.data) && b.data[pos] != 0xFF {
		pos++ // libjpeg skips garbage before a marker with a warning
	}
	for pos < len(b.data) && b.data[pos] == 0xFF {
		pos++
	}
	if pos >= len(b.data) {
		return fmt.Errorf("restart marker %d missing: %w", n&7, ErrTruncated)
	}
	if b.data[pos] != byte(mRST0+n&7) {
		return fmt.Errorf("found marker 0x%02X where restart marker %d belongs: %w", b.data[pos], n&7, ErrCorrupt)
	}
	*b = bitReader{data: b.data, pos: pos + 1}
	return nil
}

// endPos is the offset just after the entropy-coded data: the position of the marker that ended it.
func (b *bitReader) endPos() int {
	pos := b.pos
	for pos < len(b.data) {
		if b.data[pos] == 0xFF && pos+1 < len(b.data) && b.data[pos+1] != 0x00 && !(b.data[pos+1] >= mRST0 && b.data[pos+1] <= mRST0+7) && b.data[pos+1] != 0xFF {
			return pos
		}
		pos++
	}
	return len(b.data)
}

var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}
