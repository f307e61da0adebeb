package study

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

// writeFile writes one synthetic dataset and returns its path.
func writeFile(t *testing.T, path string, ds []dicomsynth.Element) string {
	t.Helper()
	if err := dicomsynth.Write(path, ds); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSeries writes one file per slice under dir, named by name(i), and returns the paths in slice order.
func writeSeries(t *testing.T, dir string, s dicomsynth.Series, slices []dicomsynth.Slice, name func(i int) string) []string {
	t.Helper()
	paths := make([]string, len(slices))
	for i, sl := range slices {
		paths[i] = writeFile(t, filepath.Join(dir, name(i)), s.CTSlice(sl))
	}
	return paths
}

// build indexes paths and fails the test on an indexing error.
func build(t *testing.T, paths []string) *Index {
	t.Helper()
	ix, err := Build(context.Background(), paths, Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Entries) < len(paths) {
		t.Fatalf("%d entries for %d inputs", len(ix.Entries), len(paths))
	}
	for i, p := range paths {
		if ix.Entries[i].Path != p && ix.Entries[i].ListedBy == "" {
			// Inputs keep their order (listed files follow their DICOMDIR, so only check inputs until one).
			t.Fatalf("entry %d is %s, input %d is %s", i, ix.Entries[i].Path, i, p)
		}
		if ix.Entries[i].Kind == KindDirectory {
			break
		}
	}
	return ix
}

// locations returns the slices' locations and fails unless every slice has one.
func locations(t *testing.T, s *Series) []float64 {
	t.Helper()
	out := make([]float64, len(s.Slices))
	for i, sl := range s.Slices {
		if !sl.HasLocation {
			t.Fatalf("slice %d (%s frame %d) has no location", i, sl.Path, sl.Frame)
		}
		out[i] = sl.Location
	}
	return out
}

// shuffledNames names slice i by a random permutation, so that file order tells nothing.
func shuffledNames(n int, seed uint64) func(int) string {
	perm := rand.New(rand.NewPCG(seed, 1)).Perm(n)
	return func(i int) string { return fmt.Sprintf("IMG%04d.dcm", perm[i]) }
}

func onlySeries(t *testing.T, ix *Index) *Series {
	t.Helper()
	all := ix.AllSeries()
	if len(all) != 1 {
		t.Fatalf("%d series, want 1", len(all))
	}
	return all[0]
}

func TestShuffledSeriesIsOrderedByPosition(t *testing.T) {
	const n = 40
	pos := dicomsynth.Axial(n, -100, 2.5)
	cases := []struct {
		name     string
		instance func(i int) int
		headDown bool // want the highest z (head) first
	}{
		// Numbers run head to feet (against the normal), with three pairs swapped: the order follows the
		// positions, in the direction most numbers run.
		{"numbers head to feet with swaps", func(i int) int {
			swapped := map[int]int{3: 4, 4: 3, 17: 30, 30: 17, 38: 39, 39: 38}
			if j, ok := swapped[i]; ok {
				i = j
			}
			return n - i
		}, true},
		{"numbers feet to head with swaps", func(i int) int {
			if i == 5 {
				return 9
			}
			if i == 8 {
				return 6
			}
			return i + 1
		}, false},
		{"no instance numbers", func(int) int { return 0 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			slices := make([]dicomsynth.Slice, n)
			for i := range slices {
				slices[i] = dicomsynth.Slice{Position: pos[i], Instance: c.instance(i)}
			}
			writeSeries(t, dir, dicomsynth.Series{}, slices, shuffledNames(n, 7))
			paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm")) // lexical: the shuffled order
			ix := build(t, paths)
			s := onlySeries(t, ix)
			if len(s.Slices) != n || s.OrderedBy != OrderPosition || s.Plane != dicomio.PlaneAxial || len(s.Problems) != 0 {
				t.Fatalf("%d slices ordered by %s, plane %q, problems %q", len(s.Slices), s.OrderedBy, s.Plane, s.Problems)
			}
			if s.Spacing < 2.499 || s.Spacing > 2.501 {
				t.Errorf("spacing %v, want 2.5", s.Spacing)
			}
			loc := locations(t, s)
			for i := 1; i < n; i++ {
				step := loc[i] - loc[i-1]
				if c.headDown {
					step = -step
				}
				if step < 2.499 || step > 2.501 {
					t.Fatalf("slice %d at %v follows %v", i, loc[i], loc[i-1])
				}
			}
			// Each slice is the file written at that position (its path and entry agree).
			for _, sl := range s.Slices {
				if got := ix.Entries[sl.Entry].Meta.Plane.Position[2]; got != sl.Location || ix.Entries[sl.Entry].Path != sl.Path {
					t.Fatalf("slice at %v holds %s at z %v", sl.Location, sl.Path, got)
				}
			}
		})
	}
}

func TestTwoSeriesInOneFolder(t *testing.T) {
	dir := t.TempDir()
	lung := dicomsynth.Series{Description: "Lung 1.25", SeriesNumber: 4}
	soft := dicomsynth.Series{Description: "Mediastinum 5", SeriesNumber: 3, Thickness: 5}
	var slices []dicomsynth.Slice
	for i, p := range dicomsynth.Axial(12, 0, 1.25) {
		slices = append(slices, dicomsynth.Slice{Position: p, Instance: i + 1})
	}
	writeSeries(t, dir, lung, slices, func(i int) string { return fmt.Sprintf("IM%03d", 2*i) })
	slices = slices[:0]
	for i, p := range dicomsynth.Axial(3, 0, 5) {
		slices = append(slices, dicomsynth.Slice{Position: p, Instance: i + 1})
	}
	writeSeries(t, dir, soft, slices, func(i int) string { return fmt.Sprintf("IM%03d", 2*i+1) })
	paths, _ := filepath.Glob(filepath.Join(dir, "IM*"))
	ix := build(t, paths)
	if len(ix.Patients) != 1 || len(ix.Patients[0].Studies) != 1 {
		t.Fatalf("%d patients", len(ix.Patients))
	}
	st := ix.Patients[0].Studies[0]
	if len(st.Series) != 2 {
		t.Fatalf("%d series, want 2", len(st.Series))
	}
	// Series number order: 3 before 4, though the lung series' file comes first.
	got := fmt.Sprintf("%s/%d/%v %s/%d/%v", st.Series[0].Description, len(st.Series[0].Slices), st.Series[0].Spacing,
		st.Series[1].Description, len(st.Series[1].Slices), st.Series[1].Spacing)
	if got != "Mediastinum 5/3/5 Lung 1.25/12/1.25" {
		t.Errorf("series: %s", got)
	}
	for _, s := range st.Series {
		if s.Key != SeriesKey(s.UID) || len(s.Key) != 12 {
			t.Errorf("key %q of %s", s.Key, s.UID)
		}
		for _, sl := range s.Slices {
			if ix.Entries[sl.Entry].SeriesKey != s.Key {
				t.Errorf("%s: entry says series %s, slice is in %s", sl.Path, ix.Entries[sl.Entry].SeriesKey, s.Key)
			}
		}
	}
}

func TestSeriesKey(t *testing.T) {
	// echo -n 1.2.3 | sha256sum → c47f5b18b8a430e6…
	if got := SeriesKey("1.2.3"); got != "c47f5b18b8a4" {
		t.Errorf("SeriesKey(1.2.3) = %s", got)
	}
}

func TestEnhancedMultiFrameIsOneSeries(t *testing.T) {
	dir := t.TempDir()
	pos := dicomsynth.Axial(20, 50, 1)
	perm := rand.New(rand.NewPCG(3, 3)).Perm(len(pos))
	frames := make([]dicomsynth.Slice, len(pos))
	for f, k := range perm {
		frames[f] = dicomsynth.Slice{Position: pos[k]} // frame f lies at the k-th position
	}
	path := writeFile(t, filepath.Join(dir, "enhanced.dcm"), dicomsynth.Series{}.EnhancedCT(frames))
	ix := build(t, []string{path})
	s := onlySeries(t, ix)
	if len(s.Slices) != 20 || s.OrderedBy != OrderPosition || len(s.Problems) != 0 || s.Spacing != 1 {
		t.Fatalf("%d slices by %s, spacing %v, problems %q", len(s.Slices), s.OrderedBy, s.Spacing, s.Problems)
	}
	for i, sl := range s.Slices {
		if sl.Entry != 0 || sl.Location != pos[i][2] || perm[sl.Frame] != i {
			t.Errorf("slice %d: entry %d frame %d at %v; want frame %d at %v", i, sl.Entry, sl.Frame, sl.Location, indexOf(perm, i), pos[i][2])
		}
	}
}

func indexOf(v []int, x int) int {
	for i, y := range v {
		if y == x {
			return i
		}
	}
	return -1
}

func TestLocalizerAndDoseReportAreListedNotClassified(t *testing.T) {
	dir := t.TempDir()
	ct := dicomsynth.Series{Description: "Chest"}
	scout := dicomsynth.Series{Description: "Topogram 0.6", SeriesNumber: 1}
	var slices []dicomsynth.Slice
	for i, p := range dicomsynth.Axial(6, 0, 5) {
		slices = append(slices, dicomsynth.Slice{Position: p, Instance: i + 2})
	}
	paths := writeSeries(t, dir, ct, slices, func(i int) string { return fmt.Sprintf("ct%d.dcm", i) })
	paths = append(paths,
		writeFile(t, filepath.Join(dir, "scout-in-series.dcm"), ct.Localizer(1)),
		writeFile(t, filepath.Join(dir, "scout.dcm"), scout.Localizer(1)),
		writeFile(t, filepath.Join(dir, "dose.dcm"), ct.DoseReport()),
	)
	ix := build(t, paths)
	kinds := map[string]Kind{}
	for _, e := range ix.Entries {
		kinds[filepath.Base(e.Path)] = e.Kind
		if e.Err != nil {
			t.Errorf("%s: %v", e.Path, e.Err)
		}
	}
	if kinds["scout-in-series.dcm"] != KindLocalizer || kinds["scout.dcm"] != KindLocalizer || kinds["dose.dcm"] != KindDoseReport || kinds["ct0.dcm"] != KindImage {
		t.Errorf("kinds %v", kinds)
	}
	all := ix.AllSeries()
	if len(all) != 3 {
		t.Fatalf("%d series", len(all))
	}
	byDesc := map[string]*Series{}
	for _, s := range all {
		byDesc[s.Description] = s
	}
	chest, top, dose := byDesc["Chest"], byDesc["Topogram 0.6"], byDesc["Dose Report"]
	if chest == nil || top == nil || dose == nil {
		t.Fatalf("series %v", byDesc)
	}
	// The localizer that shares the CT's series is one of its objects, not a slice: no mixed orientation.
	if !chest.Classifiable() || len(chest.Slices) != 6 || len(chest.Objects) != 1 || len(chest.Problems) != 0 || chest.Kind != KindImage {
		t.Errorf("chest: %d slices, objects %v, problems %q", len(chest.Slices), chest.Objects, chest.Problems)
	}
	if top.Classifiable() || top.Kind != KindLocalizer || dose.Classifiable() || dose.Kind != KindDoseReport {
		t.Errorf("topogram %s %v, dose %s %v", top.Kind, top.Classifiable(), dose.Kind, dose.Classifiable())
	}
	if KindLocalizer.Classifiable() || KindDoseReport.Classifiable() || !KindPicture.Classifiable() {
		t.Error("Kind.Classifiable")
	}
}

func TestGapsRepeatsAndMixedOrientationsAreSaid(t *testing.T) {
	sagittal := [6]float64{0, 1, 0, 0, 0, -1}
	axial := func(n int) []dicomsynth.Slice {
		var s []dicomsynth.Slice
		for i, p := range dicomsynth.Axial(n, 0, 2.5) {
			s = append(s, dicomsynth.Slice{Position: p, Instance: i + 1})
		}
		return s
	}
	cases := []struct {
		name     string
		slices   func() []dicomsynth.Slice
		copyFile bool // write the first slice a second time under another name
		slicesN  int
		want     []string // substrings, one per problem, in order
	}{
		{"gap", func() []dicomsynth.Slice {
			s := axial(20)
			return append(s[:8], s[12:]...) // 4 missing: one step of 12.5 mm
		}, false, 16, []string{"Slices are missing: 1 gap wider than 1.5 × the 2.5 mm spacing, the widest 12.5 mm between 17.5 and 30 mm"}},
		{"two gaps", func() []dicomsynth.Slice {
			s := axial(30)
			return append(append(s[:5:5], s[7:20]...), s[25:]...)
		}, false, 23, []string{"2 gaps wider than 1.5 × the 2.5 mm spacing, the widest 15 mm between 47.5 and 62.5 mm"}},
		{"repeated position", func() []dicomsynth.Slice {
			s := axial(10)
			return append(s, dicomsynth.Slice{Position: s[4].Position, Instance: 11, Acquisition: 2, UIDSeed: "again"})
		}, false, 11, []string{"1 slice repeats the position of another slice (the first at 10 mm"}},
		{"same image twice", func() []dicomsynth.Slice { return axial(10) }, true, 11,
			[]string{"same images given twice (same SOP Instance UID)"}},
		{"mixed orientations", func() []dicomsynth.Slice {
			s := axial(10)
			for i := range 3 {
				s = append(s, dicomsynth.Slice{Position: [3]float64{float64(10 * i), -100, 100}, Orientation: &sagittal, Instance: 20 + i})
			}
			return s
		}, false, 13, []string{"The series mixes 2 orientations: 10 axial slices ordered by position, then 3 sagittal by instance number."}},
		{"missing positions", func() []dicomsynth.Slice {
			s := axial(10)
			s[3].NoPosition, s[6].NoPosition = true, true
			return s
		}, false, 10, []string{
			"2 gaps wider than 1.5 × the 2.5 mm spacing, the widest 5 mm", // where the unpositioned slices would be
			"2 of the 10 slices have no position",
		}},
		{"all at one position", func() []dicomsynth.Slice {
			s := axial(4)
			for i := range s {
				s[i].Position, s[i].UIDSeed = s[0].Position, fmt.Sprint(i)
			}
			return s
		}, false, 4, []string{"All 4 slices are at the same position"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := writeSeries(t, dir, dicomsynth.Series{}, c.slices(), shuffledNames(len(c.slices()), 11))
			if c.copyFile {
				b, err := os.ReadFile(paths[0])
				if err != nil {
					t.Fatal(err)
				}
				dup := filepath.Join(dir, "copy.dcm")
				if err := os.WriteFile(dup, b, 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, dup)
			}
			s := onlySeries(t, build(t, paths))
			if len(s.Slices) != c.slicesN || len(s.Problems) != len(c.want) {
				t.Fatalf("%d slices, problems %q; want %d slices, %d problems", len(s.Slices), s.Problems, c.slicesN, len(c.want))
			}
			for i, w := range c.want {
				if !strings.Contains(s.Problems[i], w) {
					t.Errorf("problem %q lacks %q", s.Problems[i], w)
				}
				if strings.Count(s.Problems[i], ". ") > 0 || !strings.HasSuffix(s.Problems[i], ".") {
					t.Errorf("problem %q is not one sentence", s.Problems[i])
				}
			}
		})
	}
}

func TestEveryInputGetsAnEntry(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{}
	good := writeFile(t, filepath.Join(dir, "good.dcm"), s.CTSlice(dicomsynth.Slice{Instance: 1}))
	full, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.dcm")
	os.WriteFile(truncated, full[:len(full)-100], 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not an image at all, just some notes\n"), 0o644)
	noSeries := writeFile(t, filepath.Join(dir, "noseries.dcm"), dicomsynth.Without(s.CTSlice(dicomsynth.Slice{Instance: 2, UIDSeed: "n"}), dicomsynth.TagSeriesInstanceUID))
	noPixels := writeFile(t, filepath.Join(dir, "nopixels.dcm"), dicomsynth.Without(s.CTSlice(dicomsynth.Slice{Instance: 3, UIDSeed: "p"}), dicomsynth.TagPixelData))
	missing := filepath.Join(dir, "gone.dcm")
	inputs := []string{good, truncated, text, noSeries, noPixels, missing, good, dir}
	ix := build(t, inputs)
	if len(ix.Entries) != len(inputs) {
		t.Fatalf("%d entries for %d inputs", len(ix.Entries), len(inputs))
	}
	want := []struct {
		kind     Kind
		sentinel error
		sentence string
	}{
		{KindImage, nil, ""},
		{KindUnreadable, dicomio.ErrTruncated, "This file is cut short"},
		{KindUnreadable, dicomio.ErrNotImage, "not a DICOM, PNG or JPEG image"},
		{KindImage, ErrNoSeries, "belongs to no series"},
		{KindImage, dicomio.ErrNoPixelData, "This CT Image file has no pixel data"},
		{KindUnreadable, fs.ErrNotExist, "does not exist"},
		{KindUnreadable, ErrDuplicateInput, "given more than once"},
		{KindUnreadable, dicomio.ErrNotImage, "This is a folder"},
	}
	for i, w := range want {
		e := ix.Entries[i]
		if e.Path != inputs[i] || e.Kind != w.kind || (w.sentinel == nil) != (e.Err == nil) || w.sentinel != nil && !errors.Is(e.Err, w.sentinel) {
			t.Errorf("entry %d (%s): kind %s, err %v; want %s, %v", i, filepath.Base(inputs[i]), e.Kind, e.Err, w.kind, w.sentinel)
			continue
		}
		if got := Sentence(e.Err); !strings.Contains(got, w.sentence) || e.Err != nil && !strings.HasSuffix(got, ".") {
			t.Errorf("entry %d (%s): sentence %q, want %q", i, filepath.Base(inputs[i]), got, w.sentence)
		}
	}
	// The image without pixel data is listed with its series; the one without a series UID is in none.
	series := onlySeries(t, ix)
	if len(series.Slices) != 1 || len(series.Objects) != 1 || ix.Entries[series.Objects[0]].Path != noPixels || ix.Entries[3].SeriesKey != "" {
		t.Errorf("series: %d slices, objects %v", len(series.Slices), series.Objects)
	}
}

func TestPicturesFormOneGroupPerFolder(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 3)
	}
	write := func(name string, enc func(*os.File) error) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := enc(f); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pngEnc := func(f *os.File) error { return png.Encode(f, img) }
	jpgEnc := func(f *os.File) error {
		return jpeg.Encode(f, &image.RGBA{Pix: make([]byte, 4*64), Stride: 32, Rect: image.Rect(0, 0, 8, 8)}, nil)
	}
	a := write("a/film1.png", pngEnc)
	b := write("b/film2.jpg", jpgEnc)
	c := write("a/film3.jpeg", jpgEnc)
	ix := build(t, []string{a, b, c})
	if len(ix.Groups) != 2 || len(ix.AllSeries()) != 0 {
		t.Fatalf("%d groups, %d series", len(ix.Groups), len(ix.AllSeries()))
	}
	if g := ix.Groups[0]; g.Folder != filepath.Join(dir, "a") || fmt.Sprint(g.Entries) != "[0 2]" {
		t.Errorf("group a: %+v", g)
	}
	for _, e := range ix.Entries {
		if e.Kind != KindPicture || e.Err != nil || e.SeriesKey != "" {
			t.Errorf("%s: %s %v", e.Path, e.Kind, e.Err)
		}
	}
}

func TestDICOMDIROpensItsSeries(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "From CD"}.WithDefaults()
	var files []dicomsynth.DirRecord
	var onDisk []string
	for i, p := range dicomsynth.Axial(5, 0, 3) {
		id := []string{"DICOM", "S1", fmt.Sprintf("I%d", i)}
		files = append(files, dicomsynth.DirRecord{Type: "IMAGE", FileID: id})
		if i == 2 {
			continue // listed but not on disk
		}
		// lower-case on disk, as a CD copied to Linux often is
		onDisk = append(onDisk, writeFile(t, filepath.Join(dir, "dicom", "s1", strings.ToLower(id[2])), s.CTSlice(dicomsynth.Slice{Position: p, Instance: 5 - i})))
	}
	roots := []dicomsynth.DirRecord{{Type: "PATIENT", Children: []dicomsynth.DirRecord{{Type: "STUDY", Children: []dicomsynth.DirRecord{
		{Type: "SERIES", Elements: []dicomsynth.Element{dicomsynth.Text(dicomsynth.TagSeriesInstanceUID, "UI", s.SeriesUID)}, Children: files},
	}}}}}
	if err := dicomsynth.WriteDirectory(dir, "CD", roots); err != nil {
		t.Fatal(err)
	}
	dicomdir := filepath.Join(dir, "DICOMDIR")

	t.Run("alone", func(t *testing.T) {
		ix := build(t, []string{dicomdir})
		if len(ix.Entries) != 6 {
			t.Fatalf("%d entries, want the DICOMDIR and its 5 files", len(ix.Entries))
		}
		if e := ix.Entries[0]; e.Kind != KindDirectory || e.Listed != 5 || e.Err != nil {
			t.Errorf("DICOMDIR entry: %s, %d listed, %v", e.Kind, e.Listed, e.Err)
		}
		missing := ix.Entries[3] // the third listed file
		if !errors.Is(missing.Err, fs.ErrNotExist) || !strings.Contains(Sentence(missing.Err), "not on disk") || missing.ListedBy != dicomdir {
			t.Errorf("missing file entry: %+v", missing)
		}
		series := onlySeries(t, ix)
		if len(series.Slices) != 4 || series.Description != "From CD" || series.Problems == nil {
			t.Errorf("series %q: %d slices, problems %q", series.Description, len(series.Slices), series.Problems)
		}
	})
	t.Run("with its files", func(t *testing.T) {
		ix := build(t, append([]string{dicomdir}, onDisk...))
		// The files given as inputs are not indexed a second time through the DICOMDIR.
		if len(ix.Entries) != 6 || len(onlySeries(t, ix).Slices) != 4 {
			t.Fatalf("%d entries", len(ix.Entries))
		}
	})
}

func TestProgressAndCancellation(t *testing.T) {
	dir := t.TempDir()
	var slices []dicomsynth.Slice
	for i, p := range dicomsynth.Axial(30, 0, 1) {
		slices = append(slices, dicomsynth.Slice{Position: p, Instance: i + 1})
	}
	paths := writeSeries(t, dir, dicomsynth.Series{}, slices, func(i int) string { return fmt.Sprintf("%02d.dcm", i) })

	t.Run("progress", func(t *testing.T) {
		var calls, running atomic.Int32
		lastDone := 0
		ix, err := Build(context.Background(), paths, Options{Workers: 4, Progress: func(p Progress) {
			if running.Add(1) != 1 {
				t.Error("Progress called concurrently")
			}
			calls.Add(1)
			if p.Done != lastDone+1 || p.Total != len(paths) || p.Entry.Path == "" {
				t.Errorf("progress %d/%d after %d", p.Done, p.Total, lastDone)
			}
			lastDone = p.Done
			running.Add(-1)
		}})
		if err != nil || int(calls.Load()) != len(paths) || len(onlySeries(t, ix).Slices) != len(paths) {
			t.Errorf("%d calls, err %v", calls.Load(), err)
		}
	})
	t.Run("cancelled midway", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var seen atomic.Int32
		ix, err := Build(ctx, paths, Options{Workers: 2, Progress: func(p Progress) {
			if seen.Add(1) == 5 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) || len(ix.Entries) != len(paths) {
			t.Fatalf("err %v, %d entries", err, len(ix.Entries))
		}
		stopped := 0
		for _, e := range ix.Entries {
			if errors.Is(e.Err, context.Canceled) {
				stopped++
				if !strings.Contains(Sentence(e.Err), "stopped") {
					t.Errorf("sentence %q", Sentence(e.Err))
				}
			}
		}
		if stopped == 0 || stopped > len(paths)-5 {
			t.Errorf("%d of %d entries stopped", stopped, len(paths))
		}
	})
	t.Run("snapshot fills in", func(t *testing.T) {
		release := make(chan struct{})
		first := make(chan Entry, 1)
		ix := Start(context.Background(), paths, Options{Workers: 1, Progress: func(p Progress) {
			if p.Done == 1 {
				first <- p.Entry
				<-release // hold the indexer after its first file
			}
		}})
		e := <-first
		if !e.Kind.Classifiable() || e.Path != paths[0] {
			t.Errorf("first entry %s %s", e.Path, e.Kind)
		}
		snap := ix.Snapshot()
		if len(snap.Entries) != 1 || len(onlySeries(t, snap).Slices) != 1 {
			t.Errorf("snapshot after one file: %d entries", len(snap.Entries))
		}
		close(release)
		done, err := ix.Wait()
		if err != nil || len(onlySeries(t, done).Slices) != len(paths) {
			t.Errorf("final: %v", err)
		}
	})
}
