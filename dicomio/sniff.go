package dicomio

import (
	"bytes"
	"encoding/binary"
)

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// Sniff reports the format of a file from its first bytes (at least 132 for a DICOM file with a preamble; 16
// suffice otherwise). It recognises DICOM Part 10 files ("DICM" at offset 128), bare DICOM datasets that start
// with a File Meta (0002,xxxx) or an identifying (0008,xxxx) element in implicit or explicit VR, PNG and JPEG.
func Sniff(head []byte) (Format, bool) {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return FormatDICOM, true
	case bytes.HasPrefix(head, pngMagic):
		return FormatPNG, true
	case bytes.HasPrefix(head, jpegMagic):
		return FormatJPEG, true
	case bareDataset(head) != encUnknown:
		return FormatDICOM, true
	}
	return "", false
}

// encoding is a dataset's byte order and VR style.
type encoding int

const (
	encUnknown encoding = iota
	encImplicitLE
	encExplicitLE
	encExplicitBE
)

// bareDataset guesses the encoding of a dataset without a preamble from its first element: group 0002 or 0008
// with a small element number, and either a valid explicit VR or an implicit length that fits.
func bareDataset(b []byte) encoding {
	if len(b) < 8 {
		return encUnknown
	}
	plausible := func(group, elem uint16) bool {
		return (group == 0x0002 || group == 0x0008) && elem < 0x0200
	}
	le := binary.LittleEndian
	if plausible(le.Uint16(b), le.Uint16(b[2:])) {
		if validVR(b[4:6]) {
			return encExplicitLE
		}
		if le.Uint32(b[4:]) < 0x10000 { // a short first value, as identifying elements have
			return encImplicitLE
		}
	}
	be := binary.BigEndian
	if plausible(be.Uint16(b), be.Uint16(b[2:])) && validVR(b[4:6]) {
		return encExplicitBE
	}
	return encUnknown
}

// validVR reports whether two bytes are a Value Representation of PS3.5 table 6.2-1.
func validVR(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch string(b[:2]) {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV",
		"OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV":
		return true
	}
	return false
}

// longVR reports whether an explicit VR uses the 2 reserved bytes + 4-byte length form.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}
