package dicomsynth

import (
	"github.com/tumortracer/tumortracer/internal/testenv"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestDirectoryOffsetsAgreeWithDcmdump has DCMTK's dcmdump read a DICOMDIR written here: the byte offset it
// reports for each record must be where the writer said (root offsets, next and lower-level offsets).
func TestDirectoryOffsetsAgreeWithDcmdump(t *testing.T) {
	testenv.Tools(t, "dcmdump")
	image := func(id string) DirRecord { return DirRecord{Type: "IMAGE", FileID: []string{"S", id}} }
	roots := []DirRecord{
		{Type: "PATIENT", Elements: []Element{Text(TagPatientID, "LO", "P1")}, Children: []DirRecord{
			{Type: "STUDY", Children: []DirRecord{
				{Type: "SERIES", Children: []DirRecord{image("A"), image("B"), image("C")}},
				{Type: "SERIES", Children: []DirRecord{image("D")}},
			}},
		}},
		{Type: "PATIENT", Elements: []Element{Text(TagPatientID, "LO", "P2")}, Children: []DirRecord{
			{Type: "STUDY", Children: []DirRecord{{Type: "SERIES", Children: []DirRecord{image("E")}}}},
		}},
	}
	path := filepath.Join(t.TempDir(), "DICOMDIR")
	if err := os.WriteFile(path, Directory("OFFSETS", roots), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dcmdump", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	// dcmdump notes each record's offset ("#  offset=$N") before the record's elements.
	type record struct{ offset, next, lower int }
	var recs []record
	var root [2]int
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	line := regexp.MustCompile(`offset=\$(\d+)|\(0004,(1200|1202|1400|1420)\) up (\d+)`)
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		switch {
		case m[1] != "":
			recs = append(recs, record{offset: num(m[1])})
		case m[2] == "1200":
			root[0] = num(m[3])
		case m[2] == "1202":
			root[1] = num(m[3])
		case len(recs) == 0:
			t.Fatalf("record offset before any record: %q", m[0])
		case m[2] == "1400":
			recs[len(recs)-1].next = num(m[3])
		case m[2] == "1420":
			recs[len(recs)-1].lower = num(m[3])
		}
	}
	if len(recs) != 12 {
		t.Fatalf("dcmdump found %d records\n%s", len(recs), out)
	}
	at := func(i int) int {
		if i < 0 {
			return 0
		}
		return recs[i].offset
	}
	if root != [2]int{at(0), at(8)} {
		t.Errorf("root entity offsets %v, want %d and %d", root, at(0), at(8))
	}
	// Records in file order: P1 ST SE A B C SE D P2 ST SE E; each with its next sibling and first child.
	for rec, link := range [][2]int{{8, 1}, {-1, 2}, {6, 3}, {4, -1}, {5, -1}, {-1, -1}, {-1, 7}, {-1, -1}, {-1, 9}, {-1, 10}, {-1, 11}, {-1, -1}} {
		if r := recs[rec]; r.next != at(link[0]) || r.lower != at(link[1]) {
			t.Errorf("record %d: next %d, lower %d; want %d, %d", rec, r.next, r.lower, at(link[0]), at(link[1]))
		}
	}
}
