package dicomsynth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DICOMDIR record tags.
const (
	TagFileSetID            = 0x00041130
	TagRootFirstOffset      = 0x00041200
	TagRootLastOffset       = 0x00041202
	TagConsistencyFlag      = 0x00041212
	TagDirectoryRecordSeq   = 0x00041220
	TagNextRecordOffset     = 0x00041400
	TagRecordInUse          = 0x00041410
	TagLowerLevelOffset     = 0x00041420
	TagRecordType           = 0x00041430
	TagReferencedFileID     = 0x00041500
	TagReferencedSOPClass   = 0x00041510
	TagReferencedSOPInst    = 0x00041511
	TagReferencedTransferSy = 0x00041512
)

// DirRecord is one DICOMDIR record and the lower-level entity below it.
type DirRecord struct {
	Type     string    // PATIENT, STUDY, SERIES, IMAGE …
	FileID   []string  // Referenced File ID components, for records that reference a file
	Elements []Element // the record's keys (Patient ID, Study Instance UID …)
	Children []DirRecord
	Inactive bool // Record In-use Flag 0000H: a deleted record readers must skip
}

// flatRecord is a record in file order with the indices of its next sibling and first child (-1: none).
type flatRecord struct {
	rec         *DirRecord
	next, lower int
}

func flatten(list []DirRecord, out *[]flatRecord) int {
	first, prev := -1, -1
	for i := range list {
		idx := len(*out)
		*out = append(*out, flatRecord{rec: &list[i], next: -1, lower: -1})
		if prev >= 0 {
			(*out)[prev].next = idx
		} else {
			first = idx
		}
		prev = idx
		lower := flatten(list[i].Children, out)
		(*out)[idx].lower = lower
	}
	return first
}

// Directory encodes a DICOMDIR whose root entity holds roots. Records are written depth first (each record,
// then its lower-level entity, then its next sibling), linked by their byte offsets in the file as PS3.3 F.3
// requires.
func Directory(fileSetID string, roots []DirRecord) []byte {
	var flat []flatRecord
	flatten(roots, &flat)
	item := func(f flatRecord, offsets []uint32) []Element {
		off := func(i int) uint32 {
			if i < 0 || offsets == nil {
				return 0
			}
			return offsets[i]
		}
		inUse := 0xFFFF
		if f.rec.Inactive {
			inUse = 0
		}
		e := append([]Element{
			UL(TagNextRecordOffset, off(f.next)),
			US(TagRecordInUse, inUse),
			UL(TagLowerLevelOffset, off(f.lower)),
			Text(TagRecordType, "CS", f.rec.Type),
		}, f.rec.Elements...)
		if len(f.rec.FileID) > 0 {
			e = append(e, Text(TagReferencedFileID, "CS", strings.Join(f.rec.FileID, `\`)))
		}
		return e
	}
	head := func(first, last uint32) []Element {
		return []Element{
			Text(TagFileSetID, "CS", fileSetID),
			UL(TagRootFirstOffset, first),
			UL(TagRootLastOffset, last),
			US(TagConsistencyFlag, 0),
		}
	}
	// Offsets do not change any length (UL is 4 bytes), so one pass with zeros measures every record.
	pos := uint32(len(file(head(0, 0), mediaStorageDir))) + 12 // + the sequence's header
	offsets := make([]uint32, len(flat))
	for i, f := range flat {
		offsets[i] = pos
		var body bytes.Buffer
		encode(&body, item(f, nil))
		pos += 8 + uint32(body.Len())
	}
	var first, last uint32
	if len(flat) > 0 {
		first = offsets[0]
		for i := 0; i >= 0; i = flat[i].next {
			last = offsets[i]
		}
	}
	items := make([][]Element, len(flat))
	for i, f := range flat {
		items[i] = item(f, offsets)
	}
	return file(append(head(first, last), Seq(TagDirectoryRecordSeq, items...)), mediaStorageDir)
}

// WriteDirectory writes Directory(fileSetID, roots) to dir/DICOMDIR.
func WriteDirectory(dir, fileSetID string, roots []DirRecord) error {
	return os.WriteFile(filepath.Join(dir, "DICOMDIR"), Directory(fileSetID, roots), 0o644)
}

// WriteFileSet writes a file set as a CD holds it: each series' slices as dir/DICOM/S<k>/I<i> (k and i from 0,
// names without extension) and dir/DICOMDIR listing them patient → study → series → image. It returns the
// slices' paths, series by series.
func WriteFileSet(dir string, series []Series, slices [][]Slice) ([]string, error) {
	var paths []string
	var seriesRecs []DirRecord
	for k, s := range series {
		s = s.WithDefaults()
		var images []DirRecord
		for i, sl := range slices[k] {
			id := []string{"DICOM", fmt.Sprintf("S%d", k), fmt.Sprintf("I%d", i)}
			path := filepath.Join(append([]string{dir}, id...)...)
			if err := Write(path, s.CTSlice(sl)); err != nil {
				return nil, err
			}
			paths = append(paths, path)
			images = append(images, DirRecord{Type: "IMAGE", FileID: id})
		}
		seriesRecs = append(seriesRecs, DirRecord{Type: "SERIES", Children: images,
			Elements: []Element{Text(TagSeriesInstanceUID, "UI", s.SeriesUID)}})
	}
	roots := []DirRecord{{Type: "PATIENT", Children: []DirRecord{{Type: "STUDY", Children: seriesRecs}}}}
	return paths, WriteDirectory(dir, "TUMORTRACER", roots)
}
