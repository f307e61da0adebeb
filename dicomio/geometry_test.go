package dicomio

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

func decodeSynth(t *testing.T, ds []dicomsynth.Element) *Scan {
	t.Helper()
	b := dicomsynth.File(ds)
	s, err := Decode(bytes.NewReader(b), int64(len(b)), MetadataOnly())
	if err != nil && !errors.Is(err, ErrNoPixelData) {
		t.Fatalf("decode: %v", err)
	}
	return s
}

func TestSeriesAttributesOfACTSlice(t *testing.T) {
	series := dicomsynth.Series{
		SeriesUID: "1.2.3.4", StudyUID: "1.2.3", FrameOfReference: "1.2.3.9", Thickness: 1.25,
		Orientation: [6]float64{1, 0, 0, 0, 0.8660254, -0.5}, PatientAge: "067Y",
	}
	s := decodeSynth(t, series.CTSlice(dicomsynth.Slice{Position: [3]float64{-175.5, -160, -42.25}, Instance: 17, Acquisition: 3, UIDSeed: "x"}))
	m := s.Meta
	if m.StudyInstanceUID != "1.2.3" || m.SeriesInstanceUID != "1.2.3.4" || m.FrameOfReferenceUID != "1.2.3.9" {
		t.Errorf("UIDs: study %q series %q frame of reference %q", m.StudyInstanceUID, m.SeriesInstanceUID, m.FrameOfReferenceUID)
	}
	if m.SOPInstanceUID != dicomsynth.UID("slice x") {
		t.Errorf("SOP Instance UID %q", m.SOPInstanceUID)
	}
	if m.Instance != (Optional[int]{17, true}) || m.Acquisition != (Optional[int]{3, true}) {
		t.Errorf("instance %+v acquisition %+v", m.Instance, m.Acquisition)
	}
	if m.SliceThickness != (Optional[float64]{1.25, true}) || m.SpacingBetweenSlices.OK {
		t.Errorf("thickness %+v spacing %+v", m.SliceThickness, m.SpacingBetweenSlices)
	}
	if got := m.ImageType; len(got) != 3 || got[2] != "AXIAL" {
		t.Errorf("image type %q", got)
	}
	if !m.Plane.HasPosition || m.Plane.Position != [3]float64{-175.5, -160, -42.25} {
		t.Errorf("position %+v", m.Plane)
	}
	n, ok := m.Plane.Normal()
	// row (1,0,0) × column (0, cos30°, -sin30°) = (0, sin30°, cos30°): a 30° gantry tilt.
	if !ok || !approx(n[0], 0, 1e-6) || !approx(n[1], 0.5, 1e-6) || !approx(n[2], 0.8660254, 1e-6) {
		t.Errorf("normal %v, %v", n, ok)
	}
	if got := m.Plane.Anatomical(); got != PlaneAxial {
		t.Errorf("a 30° tilt is %q, want axial", got)
	}
	if m.FramePlanes != nil {
		t.Errorf("a single-frame CT has %d frame planes", len(m.FramePlanes))
	}
	if years, from, ok := m.Age(); !ok || years != 67 || from != AgeFromPatientAge {
		t.Errorf("age %v from %q (%v)", years, from, ok)
	}
}

func TestEnhancedCTFramePlanes(t *testing.T) {
	series := dicomsynth.Series{SeriesUID: "1.2.3.5"}
	coronal := [6]float64{1, 0, 0, 0, 0, -1}
	frames := []dicomsynth.Slice{
		{Position: [3]float64{0, 0, 10}}, {Position: [3]float64{0, 0, 12.5}}, {Position: [3]float64{0, 0, 15}, Orientation: &coronal},
	}
	s := decodeSynth(t, series.EnhancedCT(frames))
	if s.NumFrames != 3 || len(s.Meta.FramePlanes) != 3 {
		t.Fatalf("%d frames, %d frame planes", s.NumFrames, len(s.Meta.FramePlanes))
	}
	for i, p := range s.Meta.FramePlanes {
		if !p.HasPosition || p.Position != frames[i].Position {
			t.Errorf("frame %d position %v, want %v", i, p.Position, frames[i].Position)
		}
		want := [6]float64{1, 0, 0, 0, 1, 0} // shared
		if frames[i].Orientation != nil {
			want = *frames[i].Orientation // its own item wins
		}
		if !p.HasOrientation || p.Orientation != want {
			t.Errorf("frame %d orientation %v, want %v", i, p.Orientation, want)
		}
	}
	if s.Meta.Plane != s.Meta.FramePlanes[0] {
		t.Errorf("Plane %+v is not the first frame's %+v", s.Meta.Plane, s.Meta.FramePlanes[0])
	}
	if got := s.Meta.FramePlanes[2].Anatomical(); got != PlaneCoronal {
		t.Errorf("frame 2 is %q, want coronal", got)
	}
	if s.Meta.SliceThickness != (Optional[float64]{1.25, true}) {
		t.Errorf("thickness from the Pixel Measures functional group: %+v", s.Meta.SliceThickness)
	}
}

func TestPlaneNormalRejectsDegenerateOrientation(t *testing.T) {
	for _, o := range [][6]float64{{1, 0, 0, 1, 0, 0}, {0, 0, 0, 0, 0, 0}, {math.NaN(), 0, 0, 0, 1, 0}} {
		if n, ok := (Plane{Orientation: o, HasOrientation: true}).Normal(); ok {
			t.Errorf("orientation %v gave normal %v", o, n)
		}
	}
	if _, ok := (Plane{}).Along([3]float64{0, 0, 1}); ok {
		t.Error("a plane without position has a location")
	}
	cases := map[[6]float64]string{
		{0, 1, 0, 0, 0, -1}:                     PlaneSagittal,
		{1, 0, 0, 0, 0, -1}:                     PlaneCoronal,
		{1, 0, 0, 0, 0.7071, -0.7071}:           PlaneOblique,
		{-1, 0, 0, 0, -1, 0}:                    PlaneAxial,
		{0.9962, 0.0872, 0, -0.0872, 0.9962, 0}: PlaneAxial,
	}
	for o, want := range cases {
		if got := (Plane{Orientation: o, HasOrientation: true}).Anatomical(); got != want {
			t.Errorf("orientation %v is %q, want %q", o, got, want)
		}
	}
}

func TestParseAge(t *testing.T) {
	cases := []struct {
		in    string
		years float64
		ok    bool
	}{
		{"045Y", 45, true}, {"45Y", 45, true}, {"006M", 0.5, true}, {"052W", 52 * 7 / 365.2425, true},
		{"010D", 10 / 365.2425, true}, {" 003Y", 3, true}, {"045", 0, false}, {"", 0, false}, {"-01Y", 0, false},
		{"YYYY", 0, false}, {"0045Y", 0, false}, {"45y", 45, true},
	}
	for _, c := range cases {
		y, ok := ParseAge(c.in)
		if ok != c.ok || !approx(y, c.years, 1e-9) {
			t.Errorf("ParseAge(%q) = %v, %v; want %v, %v", c.in, y, ok, c.years, c.ok)
		}
	}
}

func TestAgeFromBirthDate(t *testing.T) {
	m := Metadata{PatientBirthDate: "20200615", StudyDate: "20260614"}
	y, from, ok := m.Age()
	if !ok || from != AgeFromBirthDate || y < 5.99 || y >= 6 {
		t.Errorf("age %v from %q (%v), want just under 6 years from the birth date", y, from, ok)
	}
	m.PatientAge = "bad"
	if _, from, _ := m.Age(); from != AgeFromBirthDate {
		t.Errorf("an invalid Patient's Age should fall back to the birth date, got %q", from)
	}
	for _, m := range []Metadata{{PatientBirthDate: "20300101", StudyDate: "20260101"}, {PatientBirthDate: "2020", StudyDate: "20260101"}, {}} {
		if y, _, ok := m.Age(); ok {
			t.Errorf("%+v gave age %v", m, y)
		}
	}
	if d, ok := ParseDate("1999.12.31"); !ok || d.Year() != 1999 || d.YearDay() != 365 {
		t.Errorf("ACR-NEMA date: %v %v", d, ok)
	}
}

// TestAgePlaceholders: what de-identification leaves in place of an age states none — Patient's Age "000Y" (the
// corpus's anonymised adult chest CTs carry it; an infant's age is given in months, weeks or days) and ages above
// MaxAge (birth date 19000101) — so the birth date is used instead, or no age at all.
func TestAgePlaceholders(t *testing.T) {
	for _, c := range []struct {
		m     Metadata
		years float64
		from  string
		ok    bool
	}{
		{Metadata{PatientAge: "000Y"}, 0, "", false},
		{Metadata{PatientAge: "000Y", PatientBirthDate: "19800101", StudyDate: "20200101"}, 40, AgeFromBirthDate, true},
		{Metadata{PatientAge: "011M"}, 11.0 / 12, AgeFromPatientAge, true},
		{Metadata{PatientAge: "000D"}, 0, AgeFromPatientAge, true}, // a newborn on the day of birth
		{Metadata{PatientAge: "150Y"}, 0, "", false},
		{Metadata{PatientBirthDate: "19000101", StudyDate: "20190416"}, 0, "", false},
		{Metadata{PatientBirthDate: "19400305", StudyDate: "20040826"}, 64.47, AgeFromBirthDate, true},
	} {
		y, from, ok := c.m.Age()
		if ok != c.ok || from != c.from || !approx(y, c.years, 0.01) {
			t.Errorf("%+v: age %v from %q (%v), want %v from %q (%v)", c.m, y, from, ok, c.years, c.from, c.ok)
		}
	}
}
