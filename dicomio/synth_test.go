package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"math"
)

// A tiny DICOM writer for fixtures, so that the package is tested without the shared corpus.

type fxElem struct {
	group, elem uint16
	vr          string
	val         []byte // already in the dataset's byte order; nil with undefined set for encapsulated data
	undefined   bool
}

type fixture struct {
	ts       string // "" writes no File Meta transfer syntax
	preamble bool   // write the 128-byte preamble, "DICM" and File Meta
	elems    []fxElem
}

func (f fixture) order() binary.AppendByteOrder {
	if f.ts == tsExplicitBE {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// us, ss, ul encode integers in the fixture's byte order.
func (f fixture) us(v ...int) []byte {
	var b []byte
	for _, x := range v {
		b = f.order().AppendUint16(b, uint16(x))
	}
	return b
}

func (f fixture) ul(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = f.order().AppendUint32(b, x)
	}
	return b
}

func text(s string) []byte {
	if len(s)%2 == 1 {
		s += " "
	}
	return []byte(s)
}

func uid(s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// bytes serialises the fixture.
func (f fixture) bytes() []byte {
	var out bytes.Buffer
	le := binary.LittleEndian
	if f.preamble {
		out.Write(make([]byte, 128))
		out.WriteString("DICM")
		var meta bytes.Buffer
		writeElem(&meta, le, false, fxElem{group: 2, elem: 1, vr: "OB", val: []byte{0, 1}})
		if f.ts != "" {
			writeElem(&meta, le, false, fxElem{group: 2, elem: 0x10, vr: "UI", val: uid(f.ts)})
		}
		writeElem(&out, le, false, fxElem{group: 2, elem: 0, vr: "UL", val: le.AppendUint32(nil, uint32(meta.Len()))})
		out.Write(meta.Bytes())
	}
	var ds bytes.Buffer
	implicit := f.ts == tsImplicitLE || f.ts == ""
	for _, e := range f.elems {
		writeElem(&ds, f.order(), implicit, e)
	}
	if f.ts == tsDeflatedLE {
		var z bytes.Buffer
		zw, _ := flate.NewWriter(&z, flate.BestCompression)
		zw.Write(ds.Bytes())
		zw.Close()
		ds = z
	}
	out.Write(ds.Bytes())
	return out.Bytes()
}

func writeElem(w *bytes.Buffer, bo binary.AppendByteOrder, implicit bool, e fxElem) {
	w.Write(bo.AppendUint16(nil, e.group))
	w.Write(bo.AppendUint16(nil, e.elem))
	n := uint32(len(e.val))
	if e.undefined {
		n = undefinedLength
	}
	if implicit {
		w.Write(bo.AppendUint32(nil, n))
	} else {
		w.WriteString(e.vr)
		if longVR(e.vr) {
			w.Write([]byte{0, 0})
			w.Write(bo.AppendUint32(nil, n))
		} else {
			w.Write(bo.AppendUint16(nil, uint16(n)))
		}
	}
	w.Write(e.val)
}

// encapsulate builds encapsulated Pixel Data: an optional Basic Offset Table, then one item per fragment.
func encapsulate(withBOT bool, frags ...[]byte) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	item := func(data []byte) {
		b.Write(le.AppendUint16(nil, 0xFFFE))
		b.Write(le.AppendUint16(nil, 0xE000))
		b.Write(le.AppendUint32(nil, uint32(len(data))))
		b.Write(data)
	}
	var bot []byte
	if withBOT {
		off := 0
		for _, f := range frags {
			bot = le.AppendUint32(bot, uint32(off))
			off += 8 + len(f)
		}
	}
	item(bot)
	for _, f := range frags {
		item(f)
	}
	b.Write(le.AppendUint16(nil, 0xFFFE))
	b.Write(le.AppendUint16(nil, 0xE0DD))
	b.Write(make([]byte, 4))
	return b.Bytes()
}

// image attributes for a fixture; extra elements are merged in tag order by the caller's order of appends.
func (f fixture) imageElems(rows, cols, spp, bitsAlloc, bitsStored, signed int, photometric string) []fxElem {
	return []fxElem{
		{group: 0x0008, elem: 0x0016, vr: "UI", val: uid("1.2.840.10008.5.1.4.1.1.7")},
		{group: 0x0008, elem: 0x0060, vr: "CS", val: text("OT")},
		{group: 0x0028, elem: 0x0002, vr: "US", val: f.us(spp)},
		{group: 0x0028, elem: 0x0004, vr: "CS", val: text(photometric)},
		{group: 0x0028, elem: 0x0010, vr: "US", val: f.us(rows)},
		{group: 0x0028, elem: 0x0011, vr: "US", val: f.us(cols)},
		{group: 0x0028, elem: 0x0100, vr: "US", val: f.us(bitsAlloc)},
		{group: 0x0028, elem: 0x0101, vr: "US", val: f.us(bitsStored)},
		{group: 0x0028, elem: 0x0102, vr: "US", val: f.us(bitsStored - 1)},
		{group: 0x0028, elem: 0x0103, vr: "US", val: f.us(signed)},
	}
}

func pixelElem(val []byte, vr string) fxElem {
	return fxElem{group: 0x7FE0, elem: 0x0010, vr: vr, val: val}
}

// sortElems orders elements by tag, as a dataset must be.
func sortElems(es []fxElem) []fxElem {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && tagLess(es[j], es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	return es
}

func tagLess(a, b fxElem) bool {
	return uint32(a.group)<<16|uint32(a.elem) < uint32(b.group)<<16|uint32(b.elem)
}

func approx(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// sequence encodes items (each a list of elements) as the value of an undefined-length SQ element.
func (f fixture) sequence(items ...[]fxElem) fxElem {
	var b bytes.Buffer
	bo := f.order()
	implicit := f.ts == tsImplicitLE || f.ts == ""
	delim := func(elem uint16) {
		b.Write(bo.AppendUint16(nil, 0xFFFE))
		b.Write(bo.AppendUint16(nil, elem))
		b.Write(bo.AppendUint32(nil, 0))
	}
	for _, it := range items {
		b.Write(bo.AppendUint16(nil, 0xFFFE))
		b.Write(bo.AppendUint16(nil, 0xE000))
		b.Write(bo.AppendUint32(nil, undefinedLength))
		for _, e := range it {
			writeElem(&b, bo, implicit, e)
		}
		delim(0xE00D)
	}
	delim(0xE0DD)
	return fxElem{vr: "SQ", val: b.Bytes(), undefined: true}
}
