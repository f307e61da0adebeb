package study

import (
	"github.com/tumortracer/tumortracer/internal/testenv"

	"context"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusRoot finds the shared DICOM corpus, or skips without it (fails under CI).
func corpusRoot(t testing.TB) string {
	t.Helper()
	root := testenv.DataPath(t, "dicom")
	testenv.DataPath(t, "dicom", "INVENTORY.tsv")
	return root
}

// TestCorpusSweep indexes every file of the shared DICOM corpus at once: each gets an entry with a kind, every
// error has its sentence, nothing panics, and the corpus' known series come out as they were acquired.
func TestCorpusSweep(t *testing.T) {
	root := corpusRoot(t)
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	ix, err := Build(context.Background(), paths, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Entries) < len(paths) {
		// One entry per input, plus the files DICOMDIRs list that were not inputs.
		t.Fatalf("%d entries for %d files", len(ix.Entries), len(paths))
	}
	kinds := map[Kind]int{}
	errs := 0
	input := 0
	for _, e := range ix.Entries {
		if e.ListedBy == "" {
			// Inputs keep their order; a DICOMDIR's listed files (not among the inputs) follow it.
			if e.Path != paths[input] {
				t.Fatalf("input %d is %s, want %s", input, e.Path, paths[input])
			}
			input++
		}
		kinds[e.Kind]++
		if e.Kind == "" {
			t.Errorf("%s has no kind", e.Path)
		}
		if e.Err != nil {
			errs++
			if s := Sentence(e.Err); !strings.HasSuffix(s, ".") || s == "This file could not be indexed." {
				t.Errorf("%s: sentence %q for %v", e.Path, s, e.Err)
			}
		}
	}
	series := ix.AllSeries()
	t.Logf("%d files, %d entries (%d with an error), %d patients, %d series, %d picture groups; kinds %v",
		len(paths), len(ix.Entries), errs, len(ix.Patients), len(series), len(ix.Groups), kinds)
	problems := 0
	for _, s := range series {
		problems += len(s.Problems)
		for _, p := range s.Problems {
			t.Logf("series %s %q (%d slices): %s", s.Key, s.Description, len(s.Slices), p)
		}
	}

	// pydicom's dicomdirtests: patient 98892001's "CT2N" holds the two scout images of a CT (ImageType
	// LOCALIZER): a localizer series, not classified. "CT5N" holds 5 axial slices numbered 6 to 10 from head to
	// feet (z 8.76 down to -1.24 mm): ordered by position, in the direction of their numbers.
	dirtests := filepath.Join(root, "pydicom-test-files", "dicomdirtests", "98892001")
	seriesIn := func(folder string) *Series {
		for _, s := range series {
			members := append([]int(nil), s.Objects...)
			for _, sl := range s.Slices {
				members = append(members, sl.Entry)
			}
			for _, i := range members {
				if filepath.Dir(ix.Entries[i].Path) == filepath.Join(dirtests, folder) {
					return s
				}
			}
		}
		t.Fatalf("no series holds the files of %s", folder)
		return nil
	}
	if s := seriesIn("CT2N"); s.Kind != KindLocalizer || s.Classifiable() || len(s.Objects) != 2 {
		t.Errorf("CT2N: kind %s, %d slices, %d objects", s.Kind, len(s.Slices), len(s.Objects))
	}
	s := seriesIn("CT5N")
	if len(s.Slices) != 5 || s.OrderedBy != OrderPosition || len(s.Problems) != 0 || s.Spacing != 2.5 {
		t.Fatalf("CT5N: %d slices by %s, spacing %v, problems %q", len(s.Slices), s.OrderedBy, s.Spacing, s.Problems)
	}
	for i, sl := range s.Slices {
		if sl.Instance.Value != 6+i || !sl.HasLocation {
			t.Errorf("CT5N slice %d: instance %+v at %v", i, sl.Instance, sl.Location)
		}
	}
	// TINY_ALPHA's 50 CT files have no pixel data: one series with no slices, each file listed with its error.
	tiny := filepath.Join(root, "pydicom-test-files", "dicomdirtests", "TINY_ALPHA")
	for _, s := range series {
		if len(s.Objects) > 0 && strings.HasPrefix(ix.Entries[s.Objects[0]].Path, tiny) {
			if len(s.Slices) != 0 || len(s.Objects) != 50 || s.Classifiable() || s.Kind != KindUnreadable {
				t.Errorf("TINY_ALPHA series: %d slices, %d objects, kind %s", len(s.Slices), len(s.Objects), s.Kind)
			}
		}
	}
}
