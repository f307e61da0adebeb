package study

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Sentinel errors of entries that were read but cannot take part in a series.
var (
	// ErrNoSeries means a DICOM image has no Series Instance UID.
	ErrNoSeries = errors.New("DICOM image has no Series Instance UID")
	// ErrDuplicateInput means the same file was given twice; it is indexed once.
	ErrDuplicateInput = errors.New("file was given more than once")
)

// EntryError is why an entry is unusable or stands outside any series: Sentence is for a person (what
// happened, and what to do when something can be done), Err keeps the detail for the log and errors.Is.
type EntryError struct {
	Sentence string
	Err      error
}

func (e *EntryError) Error() string { return e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

// Sentence is the sentence a person reads for an entry's error; empty for nil.
func Sentence(err error) string {
	if err == nil {
		return ""
	}
	var ee *EntryError
	if errors.As(err, &ee) {
		return ee.Sentence
	}
	return "This file could not be indexed."
}

// readEntry reads one file's header. The returned entry always has a Kind; Err is set when the file cannot
// be used.
func readEntry(path string) Entry {
	e := Entry{Path: path}
	s, err := dicomio.Open(path, dicomio.MetadataOnly())
	if s != nil {
		e.Format, e.Meta = s.Format, s.Meta
		e.Meta.Tags = nil // kept small: thousands of entries live in the index
		e.Rows, e.Columns, e.Frames = s.Rows, s.Columns, s.NumFrames
	}
	hasPixels := err == nil
	if err != nil && !(s != nil && errors.Is(err, dicomio.ErrNoPixelData)) {
		e.Kind = KindUnreadable
		e.Err = &EntryError{Sentence: readSentence(err), Err: err}
		return e
	}
	e.Kind = kindOf(e.Format, &e.Meta, hasPixels)
	switch {
	case e.Kind == KindImage && !hasPixels:
		// An image SOP Class without Pixel Data: listed with its series, but there is nothing to show.
		e.Err = &EntryError{Sentence: fmt.Sprintf("This %s file has no pixel data, so it holds no image to show.", sopName(&e.Meta)), Err: err}
	case e.Format == dicomio.FormatDICOM && e.Kind != KindDirectory && e.Meta.SeriesInstanceUID == "":
		e.Err = &EntryError{
			Sentence: "This DICOM file has no Series Instance UID, so it belongs to no series; it can still be looked at on its own.",
			Err:      fmt.Errorf("%s: %w", path, ErrNoSeries),
		}
	}
	return e
}

// readSentence turns a read error into one sentence for a person.
func readSentence(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "The file does not exist any more; it may have been moved or deleted."
	case errors.Is(err, fs.ErrPermission):
		return "The file cannot be read: permission denied."
	case errors.Is(err, dicomio.ErrNotImage):
		if strings.Contains(err.Error(), "is a folder") {
			return "This is a folder; give the files inside it."
		}
		return "This file is not a DICOM, PNG or JPEG image."
	case errors.Is(err, dicomio.ErrTruncated):
		return "This file is cut short; copy it again from where it came from."
	case errors.Is(err, dicomio.ErrTooLarge):
		return "This file is larger than TumorTracer reads."
	case errors.Is(err, dicomio.ErrUnsupported):
		return "This file uses an encoding TumorTracer cannot read."
	case errors.Is(err, dicomio.ErrMalformed):
		return "This file is damaged or is not valid DICOM, and cannot be read."
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "Indexing was stopped before this file was read."
	}
	return "This file could not be read."
}

// sopName names a file's SOP Class for a sentence ("CT Image"), or its modality.
func sopName(m *dicomio.Metadata) string {
	if m.SOPClassUID != "" {
		return dicomio.SOPClassName(m.SOPClassUID)
	}
	if m.Modality != "" {
		return m.Modality
	}
	return "DICOM"
}

// SOP Class UID prefixes and values that decide a kind (PS3.4 B.5).
const (
	sopPrefixSR            = "1.2.840.10008.5.1.4.1.1.88."
	sopPrefixPresentation  = "1.2.840.10008.5.1.4.1.1.11."
	sopKeyObject           = "1.2.840.10008.5.1.4.1.1.88.59"
	sopSegmentation        = "1.2.840.10008.5.1.4.1.1.66.4"
	sopSurfaceSegmentation = "1.2.840.10008.5.1.4.1.1.66.5"
	sopLabelMap            = "1.2.840.10008.5.1.4.1.1.66.7"
	sopRTStructureSet      = "1.2.840.10008.5.1.4.1.1.481.3"
	sopRTDose              = "1.2.840.10008.5.1.4.1.1.481.2"
	sopSecondaryCapture    = "1.2.840.10008.5.1.4.1.1.7"
)

// doseSR lists the radiation dose SR classes: X-Ray, Radiopharmaceutical, Patient and Enhanced X-Ray.
var doseSR = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.88.67": true,
	"1.2.840.10008.5.1.4.1.1.88.68": true,
	"1.2.840.10008.5.1.4.1.1.88.73": true,
	"1.2.840.10008.5.1.4.1.1.88.76": true,
}

// kindOf decides what a readable file holds from its format, SOP Class, Image Type and descriptions.
func kindOf(format dicomio.Format, m *dicomio.Metadata, hasPixels bool) Kind {
	if format == dicomio.FormatPNG || format == dicomio.FormatJPEG {
		return KindPicture
	}
	uid := m.SOPClassUID
	switch {
	case uid == dicomio.SOPClassMediaStorageDirectory:
		return KindDirectory
	case uid == sopKeyObject:
		return KindKeyObject
	case doseSR[uid]:
		return KindDoseReport
	case strings.HasPrefix(uid, sopPrefixSR):
		return KindStructuredReport
	case strings.HasPrefix(uid, sopPrefixPresentation):
		return KindPresentationState
	case uid == sopSegmentation || uid == sopSurfaceSegmentation || uid == sopLabelMap || uid == sopRTStructureSet:
		return KindSegmentation
	case uid == sopRTDose:
		return KindOtherObject // a dose grid: pixel data, but no anatomy to classify
	case m.Localizer() != "": // the gate refuses these file by file, by the same test
		return KindLocalizer
	case isDoseScreen(m):
		return KindDoseReport
	case !hasPixels && !imageSOPClass(uid):
		return KindOtherObject
	}
	return KindImage
}

// isDoseScreen recognises the dose page scanners store as a secondary capture image ("Dose Report", Siemens'
// "Patient Protocol").
func isDoseScreen(m *dicomio.Metadata) bool {
	if m.SOPClassUID != sopSecondaryCapture {
		return false
	}
	for _, v := range m.ImageType {
		if strings.Contains(v, "DOSE") {
			return true
		}
	}
	d := strings.ToLower(m.SeriesDescription)
	return strings.Contains(d, "dose") || strings.Contains(d, "patient protocol")
}

// imageSOPClass reports whether a SOP Class stores images (so that a file of it without Pixel Data is a broken
// image, not a document): the Image Storage classes under 1.2.840.10008.5.1.4.1.1 other than the reports,
// presentation states and non-image objects recognised above, and files that name no class.
func imageSOPClass(uid string) bool {
	if uid == "" {
		return true
	}
	return strings.Contains(dicomio.SOPClassName(uid), "Image")
}
