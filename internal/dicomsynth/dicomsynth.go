// Package dicomsynth writes small synthetic DICOM files for tests: CT slices and series, an Enhanced CT
// multi-frame object, localizers, a dose report, DICOMDIRs, and grey images whose frames hold chosen values, with
// this repository's own encoder (Part 10, Explicit VR Little Endian). Nothing here is shipped; it exists so that
// series indexing, DICOMDIR reading and the pipeline's frame counting are tested without the shared corpus, on
// files whose every attribute the test chose.
package dicomsynth

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Element is one data element. A sequence has VR "SQ" and its items in Items (Value unused).
type Element struct {
	Tag   uint32 // group<<16 | element
	VR    string
	Value []byte
	Items [][]Element
}

// Tags used by the writers below.
const (
	TagImageType               = 0x00080008
	TagSOPClassUID             = 0x00080016
	TagSOPInstanceUID          = 0x00080018
	TagStudyDate               = 0x00080020
	TagModality                = 0x00080060
	TagStudyDescription        = 0x00081030
	TagSeriesDescription       = 0x0008103E
	TagPatientName             = 0x00100010
	TagPatientID               = 0x00100020
	TagPatientBirthDate        = 0x00100030
	TagPatientSex              = 0x00100040
	TagPatientAge              = 0x00101010
	TagBodyPartExamined        = 0x00180015
	TagSliceThickness          = 0x00180050
	TagSpacingBetweenSlices    = 0x00180088
	TagViewPosition            = 0x00185101
	TagStudyInstanceUID        = 0x0020000D
	TagSeriesInstanceUID       = 0x0020000E
	TagSeriesNumber            = 0x00200011
	TagAcquisitionNumber       = 0x00200012
	TagInstanceNumber          = 0x00200013
	TagImagePositionPatient    = 0x00200032
	TagImageOrientationPatient = 0x00200037
	TagFrameOfReferenceUID     = 0x00200052
	TagPlanePositionSequence   = 0x00209113
	TagPlaneOrientationSeq     = 0x00209116
	TagSamplesPerPixel         = 0x00280002
	TagPhotometric             = 0x00280004
	TagNumberOfFrames          = 0x00280008
	TagRows                    = 0x00280010
	TagColumns                 = 0x00280011
	TagPixelSpacing            = 0x00280030
	TagBitsAllocated           = 0x00280100
	TagBitsStored              = 0x00280101
	TagHighBit                 = 0x00280102
	TagPixelRepresentation     = 0x00280103
	TagRescaleIntercept        = 0x00281052
	TagRescaleSlope            = 0x00281053
	TagPixelMeasuresSequence   = 0x00289110
	TagSharedFunctionalGroups  = 0x52009229
	TagPerFrameFunctionalGroup = 0x52009230
	TagPixelData               = 0x7FE00010
)

// SOP Classes written here.
const (
	SOPClassCT          = "1.2.840.10008.5.1.4.1.1.2"
	SOPClassEnhancedCT  = "1.2.840.10008.5.1.4.1.1.2.1"
	SOPClassDoseSR      = "1.2.840.10008.5.1.4.1.1.88.67"
	SOPClassGrayscalePS = "1.2.840.10008.5.1.4.1.1.11.1"
	explicitVRLE        = "1.2.840.10008.1.2.1"
	mediaStorageDir     = "1.2.840.10008.1.3.10"
)

// UID derives a valid, stable UID from a seed (the 2.25 form of PS3.5 B.2: a decimal of 128 bits of SHA-256).
func UID(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

// Text is a text element, padded to even length (UIDs with NUL, others with a space, PS3.5 6.2).
func Text(tag uint32, vr, s string) Element {
	b := []byte(s)
	if len(b)%2 == 1 {
		if vr == "UI" {
			b = append(b, 0)
		} else {
			b = append(b, ' ')
		}
	}
	return Element{Tag: tag, VR: vr, Value: b}
}

// US is an unsigned short element.
func US(tag uint32, v ...int) Element {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, uint16(x))
	}
	return Element{Tag: tag, VR: "US", Value: b}
}

// UL is an unsigned long element.
func UL(tag uint32, v ...uint32) Element {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return Element{Tag: tag, VR: "UL", Value: b}
}

// DS is a decimal string element.
func DS(tag uint32, v ...float64) Element {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'g', 10, 64)
	}
	return Text(tag, "DS", strings.Join(parts, `\`))
}

// IS is an integer string element.
func IS(tag uint32, v int) Element { return Text(tag, "IS", strconv.Itoa(v)) }

// Seq is a sequence element.
func Seq(tag uint32, items ...[]Element) Element { return Element{Tag: tag, VR: "SQ", Items: items} }

func longLength(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// encode appends elements in tag order; sequences and their items get defined lengths.
func encode(w *bytes.Buffer, elems []Element) {
	sorted := append([]Element(nil), elems...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Tag < sorted[j].Tag })
	le := binary.LittleEndian
	for _, e := range sorted {
		val := e.Value
		if e.VR == "SQ" {
			var items bytes.Buffer
			for _, it := range e.Items {
				var body bytes.Buffer
				encode(&body, it)
				items.Write(le.AppendUint16(nil, 0xFFFE))
				items.Write(le.AppendUint16(nil, 0xE000))
				items.Write(le.AppendUint32(nil, uint32(body.Len())))
				items.Write(body.Bytes())
			}
			val = items.Bytes()
		}
		w.Write(le.AppendUint16(nil, uint16(e.Tag>>16)))
		w.Write(le.AppendUint16(nil, uint16(e.Tag)))
		w.WriteString(e.VR)
		if longLength(e.VR) {
			w.Write([]byte{0, 0})
			w.Write(le.AppendUint32(nil, uint32(len(val))))
		} else {
			w.Write(le.AppendUint16(nil, uint16(len(val))))
		}
		w.Write(val)
	}
}

// File encodes a Part 10 file whose File Meta names the dataset's SOP Class and Instance (mediaClass when the
// dataset has no SOP Class, as a DICOMDIR has none).
func File(ds []Element) []byte { return file(ds, "") }

func file(ds []Element, mediaClass string) []byte {
	class, instance := mediaClass, UID("instance")
	for _, e := range ds {
		switch e.Tag {
		case TagSOPClassUID:
			class = strings.TrimRight(string(e.Value), "\x00 ")
		case TagSOPInstanceUID:
			instance = strings.TrimRight(string(e.Value), "\x00 ")
		}
	}
	var meta bytes.Buffer
	encode(&meta, []Element{
		{Tag: 0x00020001, VR: "OB", Value: []byte{0, 1}},
		Text(0x00020002, "UI", class),
		Text(0x00020003, "UI", instance),
		Text(0x00020010, "UI", explicitVRLE),
		Text(0x00020012, "UI", UID("tumortracer dicomsynth")),
	})
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	encode(&out, []Element{UL(0x00020000, uint32(meta.Len()))})
	out.Write(meta.Bytes())
	encode(&out, ds)
	return out.Bytes()
}

// Value is the text value of an element of ds (padding trimmed); empty when absent.
func Value(ds []Element, tag uint32) string {
	for _, e := range ds {
		if e.Tag == tag {
			return strings.TrimRight(string(e.Value), "\x00 ")
		}
	}
	return ""
}

// Without returns ds without the elements of the given tags (a file that lacks a required attribute).
func Without(ds []Element, tags ...uint32) []Element {
	var out []Element
	for _, e := range ds {
		drop := false
		for _, t := range tags {
			drop = drop || e.Tag == t
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

// Write writes File(ds) to path, creating its folder.
func Write(path string, ds []Element) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, File(ds), 0o644)
}

// GreyFrames is a bare image dataset of the given modality whose frames hold the given values: rows×cols unsigned
// 16-bit values each, MONOCHROME2, Number of Frames when there are several. It is for tests that tell frames
// apart by value (which frame was decoded, classified, shown); an error names a frame of the wrong size.
func GreyFrames(modality string, rows, cols int, frames [][]uint16) ([]Element, error) {
	px := make([]byte, 0, 2*rows*cols*len(frames))
	for i, f := range frames {
		if len(f) != rows*cols {
			return nil, fmt.Errorf("frame %d has %d values for %d×%d", i, len(f), cols, rows)
		}
		for _, v := range f {
			px = binary.LittleEndian.AppendUint16(px, v)
		}
	}
	ds := []Element{
		Text(TagModality, "CS", modality),
		US(TagSamplesPerPixel, 1),
		Text(TagPhotometric, "CS", "MONOCHROME2"),
		US(TagRows, rows),
		US(TagColumns, cols),
		US(TagBitsAllocated, 16),
		US(TagBitsStored, 16),
		US(TagHighBit, 15),
		US(TagPixelRepresentation, 0),
		{Tag: TagPixelData, VR: "OW", Value: px},
	}
	if len(frames) > 1 {
		ds = append(ds, IS(TagNumberOfFrames, len(frames)))
	}
	return ds, nil
}

// Series describes a CT series; its zero values are filled with defaults by the writers.
type Series struct {
	PatientID, PatientName, PatientAge    string
	StudyUID, SeriesUID, FrameOfReference string
	StudyDescription, Description         string
	SeriesNumber                          int
	Rows, Columns                         int        // 16×16 by default: the index reads headers only
	Orientation                           [6]float64 // axial (1,0,0,0,1,0) when zero
	ImageType                             string     // ORIGINAL\PRIMARY\AXIAL when empty
	Thickness                             float64
}

// Slice is one image of a series.
type Slice struct {
	Position    [3]float64
	NoPosition  bool        // write no Image Position (Patient)
	Orientation *[6]float64 // overrides the series' orientation
	Instance    int         // Instance Number; 0 writes none
	Acquisition int         // Acquisition Number; 0 writes none
	UIDSeed     string      // seeds the SOP Instance UID; the position and instance when empty
	// Values, when set, are the slice's stored pixel values (Rows×Columns, row by row; HU = value − 1024)
	// instead of the series' ramp, so that a test can tell slices apart by what they show.
	Values []uint16
}

// WithDefaults is the series as the writers fill it in: UIDs derived from the patient and description, 16×16
// pixels, axial orientation, ORIGINAL\PRIMARY\AXIAL.
func (s Series) WithDefaults() Series {
	if s.PatientID == "" {
		s.PatientID = "SYNTH-1"
	}
	if s.PatientName == "" {
		s.PatientName = "Synthetic^Patient"
	}
	if s.StudyUID == "" {
		s.StudyUID = UID("study " + s.PatientID)
	}
	if s.SeriesUID == "" {
		s.SeriesUID = UID("series " + s.Description + s.StudyUID)
	}
	if s.FrameOfReference == "" {
		s.FrameOfReference = UID("frame of reference " + s.StudyUID)
	}
	if s.Rows == 0 {
		s.Rows, s.Columns = 16, 16
	}
	if s.Orientation == ([6]float64{}) {
		s.Orientation = [6]float64{1, 0, 0, 0, 1, 0}
	}
	if s.ImageType == "" {
		s.ImageType = `ORIGINAL\PRIMARY\AXIAL`
	}
	if s.Description == "" {
		s.Description = "Synthetic chest CT"
	}
	if s.SeriesNumber == 0 {
		s.SeriesNumber = 2
	}
	return s
}

// common holds the patient, study and series attributes every object of the series carries.
func (s Series) common(class, instance string) []Element {
	e := []Element{
		Text(TagSOPClassUID, "UI", class),
		Text(TagSOPInstanceUID, "UI", instance),
		Text(TagStudyDate, "DA", "20260102"),
		Text(TagModality, "CS", "CT"),
		Text(TagStudyDescription, "LO", s.StudyDescription),
		Text(TagSeriesDescription, "LO", s.Description),
		Text(TagPatientName, "PN", s.PatientName),
		Text(TagPatientID, "LO", s.PatientID),
		Text(TagBodyPartExamined, "CS", "CHEST"),
		Text(TagStudyInstanceUID, "UI", s.StudyUID),
		Text(TagSeriesInstanceUID, "UI", s.SeriesUID),
		IS(TagSeriesNumber, s.SeriesNumber),
		Text(TagFrameOfReferenceUID, "UI", s.FrameOfReference),
	}
	if s.PatientAge != "" {
		e = append(e, Text(TagPatientAge, "AS", s.PatientAge))
	}
	return e
}

// image holds the Image Pixel module for frames frames of the series' size, with a ramp so that frames differ.
func (s Series) image(frames int) []Element {
	px := make([]byte, 0, 2*s.Rows*s.Columns*frames)
	for f := range frames {
		for i := range s.Rows * s.Columns {
			px = binary.LittleEndian.AppendUint16(px, uint16((i+37*f)%2000))
		}
	}
	e := []Element{
		US(TagSamplesPerPixel, 1),
		Text(TagPhotometric, "CS", "MONOCHROME2"),
		US(TagRows, s.Rows),
		US(TagColumns, s.Columns),
		US(TagBitsAllocated, 16),
		US(TagBitsStored, 12),
		US(TagHighBit, 11),
		US(TagPixelRepresentation, 0),
		{Tag: TagPixelData, VR: "OW", Value: px},
	}
	if frames > 1 {
		e = append(e, IS(TagNumberOfFrames, frames))
	}
	return e
}

// CTSlice is the dataset of one single-frame CT slice of the series.
func (s Series) CTSlice(sl Slice) []Element {
	s = s.WithDefaults()
	seed := sl.UIDSeed
	if seed == "" {
		seed = fmt.Sprint(s.SeriesUID, sl.Position, sl.Instance, sl.NoPosition)
	}
	ds := append(s.common(SOPClassCT, UID("slice "+seed)), s.image(1)...)
	if sl.Values != nil {
		px := make([]byte, 0, 2*len(sl.Values))
		for _, v := range sl.Values {
			px = binary.LittleEndian.AppendUint16(px, v)
		}
		for i := range ds {
			if ds[i].Tag == TagPixelData {
				ds[i].Value = px
			}
		}
	}
	orient := s.Orientation
	if sl.Orientation != nil {
		orient = *sl.Orientation
	}
	ds = append(ds,
		Text(TagImageType, "CS", s.ImageType),
		DS(TagImageOrientationPatient, orient[:]...),
		DS(TagPixelSpacing, 0.7, 0.7),
		DS(TagRescaleIntercept, -1024),
		DS(TagRescaleSlope, 1),
	)
	if !sl.NoPosition {
		ds = append(ds, DS(TagImagePositionPatient, sl.Position[:]...))
	}
	if s.Thickness > 0 {
		ds = append(ds, DS(TagSliceThickness, s.Thickness))
	}
	if sl.Instance != 0 {
		ds = append(ds, IS(TagInstanceNumber, sl.Instance))
	}
	if sl.Acquisition != 0 {
		ds = append(ds, IS(TagAcquisitionNumber, sl.Acquisition))
	}
	return ds
}

// Localizer is a CT localizer (scout) of the series: a coronal projection with ImageType …\LOCALIZER.
func (s Series) Localizer(instance int) []Element {
	s = s.WithDefaults()
	s.ImageType = `ORIGINAL\PRIMARY\LOCALIZER`
	s.Orientation = [6]float64{1, 0, 0, 0, 0, -1}
	return s.CTSlice(Slice{Position: [3]float64{-250, 0, 100}, Instance: instance, UIDSeed: "localizer"})
}

// EnhancedCT is one Enhanced CT Image object holding a frame per slice: positions in the Per-frame Functional
// Groups, orientation and pixel measures in the Shared Functional Groups, as scanners write them. A slice's
// Orientation, when set, goes into its own per-frame item.
func (s Series) EnhancedCT(frames []Slice) []Element {
	s = s.WithDefaults()
	ds := append(s.common(SOPClassEnhancedCT, UID("enhanced "+s.SeriesUID)), s.image(len(frames))...)
	ds = append(ds, Text(TagImageType, "CS", `ORIGINAL\PRIMARY\AXIAL\NONE`), IS(TagInstanceNumber, 1))
	shared := []Element{
		Seq(TagPlaneOrientationSeq, []Element{DS(TagImageOrientationPatient, s.Orientation[:]...)}),
		Seq(TagPixelMeasuresSequence, []Element{DS(TagPixelSpacing, 0.7, 0.7), DS(TagSliceThickness, 1.25)}),
	}
	perFrame := make([][]Element, len(frames))
	for i, f := range frames {
		perFrame[i] = []Element{Seq(TagPlanePositionSequence, []Element{DS(TagImagePositionPatient, f.Position[:]...)})}
		if f.Orientation != nil {
			perFrame[i] = append(perFrame[i], Seq(TagPlaneOrientationSeq, []Element{DS(TagImageOrientationPatient, f.Orientation[:]...)}))
		}
	}
	return append(ds, Seq(TagSharedFunctionalGroups, shared), Seq(TagPerFrameFunctionalGroup, perFrame...))
}

// DoseReport is an X-Ray Radiation Dose SR of the study (no pixel data), in its own series.
func (s Series) DoseReport() []Element {
	s = s.WithDefaults()
	s.SeriesUID, s.Description, s.SeriesNumber = UID("dose "+s.StudyUID), "Dose Report", 999
	ds := s.common(SOPClassDoseSR, UID("dose report "+s.StudyUID))
	for i := range ds {
		if ds[i].Tag == TagModality {
			ds[i] = Text(TagModality, "CS", "SR")
		}
	}
	return ds
}

// Axial returns n slice positions 'spacing' mm apart along the axial normal, from z0 upwards.
func Axial(n int, z0, spacing float64) [][3]float64 {
	out := make([][3]float64, n)
	for i := range out {
		out[i] = [3]float64{-175, -175, z0 + float64(i)*spacing}
	}
	return out
}

// CTValues turns a picture of a CT slice, as shown in the window (center, width in HU), back into the stored
// values of a rows×cols slice (HU = value − 1024, as CTSlice's rescale says), stretched by nearest neighbour: a test
// series made from exported slices shows anatomy rather than a ramp.
func CTValues(img image.Image, rows, cols int, center, width float64) []uint16 {
	b := img.Bounds()
	out := make([]uint16, rows*cols)
	for y := range rows {
		for x := range cols {
			c := color.GrayModel.Convert(img.At(b.Min.X+x*b.Dx()/cols, b.Min.Y+y*b.Dy()/rows)).(color.Gray)
			hu := center - width/2 + float64(c.Y)/255*width
			out[y*cols+x] = uint16(max(0, min(4095, math.Round(hu+1024))))
		}
	}
	return out
}

// FlatValues are the stored values of a slice of n pixels that all hold hu Hounsfield units (value hu + 1024, as
// CTSlice's rescale says): slices a test tells apart by their brightness alone.
func FlatValues(n, hu int) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		v[i] = uint16(hu + 1024)
	}
	return v
}

// SOPClassDX is Digital X-Ray Image Storage - For Presentation.
const SOPClassDX = "1.2.840.10008.5.1.4.1.1.1.1"

// Film is a chest radiograph dataset holding g's pixels (DX, MONOCHROME2, 16-bit values 0–255, no window tags, so
// it renders as g does) with the population tags a model's checks read: PatientAge (e.g. "003Y"; none when empty),
// ViewPosition (PA, AP, LATERAL; none when empty) and BodyPartExamined CHEST. Tests wrap a real film's pixels in
// it to give a model the DICOM it was made for, or one its population excludes.
func Film(g *image.Gray, age, view string) []Element {
	b := g.Bounds()
	px := make([]byte, 0, 2*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			px = binary.LittleEndian.AppendUint16(px, uint16(g.GrayAt(x, y).Y))
		}
	}
	uid := UID(fmt.Sprintf("film %dx%d %s %s %x", b.Dx(), b.Dy(), age, view, sha256.Sum256(px)))
	ds := []Element{
		Text(TagSOPClassUID, "UI", SOPClassDX),
		Text(TagSOPInstanceUID, "UI", uid),
		Text(TagStudyDate, "DA", "20260102"),
		Text(TagModality, "CS", "DX"),
		Text(TagBodyPartExamined, "CS", "CHEST"),
		Text(TagStudyInstanceUID, "UI", uid+".1"),
		Text(TagSeriesInstanceUID, "UI", uid+".2"),
		US(TagSamplesPerPixel, 1),
		Text(TagPhotometric, "CS", "MONOCHROME2"),
		US(TagRows, b.Dy()),
		US(TagColumns, b.Dx()),
		US(TagBitsAllocated, 16),
		US(TagBitsStored, 16),
		US(TagHighBit, 15),
		US(TagPixelRepresentation, 0),
		{Tag: TagPixelData, VR: "OW", Value: px},
	}
	if age != "" {
		ds = append(ds, Text(TagPatientAge, "AS", age))
	}
	if view != "" {
		ds = append(ds, Text(TagViewPosition, "CS", view))
	}
	return ds
}
