package dicomio

import (
	"encoding/binary"
	"fmt"
	"strings"

	dcmtag "github.com/suyashkumar/dicom/pkg/tag"
)

// The structural walk below checks every declared length against the bytes that remain (recursing into
// sequences) before the DICOM library sees the data, locates the top-level pixel data elements (which the
// library is never given) and splits encapsulated pixel data into its Basic Offset Table and fragments.

const (
	undefinedLength = 0xFFFFFFFF
	maxNesting      = 32 // sequences nested deeper than this are refused
)

// elemHeader is one element's tag, VR and value position.
type elemHeader struct {
	group, elem uint16
	vr          string // explicit VR, or the dictionary's first VR for implicit datasets; "" for items
	length      uint32
	valueOff    int // absolute offset of the value
}

func (h elemHeader) tag() string { return fmt.Sprintf("(%04X,%04X)", h.group, h.elem) }

// walker reads element headers from one buffer in one byte order.
type walker struct {
	b  []byte
	bo binary.ByteOrder
}

// header reads the element header at pos; items and delimiters always use the implicit form.
func (w *walker) header(pos, end int, implicit bool) (elemHeader, error) {
	if pos+8 > end {
		return elemHeader{}, fmt.Errorf("element header at offset %d runs past the end of the data: %w", pos, ErrTruncated)
	}
	b := w.b[pos:]
	h := elemHeader{group: w.bo.Uint16(b), elem: w.bo.Uint16(b[2:])}
	switch {
	case h.group == 0xFFFE:
		h.length = w.bo.Uint32(b[4:])
		h.valueOff = pos + 8
	case implicit:
		h.vr = dictionaryVR(h.group, h.elem)
		h.length = w.bo.Uint32(b[4:])
		h.valueOff = pos + 8
	default:
		// An invalid VR is read with the short length form, as the DICOM library and DCMTK read it.
		h.vr = string(b[4:6])
		if validVR(b[4:6]) && longVR(h.vr) {
			if pos+12 > end {
				return elemHeader{}, fmt.Errorf("element %s at offset %d runs past the end of the data: %w", h.tag(), pos, ErrTruncated)
			}
			h.length = w.bo.Uint32(b[8:])
			h.valueOff = pos + 12
		} else {
			h.length = uint32(w.bo.Uint16(b[6:]))
			h.valueOff = pos + 8
		}
	}
	return h, nil
}

// dictionaryVR is the VR an implicit dataset implies for a tag: the dictionary's first, UL for group lengths,
// UN for unknown (private) tags.
func dictionaryVR(group, elem uint16) string {
	if elem == 0 {
		return "UL"
	}
	info, err := dcmtag.Find(dcmtag.Tag{Group: group, Element: elem})
	if err != nil || len(info.VRs) == 0 {
		return "UN"
	}
	return info.VRs[0]
}

// element validates the element at pos (recursing into sequences) and returns its header and the offset after it.
func (w *walker) element(pos, end int, implicit bool, depth int) (elemHeader, int, error) {
	h, err := w.header(pos, end, implicit)
	if err != nil {
		return h, 0, err
	}
	if h.length != undefinedLength {
		next := h.valueOff + int(h.length)
		if next > end {
			return h, 0, fmt.Errorf("element %s at offset %d declares %d bytes but only %d remain: %w", h.tag(), pos, h.length, end-h.valueOff, ErrTruncated)
		}
		if h.vr == "SQ" {
			if err := w.definedSequence(h.valueOff, next, implicit, depth+1); err != nil {
				return h, 0, err
			}
		}
		return h, next, nil
	}
	if h.group == 0x7FE0 && h.elem == 0x0010 {
		_, _, next, err := w.fragments(h.valueOff, end)
		return h, next, err
	}
	// An undefined length is a sequence (SQ, or UN whose content is implicit little endian by PS3.5 6.2.2).
	itemsImplicit := implicit || h.vr == "UN"
	next, err := w.undefinedSequence(h.valueOff, end, itemsImplicit, depth+1)
	return h, next, err
}

// definedSequence validates the items of a sequence of defined length occupying [pos, end).
func (w *walker) definedSequence(pos, end int, implicit bool, depth int) error {
	for pos < end {
		next, done, err := w.item(pos, end, implicit, depth)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		pos = next
	}
	return nil
}

// undefinedSequence validates items up to the Sequence Delimitation Item and returns the offset after it.
func (w *walker) undefinedSequence(pos, end int, implicit bool, depth int) (int, error) {
	for {
		next, done, err := w.item(pos, end, implicit, depth)
		if err != nil {
			return 0, err
		}
		if done {
			return next, nil
		}
		pos = next
	}
}

// item validates one item at pos; done is true for a Sequence Delimitation Item.
func (w *walker) item(pos, end int, implicit bool, depth int) (next int, done bool, err error) {
	if depth > maxNesting {
		return 0, false, fmt.Errorf("sequences are nested deeper than %d levels: %w", maxNesting, ErrMalformed)
	}
	h, err := w.header(pos, end, true)
	if err != nil {
		return 0, false, err
	}
	switch {
	case h.group == 0xFFFE && h.elem == 0xE0DD:
		return h.valueOff, true, nil
	case h.group != 0xFFFE || h.elem != 0xE000:
		return 0, false, fmt.Errorf("expected a sequence item at offset %d, found %s: %w", pos, h.tag(), ErrMalformed)
	case h.length == undefinedLength:
		next, err := w.dataset(h.valueOff, end, implicit, depth, true)
		return next, false, err
	default:
		next := h.valueOff + int(h.length)
		if next > end {
			return 0, false, fmt.Errorf("sequence item at offset %d declares %d bytes but only %d remain: %w", pos, h.length, end-h.valueOff, ErrTruncated)
		}
		_, err := w.dataset(h.valueOff, next, implicit, depth, false)
		return next, false, err
	}
}

// dataset validates the elements of a nested dataset from pos to end, or, when delimited, up to and including
// the Item Delimitation Item, and returns the offset after it.
func (w *walker) dataset(pos, end int, implicit bool, depth int, delimited bool) (int, error) {
	for pos < end {
		if delimited && pos+8 <= end && w.bo.Uint16(w.b[pos:]) == 0xFFFE && w.bo.Uint16(w.b[pos+2:]) == 0xE00D {
			return pos + 8, nil
		}
		_, next, err := w.element(pos, end, implicit, depth)
		if err != nil {
			return 0, err
		}
		pos = next
	}
	if delimited {
		return 0, fmt.Errorf("sequence item ends without its delimiter: %w", ErrTruncated)
	}
	return pos, nil
}

// fragment is one item of encapsulated pixel data.
type fragment struct {
	offset int // of the item tag, relative to the first fragment's item tag (the Basic Offset Table's origin)
	data   []byte
}

// fragments splits encapsulated pixel data starting at pos into the Basic Offset Table and the fragments and
// returns the offset after the Sequence Delimitation Item.
func (w *walker) fragments(pos, end int) (bot []byte, frags []fragment, next int, err error) {
	first := -1
	for i := 0; ; i++ {
		if pos == end && i > 1 {
			// Some writers omit the final delimiter; every item so far was whole.
			return bot, frags, pos, nil
		}
		h, err := w.header(pos, end, true)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("encapsulated pixel data: %w", err)
		}
		if h.group == 0xFFFE && h.elem == 0xE0DD {
			return bot, frags, h.valueOff, nil
		}
		if h.group != 0xFFFE || h.elem != 0xE000 || h.length == undefinedLength {
			return nil, nil, 0, fmt.Errorf("encapsulated pixel data has an invalid item %s at offset %d: %w", h.tag(), pos, ErrMalformed)
		}
		stop := h.valueOff + int(h.length)
		if stop > end {
			return nil, nil, 0, fmt.Errorf("pixel data fragment at offset %d declares %d bytes but only %d remain: %w", pos, h.length, end-h.valueOff, ErrTruncated)
		}
		if i == 0 {
			bot = w.b[h.valueOff:stop]
		} else {
			if first < 0 {
				first = pos
			}
			frags = append(frags, fragment{offset: pos - first, data: w.b[h.valueOff:stop]})
		}
		pos = stop
	}
}

// topLevel is what the walk of the top-level dataset found.
type topLevel struct {
	cut        int         // offset of the first element of group 7FE0 or above: the library parses [0, cut)
	pixel      *elemHeader // (7FE0,0010), (7FE0,0008) or (7FE0,0009)
	pixelValue []byte      // its value when of defined length
	bot        []byte      // encapsulated: the Basic Offset Table
	frags      []fragment  // encapsulated: the fragments
	eot, eotLn []byte      // Extended Offset Table and its lengths (7FE0,0001/0002)
	warnings   []string    // problems tolerated
	// hidden are [start, end) byte ranges of top-level elements the DICOM library must not see: explicit UN
	// elements of undefined length (CP-246 sequences it cannot parse) and a Specific Character Set that is not
	// text (it panics on one).
	hidden [][2]int
}

// walkTop validates the whole top-level dataset in buf and locates the pixel data.
func walkTop(buf []byte, bo binary.ByteOrder, implicit bool) (topLevel, error) {
	w := &walker{b: buf, bo: bo}
	t := topLevel{cut: len(buf)}
	pos := 0
	for pos < len(buf) {
		if len(buf)-pos < 8 && allZero(buf[pos:]) {
			t.warnings = append(t.warnings, fmt.Sprintf("ignored %d trailing padding bytes", len(buf)-pos))
			break
		}
		h, err := w.header(pos, len(buf), implicit)
		if err != nil {
			return t, err
		}
		if h.group >= 0x7FE0 && t.cut == len(buf) {
			t.cut = pos
		}
		if h.group > 0x7FE0 && t.pixel != nil {
			break // padding or signatures after the pixel data
		}
		if h.group == 0x7FE0 && h.elem == 0x0010 && h.length == undefinedLength {
			bot, frags, next, err := w.fragments(h.valueOff, len(buf))
			if err != nil {
				return t, err
			}
			t.pixel, t.bot, t.frags = &h, bot, frags
			pos = next
			continue
		}
		hh := h
		_, next, err := w.element(pos, len(buf), implicit, 0)
		if err != nil {
			return t, err
		}
		t.hideFromLibrary(h, pos, next, implicit)
		if h.group == 0x7FE0 {
			val := buf[h.valueOff:next]
			switch h.elem {
			case 0x0010, 0x0008, 0x0009:
				if t.pixel == nil {
					t.pixel, t.pixelValue = &hh, val
				}
			case 0x0001:
				t.eot = val
			case 0x0002:
				t.eotLn = val
			}
		}
		pos = next
	}
	return t, nil
}

// hideFromLibrary records a top-level element at [pos, next) that the DICOM library must not see.
func (t *topLevel) hideFromLibrary(h elemHeader, pos, next int, implicit bool) {
	if !implicit && (h.vr == "UN" && h.length == undefinedLength || h.group == 0x0008 && h.elem == 0x0005 && h.vr != "CS") {
		t.hidden = append(t.hidden, [2]int{pos, next})
		t.warnings = append(t.warnings, fmt.Sprintf("skipped element %s with VR %s", h.tag(), h.vr))
	}
}

// walkHeader is walkTop for a MetadataOnly Open: buf holds the first bytes of a dataset of size bytes, and the
// walk stops at the pixel data element, whose declared length it checks against size without reading the value
// (nor, when encapsulated, its fragments). Every failure is errPrefixShort: the end of the prefix may have caused
// it, and the walk of a longer prefix, at last of the whole file, gives the real one in walkTop's words.
func walkHeader(buf []byte, size int64, bo binary.ByteOrder, implicit bool) (topLevel, error) {
	w := &walker{b: buf, bo: bo}
	t := topLevel{cut: len(buf)}
	for pos := 0; pos < len(buf); {
		h, err := w.header(pos, len(buf), implicit)
		if err != nil {
			return t, errPrefixShort
		}
		if h.group >= 0x7FE0 && t.cut == len(buf) {
			t.cut = pos
		}
		if h.group == 0x7FE0 && (h.elem == 0x0010 || h.elem == 0x0008 || h.elem == 0x0009) {
			if h.length != undefinedLength && int64(h.valueOff)+int64(h.length) > size {
				return t, errPrefixShort
			}
			t.pixel = &h
			return t, nil
		}
		_, next, err := w.element(pos, len(buf), implicit, 0)
		if err != nil {
			return t, errPrefixShort
		}
		t.hideFromLibrary(h, pos, next, implicit)
		pos = next
	}
	return t, errPrefixShort
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fileMeta is what the File Meta Information group says.
type fileMeta struct {
	transferSyntax string
	sopClass       string
	end            int // offset of the dataset
}

// readFileMeta reads the group 0002 elements starting at pos (explicit VR little endian, or implicit for some
// old writers) and returns where the dataset starts.
func readFileMeta(buf []byte, pos int) (fileMeta, error) {
	m := fileMeta{end: pos}
	w := &walker{b: buf, bo: binary.LittleEndian}
	for pos+8 <= len(buf) && binary.LittleEndian.Uint16(buf[pos:]) == 0x0002 {
		implicit := !validVR(buf[pos+4 : pos+6])
		h, err := w.header(pos, len(buf), implicit)
		if err != nil {
			return m, fmt.Errorf("file meta information: %w", err)
		}
		if h.length == undefinedLength || h.valueOff+int(h.length) > len(buf) {
			return m, fmt.Errorf("file meta element %s at offset %d has an invalid length: %w", h.tag(), pos, ErrMalformed)
		}
		val := buf[h.valueOff : h.valueOff+int(h.length)]
		switch h.elem {
		case 0x0010:
			m.transferSyntax = strings.TrimRight(string(val), " \x00")
		case 0x0002:
			m.sopClass = strings.TrimRight(string(val), " \x00")
		}
		pos = h.valueOff + int(h.length)
	}
	m.end = pos
	return m, nil
}
