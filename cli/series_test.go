package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

// chestSlices returns n chest CT slices as stored values of 128×128 slices: pictures from the chest-ct train split
// (shown in the lung window, which CTValues undoes), so that the series shows anatomy.
func chestSlices(t *testing.T, n int) [][]uint16 {
	t.Helper()
	var out [][]uint16
	for _, img := range testenv.ChestCTPictures(t, n) {
		out = append(out, dicomsynth.CTValues(img, 128, 128, -600, 1500))
	}
	return out
}

// writeChestSeries writes n slices of a 128×128 chest CT series into dir with shuffled names and Instance Numbers
// that run against the positions; it returns the paths.
func writeChestSeries(t *testing.T, dir string, n int) []string {
	t.Helper()
	s := dicomsynth.Series{Description: "Chest 1.25 mm", Rows: 128, Columns: 128, SeriesNumber: 2}
	var paths []string
	for i, vals := range chestSlices(t, n) {
		p := filepath.Join(dir, fmt.Sprintf("img%02d.dcm", (i*7)%n)) // 0, 7, 14 … mod n: not position order
		sl := dicomsynth.Slice{Position: [3]float64{-175, -175, float64(10 * i)}, Instance: n - i, Values: vals}
		if err := dicomsynth.Write(p, s.CTSlice(sl)); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("CSV %q: %v", s, err)
	}
	return rows
}

// column returns the index of name in the header.
func column(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, header)
	return -1
}

// TestClassifyPerSeries runs `classify --per series` with the bundled ct-lung on a folder holding a chest CT
// series, a topogram series, a dose report, a picture and a path that does not exist: one record per series with
// exactly the columns, a record of its own for the picture and the missing path, and a series score that is
// the card's rule applied to the very numbers `--per file` gives for the same slices.
func TestClassifyPerSeries(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	dir := t.TempDir()
	ct := filepath.Join(dir, "ct")
	slices := writeChestSeries(t, ct, 8)
	topo := dicomsynth.Series{Description: "Topogram", SeriesNumber: 1}
	if err := dicomsynth.Write(filepath.Join(dir, "topo.dcm"), topo.Localizer(1)); err != nil {
		t.Fatal(err)
	}
	if err := dicomsynth.Write(filepath.Join(dir, "dose.dcm"), topo.DoseReport()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(inferenceFixtures, "parity_rgb.png"))
	os.WriteFile(filepath.Join(dir, "photo.png"), data, 0o644)
	missing := filepath.Join(dir, "no-such-file.dcm")

	code, stdout, stderr := runVerb("classify", "--per", "series", dir, missing)
	if code != about.ExitFailed {
		t.Fatalf("exit %d (stderr %s), want 1: the picture and the missing path are error records", code, stderr)
	}
	if !strings.Contains(stderr, "1 series classified, 2 refused, 0 failed (2 files in no series)") || !strings.Contains(stderr, about.Disclaimer) {
		t.Errorf("summary line: %s", stderr)
	}
	rows := readCSV(t, stdout)
	want := "status,error,reason,out_of_scope,model,version,device,series,series_description,slices,classified,refused,label,probability,rule,key_slice," +
		"p_adenocarcinoma,p_large_cell_carcinoma,p_squamous_cell_carcinoma,p_normal"
	if !strings.HasPrefix(strings.Join(rows[0], ","), want) {
		t.Fatalf("header %v\nwant it to start %s", rows[0], want)
	}
	if len(rows) != 6 {
		t.Fatalf("%d records, want 3 series + the picture + the missing path:\n%s", len(rows)-1, stdout)
	}
	h := rows[0]
	byDesc := map[string][]string{}
	var files []string
	for _, r := range rows[1:] {
		if r[column(t, h, "series")] == "" {
			files = append(files, filepath.Base(r[column(t, h, "key_slice")]))
			if r[0] != "error" || r[1] == "" {
				t.Errorf("file record %v", r)
			}
			continue
		}
		byDesc[r[column(t, h, "series_description")]] = r
	}
	sort.Strings(files)
	if strings.Join(files, ",") != "no-such-file.dcm,photo.png" {
		t.Errorf("file records for %v", files)
	}
	for _, d := range []string{"Topogram", "Dose Report"} {
		if r := byDesc[d]; r == nil || r[0] != "refused" || r[column(t, h, "slices")] != "0" || r[1] != "" ||
			!strings.Contains(r[column(t, h, "reason")], "not classified") || r[column(t, h, "out_of_scope")] != "true" {
			t.Errorf("%s record %v", d, r)
		}
	}
	r := byDesc["Chest 1.25 mm"]
	if r == nil || r[0] != "ok" || r[column(t, h, "model")] != "ct-lung" || r[column(t, h, "slices")] != "8" || r[column(t, h, "classified")] != "8" ||
		r[column(t, h, "refused")] != "0" || r[column(t, h, "rule")] != "top-5-mean" || r[column(t, h, "reason")] != "" || r[column(t, h, "out_of_scope")] != "false" {
		t.Fatalf("CT series record %v", r)
	}
	label := r[column(t, h, "label")]
	if r[column(t, h, "probability")] != r[column(t, h, "p_"+label)] {
		t.Errorf("probability %s is not the label's score p_%s %s", r[column(t, h, "probability")], label, r[column(t, h, "p_"+label)])
	}

	// The same slices per file: the series score is the mean of the five highest p_label values, and the key
	// slice is the slice with the highest.
	code, stdout, stderr = runVerb("classify", ct)
	if code != about.ExitOK {
		t.Fatalf("--per file: exit %d, %s", code, stderr)
	}
	per := readCSV(t, stdout)
	var ps []float64
	best, bestP := "", -1.0
	for _, row := range per[1:] {
		p, _ := strconv.ParseFloat(row[column(t, per[0], "p_"+label)], 64)
		ps = append(ps, p)
		if p > bestP {
			best, bestP = row[0], p
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(ps)))
	mean := (ps[0] + ps[1] + ps[2] + ps[3] + ps[4]) / 5
	got, _ := strconv.ParseFloat(r[column(t, h, "probability")], 64)
	if math.Abs(got-mean) > 2e-6 {
		t.Errorf("series score %g, want the top-5 mean of the per-file probabilities %g (%v)", got, mean, ps)
	}
	if r[column(t, h, "key_slice")] != best {
		t.Errorf("key slice %s, want %s (p_%s %g)", r[column(t, h, "key_slice")], best, label, bestP)
	}
	if len(slices) != 8 {
		t.Fatal("series not written")
	}

	// --patient adds the identifiers; JSON Lines carry the same fields.
	code, stdout, _ = runVerb("classify", "--per", "series", "--patient", "--format", "json", ct)
	if code != about.ExitOK {
		t.Fatalf("--patient --format json: exit %d", code)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &obj); err != nil {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	if obj["patient_id"] != "SYNTH-1" || obj["series_uid"] == "" || obj["study_uid"] == "" || obj["classified"] != 8.0 || obj["label"] != label {
		t.Errorf("JSON record %v", obj)
	}
}

// TestClassifyPerSeriesDICOMDIR: a DICOMDIR given alone opens the series it lists, and per file it gives one
// record per file it lists — a missing one an error record — instead of a record of its own ("no pixel data").
func TestClassifyPerSeriesDICOMDIR(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	dir := t.TempDir()
	var sl []dicomsynth.Slice
	for i, vals := range chestSlices(t, 4) {
		sl = append(sl, dicomsynth.Slice{Position: [3]float64{-175, -175, float64(2 * i)}, Instance: i + 1, Values: vals})
	}
	s := dicomsynth.Series{Description: "On the CD", Rows: 128, Columns: 128}
	paths, err := dicomsynth.WriteFileSet(dir, []dicomsynth.Series{s}, [][]dicomsynth.Slice{sl})
	if err != nil {
		t.Fatal(err)
	}
	dicomdir := filepath.Join(dir, "DICOMDIR")
	code, stdout, stderr := runVerb("classify", "--per", "series", dicomdir)
	rows := readCSV(t, stdout)
	if code != about.ExitOK || len(rows) != 2 {
		t.Fatalf("exit %d, rows %v, stderr %s", code, rows, stderr)
	}
	h, r := rows[0], rows[1]
	if r[0] != "ok" || r[column(t, h, "series_description")] != "On the CD" || r[column(t, h, "slices")] != "4" || r[column(t, h, "classified")] != "4" {
		t.Fatalf("series record %v, stderr %s", r, stderr)
	}

	// Per file, the DICOMDIR gives its files' records, in its order; in a folder it is not a record either.
	for _, arg := range []string{dicomdir, dir} {
		code, stdout, stderr = runVerb("classify", arg)
		per := readCSV(t, stdout)
		if code != about.ExitOK || len(per) != 5 {
			t.Fatalf("classify %s: exit %d, %d records, want the 4 listed files:\n%s\n%s", arg, code, len(per)-1, stdout, stderr)
		}
		for i, row := range per[1:] {
			if row[0] != paths[i] || row[1] != "ok" || row[column(t, per[0], "model")] != "ct-lung" {
				t.Errorf("classify %s: record %d %v, want %s classified by ct-lung", arg, i, row, paths[i])
			}
		}
	}
	// A listed file that is missing gets its error record; the others keep theirs.
	if err := os.Remove(paths[2]); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runVerb("classify", dicomdir)
	per := readCSV(t, stdout)
	if code != about.ExitFailed || len(per) != 5 || per[3][0] != paths[2] || per[3][1] != "error" ||
		!strings.Contains(per[3][2], "The DICOMDIR lists this file, but it is not on disk.") || per[4][1] != "ok" {
		t.Fatalf("with a listed file missing: exit %d, records %v", code, per)
	}
}

func TestClassifyPerUsage(t *testing.T) {
	if code, _, stderr := runVerb("classify", "--per", "study", "x.dcm"); code != about.ExitUsage || !strings.Contains(stderr, "--per must be file or series") {
		t.Fatalf("exit %d, %s", code, stderr)
	}
}
