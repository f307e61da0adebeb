package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// SOPClassMediaStorageDirectory is the SOP Class of a DICOMDIR (PS3.10 8.6). Open gives such a file's Scan,
// with this Meta.SOPClassUID, together with ErrNoPixelData; ReadDirectory reads its records.
const SOPClassMediaStorageDirectory = "1.2.840.10008.1.3.10"

// Directory is what a DICOMDIR (PS3.3 F.3) lists: the files of its file-set with the patient, study and series
// each belongs to.
type Directory struct {
	Path      string // of the DICOMDIR; empty for DecodeDirectory
	FileSetID string
	// Files are the records that reference a file, in the directory's order: patient by patient, study by study,
	// series by series (following the records' offsets when they are consistent, else in file order).
	Files []DirectoryFile
	// Warnings lists problems that were tolerated (inconsistent offsets, a cut-short record sequence …).
	Warnings []string
}

// DirectoryFile is one record that references a file, with the keys of the records above it.
type DirectoryFile struct {
	// FileID is the Referenced File ID, its components joined with "/" ("PT000000/ST000000/SE000000/IM000000").
	FileID string
	// Path is where ReadDirectory found the file (components matched case-insensitively, as the media's
	// upper-case IDs meet a Linux file system); the literal join under the DICOMDIR's folder when it is missing.
	// Empty for DecodeDirectory.
	Path string
	// Err is set when the file cannot be used: missing (wraps fs.ErrNotExist) or a file ID that leaves the
	// DICOMDIR's folder (wraps ErrMalformed).
	Err error

	RecordType                                     string // IMAGE, SR DOCUMENT, PRESENTATION, RT DOSE …
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string // the Referenced … in File attributes
	InstanceNumber                                 string

	PatientID, PatientName                        string // from the PATIENT record above
	StudyInstanceUID, StudyDate, StudyDescription string // from the STUDY record above
	SeriesInstanceUID, SeriesNumber, Modality     string // from the SERIES record above
	SeriesDescription                             string
}

// ReadDirectory reads the DICOMDIR at path and finds each referenced file below its folder. A missing
// referenced file is reported in its DirectoryFile's Err, not as an error of the whole directory. Like Decode,
// it may return the records it could read together with an error (ErrTruncated for a cut-short file).
func ReadDirectory(path string) (*Directory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("open %s: is a folder, not a DICOMDIR: %w", path, ErrNotDirectory)
	}
	d, err := DecodeDirectory(f, info.Size())
	if d != nil {
		d.Path = path
		r := newCaseInsensitiveResolver(filepath.Dir(path))
		for i := range d.Files {
			d.Files[i].Path, d.Files[i].Err = r.resolve(d.Files[i].FileID)
		}
	}
	if err != nil {
		return d, fmt.Errorf("open %s: %w", path, err)
	}
	return d, nil
}

// DecodeDirectory reads a DICOMDIR of size bytes from r. Files' Path stays empty (there is no folder to look in).
func DecodeDirectory(r io.Reader, size int64) (*Directory, error) {
	if size < 0 || size > MaxFileSize {
		return nil, fmt.Errorf("file is %d bytes, outside the %d-byte limit: %w", size, MaxFileSize, ErrTooLarge)
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %d of %d bytes: %w", n, size, ErrTruncated)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	start := 0
	if len(buf) >= 132 && string(buf[128:132]) == "DICM" {
		start = 132
	}
	meta, err := readFileMeta(buf, start)
	if err != nil {
		return nil, err
	}
	if meta.sopClass != "" && meta.sopClass != SOPClassMediaStorageDirectory {
		return nil, fmt.Errorf("file is a %s object, not a DICOMDIR: %w", SOPClassName(meta.sopClass), ErrNotDirectory)
	}
	data, base := buf[meta.end:], meta.end
	enc := encodingOf(meta.transferSyntax)
	switch {
	case meta.transferSyntax == tsDeflatedLE:
		if data, err = inflate(data, MaxFileSize); err != nil {
			return nil, err
		}
		base = -1 // record offsets count bytes of the file, which the inflated dataset no longer matches
	case enc == encUnknown:
		enc = guessEncoding(data)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if enc == encExplicitBE {
		bo = binary.BigEndian
	}
	p := directoryParser{w: walker{b: data, bo: bo}, implicit: enc == encImplicitLE, base: base}
	perr := p.parseTop()
	if !p.sawSequence {
		if perr != nil {
			return nil, perr
		}
		return nil, fmt.Errorf("file has no Directory Record Sequence: %w", ErrNotDirectory)
	}
	d := &Directory{FileSetID: p.fileSetID, Warnings: p.warnings}
	d.Files = p.files(d)
	if perr != nil {
		return d, fmt.Errorf("DICOMDIR is damaged after its record %d: %w", len(p.records), perr)
	}
	return d, nil
}

// dirRecord is one Directory Record Sequence item.
type dirRecord struct {
	offset            int    // of the item tag in the file; -1 when unknown
	next, lower       uint32 // Offset of the Next Directory Record / of Referenced Lower-Level Directory Entity
	inactive          bool   // Record In-use Flag 0000H
	typ               string // Directory Record Type
	fileID            []string
	values            map[uint32]string // the text attributes below, by tag
	characterSetLatin bool
}

// The record attributes kept, by tag (group<<16 | element).
const (
	tagRecFileSetID      = 0x00041130
	tagRecSequence       = 0x00041220
	tagRecNext           = 0x00041400
	tagRecInUse          = 0x00041410
	tagRecLower          = 0x00041420
	tagRecType           = 0x00041430
	tagRecFileID         = 0x00041500
	tagRecSOPClass       = 0x00041510
	tagRecSOPInstance    = 0x00041511
	tagRecTransferSyntax = 0x00041512
	tagRecCharacterSet   = 0x00080005
	tagRecStudyDate      = 0x00080020
	tagRecModality       = 0x00080060
	tagRecStudyDesc      = 0x00081030
	tagRecSeriesDesc     = 0x0008103E
	tagRecPatientName    = 0x00100010
	tagRecPatientID      = 0x00100020
	tagRecStudyUID       = 0x0020000D
	tagRecSeriesUID      = 0x0020000E
	tagRecSeriesNumber   = 0x00200011
	tagRecInstanceNumber = 0x00200013
	maxDirectoryRecords  = 1 << 20 // far beyond any real file-set; bounds the work on a hostile file
	recordTypePatient    = "PATIENT"
	recordTypeStudy      = "STUDY"
	recordTypeSeries     = "SERIES"
)

// directoryParser reads a DICOMDIR dataset with this package's structural walker rather than the DICOM library:
// records are linked by their byte offsets in the file, which only a walk of the raw bytes knows.
type directoryParser struct {
	w           walker
	implicit    bool
	base        int // file offset of w.b[0]; -1 when offsets cannot be matched
	fileSetID   string
	latin1      bool // the dataset's Specific Character Set is ISO_IR 100
	sawSequence bool
	records     []dirRecord
	warnings    []string
}

// parseTop walks the top-level dataset and the Directory Record Sequence.
func (p *directoryParser) parseTop() error {
	b := p.w.b
	for pos := 0; pos < len(b); {
		if len(b)-pos < 8 && allZero(b[pos:]) {
			break
		}
		h, err := p.w.header(pos, len(b), p.implicit)
		if err != nil {
			return err
		}
		tag := uint32(h.group)<<16 | uint32(h.elem)
		if tag == tagRecSequence {
			p.sawSequence = true
			if h.vr != "SQ" && h.vr != "UN" && !p.implicit {
				return fmt.Errorf("Directory Record Sequence has VR %s: %w", h.vr, ErrMalformed)
			}
			next, err := p.parseRecords(h)
			if err != nil {
				return err
			}
			pos = next
			continue
		}
		_, next, err := p.w.element(pos, len(b), p.implicit, 0)
		if err != nil {
			return err
		}
		if h.length != undefinedLength {
			val := b[h.valueOff : h.valueOff+int(h.length)]
			switch tag {
			case tagRecFileSetID:
				p.fileSetID = textValue(val, false)
			case tagRecCharacterSet:
				p.latin1 = strings.Contains(strings.ToUpper(string(val)), "ISO_IR 100")
			}
		}
		pos = next
	}
	return nil
}

// parseRecords reads the items of the Directory Record Sequence whose header is h and returns the offset after it.
func (p *directoryParser) parseRecords(h elemHeader) (int, error) {
	end := len(p.w.b)
	var cut error
	if h.length != undefinedLength {
		end = h.valueOff + int(h.length)
		if end > len(p.w.b) {
			// A file cut short: the records before the cut are still worth listing.
			cut = fmt.Errorf("Directory Record Sequence declares %d bytes but only %d remain: %w", h.length, len(p.w.b)-h.valueOff, ErrTruncated)
			end = len(p.w.b)
		}
	}
	pos := h.valueOff
	for pos < end {
		ih, err := p.w.header(pos, end, true)
		if err != nil {
			return 0, err
		}
		if ih.group == 0xFFFE && ih.elem == 0xE0DD {
			return ih.valueOff, nil
		}
		if ih.group != 0xFFFE || ih.elem != 0xE000 {
			return 0, fmt.Errorf("expected a directory record at offset %d, found %s: %w", pos, ih.tag(), ErrMalformed)
		}
		if len(p.records) >= maxDirectoryRecords {
			return 0, fmt.Errorf("DICOMDIR has more than %d records: %w", maxDirectoryRecords, ErrTooLarge)
		}
		rec := dirRecord{offset: -1, values: map[uint32]string{}, characterSetLatin: p.latin1}
		if p.base >= 0 {
			rec.offset = p.base + pos
		}
		itemEnd, delimited := end, true
		if ih.length != undefinedLength {
			itemEnd, delimited = ih.valueOff+int(ih.length), false
			if itemEnd > end {
				return 0, fmt.Errorf("directory record at offset %d declares %d bytes but only %d remain: %w", pos, ih.length, end-ih.valueOff, ErrTruncated)
			}
		}
		next, err := p.parseRecord(&rec, ih.valueOff, itemEnd, delimited)
		if err != nil {
			return 0, err
		}
		p.records = append(p.records, rec)
		pos = next
	}
	if cut != nil {
		return 0, cut
	}
	if h.length == undefinedLength {
		return 0, fmt.Errorf("Directory Record Sequence ends without its delimiter: %w", ErrTruncated)
	}
	return pos, nil
}

// parseRecord reads one record's elements from pos up to end (or its Item Delimitation Item) into rec.
func (p *directoryParser) parseRecord(rec *dirRecord, pos, end int, delimited bool) (int, error) {
	b, bo := p.w.b, p.w.bo
	for pos < end {
		if delimited && pos+8 <= end && bo.Uint16(b[pos:]) == 0xFFFE && bo.Uint16(b[pos+2:]) == 0xE00D {
			return pos + 8, nil
		}
		h, next, err := p.w.element(pos, end, p.implicit, 1)
		if err != nil {
			return 0, err
		}
		if h.length != undefinedLength && h.vr != "SQ" {
			val := b[h.valueOff : h.valueOff+int(h.length)]
			switch tag := uint32(h.group)<<16 | uint32(h.elem); tag {
			case tagRecNext:
				if len(val) >= 4 {
					rec.next = bo.Uint32(val)
				}
			case tagRecLower:
				if len(val) >= 4 {
					rec.lower = bo.Uint32(val)
				}
			case tagRecInUse:
				rec.inactive = len(val) >= 2 && bo.Uint16(val) == 0
			case tagRecType:
				rec.typ = strings.ToUpper(textValue(val, false))
			case tagRecFileID:
				rec.fileID = fileIDComponents(textValue(val, false))
			case tagRecCharacterSet:
				rec.characterSetLatin = strings.Contains(strings.ToUpper(string(val)), "ISO_IR 100")
			case tagRecSOPClass, tagRecSOPInstance, tagRecTransferSyntax, tagRecStudyDate, tagRecModality,
				tagRecStudyDesc, tagRecSeriesDesc, tagRecPatientName, tagRecPatientID, tagRecStudyUID,
				tagRecSeriesUID, tagRecSeriesNumber, tagRecInstanceNumber:
				rec.values[tag] = string(val)
			}
		}
		pos = next
	}
	if delimited {
		return 0, fmt.Errorf("directory record ends without its delimiter: %w", ErrTruncated)
	}
	return pos, nil
}

// value is a record's text attribute, trimmed and in UTF-8.
func (r *dirRecord) value(tag uint32) string {
	return textValue([]byte(r.values[tag]), r.characterSetLatin)
}

// textValue trims a text value's padding; latin1 converts ISO 8859-1 bytes to UTF-8. Other character sets are
// kept when they are valid UTF-8, else their non-ASCII bytes become U+FFFD.
func textValue(b []byte, latin1 bool) string {
	b = bytes.TrimRight(b, " \x00")
	b = bytes.TrimLeft(b, " ")
	if utf8.Valid(b) && !latin1 {
		return string(b)
	}
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case latin1:
			sb.WriteRune(rune(c))
		default:
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// fileIDComponents splits a Referenced File ID: its values are the path components (PS3.10 8.5); some
// writers put a whole path with backslashes or slashes in one value.
func fileIDComponents(v string) []string {
	var out []string
	for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == '\\' || r == '/' }) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// files links the records into patients, studies and series and returns the records that reference files.
func (p *directoryParser) files(d *Directory) []DirectoryFile {
	order, ok := p.linkByOffsets()
	if !ok {
		if len(p.records) > 0 && p.base >= 0 {
			d.Warnings = append(d.Warnings, "the DICOMDIR's record offsets are inconsistent; its records were read in file order")
		}
		order = p.fileOrder()
	}
	var out []DirectoryFile
	for _, v := range order {
		r := &p.records[v.record]
		if len(r.fileID) == 0 || r.inactive {
			continue
		}
		f := DirectoryFile{
			FileID:            strings.Join(r.fileID, "/"),
			RecordType:        r.typ,
			SOPClassUID:       r.value(tagRecSOPClass),
			SOPInstanceUID:    r.value(tagRecSOPInstance),
			TransferSyntaxUID: r.value(tagRecTransferSyntax),
			InstanceNumber:    r.value(tagRecInstanceNumber),
		}
		if pr := v.ancestor[0]; pr >= 0 {
			f.PatientID, f.PatientName = p.records[pr].value(tagRecPatientID), p.records[pr].value(tagRecPatientName)
		}
		if st := v.ancestor[1]; st >= 0 {
			s := &p.records[st]
			f.StudyInstanceUID, f.StudyDate, f.StudyDescription = s.value(tagRecStudyUID), s.value(tagRecStudyDate), s.value(tagRecStudyDesc)
		}
		if se := v.ancestor[2]; se >= 0 {
			s := &p.records[se]
			f.SeriesInstanceUID, f.SeriesNumber, f.Modality = s.value(tagRecSeriesUID), s.value(tagRecSeriesNumber), s.value(tagRecModality)
			f.SeriesDescription = s.value(tagRecSeriesDesc)
		}
		out = append(out, f)
	}
	return out
}

// visit is a record in directory order with the indices of its PATIENT, STUDY and SERIES ancestors (-1: none).
type visit struct {
	record   int
	ancestor [3]int
}

// level is the hierarchy level a record type opens (0 patient, 1 study, 2 series), -1 for the others.
func level(typ string) int {
	switch typ {
	case recordTypePatient:
		return 0
	case recordTypeStudy:
		return 1
	case recordTypeSeries:
		return 2
	}
	return -1
}

// linkByOffsets links the records through their next and lower-level offsets and returns them depth first,
// top-level entities in file order. The root offset (0004,1200) is not trusted (some writers leave it pointing
// at a moved record): top-level records are those no other record points to. ok is false when the offsets
// cannot be trusted: unknown record positions, an offset that points at no record, a record reached twice, or
// records the walk does not reach.
func (p *directoryParser) linkByOffsets() ([]visit, bool) {
	if p.base < 0 || len(p.records) == 0 {
		return nil, false
	}
	at := make(map[uint32]int, len(p.records))
	for i, r := range p.records {
		at[uint32(r.offset)] = i
	}
	pointedTo := make([]bool, len(p.records))
	for _, r := range p.records {
		for _, off := range []uint32{r.next, r.lower} {
			if off == 0 {
				continue
			}
			i, ok := at[off]
			if !ok || pointedTo[i] {
				return nil, false
			}
			pointedTo[i] = true
		}
	}
	none := [3]int{-1, -1, -1}
	// An explicit stack, so that a hostile chain of lower-level entities cannot exhaust the goroutine stack. Each
	// entry is a record and the ancestors of its entity; the top-level records are pushed last first.
	var stack []visit
	for i := len(p.records) - 1; i >= 0; i-- {
		if !pointedTo[i] {
			stack = append(stack, visit{i, none})
		}
	}
	seen := make([]bool, len(p.records))
	out := make([]visit, 0, len(p.records))
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v.record] {
			return nil, false
		}
		seen[v.record] = true
		r := &p.records[v.record]
		anc := v.ancestor
		if l := level(r.typ); l >= 0 {
			anc[l] = v.record
			for deeper := l + 1; deeper < 3; deeper++ {
				anc[deeper] = -1
			}
		}
		out = append(out, visit{v.record, anc})
		// The next sibling shares this record's parent; the lower-level entity is pushed last so that it is
		// walked before the sibling.
		if r.next != 0 {
			stack = append(stack, visit{at[r.next], v.ancestor})
		}
		if r.lower != 0 {
			stack = append(stack, visit{at[r.lower], anc})
		}
	}
	if len(out) != len(p.records) {
		return nil, false
	}
	return out, true
}

// fileOrder links records by their order in the file: each record belongs to the last PATIENT, STUDY and
// SERIES record before it.
func (p *directoryParser) fileOrder() []visit {
	anc := [3]int{-1, -1, -1}
	out := make([]visit, 0, len(p.records))
	for i, r := range p.records {
		if l := level(r.typ); l >= 0 {
			anc[l] = i
			for deeper := l + 1; deeper < 3; deeper++ {
				anc[deeper] = -1
			}
		}
		out = append(out, visit{record: i, ancestor: anc})
	}
	return out
}

// caseInsensitiveResolver finds referenced files under a DICOMDIR's folder, matching each component without
// regard to case (and to an ISO 9660 ";1" version suffix), listing each folder at most once.
type caseInsensitiveResolver struct {
	root    string
	listing map[string][]string
}

func newCaseInsensitiveResolver(root string) *caseInsensitiveResolver {
	return &caseInsensitiveResolver{root: root, listing: map[string][]string{}}
}

// resolve returns the path of the file with the given ID ("A/B/C"), or the literal join and an error.
func (r *caseInsensitiveResolver) resolve(fileID string) (string, error) {
	comps := strings.Split(fileID, "/")
	literal := filepath.Join(append([]string{r.root}, comps...)...)
	for _, c := range comps {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `:`) {
			return literal, fmt.Errorf("the DICOMDIR refers to %q, which leaves its folder: %w", fileID, ErrMalformed)
		}
	}
	if _, err := os.Stat(literal); err == nil {
		return literal, nil
	}
	cur := r.root
	for _, c := range comps {
		exact := filepath.Join(cur, c)
		if _, err := os.Stat(exact); err == nil {
			cur = exact
			continue
		}
		name, ok := r.match(cur, c)
		if !ok {
			return literal, fmt.Errorf("the DICOMDIR lists %s, which is not in %s: %w", fileID, r.root, fs.ErrNotExist)
		}
		cur = filepath.Join(cur, name)
	}
	return cur, nil
}

// match finds the entry of folder dir whose name equals c but for case and an ISO 9660 version suffix.
func (r *caseInsensitiveResolver) match(dir, c string) (string, bool) {
	names, ok := r.listing[dir]
	if !ok {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		r.listing[dir] = names
	}
	for _, n := range names {
		if strings.EqualFold(n, c) || strings.EqualFold(isoBaseName(n), c) {
			return n, true
		}
	}
	return "", false
}

// isoBaseName drops an ISO 9660 version (";1") and the dot a name without extension keeps ("IM000001.;1").
func isoBaseName(n string) string {
	if i := strings.LastIndexByte(n, ';'); i >= 0 {
		n = n[:i]
	}
	return strings.TrimSuffix(n, ".")
}
