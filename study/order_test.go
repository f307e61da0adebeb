package study

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio"
)

// entry builds an image entry of series "S" lying at z with the given orientation and instance number.
func entry(path string, z float64, orient [6]float64, instance int) Entry {
	m := dicomio.Metadata{SeriesInstanceUID: "S", StudyInstanceUID: "T", SOPInstanceUID: "sop-" + path,
		Plane: dicomio.Plane{Position: [3]float64{1, 2, z}, Orientation: orient, HasPosition: true, HasOrientation: true}}
	if instance > 0 {
		m.Instance = dicomio.Optional[int]{Value: instance, OK: true}
	}
	return Entry{Path: path, Format: dicomio.FormatDICOM, Kind: KindImage, Frames: 1, Meta: m}
}

var axialOrient = [6]float64{1, 0, 0, 0, 1, 0}

func TestOrderSlices(t *testing.T) {
	radiograph := func(path string, instance int) Entry {
		e := entry(path, 0, axialOrient, instance)
		e.Meta.Plane = dicomio.Plane{}
		return e
	}
	flipped := [6]float64{-1, 0, 0, 0, -1, 0} // same plane, rows and columns reversed: normal (0,0,1) still
	mirrored := [6]float64{-1, 0, 0, 0, 1, 0} // normal (0,0,-1): parallel, opposite
	multiFrame := func(path string, planes int) Entry {
		e := entry(path, 0, axialOrient, 1)
		e.Frames = 4
		for f := range planes {
			e.Meta.FramePlanes = append(e.Meta.FramePlanes, dicomio.Plane{Position: [3]float64{0, 0, float64(10 - 2*f)}, Orientation: axialOrient, HasPosition: true, HasOrientation: true})
		}
		return e
	}
	cases := []struct {
		name      string
		entries   []Entry
		orderedBy string
		want      string // path:frame of each slice, in order
		problems  []string
	}{
		{"radiographs by instance number", []Entry{radiograph("b", 2), radiograph("a", 3), radiograph("c", 1), radiograph("d", 0)},
			OrderInstance, "c:0 b:0 a:0 d:0", nil},
		{"ties at one position by instance number", []Entry{entry("x", 5, axialOrient, 2), entry("y", 5, axialOrient, 1), entry("z", 0, axialOrient, 0)},
			OrderPosition, "z:0 y:0 x:0", []string{"1 slice repeats"}},
		{"reversed rows stay one orientation", []Entry{entry("a", 0, axialOrient, 0), entry("b", 1, flipped, 0), entry("c", 2, mirrored, 0)},
			OrderPosition, "a:0 b:0 c:0", nil},
		{"multi-frame with frame planes", []Entry{multiFrame("m", 4)}, OrderPosition, "m:3 m:2 m:1 m:0", nil},
		{"multi-frame missing some frame planes", []Entry{multiFrame("m", 2)}, OrderPosition, "m:1 m:0 m:2 m:3",
			[]string{"2 of the 4 slices have no position"}},
		{"multi-frame without frame planes", []Entry{func() Entry { e := entry("m", 3, axialOrient, 1); e.Frames = 3; return e }()},
			OrderInstance, "m:0 m:1 m:2", nil},
		{"a slice without orientation", []Entry{entry("a", 0, axialOrient, 1), entry("b", 1, axialOrient, 2), func() Entry {
			e := entry("c", 2, axialOrient, 3)
			e.Meta.Plane.HasOrientation = false
			return e
		}()}, OrderPosition, "a:0 b:0 c:0", []string{"1 of the 3 slices have no orientation"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			images := make([]int, len(c.entries))
			for i := range images {
				images[i] = i
			}
			s := &Series{}
			orderSlices(s, images, c.entries)
			var got []string
			for _, sl := range s.Slices {
				got = append(got, fmt.Sprintf("%s:%d", sl.Path, sl.Frame))
			}
			if s.OrderedBy != c.orderedBy || strings.Join(got, " ") != c.want {
				t.Errorf("ordered by %s: %s; want %s: %s", s.OrderedBy, strings.Join(got, " "), c.orderedBy, c.want)
			}
			if len(s.Problems) != len(c.problems) {
				t.Fatalf("problems %q, want %d", s.Problems, len(c.problems))
			}
			for i, p := range c.problems {
				if !strings.Contains(s.Problems[i], p) {
					t.Errorf("problem %q lacks %q", s.Problems[i], p)
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		meta      dicomio.Metadata
		format    dicomio.Format
		hasPixels bool
		want      Kind
	}{
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"}}, dicomio.FormatDICOM, true, KindImage},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", ImageType: []string{"ORIGINAL", "PRIMARY", "LOCALIZER"}}, dicomio.FormatDICOM, true, KindLocalizer},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SeriesDescription: "Topogram 0.6 T20f"}, dicomio.FormatDICOM, true, KindLocalizer},
		// AXIAL in Image Type wins over a description that mentions a scout.
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", ImageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"}, SeriesDescription: "post scout chest"}, dicomio.FormatDICOM, true, KindImage},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.4", SeriesDescription: "3-plane PILOT"}, dicomio.FormatDICOM, true, KindLocalizer},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.88.67"}, dicomio.FormatDICOM, false, KindDoseReport},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SeriesDescription: "Dose Report"}, dicomio.FormatDICOM, true, KindDoseReport},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SeriesDescription: "Chest film scan"}, dicomio.FormatDICOM, true, KindImage},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.88.22"}, dicomio.FormatDICOM, false, KindStructuredReport},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.88.59"}, dicomio.FormatDICOM, false, KindKeyObject},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.66.4"}, dicomio.FormatDICOM, true, KindSegmentation},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.11.1"}, dicomio.FormatDICOM, false, KindPresentationState},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.481.5"}, dicomio.FormatDICOM, false, KindOtherObject},
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.481.2"}, dicomio.FormatDICOM, true, KindOtherObject},
		{dicomio.Metadata{SOPClassUID: dicomio.SOPClassMediaStorageDirectory}, dicomio.FormatDICOM, false, KindDirectory},
		// An image class without pixel data stays an image (readEntry gives it its error).
		{dicomio.Metadata{SOPClassUID: "1.2.840.10008.5.1.4.1.1.2"}, dicomio.FormatDICOM, false, KindImage},
		{dicomio.Metadata{Modality: "OT"}, dicomio.FormatPNG, true, KindPicture},
	}
	for _, c := range cases {
		if got := kindOf(c.format, &c.meta, c.hasPixels); got != c.want {
			t.Errorf("%s %s %q %q: %s, want %s", c.format, c.meta.SOPClassUID, c.meta.ImageType, c.meta.SeriesDescription, got, c.want)
		}
	}
}
