package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// Explicit VR Little Endian, the transfer syntax every DICOM reader supports.
const explicitVRLittleEndian = "1.2.840.10008.1.2.1"

// implementationUID identifies the program that wrote the file (PS3.7 D.3.3.2); fixed so files are reproducible.
var implementationUID = uidFor("implementation")

// element is one data element ready to encode.
type element struct {
	group, elem uint16
	vr          string
	value       []byte
}

// longLength reports whether a VR uses the 4-byte length form of explicit VR encoding (PS3.5 7.1.2).
func longLength(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT":
		return true
	}
	return false
}

// str encodes a text value padded to even length: UIDs with NUL, everything else with a space (PS3.5 6.2).
func str(group, elem uint16, vr, s string) element {
	b := []byte(s)
	if len(b)%2 == 1 {
		if vr == "UI" {
			b = append(b, 0)
		} else {
			b = append(b, ' ')
		}
	}
	return element{group, elem, vr, b}
}

func us(group, elem uint16, v int) element {
	return element{group, elem, "US", binary.LittleEndian.AppendUint16(nil, uint16(v))}
}

func ds(group, elem uint16, vs ...float64) element {
	var b bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b.WriteByte('\\')
		}
		b.WriteString(strconv.FormatFloat(v, 'g', 10, 64))
	}
	return str(group, elem, "DS", b.String())
}

func encode(w *bytes.Buffer, e element) error {
	_ = binary.Write(w, binary.LittleEndian, [2]uint16{e.group, e.elem})
	w.WriteString(e.vr)
	if longLength(e.vr) {
		w.Write([]byte{0, 0})
		_ = binary.Write(w, binary.LittleEndian, uint32(len(e.value)))
	} else {
		if len(e.value) > 0xffff {
			return fmt.Errorf("element (%04x,%04x) is %d bytes, too long for VR %s", e.group, e.elem, len(e.value), e.vr)
		}
		_ = binary.Write(w, binary.LittleEndian, uint16(len(e.value)))
	}
	w.Write(e.value)
	return nil
}

// WriteDICOM writes the phantom as a DICOM Part 10 file in Explicit VR Little Endian, 16 bits allocated.
func (p *Phantom) WriteDICOM(w io.Writer) error {
	instance := uidFor(string(p.Kind) + " instance")
	meta := []element{
		{0x0002, 0x0001, "OB", []byte{0, 1}},
		str(0x0002, 0x0002, "UI", p.SOPClassUID),
		str(0x0002, 0x0003, "UI", instance),
		str(0x0002, 0x0010, "UI", explicitVRLittleEndian),
		str(0x0002, 0x0012, "UI", implementationUID),
		str(0x0002, 0x0013, "SH", "TUMORTRACER"),
	}
	pixels := make([]byte, 2*len(p.Stored))
	for i, v := range p.Stored {
		binary.LittleEndian.PutUint16(pixels[2*i:], v)
	}
	data := []element{
		str(0x0008, 0x0008, "CS", `DERIVED\SECONDARY`),
		str(0x0008, 0x0016, "UI", p.SOPClassUID),
		str(0x0008, 0x0018, "UI", instance),
		str(0x0008, 0x0020, "DA", "20260101"),
		str(0x0008, 0x0060, "CS", p.Modality),
		str(0x0008, 0x0070, "LO", "TumorTracer phantom"),
		str(0x0008, 0x1030, "LO", "Synthetic phantom"),
		str(0x0008, 0x103e, "LO", p.Description),
		str(0x0010, 0x0010, "PN", "Phantom^Synthetic"),
		str(0x0010, 0x0020, "LO", "PHANTOM-"+string(p.Kind)),
		str(0x0018, 0x0015, "CS", "CHEST"),
		str(0x0020, 0x000d, "UI", uidFor(string(p.Kind)+" study")),
		str(0x0020, 0x000e, "UI", uidFor(string(p.Kind)+" series")),
		str(0x0020, 0x0011, "IS", "1"),
		str(0x0020, 0x0013, "IS", "1"),
		us(0x0028, 0x0002, 1),
		str(0x0028, 0x0004, "CS", "MONOCHROME2"),
		us(0x0028, 0x0010, p.Rows),
		us(0x0028, 0x0011, p.Columns),
		ds(0x0028, 0x0030, p.PixelSpacing, p.PixelSpacing),
		us(0x0028, 0x0100, 16),
		us(0x0028, 0x0101, p.BitsStored),
		us(0x0028, 0x0102, p.BitsStored-1),
		us(0x0028, 0x0103, 0),
		ds(0x0028, 0x1050, p.WindowCenter),
		ds(0x0028, 0x1051, p.WindowWidth),
		ds(0x0028, 0x1052, p.RescaleIntercept),
		ds(0x0028, 0x1053, p.RescaleSlope),
		{0x7fe0, 0x0010, "OW", pixels},
	}
	if p.RescaleType != "" {
		data = append(data, str(0x0028, 0x1054, "LO", p.RescaleType))
	}
	// A dataset is in ascending tag order (PS3.5 7.1).
	sort.SliceStable(data, func(i, j int) bool {
		a, b := data[i], data[j]
		return a.group < b.group || a.group == b.group && a.elem < b.elem
	})

	var metaBody bytes.Buffer
	for _, e := range meta {
		if err := encode(&metaBody, e); err != nil {
			return err
		}
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	if err := encode(&out, element{0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(metaBody.Len()))}); err != nil {
		return err
	}
	out.Write(metaBody.Bytes())
	for _, e := range data {
		if err := encode(&out, e); err != nil {
			return err
		}
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("write phantom: %w", err)
	}
	return nil
}
