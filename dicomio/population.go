package dicomio

import (
	"strconv"
	"strings"
	"time"
)

// Sources of an age, as Metadata.Age names them.
const (
	AgeFromPatientAge = "PatientAge"
	AgeFromBirthDate  = "PatientBirthDate"
)

// Age returns the patient's age in years when the image was made: from Patient's Age when it is valid, else
// from Patient's Birth Date and the Study Date. from names the attribute used; ok is false when neither gives
// an age (a model's population check then has nothing to check).
//
// Values that de-identification leaves in place of an age state none: Patient's Age "000Y" (a child under one year
// is given in months, weeks or days, "011M"; the anonymised adult chest CTs of the DICOM corpus carry "000Y") and
// ages above MaxAge (birth dates such as 19000101). They are treated as absent, so that a population check does not
// refuse an adult as a newborn.
func (m *Metadata) Age() (years float64, from string, ok bool) {
	if y, ok := ParseAge(m.PatientAge); ok && y <= MaxAge && strings.TrimLeft(strings.TrimSpace(strings.ToUpper(m.PatientAge)), "0") != "Y" {
		return y, AgeFromPatientAge, true
	}
	birth, ok1 := ParseDate(m.PatientBirthDate)
	study, ok2 := ParseDate(m.StudyDate)
	if !ok1 || !ok2 || study.Before(birth) {
		return 0, "", false
	}
	y := study.Sub(birth).Hours() / 24 / 365.2425
	if y > MaxAge {
		return 0, "", false
	}
	return y, AgeFromBirthDate, true
}

// MaxAge is the oldest age in years Age believes: older ones are placeholders (a birth date of 19000101 makes any
// study after 2010 older), while a real patient older than 110 is about one in five million.
const MaxAge = 110

// ParseAge reads an Age String (PS3.5 6.2, AS: "045Y", "006M", "003W", "010D") as years; writers that drop the
// leading zeros ("45Y") are accepted too. ok is false for anything else (a bare number has no unit).
func ParseAge(s string) (years float64, ok bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) < 2 || len(s) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 0 || s[0] == '-' || s[0] == '+' {
		return 0, false
	}
	switch s[len(s)-1] {
	case 'Y':
		return float64(n), true
	case 'M':
		return float64(n) / 12, true
	case 'W':
		return float64(n) * 7 / 365.2425, true
	case 'D':
		return float64(n) / 365.2425, true
	}
	return 0, false
}

// ParseDate reads a Date (DA: "YYYYMMDD", or the ACR-NEMA form "YYYY.MM.DD" older files still carry).
func ParseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	layout := "20060102"
	if len(s) == 10 && s[4] == '.' && s[7] == '.' {
		layout = "2006.01.02"
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}

// Localizer returns what makes the image a localizer (scout, topogram, surview): "ImageType ORIGINAL\PRIMARY\LOCALIZER"
// when Image Type says so — CT's value 3 LOCALIZER (PS3.3 C.8.2.1.1.1) or a vendor's SCOUT, TOPOGRAM, SURVIEW,
// SCANOGRAM — else, when Image Type does not say AXIAL, `SeriesDescription "…"` naming a scout (MR's three-plane
// "pilot" and "survey" included); "" for any other image. It is the one test: the series index lists localizers
// as objects of their series, never as slices, and the gate refuses them file by file, so the two cannot disagree.
func (m *Metadata) Localizer() string {
	axial := false
	for _, v := range m.ImageType {
		switch v {
		case "LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM":
			return "ImageType " + strings.Join(m.ImageType, `\`)
		case "AXIAL":
			axial = true
		}
	}
	if axial {
		return ""
	}
	d := strings.ToLower(m.SeriesDescription)
	for _, w := range []string{"localizer", "localiser", "scout", "topogram", "surview", "scanogram", "pilot", "survey"} {
		if strings.Contains(d, w) {
			return "SeriesDescription " + strconv.Quote(strings.TrimSpace(m.SeriesDescription))
		}
	}
	return ""
}
