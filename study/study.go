// Package study indexes image files the way they were acquired: DICOM files are grouped patient → study →
// series by their Study and Series Instance UIDs, the slices of a series are ordered by their position along
// the slice normal, and what is wrong with a series (gaps, repeated positions, mixed orientations) is said in
// one sentence each. A DICOMDIR contributes the files it lists; PNG and JPEG files of one folder form a group
// of images, which is not an acquisition and gets no series.
//
// Indexing reads headers only (dicomio.MetadataOnly) in a few background goroutines, so thousands of files are
// indexed without holding their pixels; Start reports each file as it is read and Snapshot groups what has been
// read so far, so that a window can show the first image at once and fill its study browser in as series
// complete. Every input gets an Entry: a file that cannot be read, or a DICOM image that belongs to no series,
// is an entry whose Err carries one sentence for a person.
package study

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Kind says what an indexed file holds.
type Kind string

// The kinds of indexed files. Only images and pictures may be classified; the others are listed so that a
// person sees everything a folder or DICOMDIR held.
const (
	KindImage             Kind = "image"                // a DICOM image: a slice of a series, a film
	KindPicture           Kind = "picture"              // a PNG or JPEG file
	KindLocalizer         Kind = "localizer"            // a CT scout / topogram / surview
	KindDoseReport        Kind = "dose report"          // a radiation dose SR or a captured dose screen
	KindStructuredReport  Kind = "structured report"    // any other SR
	KindKeyObject         Kind = "key object selection" // a KO document
	KindSegmentation      Kind = "segmentation"         // SEG, surface segmentation, RT structure set
	KindPresentationState Kind = "presentation state"   // GSPS and the other softcopy presentation states
	KindDirectory         Kind = "DICOMDIR"             // a file-set directory; its files are indexed too
	KindOtherObject       Kind = "non-image object"     // plans, dose grids, waveforms, documents … no anatomy to look at
	KindUnreadable        Kind = "unreadable"           // the file could not be read at all
)

// Classifiable reports whether a model may be asked about files of this kind.
func (k Kind) Classifiable() bool { return k == KindImage || k == KindPicture }

// Entry is one indexed file.
type Entry struct {
	Path string
	// ListedBy is the DICOMDIR that listed this file when it was not itself among the inputs.
	ListedBy string
	Format   dicomio.Format // empty when unreadable
	Kind     Kind
	// Meta is the file's header (without Tags, which a metadata panel reads again for the one file it shows).
	Meta                  dicomio.Metadata
	Rows, Columns, Frames int
	// Listed is, for a DICOMDIR, the number of files it lists.
	Listed int
	// SeriesKey is the key of the series the file belongs to (set by Group); empty for no series.
	SeriesKey string
	// Err says why the file is not usable, or not part of a series; see Sentence. A DICOMDIR cut short has both
	// its files and an Err.
	Err error
}

// Index is the result of indexing: every entry, and the patients, studies and series they form.
type Index struct {
	// Entries holds one entry per input file, in input order, each followed by the files a DICOMDIR among them
	// listed (those not already among the inputs).
	Entries  []Entry
	Patients []*Patient
	// Groups are the PNG/JPEG files, one group per folder, in order of first appearance.
	Groups []*ImageGroup
}

// Patient is one patient: Patient ID and Name as the files give them (either may be empty).
type Patient struct {
	ID, Name string
	Studies  []*Study
}

// Study is one Study Instance UID.
type Study struct {
	UID, Date, Description string
	Series                 []*Series
}

// Series is one Series Instance UID: its slices in acquisition order and its other objects.
type Series struct {
	// Key is a stable short key for exports: the first 12 hex digits of SHA-256 of UID.
	Key, UID                                string
	Number, Description, Modality, BodyPart string
	// Kind is KindImage when the series has slices, else the kind of most of its objects.
	Kind Kind
	// Slices are the series' images (a frame each for multi-frame files), ordered as OrderedBy says.
	Slices []Slice
	// OrderedBy is OrderPosition when the slices were ordered along the slice normal, OrderInstance when the
	// files carry no usable positions.
	OrderedBy string
	// Objects are the indices (in Index.Entries) of the series' files that are not slices: localizers,
	// reports, presentation states, and files of the series that could not be used.
	Objects []int
	// Plane names the slices' anatomical plane (dicomio.PlaneAxial …), Spacing their median distance in mm
	// (0 when unknown), Normal the direction they are ordered along.
	Plane   string
	Spacing float64
	Normal  [3]float64
	// Problems says what is wrong with the series' geometry, one sentence each (gaps, repeated positions, mixed
	// orientations, slices without a position).
	Problems []string
}

// Slice is one image of a series.
type Slice struct {
	Entry int    // index in Index.Entries
	Path  string // the entry's path
	Frame int    // frame of a multi-frame file; 0 otherwise
	Plane dicomio.Plane
	// Location is the distance along the series' normal in mm; meaningful when HasLocation.
	Location    float64
	HasLocation bool
	Instance    dicomio.Optional[int]
}

// Orders of a series' slices.
const (
	OrderPosition = "position"        // along the slice normal, then Instance Number
	OrderInstance = "instance number" // Instance Number, then file name and frame
)

// ImageGroup is the PNG/JPEG files of one folder, classified one by one; a folder of pictures is not an
// acquisition, so it has no series result.
type ImageGroup struct {
	Folder  string
	Entries []int // indices in Index.Entries, in input order
}

// Classifiable reports whether the series has images a model may be asked about.
func (s *Series) Classifiable() bool { return len(s.Slices) > 0 }

// SeriesKey is the stable short key of a Series Instance UID: the first 12 hex digits of its SHA-256.
func SeriesKey(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:6])
}

// Series returns the series with the given key, or nil.
func (ix *Index) Series(key string) *Series {
	for _, p := range ix.Patients {
		for _, st := range p.Studies {
			for _, s := range st.Series {
				if s.Key == key {
					return s
				}
			}
		}
	}
	return nil
}

// AllSeries returns every series, patient by patient and study by study.
func (ix *Index) AllSeries() []*Series {
	var out []*Series
	for _, p := range ix.Patients {
		for _, st := range p.Studies {
			out = append(out, st.Series...)
		}
	}
	return out
}
