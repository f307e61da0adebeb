package dicomio

import (
	"github.com/tumortracer/tumortracer/internal/testenv"

	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

// requireCorpusDir returns a folder of the shared DICOM corpus, or skips the test without it (fails under CI).
func requireCorpusDir(t *testing.T, rel string) string {
	t.Helper()
	return testenv.DataPath(t, "dicom", rel)
}

// synthFileSet writes a two-patient file-set: files on disk in lower case while the DICOMDIR says upper case
// (as a CD copied to Linux looks), one listed file missing, one inactive record, one file ID that climbs out.
func synthFileSet(t *testing.T) (dir string, want []DirectoryFile) {
	dir = t.TempDir()
	a := dicomsynth.Series{PatientID: "PAT-A", PatientName: "Alpha^Ann", Description: "Chest"}
	b := dicomsynth.Series{PatientID: "PAT-B", PatientName: "Beta^Bob", Description: "Abdomen"}
	type img struct {
		s      dicomsynth.Series
		onDisk string
		id     []string
	}
	imgs := []img{
		{a, "pa/st1/se1/im1", []string{"PA", "ST1", "SE1", "IM1"}},
		{a, "pa/st1/se1/im2.;1", []string{"PA", "ST1", "SE1", "IM2"}}, // an ISO 9660 version suffix on disk
		{b, "PB/ST1/SE1/IM1", []string{"PB", "ST1", "SE1", "IM1"}},
	}
	for i, im := range imgs {
		sl := dicomsynth.Slice{Position: [3]float64{0, 0, float64(i)}, Instance: i + 1}
		if err := dicomsynth.Write(filepath.Join(dir, filepath.FromSlash(im.onDisk)), im.s.CTSlice(sl)); err != nil {
			t.Fatal(err)
		}
	}
	image := func(id []string, instance int, inactive bool) dicomsynth.DirRecord {
		return dicomsynth.DirRecord{Type: "IMAGE", FileID: id, Inactive: inactive, Elements: []dicomsynth.Element{
			dicomsynth.Text(dicomsynth.TagReferencedSOPClass, "UI", dicomsynth.SOPClassCT),
			dicomsynth.IS(dicomsynth.TagInstanceNumber, instance),
		}}
	}
	patient := func(s dicomsynth.Series, studies ...dicomsynth.DirRecord) dicomsynth.DirRecord {
		return dicomsynth.DirRecord{Type: "PATIENT", Children: studies, Elements: []dicomsynth.Element{
			dicomsynth.Text(dicomsynth.TagPatientID, "LO", s.PatientID), dicomsynth.Text(dicomsynth.TagPatientName, "PN", s.PatientName),
		}}
	}
	study := func(uid string, series ...dicomsynth.DirRecord) dicomsynth.DirRecord {
		return dicomsynth.DirRecord{Type: "STUDY", Children: series, Elements: []dicomsynth.Element{
			dicomsynth.Text(dicomsynth.TagStudyInstanceUID, "UI", uid), dicomsynth.Text(dicomsynth.TagStudyDate, "DA", "20260102"),
		}}
	}
	series := func(uid string, images ...dicomsynth.DirRecord) dicomsynth.DirRecord {
		return dicomsynth.DirRecord{Type: "SERIES", Children: images, Elements: []dicomsynth.Element{
			dicomsynth.Text(dicomsynth.TagSeriesInstanceUID, "UI", uid), dicomsynth.Text(dicomsynth.TagModality, "CS", "CT"),
		}}
	}
	sa, sb := a.WithDefaults(), b.WithDefaults()
	roots := []dicomsynth.DirRecord{
		patient(a, study(sa.StudyUID, series(sa.SeriesUID,
			image([]string{"PA", "ST1", "SE1", "IM1"}, 1, false),
			image([]string{"PA", "ST1", "SE1", "IM2"}, 2, false),
			image([]string{"PA", "ST1", "SE1", "IM3"}, 3, false), // missing
			image([]string{"PA", "ST1", "SE1", "IM9"}, 9, true),  // deleted: not listed
		))),
		patient(b, study(sb.StudyUID, series(sb.SeriesUID,
			image([]string{"PB", "ST1", "SE1", "IM1"}, 1, false),
			image([]string{"..", "SECRET"}, 2, false),
		))),
	}
	if err := dicomsynth.WriteDirectory(dir, "SYNTH", roots); err != nil {
		t.Fatal(err)
	}
	key := func(s dicomsynth.Series, id, onDisk string, instance string) DirectoryFile {
		f := DirectoryFile{FileID: id, RecordType: "IMAGE", SOPClassUID: dicomsynth.SOPClassCT, InstanceNumber: instance,
			PatientID: s.PatientID, PatientName: s.PatientName, StudyInstanceUID: s.StudyUID, StudyDate: "20260102",
			SeriesInstanceUID: s.SeriesUID, Modality: "CT"}
		if onDisk != "" {
			f.Path = filepath.Join(dir, filepath.FromSlash(onDisk))
		}
		return f
	}
	want = []DirectoryFile{
		key(sa, "PA/ST1/SE1/IM1", "pa/st1/se1/im1", "1"),
		key(sa, "PA/ST1/SE1/IM2", "pa/st1/se1/im2.;1", "2"),
		key(sa, "PA/ST1/SE1/IM3", "", "3"),
		key(sb, "PB/ST1/SE1/IM1", "PB/ST1/SE1/IM1", "1"),
		key(sb, "../SECRET", "", "2"),
	}
	return dir, want
}

func TestReadDirectorySynthetic(t *testing.T) {
	dir, want := synthFileSet(t)
	d, err := ReadDirectory(filepath.Join(dir, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	if d.FileSetID != "SYNTH" || len(d.Warnings) != 0 {
		t.Errorf("file-set %q, warnings %q", d.FileSetID, d.Warnings)
	}
	if len(d.Files) != len(want) {
		t.Fatalf("%d files, want %d: %+v", len(d.Files), len(want), d.Files)
	}
	for i, w := range want {
		got := d.Files[i]
		gotErr := got.Err
		got.Err = nil
		if w.Path == "" {
			w.Path = got.Path // the literal join, checked through the error below
		}
		if got != w {
			t.Errorf("file %d:\n got %+v\nwant %+v", i, got, w)
		}
		switch w.FileID {
		case "PA/ST1/SE1/IM3":
			if !errors.Is(gotErr, fs.ErrNotExist) {
				t.Errorf("missing file: err %v", gotErr)
			}
		case "../SECRET":
			if !errors.Is(gotErr, ErrMalformed) {
				t.Errorf("file ID leaving the folder: err %v", gotErr)
			}
		default:
			if gotErr != nil {
				t.Errorf("file %s: %v", w.FileID, gotErr)
			}
		}
	}
	// Each found file is the one the record says (its own UIDs agree with the records above it).
	for _, f := range d.Files {
		if f.Err != nil {
			continue
		}
		s, err := Open(f.Path, MetadataOnly())
		if err != nil {
			t.Fatal(err)
		}
		if s.Meta.SeriesInstanceUID != f.SeriesInstanceUID || s.Meta.StudyInstanceUID != f.StudyInstanceUID || s.Meta.PatientID != f.PatientID {
			t.Errorf("%s holds series %s of patient %s; the DICOMDIR says %s of %s", f.Path, s.Meta.SeriesInstanceUID, s.Meta.PatientID, f.SeriesInstanceUID, f.PatientID)
		}
	}
}

func TestReadDirectoryFromOpen(t *testing.T) {
	dir, _ := synthFileSet(t)
	s, err := Open(filepath.Join(dir, "DICOMDIR"), MetadataOnly())
	if !errors.Is(err, ErrNoPixelData) || s == nil || s.Meta.SOPClassUID != SOPClassMediaStorageDirectory {
		t.Fatalf("Open of a DICOMDIR: %v, SOP class %q; the indexer recognises DICOMDIRs this way", err, s.Meta.SOPClassUID)
	}
	if _, err := ReadDirectory(dir); !errors.Is(err, ErrNotDirectory) {
		t.Errorf("a folder: %v", err)
	}
	ct := filepath.Join(dir, "PB", "ST1", "SE1", "IM1")
	if _, err := ReadDirectory(ct); !errors.Is(err, ErrNotDirectory) || !strings.Contains(err.Error(), "CT Image") {
		t.Errorf("a CT image: %v", err)
	}
}

func TestReadDirectoryTruncatedKeepsWhatItRead(t *testing.T) {
	dir, want := synthFileSet(t)
	full, err := os.ReadFile(filepath.Join(dir, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for cut := len(full) - 1; cut > 0; cut -= 7 {
		d, err := DecodeDirectory(bytes.NewReader(full[:cut]), int64(cut))
		if err == nil {
			t.Fatalf("cut at %d of %d: no error", cut, len(full))
		}
		if d != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("cut at %d: partial directory with %v", cut, err)
			}
			if len(d.Files) > len(want) {
				t.Errorf("cut at %d: %d files", cut, len(d.Files))
			}
			seen[len(d.Files)] = true
		}
	}
	// Cutting the last records off must keep the earlier ones.
	if !seen[len(want)-1] || !seen[1] {
		t.Errorf("partial reads kept these file counts only: %v", seen)
	}
}

// TestLinkByOffsetsIgnoresFileOrder links records whose file order is the reverse of the hierarchy.
func TestLinkByOffsetsIgnoresFileOrder(t *testing.T) {
	rec := func(off int, typ string, next, lower uint32, uid string) dirRecord {
		return dirRecord{offset: off, typ: typ, next: next, lower: lower, fileID: fileIDComponents(uid),
			values: map[uint32]string{tagRecSeriesUID: uid, tagRecStudyUID: uid, tagRecPatientID: uid}}
	}
	p := directoryParser{base: 0, records: []dirRecord{
		rec(100, "IMAGE", 0, 0, "I2"),
		rec(200, "IMAGE", 100, 0, "I1"),
		rec(300, "SERIES", 0, 200, "S1"),
		rec(400, "STUDY", 0, 300, "T1"),
		rec(500, "PATIENT", 0, 400, "P1"),
	}}
	for i := range p.records {
		if p.records[i].typ != "IMAGE" {
			p.records[i].fileID = nil
		}
	}
	d := &Directory{}
	files := p.files(d)
	if len(d.Warnings) != 0 || len(files) != 2 {
		t.Fatalf("warnings %q, %d files", d.Warnings, len(files))
	}
	for i, want := range []string{"I1", "I2"} {
		f := files[i]
		if f.FileID != want || f.SeriesInstanceUID != "S1" || f.StudyInstanceUID != "T1" || f.PatientID != "P1" {
			t.Errorf("file %d: %+v", i, f)
		}
	}
	// A loop makes the offsets untrustworthy: file order is used instead, and said.
	p.records[0].next = 200
	d = &Directory{}
	p.files(d)
	if len(d.Warnings) != 1 {
		t.Errorf("a loop of next offsets gave warnings %q", d.Warnings)
	}
}

// TestReadDirectoryCorpus reads the DICOMDIRs of the shared corpus and checks each listed file's own UIDs
// against the records above it.
func TestReadDirectoryCorpus(t *testing.T) {
	root := requireCorpusDir(t, "pydicom-test-files/dicomdirtests")
	cases := []struct {
		file     string
		files    int
		err      error
		warnings int
		patients bool
	}{
		{"DICOMDIR", 31, nil, 0, true},
		{"DICOMDIR-bigEnd", 31, nil, 0, true},
		{"DICOMDIR-implicit", 31, nil, 0, true},
		{"DICOMDIR-reordered", 31, nil, 0, true},
		{"DICOMDIR-nopatient", 31, nil, 0, false},        // patient records retyped: no patient keys
		{"DICOMDIR-nooffset", 30, ErrTruncated, 1, true}, // shortened without fixing lengths or offsets
		{"DICOMDIR-empty.dcm", 0, nil, 0, true},
		{"TINY_ALPHA/DICOMDIR", 50, nil, 0, true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, err := ReadDirectory(filepath.Join(root, c.file))
			if (c.err == nil) != (err == nil) || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if len(d.Files) != c.files || len(d.Warnings) != c.warnings {
				t.Fatalf("%d files, warnings %q; want %d files, %d warnings", len(d.Files), d.Warnings, c.files, c.warnings)
			}
			for _, f := range d.Files {
				if f.Err != nil {
					t.Errorf("%s: %v", f.FileID, f.Err)
					continue
				}
				s, err := Open(f.Path, MetadataOnly())
				if s == nil {
					t.Errorf("%s: %v", f.Path, err)
					continue
				}
				m := s.Meta
				if m.SOPInstanceUID != f.SOPInstanceUID || m.SeriesInstanceUID != f.SeriesInstanceUID || m.StudyInstanceUID != f.StudyInstanceUID {
					t.Errorf("%s: file says SOP %s series %s study %s; DICOMDIR says %s, %s, %s", f.FileID,
						m.SOPInstanceUID, m.SeriesInstanceUID, m.StudyInstanceUID, f.SOPInstanceUID, f.SeriesInstanceUID, f.StudyInstanceUID)
				}
				if c.patients && m.PatientID != f.PatientID {
					t.Errorf("%s: patient %q, DICOMDIR says %q", f.FileID, m.PatientID, f.PatientID)
				}
			}
		})
	}
	t.Run("fo-dicom", func(t *testing.T) {
		d, err := ReadDirectory(filepath.Join(requireCorpusDir(t, "fo-dicom"), "DICOMDIR"))
		if err != nil {
			t.Fatal(err)
		}
		// The corpus has the DICOMDIR without its IMAGES folder: every file is listed, each missing.
		if len(d.Files) != 20 {
			t.Fatalf("%d files", len(d.Files))
		}
		for _, f := range d.Files {
			if !errors.Is(f.Err, fs.ErrNotExist) {
				t.Errorf("%s: %v", f.FileID, f.Err)
			}
		}
	})
}

// TestReadDirectoryMatchesDcmmkdir has DCMTK's dcmmkdir write the DICOMDIR of synthetic files and checks that
// every file comes back with the UIDs it was written with.
func TestReadDirectoryMatchesDcmmkdir(t *testing.T) {
	testenv.Tools(t, "dcmmkdir")
	dir := t.TempDir()
	type written struct{ id, series, sop string }
	var files []written
	for si, desc := range []string{"Lung", "Mediastinum"} {
		s := dicomsynth.Series{Description: desc, SeriesNumber: si + 1}
		for i, pos := range dicomsynth.Axial(3, 0, 2) {
			id := fmt.Sprintf("SE%d/IM%06d", si, i)
			ds := s.CTSlice(dicomsynth.Slice{Position: pos, Instance: i + 1})
			if err := dicomsynth.Write(filepath.Join(dir, filepath.FromSlash(id)), ds); err != nil {
				t.Fatal(err)
			}
			files = append(files, written{id, dicomsynth.Value(ds, dicomsynth.TagSeriesInstanceUID), dicomsynth.Value(ds, dicomsynth.TagSOPInstanceUID)})
		}
	}
	cmd := exec.Command("dcmmkdir", "+r", "+I", "SE0", "SE1")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmmkdir: %v\n%s", err, out)
	}
	d, err := ReadDirectory(filepath.Join(dir, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != len(files) {
		t.Fatalf("%d files, want %d", len(d.Files), len(files))
	}
	byID := map[string]DirectoryFile{}
	for _, f := range d.Files {
		byID[f.FileID] = f
	}
	for _, w := range files {
		f, ok := byID[w.id]
		if !ok || f.Err != nil || f.SeriesInstanceUID != w.series || f.SOPInstanceUID != w.sop || f.Path != filepath.Join(dir, filepath.FromSlash(w.id)) {
			t.Errorf("%s: %+v (present %v), want series %s SOP %s", w.id, f, ok, w.series, w.sop)
		}
	}
}

// FuzzDecodeDirectory runs DecodeDirectory on mutated DICOMDIRs: it must not panic, and every error must wrap
// one of the package's sentinels.
func FuzzDecodeDirectory(f *testing.F) {
	f.Add(dicomsynth.Directory("SEED", nil))
	f.Add(dicomsynth.Directory("SEED", []dicomsynth.DirRecord{{Type: "PATIENT", Children: []dicomsynth.DirRecord{
		{Type: "STUDY", Children: []dicomsynth.DirRecord{{Type: "SERIES", Children: []dicomsynth.DirRecord{
			{Type: "IMAGE", FileID: []string{"A", "B"}}, {Type: "IMAGE", FileID: []string{"A", "C"}}}}}}}}}))
	data, _ := testenv.LookupDataDir(f) // corpus seeds only add to the synthetic ones
	root := filepath.Join(data, "dicom", "pydicom-test-files", "dicomdirtests")
	for _, name := range []string{"DICOMDIR", "DICOMDIR-implicit", "DICOMDIR-bigEnd", "DICOMDIR-reordered"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err == nil {
			f.Add(b) // the corpus seeds when it is there; the synthetic ones always
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDirectory(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			sentinel := false
			for _, s := range []error{ErrNotDirectory, ErrTruncated, ErrMalformed, ErrTooLarge} {
				sentinel = sentinel || errors.Is(err, s)
			}
			if !sentinel {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
		}
		if d != nil {
			for _, f := range d.Files {
				if f.FileID == "" {
					t.Fatal("a file without an ID")
				}
			}
		}
	})
}
