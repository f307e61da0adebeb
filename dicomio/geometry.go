package dicomio

import (
	"math"
	"strings"

	dicom "github.com/suyashkumar/dicom"
	dcmtag "github.com/suyashkumar/dicom/pkg/tag"
)

// Optional is a value read from a file; OK is false when the file has no valid value.
type Optional[T any] struct {
	Value T
	OK    bool
}

// Plane is where one frame lies in the patient (PS3.3 C.7.6.2): the position of the centre of its first pixel
// and the direction cosines of its rows and columns, in the patient coordinate system (LPS, millimetres).
type Plane struct {
	Position       [3]float64 // ImagePositionPatient
	Orientation    [6]float64 // ImageOrientationPatient: the row direction, then the column direction
	HasPosition    bool
	HasOrientation bool
}

// Normal returns the unit normal of the plane (row × column); ok is false without an orientation or when the
// two directions are not two distinct, non-zero vectors.
func (p Plane) Normal() (n [3]float64, ok bool) {
	if !p.HasOrientation {
		return n, false
	}
	r, c := p.Orientation[:3], p.Orientation[3:]
	n = [3]float64{r[1]*c[2] - r[2]*c[1], r[2]*c[0] - r[0]*c[2], r[0]*c[1] - r[1]*c[0]}
	l := math.Sqrt(n[0]*n[0] + n[1]*n[1] + n[2]*n[2])
	// Direction cosines are unit vectors; a cross product this short means parallel or zero vectors.
	if l < 0.5 || math.IsNaN(l) || math.IsInf(l, 0) {
		return [3]float64{}, false
	}
	return [3]float64{n[0] / l, n[1] / l, n[2] / l}, true
}

// Along returns the position's distance along a direction (normally a series' slice normal), the coordinate
// slices are ordered by; ok is false without a position.
func (p Plane) Along(n [3]float64) (float64, bool) {
	if !p.HasPosition {
		return 0, false
	}
	return p.Position[0]*n[0] + p.Position[1]*n[1] + p.Position[2]*n[2], true
}

// Anatomical plane names returned by Plane.Anatomical.
const (
	PlaneAxial    = "axial"
	PlaneCoronal  = "coronal"
	PlaneSagittal = "sagittal"
	PlaneOblique  = "oblique"
)

// Anatomical names the plane by its normal: axial (normal along the patient's head–feet axis), coronal
// (front–back) or sagittal (left–right) when the normal is within about 37° of that axis (a gantry tilt stays
// axial), else oblique; empty without an orientation.
func (p Plane) Anatomical() string {
	n, ok := p.Normal()
	if !ok {
		return ""
	}
	const within = 0.8 // cos 36.9°
	switch {
	case math.Abs(n[2]) >= within:
		return PlaneAxial
	case math.Abs(n[1]) >= within:
		return PlaneCoronal
	case math.Abs(n[0]) >= within:
		return PlaneSagittal
	}
	return PlaneOblique
}

// readSeriesAttributes fills the identity, geometry and population attributes of m.
func readSeriesAttributes(ds *dicom.Dataset, m *Metadata) {
	m.StudyInstanceUID = str(ds, dcmtag.StudyInstanceUID)
	m.SeriesInstanceUID = str(ds, dcmtag.SeriesInstanceUID)
	m.SOPInstanceUID = str(ds, dcmtag.SOPInstanceUID)
	m.FrameOfReferenceUID = str(ds, dcmtag.FrameOfReferenceUID)
	for _, v := range strs(find(ds, dcmtag.ImageType, false)) {
		m.ImageType = append(m.ImageType, strings.ToUpper(strings.TrimSpace(v)))
	}
	if v, ok := integer(ds, dcmtag.InstanceNumber); ok {
		m.Instance = Optional[int]{v, true}
	}
	if v, ok := integer(ds, dcmtag.AcquisitionNumber); ok {
		m.Acquisition = Optional[int]{v, true}
	}
	// Enhanced objects keep both in the Pixel Measures functional group.
	if v := nums(find(ds, dcmtag.SliceThickness, true)); len(v) > 0 && v[0] > 0 {
		m.SliceThickness = Optional[float64]{v[0], true}
	}
	if v := nums(find(ds, dcmtag.SpacingBetweenSlices, true)); len(v) > 0 {
		m.SpacingBetweenSlices = Optional[float64]{v[0], true}
	}
	m.Plane = planeOf(find(ds, dcmtag.ImagePositionPatient, false), find(ds, dcmtag.ImageOrientationPatient, false))
	m.FramePlanes = readFramePlanes(ds)
	if len(m.FramePlanes) > 0 && !m.Plane.HasPosition && !m.Plane.HasOrientation {
		m.Plane = m.FramePlanes[0]
	}
	m.PatientBirthDate = str(ds, dcmtag.PatientBirthDate)
	m.PatientAge = strings.ToUpper(str(ds, dcmtag.PatientAge))
	m.PatientSex = strings.ToUpper(str(ds, dcmtag.PatientSex))
	m.ViewPosition = strings.ToUpper(str(ds, dcmtag.ViewPosition))
}

// planeOf reads a position and an orientation element; either may be nil or invalid.
func planeOf(pos, orient *dicom.Element) Plane {
	var p Plane
	if v := nums(pos); len(v) == 3 {
		copy(p.Position[:], v)
		p.HasPosition = true
	}
	if v := nums(orient); len(v) == 6 {
		copy(p.Orientation[:], v)
		p.HasOrientation = true
	}
	return p
}

// readFramePlanes reads each frame's Plane Position and Plane Orientation from the Per-frame Functional Groups
// Sequence, falling back to the Shared Functional Groups for what a frame's item lacks (orientation usually is
// shared). It returns nil for a dataset without per-frame functional groups.
func readFramePlanes(ds *dicom.Dataset) []Plane {
	perFrame, err := ds.FindElementByTag(dcmtag.PerFrameFunctionalGroupsSequence)
	if err != nil {
		return nil
	}
	items, ok := perFrame.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok || len(items) == 0 {
		return nil
	}
	var shared Plane
	if seq, err := ds.FindElementByTag(dcmtag.SharedFunctionalGroupsSequence); err == nil {
		if sharedItems, ok := seq.Value.GetValue().([]*dicom.SequenceItemValue); ok && len(sharedItems) > 0 {
			shared = functionalGroupPlane(sharedItems[0])
		}
	}
	planes := make([]Plane, len(items))
	for i, it := range items {
		p := functionalGroupPlane(it)
		if !p.HasPosition {
			p.Position, p.HasPosition = shared.Position, shared.HasPosition
		}
		if !p.HasOrientation {
			p.Orientation, p.HasOrientation = shared.Orientation, shared.HasOrientation
		}
		planes[i] = p
	}
	return planes
}

// functionalGroupPlane reads the Plane Position (0020,9113) and Plane Orientation (0020,9116) macros of one
// functional groups item.
func functionalGroupPlane(it *dicom.SequenceItemValue) Plane {
	var pos, orient *dicom.Element
	if s := findInItem(it, dcmtag.PlanePositionSequence, 0); s != nil {
		pos = findInSequence(s, dcmtag.ImagePositionPatient, 0)
	}
	if s := findInItem(it, dcmtag.PlaneOrientationSequence, 0); s != nil {
		orient = findInSequence(s, dcmtag.ImageOrientationPatient, 0)
	}
	return planeOf(pos, orient)
}
