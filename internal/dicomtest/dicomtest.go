// Package dicomtest writes small synthetic DICOM files for the tests of packages that read files through dicomio
// (pipeline, ui), so that a multi-frame file needs no shared corpus. Production code does not import it.
package dicomtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// Image describes a grey multi-frame image: Frames[i] holds frame i's Rows×Columns unsigned 16-bit values.
type Image struct {
	Modality      string
	Rows, Columns int
	Frames        [][]uint16
}

// Write writes img to path as a DICOM Part 10 file, Explicit VR Little Endian, MONOCHROME2.
func Write(path string, img Image) error {
	for i, f := range img.Frames {
		if len(f) != img.Rows*img.Columns {
			return fmt.Errorf("frame %d has %d values for %d×%d", i, len(f), img.Columns, img.Rows)
		}
	}
	le := binary.LittleEndian
	var meta, ds, out bytes.Buffer
	element(&meta, 0x0002, 0x0001, "OB", []byte{0, 1})
	element(&meta, 0x0002, 0x0010, "UI", even("1.2.840.10008.1.2.1", 0))
	element(&ds, 0x0008, 0x0060, "CS", even(img.Modality, ' '))
	element(&ds, 0x0028, 0x0002, "US", le.AppendUint16(nil, 1))
	element(&ds, 0x0028, 0x0004, "CS", even("MONOCHROME2", ' '))
	element(&ds, 0x0028, 0x0008, "IS", even(fmt.Sprint(len(img.Frames)), ' '))
	element(&ds, 0x0028, 0x0010, "US", le.AppendUint16(nil, uint16(img.Rows)))
	element(&ds, 0x0028, 0x0011, "US", le.AppendUint16(nil, uint16(img.Columns)))
	element(&ds, 0x0028, 0x0100, "US", le.AppendUint16(nil, 16))
	element(&ds, 0x0028, 0x0101, "US", le.AppendUint16(nil, 16))
	element(&ds, 0x0028, 0x0102, "US", le.AppendUint16(nil, 15))
	element(&ds, 0x0028, 0x0103, "US", le.AppendUint16(nil, 0))
	var pix []byte
	for _, f := range img.Frames {
		for _, v := range f {
			pix = le.AppendUint16(pix, v)
		}
	}
	element(&ds, 0x7FE0, 0x0010, "OW", pix)
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	element(&out, 0x0002, 0x0000, "UL", le.AppendUint32(nil, uint32(meta.Len())))
	out.Write(meta.Bytes())
	out.Write(ds.Bytes())
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// element writes one Explicit VR Little Endian element.
func element(w *bytes.Buffer, group, elem uint16, vr string, val []byte) {
	le := binary.LittleEndian
	h := le.AppendUint16(nil, group)
	h = le.AppendUint16(h, elem)
	h = append(h, vr...)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT":
		h = append(h, 0, 0)
		h = le.AppendUint32(h, uint32(len(val)))
	default:
		h = le.AppendUint16(h, uint16(len(val)))
	}
	w.Write(h)
	w.Write(val)
}

// even pads s to an even length with pad, as DICOM values must be.
func even(s string, pad byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, pad)
	}
	return b
}
