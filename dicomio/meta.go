package dicomio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	dicom "github.com/suyashkumar/dicom"
	dcmtag "github.com/suyashkumar/dicom/pkg/tag"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

func tsName(ts string) string { return codec.Name(ts) }

// Tags read from the dataset that the library's tag package has no short name for in this file.
var (
	tagRedLUTDescriptor   = dcmtag.Tag{Group: 0x0028, Element: 0x1101}
	tagGreenLUTDescriptor = dcmtag.Tag{Group: 0x0028, Element: 0x1102}
	tagBlueLUTDescriptor  = dcmtag.Tag{Group: 0x0028, Element: 0x1103}
	tagRedLUTData         = dcmtag.Tag{Group: 0x0028, Element: 0x1201}
	tagGreenLUTData       = dcmtag.Tag{Group: 0x0028, Element: 0x1202}
	tagBlueLUTData        = dcmtag.Tag{Group: 0x0028, Element: 0x1203}
	tagSegmentedRedLUT    = dcmtag.Tag{Group: 0x0028, Element: 0x1221}
	tagVOILUTFunction     = dcmtag.Tag{Group: 0x0028, Element: 0x1056}
)

// find returns the top-level element, else, when nested is set, the first one inside the Shared and then the
// Per-frame Functional Groups Sequences (where Enhanced multi-frame objects keep rescale, spacing and windows).
// It walks the sequences itself: the library's FindElementByTagNested leaves a goroutine behind on every hit.
func find(ds *dicom.Dataset, t dcmtag.Tag, nested bool) *dicom.Element {
	if e, err := ds.FindElementByTag(t); err == nil {
		return e
	}
	if !nested {
		return nil
	}
	for _, fg := range []dcmtag.Tag{{Group: 0x5200, Element: 0x9229}, {Group: 0x5200, Element: 0x9230}} {
		if seq, err := ds.FindElementByTag(fg); err == nil {
			if e := findInSequence(seq, t, 0); e != nil {
				return e
			}
		}
	}
	return nil
}

// findInSequence searches the items of a sequence element depth-first.
func findInSequence(seq *dicom.Element, t dcmtag.Tag, depth int) *dicom.Element {
	if seq == nil || seq.Value == nil {
		return nil
	}
	items, ok := seq.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok || depth > maxNesting {
		return nil
	}
	for _, it := range items {
		if e := findInItem(it, t, depth); e != nil {
			return e
		}
	}
	return nil
}

// findInItem searches one sequence item depth-first.
func findInItem(it *dicom.SequenceItemValue, t dcmtag.Tag, depth int) *dicom.Element {
	elems, _ := it.GetValue().([]*dicom.Element)
	for _, e := range elems {
		if e.Tag == t {
			return e
		}
		if e.Value != nil && e.Value.ValueType() == dicom.Sequences {
			if found := findInSequence(e, t, depth+1); found != nil {
				return found
			}
		}
	}
	return nil
}

// strs returns an element's values as strings.
func strs(e *dicom.Element) []string {
	if e == nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		return v
	case []int:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = strconv.Itoa(x)
		}
		return out
	case []float64:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return out
	case []byte:
		// A text attribute written with VR UN.
		if e.RawValueRepresentation == "UN" && printable(v) {
			return strings.Split(strings.TrimRight(string(v), " \x00"), "\\")
		}
	}
	return nil
}

// printable reports whether b is non-empty ASCII text (trailing NUL padding allowed).
func printable(b []byte) bool {
	b = bytes.TrimRight(b, "\x00 ")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

func str(ds *dicom.Dataset, t dcmtag.Tag) string {
	return strings.TrimSpace(strings.Join(strs(find(ds, t, false)), "\\"))
}

// nums returns an element's values as numbers (DS/IS strings parsed; unparsable values dropped).
func nums(e *dicom.Element) []float64 {
	if e == nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return v
	case []string:
		return parseNums(v)
	case []byte:
		if e.RawValueRepresentation == "UN" && printable(v) {
			return parseNums(strs(e)) // a DS or IS written with VR UN
		}
		// A US value the library read as bytes (VR UN or OW): little endian words.
		var out []float64
		for i := 0; i+1 < len(v); i += 2 {
			out = append(out, float64(binary.LittleEndian.Uint16(v[i:])))
		}
		return out
	}
	return nil
}

// parseNums parses DS/IS strings, dropping values that are not finite numbers.
func parseNums(ss []string) []float64 {
	var out []float64
	for _, s := range ss {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	return out
}

// integer reads the first value of an integer attribute; ok is false when absent.
func integer(ds *dicom.Dataset, t dcmtag.Tag) (int, bool) {
	v := nums(find(ds, t, false))
	if len(v) == 0 || v[0] < math.MinInt32 || v[0] > math.MaxInt32 {
		return 0, false
	}
	return int(v[0]), true
}

// newScan fills the metadata a viewer shows.
func newScan(ds dicom.Dataset, ts, sopClass string) (*Scan, error) {
	s := &Scan{Format: FormatDICOM, TransferSyntax: ts, RescaleSlope: 1}
	m := &s.Meta
	m.PatientName = str(&ds, dcmtag.PatientName)
	m.PatientID = str(&ds, dcmtag.PatientID)
	m.StudyDate = str(&ds, dcmtag.StudyDate)
	m.StudyDescription = str(&ds, dcmtag.StudyDescription)
	m.SeriesDescription = str(&ds, dcmtag.SeriesDescription)
	m.Modality = str(&ds, dcmtag.Modality)
	m.BodyPart = str(&ds, dcmtag.BodyPartExamined)
	m.SeriesNumber = str(&ds, dcmtag.SeriesNumber)
	m.InstanceNumber = str(&ds, dcmtag.InstanceNumber)
	m.SliceLocation = str(&ds, dcmtag.SliceLocation)
	m.Manufacturer = str(&ds, dcmtag.Manufacturer)
	m.SOPClassUID = str(&ds, dcmtag.SOPClassUID)
	if m.SOPClassUID == "" {
		m.SOPClassUID = sopClass
	}
	readSeriesAttributes(&ds, m)
	for _, e := range ds.Elements {
		if e.Tag.Group == 0x0002 {
			continue // the synthetic meta header
		}
		val := displayValue(e)
		if val == "" {
			continue
		}
		kw := ""
		if info, err := dcmtag.Find(e.Tag); err == nil {
			kw = info.Keyword
		}
		m.Tags = append(m.Tags, Tag{Tag: fmt.Sprintf("(%04X,%04X)", e.Tag.Group, e.Tag.Element), Keyword: kw, Value: val})
	}
	return s, nil
}

// displayValue is a short text form of an element for the metadata panel; empty for binary and sequences.
func displayValue(e *dicom.Element) string {
	if e.Value == nil {
		return ""
	}
	switch e.Value.GetValue().(type) {
	case []string, []int, []float64:
	default:
		return ""
	}
	v := strings.TrimSpace(strings.Join(strs(e), "\\"))
	if r := []rune(v); len(r) > 80 {
		v = string(r[:79]) + "…"
	}
	return v
}

// readPixelModule reads the Image Pixel module and the attributes that map stored values to display.
func (s *Scan) readPixelModule(ds dicom.Dataset, pixelElem uint16) error {
	get := func(t dcmtag.Tag, def int) int {
		if v, ok := integer(&ds, t); ok {
			return v
		}
		return def
	}
	s.Rows = get(dcmtag.Rows, 0)
	s.Columns = get(dcmtag.Columns, 0)
	s.SamplesPerPixel = get(dcmtag.SamplesPerPixel, 1)
	s.StoredPhotometric = strings.ToUpper(str(&ds, dcmtag.PhotometricInterpretation))
	s.BitsAllocated = get(dcmtag.BitsAllocated, 0)
	s.BitsStored = get(dcmtag.BitsStored, s.BitsAllocated)
	s.HighBit = get(dcmtag.HighBit, s.BitsStored-1)
	s.PixelRepresentation = get(dcmtag.PixelRepresentation, 0)
	s.PlanarConfiguration = get(dcmtag.PlanarConfiguration, 0)
	s.NumFrames = 1
	if v := nums(find(&ds, dcmtag.NumberOfFrames, false)); len(v) > 0 && v[0] > 1 {
		if v[0] > MaxFrames {
			return fmt.Errorf("file declares %.0f frames, more than the limit of %d: %w", v[0], MaxFrames, ErrTooLarge)
		}
		s.NumFrames = int(v[0])
	}
	switch pixelElem {
	case 0x0008:
		s.floatPixels = 32
		if s.BitsAllocated == 0 {
			s.BitsAllocated = 32
		}
	case 0x0009:
		s.floatPixels = 64
		if s.BitsAllocated == 0 {
			s.BitsAllocated = 64
		}
	}
	if s.StoredPhotometric == "" {
		s.StoredPhotometric = "MONOCHROME2"
		if s.SamplesPerPixel == 3 {
			s.StoredPhotometric = "RGB"
		}
	}
	switch {
	case s.Rows <= 0 || s.Columns <= 0:
		return fmt.Errorf("image has invalid dimensions %d×%d: %w", s.Columns, s.Rows, ErrMalformed)
	case s.Rows > MaxDimension || s.Columns > MaxDimension:
		return fmt.Errorf("image is %d×%d, larger than %d on a side: %w", s.Columns, s.Rows, MaxDimension, ErrTooLarge)
	case s.SamplesPerPixel != 1 && s.SamplesPerPixel != 3:
		return fmt.Errorf("%d samples per pixel are not supported: %w", s.SamplesPerPixel, ErrUnsupported)
	case s.floatPixels == 0 && s.BitsAllocated != 1 && s.BitsAllocated != 8 && s.BitsAllocated != 16 && s.BitsAllocated != 32:
		return fmt.Errorf("%d bits allocated per sample are not supported: %w", s.BitsAllocated, ErrUnsupported)
	case s.floatPixels != 0 && s.BitsAllocated != s.floatPixels:
		return fmt.Errorf("float pixel data with %d bits allocated is invalid: %w", s.BitsAllocated, ErrMalformed)
	case s.BitsStored <= 0 || s.BitsStored > s.BitsAllocated:
		return fmt.Errorf("bits stored %d does not fit bits allocated %d: %w", s.BitsStored, s.BitsAllocated, ErrMalformed)
	case s.HighBit < s.BitsStored-1 || s.HighBit >= s.BitsAllocated:
		return fmt.Errorf("high bit %d does not fit bits stored %d and allocated %d: %w", s.HighBit, s.BitsStored, s.BitsAllocated, ErrMalformed)
	case s.PixelRepresentation != 0 && s.PixelRepresentation != 1:
		return fmt.Errorf("pixel representation %d is invalid: %w", s.PixelRepresentation, ErrMalformed)
	}
	s.storedSPP = s.SamplesPerPixel
	if total := int64(s.Rows) * int64(s.Columns) * int64(s.SamplesPerPixel) * int64(s.NumFrames); total > MaxSamples {
		return fmt.Errorf("image has %d samples, more than the limit of %d: %w", total, MaxSamples, ErrTooLarge)
	}
	switch s.StoredPhotometric {
	case "MONOCHROME1", "MONOCHROME2":
		s.Photometric = s.StoredPhotometric
		if s.SamplesPerPixel != 1 {
			return fmt.Errorf("%s with %d samples per pixel is invalid: %w", s.StoredPhotometric, s.SamplesPerPixel, ErrMalformed)
		}
	case "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420":
		s.Photometric = "RGB"
		if s.SamplesPerPixel != 3 {
			return fmt.Errorf("%s with %d samples per pixel is invalid: %w", s.StoredPhotometric, s.SamplesPerPixel, ErrMalformed)
		}
	case "PALETTE COLOR":
		s.Photometric = "RGB"
		if s.SamplesPerPixel != 1 {
			return fmt.Errorf("PALETTE COLOR with %d samples per pixel is invalid: %w", s.SamplesPerPixel, ErrMalformed)
		}
		if err := s.readPalette(ds); err != nil {
			return err
		}
		s.SamplesPerPixel = 3 // frames hold the palette's RGB
	default:
		return fmt.Errorf("photometric interpretation %q is not supported: %w", s.StoredPhotometric, ErrUnsupported)
	}

	if v := nums(find(&ds, dcmtag.RescaleSlope, true)); len(v) > 0 && v[0] != 0 {
		s.RescaleSlope = v[0]
	}
	if v := nums(find(&ds, dcmtag.RescaleIntercept, true)); len(v) > 0 {
		s.RescaleIntercept = v[0]
	}
	s.RescaleType = str(&ds, dcmtag.RescaleType)
	if s.RescaleType == "" && s.Meta.Modality == "CT" {
		s.RescaleType = "HU"
	}
	if e := find(&ds, dcmtag.ModalityLUTSequence, false); e != nil && s.Photometric != "RGB" {
		if luts := readLUTs(e, s.PixelRepresentation == 1); len(luts) > 0 {
			l := luts[0].lut
			s.modalityLUT = &l
		}
	}
	if v := nums(find(&ds, dcmtag.PixelSpacing, true)); len(v) >= 2 && v[0] > 0 && v[1] > 0 {
		s.PixelSpacing = Spacing{Row: v[0], Column: v[1], Source: "PixelSpacing"}
	} else if v := nums(find(&ds, dcmtag.ImagerPixelSpacing, true)); len(v) >= 2 && v[0] > 0 && v[1] > 0 {
		s.PixelSpacing = Spacing{Row: v[0], Column: v[1], Source: "ImagerPixelSpacing"}
	}
	s.readWindows(ds)
	return nil
}

// readWindows collects every Window Center/Width pair and every VOI LUT Sequence item.
func (s *Scan) readWindows(ds dicom.Dataset) {
	if s.Photometric == "RGB" {
		return
	}
	centers := nums(find(&ds, dcmtag.WindowCenter, true))
	widths := nums(find(&ds, dcmtag.WindowWidth, true))
	names := strs(find(&ds, dcmtag.WindowCenterWidthExplanation, true))
	fn := VOIFunction(strings.ToUpper(str(&ds, tagVOILUTFunction)))
	switch fn {
	case VOILinear, VOILinearExact, VOISigmoid:
	default:
		fn = VOILinear
	}
	for i := 0; i < len(centers) && i < len(widths); i++ {
		w := Window{Center: centers[i], Width: widths[i], Function: fn}
		if w.Width <= 0 || (fn == VOILinear && w.Width < 1) {
			continue // invalid per C.11.2.1.2; fall back to the next window or min–max
		}
		if i < len(names) {
			w.Name = strings.TrimSpace(names[i])
		}
		if w.Name == "" {
			w.Name = fmt.Sprintf("file window %d", i+1)
		}
		s.Windows = append(s.Windows, w)
	}
	if e := find(&ds, dcmtag.VOILUTSequence, false); e != nil {
		for i, l := range readLUTs(e, s.PixelRepresentation == 1) {
			name := l.explanation
			if name == "" {
				name = fmt.Sprintf("file VOI LUT %d", i+1)
			}
			lut := l.lut
			s.Windows = append(s.Windows, Window{Name: name, LUT: &lut, Center: float64(lut.FirstMapped) + float64(len(lut.Data))/2, Width: float64(len(lut.Data))})
		}
	}
}

type namedLUT struct {
	lut         LUT
	explanation string
}

// readLUTs reads the items of a Modality or VOI LUT Sequence; malformed items are skipped.
func readLUTs(seq *dicom.Element, signedInput bool) []namedLUT {
	items, ok := seq.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	var out []namedLUT
	for _, it := range items {
		elems, ok := it.GetValue().([]*dicom.Element)
		if !ok {
			continue
		}
		sub := dicom.Dataset{Elements: elems}
		desc := nums(find(&sub, dcmtag.LUTDescriptor, false))
		dataEl := find(&sub, dcmtag.LUTData, false)
		if len(desc) < 3 || dataEl == nil {
			continue
		}
		lut, err := makeLUT(desc, dataEl, signedInput)
		if err != nil {
			continue
		}
		out = append(out, namedLUT{lut: lut, explanation: str(&sub, dcmtag.LUTExplanation)})
	}
	return out
}

// makeLUT builds a LUT from its descriptor (entries, first mapped, bits) and data (US/SS values or OW words).
func makeLUT(desc []float64, dataEl *dicom.Element, signedInput bool) (LUT, error) {
	n := int(desc[0])
	if n == 0 {
		n = 65536
	}
	first := int(desc[1])
	if signedInput && first > 32767 {
		first -= 65536
	}
	bits := int(desc[2])
	if bits < 1 || bits > 16 {
		return LUT{}, fmt.Errorf("LUT descriptor has %d bits: %w", bits, ErrMalformed)
	}
	var data []uint16
	switch v := dataEl.Value.GetValue().(type) {
	case []int:
		data = make([]uint16, len(v))
		for i, x := range v {
			data[i] = uint16(x)
		}
	case []byte:
		if bits <= 8 && len(v) == n {
			data = make([]uint16, len(v))
			for i, x := range v {
				data[i] = uint16(x)
			}
		} else {
			data = make([]uint16, len(v)/2)
			for i := range data {
				data[i] = binary.LittleEndian.Uint16(v[2*i:])
			}
		}
	default:
		return LUT{}, fmt.Errorf("LUT data has an unexpected type: %w", ErrMalformed)
	}
	if len(data) < n {
		return LUT{}, fmt.Errorf("LUT data has %d entries, the descriptor says %d: %w", len(data), n, ErrMalformed)
	}
	return LUT{FirstMapped: first, Bits: bits, Data: data[:n]}, nil
}

// readPalette reads the red, green and blue Palette Color LUTs, plain or segmented (PS3.3 C.7.9.2).
func (s *Scan) readPalette(ds dicom.Dataset) error {
	descTags := []dcmtag.Tag{tagRedLUTDescriptor, tagGreenLUTDescriptor, tagBlueLUTDescriptor}
	dataTags := []dcmtag.Tag{tagRedLUTData, tagGreenLUTData, tagBlueLUTData}
	segTags := []dcmtag.Tag{tagSegmentedRedLUT, {Group: 0x0028, Element: 0x1222}, {Group: 0x0028, Element: 0x1223}}
	maxEntry := 0
	for i := range 3 {
		desc := nums(find(&ds, descTags[i], false))
		dataEl := find(&ds, dataTags[i], false)
		if len(desc) < 3 {
			return fmt.Errorf("PALETTE COLOR image lacks its palette lookup table descriptors: %w", ErrMalformed)
		}
		var lut LUT
		var err error
		if dataEl == nil {
			seg := find(&ds, segTags[i], false)
			if seg == nil {
				return fmt.Errorf("PALETTE COLOR image lacks its palette lookup tables: %w", ErrMalformed)
			}
			lut, err = segmentedLUT(desc, seg)
		} else {
			lut, err = makeLUT(desc, dataEl, false)
		}
		if err != nil {
			return fmt.Errorf("palette lookup table: %w", err)
		}
		// Descriptors often say 16 bits for tables whose entries are 8-bit.
		for _, v := range lut.Data {
			maxEntry = max(maxEntry, int(v))
		}
		s.palette[i] = lut
	}
	bits := s.palette[0].Bits
	if bits > 8 && maxEntry <= 255 {
		bits = 8
	}
	s.colorMax = float32(uint32(1)<<bits - 1)
	return nil
}

// segmentedLUT expands a Segmented Palette Color LUT (PS3.3 C.7.9.2: discrete, linear and indirect segments of
// 16-bit words) to the descriptor's number of entries.
func segmentedLUT(desc []float64, el *dicom.Element) (LUT, error) {
	raw, ok := el.Value.GetValue().([]byte)
	if !ok {
		return LUT{}, fmt.Errorf("segmented LUT data has an unexpected type: %w", ErrMalformed)
	}
	n := int(desc[0])
	if n == 0 {
		n = 65536
	}
	bits := int(desc[2])
	if bits < 1 || bits > 16 {
		return LUT{}, fmt.Errorf("LUT descriptor has %d bits: %w", bits, ErrMalformed)
	}
	words := make([]uint16, len(raw)/2)
	for i := range words {
		words[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	out := make([]uint16, 0, n)
	var expand func(pos, segments, depth int) error
	expand = func(pos, segments, depth int) error {
		if depth > 2 {
			return fmt.Errorf("segmented LUT nests indirect segments: %w", ErrMalformed)
		}
		for done := 0; pos+1 < len(words) && (segments < 0 || done < segments) && len(out) < n; done++ {
			op, length := words[pos], int(words[pos+1])
			pos += 2
			switch op {
			case 0:
				if pos+length > len(words) {
					return fmt.Errorf("segmented LUT discrete segment runs past its data: %w", ErrMalformed)
				}
				out = append(out, words[pos:pos+length]...)
				pos += length
			case 1:
				if len(out) == 0 || pos >= len(words) {
					return fmt.Errorf("segmented LUT starts with a linear segment: %w", ErrMalformed)
				}
				y0, y1 := float64(out[len(out)-1]), float64(words[pos])
				pos++
				for k := 1; k <= length && len(out) < n; k++ {
					out = append(out, uint16(math.Round(y0+(y1-y0)*float64(k)/float64(length))))
				}
			case 2:
				if pos+1 >= len(words) {
					return fmt.Errorf("segmented LUT indirect segment is cut short: %w", ErrMalformed)
				}
				off := int(uint32(words[pos]) | uint32(words[pos+1])<<16)
				pos += 2
				if off%2 != 0 || off/2 >= len(words) {
					return fmt.Errorf("segmented LUT indirect offset %d is invalid: %w", off, ErrMalformed)
				}
				if err := expand(off/2, length, depth+1); err != nil {
					return err
				}
			default:
				return fmt.Errorf("segmented LUT has an unknown segment type %d: %w", op, ErrMalformed)
			}
		}
		return nil
	}
	if err := expand(0, -1, 0); err != nil {
		return LUT{}, err
	}
	if len(out) < n {
		return LUT{}, fmt.Errorf("segmented LUT expands to %d entries, the descriptor says %d: %w", len(out), n, ErrMalformed)
	}
	return LUT{FirstMapped: int(desc[1]), Bits: bits, Data: out[:n]}, nil
}
