package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/study"
)

// seriesManifest is a three-class manifest with a top-2-mean series rule, for the pure summary test.
func seriesManifest(rule *inference.SeriesRule) *inference.Manifest {
	return &inference.Manifest{ID: "m", Classes: []inference.Class{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}, {ID: "c", Name: "C"}}, Series: rule}
}

func okRecord(model string, pa, pb, pc float64) *Record {
	r := &Record{Status: StatusOK, Model: model, Version: "1", Device: "cpu"}
	r.Probabilities = []ClassValue{{"a", pa}, {"b", pb}, {"c", pc}}
	return r
}

func refusedRecord() *Record {
	r := &Record{}
	r.refuse(&Problem{Sentence: "No installed model accepts images of modality MR.", CLIHint: "Give --model.", Err: ErrNoModel})
	return r
}

func TestSummariseSeries(t *testing.T) {
	lookup := func(rule *inference.SeriesRule) ModelLookup {
		return func(id string) *inference.Manifest {
			if id == "m" {
				return seriesManifest(rule)
			}
			return nil
		}
	}
	top2 := lookup(&inference.SeriesRule{Rule: inference.SeriesTopKMean, K: 2})
	failedRec := ErrorRecord("x.dcm", fmt.Errorf("decode: %w", os.ErrPermission))
	failed := &failedRec

	t.Run("counts, rule and key slice", func(t *testing.T) {
		recs := []*Record{
			okRecord("m", 0.1, 0.2, 0.7), // slice 0
			refusedRecord(),              // 1: left out (its 0.99 would win)
			okRecord("m", 0.6, 0.3, 0.1), // 2
			nil,                          // 3: pending
			failed,                       // 4
			okRecord("other", 0, 0, 1),   // 5: another model's answer is not aggregated
			okRecord("m", 0.2, 0.2, 0.6), // 6
		}
		recs[1].Probabilities = []ClassValue{{"a", 0}, {"b", 0}, {"c", 0.99}}
		s := SummariseSeries(recs, top2, false)
		if s.Status != StatusOK || s.Slices != 7 || s.Classified != 3 || s.Refused != 1 || s.Failed != 2 || s.Pending != 1 {
			t.Fatalf("summary %+v", s)
		}
		// Top-2 means over slices 0, 2, 6: a (0.6+0.2)/2 = 0.4, b (0.3+0.2)/2 = 0.25, c (0.7+0.6)/2 = 0.65.
		want := map[string]float64{"a": 0.4, "b": 0.25, "c": 0.65}
		for _, cv := range s.Scores {
			if math.Abs(cv.Probability-want[cv.ID]) > 1e-12 {
				t.Errorf("score of %s = %g, want %g", cv.ID, cv.Probability, want[cv.ID])
			}
		}
		if s.Label != "c" || math.Abs(s.Score-0.65) > 1e-12 || s.Key != 0 || s.Model != "m" || s.Rule.Name() != "top-2-mean" {
			t.Fatalf("label %s score %g key %d model %s", s.Label, s.Score, s.Key, s.Model)
		}
	})
	t.Run("all refused", func(t *testing.T) {
		s := SummariseSeries([]*Record{refusedRecord(), refusedRecord()}, top2, false)
		if s.Status != StatusRefused || s.Key != -1 || s.Refused != 2 || s.NoSeriesRule() {
			t.Fatalf("summary %+v", s)
		}
		if want := "All 2 slices were refused. The first: no installed model accepts images of modality MR."; s.Problem.Sentence != want {
			t.Fatalf("sentence %q, want %q", s.Problem.Sentence, want)
		}
		if s.Problem.ForCLI() != s.Problem.Sentence+" Give --model." || !errors.Is(s.Problem, ErrNoModel) {
			t.Fatalf("the first refusal's hint and cause are lost: %q, %v", s.Problem.ForCLI(), s.Problem.Err)
		}
	})
	t.Run("its only slice refused", func(t *testing.T) {
		s := SummariseSeries([]*Record{refusedRecord()}, top2, false)
		if want := "Its only slice was refused. No installed model accepts images of modality MR."; s.Status != StatusRefused || s.Problem.Sentence != want {
			t.Fatalf("summary %+v, sentence %q, want %q", s, s.Problem.Sentence, want)
		}
	})
	t.Run("none classified", func(t *testing.T) {
		s := SummariseSeries([]*Record{refusedRecord(), failed}, top2, false)
		if s.Status != StatusError || !strings.HasPrefix(s.Problem.Sentence, "None of the 2 slices could be classified.") {
			t.Fatalf("summary %+v, %v", s, s.Problem)
		}
	})
	t.Run("undecided while slices are pending", func(t *testing.T) {
		if s := SummariseSeries([]*Record{refusedRecord(), nil}, top2, false); s.Status != "" || s.Pending != 1 {
			t.Fatalf("summary %+v", s)
		}
	})
	t.Run("answers given out of scope count only when asked for", func(t *testing.T) {
		forced := func(pa, pb, pc float64) *Record {
			r := okRecord("m", pa, pb, pc)
			r.markOutOfScope(&Problem{Sentence: "This image lies outside what m was trained on.", Err: ErrOutOfScope})
			return r
		}
		recs := []*Record{
			okRecord("m", 0.1, 0.2, 0.7), // 0
			forced(0.0, 0.05, 0.95),      // 1: the highest c, answered although out of scope
			okRecord("m", 0.6, 0.3, 0.1), // 2
			refusedRecord(),              // 3
			forced(0.0, 0.1, 0.9),        // 4
		}
		s := SummariseSeries(recs, top2, false)
		if s.Status != StatusOK || s.Classified != 2 || s.Refused != 3 || s.OutOfScope != 2 || s.Reason != "" || s.Key != 0 ||
			math.Abs(s.Score-0.4) > 1e-12 || s.Label != "c" {
			t.Fatalf("not asked for: %+v, want slices 0 and 2 only (c: (0.7+0.1)/2), the forced ones refused", s)
		}
		s = SummariseSeries(recs, top2, true)
		if s.Status != StatusOK || s.Classified != 4 || s.Refused != 1 || s.OutOfScope != 2 || s.Key != 1 || math.Abs(s.Score-0.925) > 1e-12 {
			t.Fatalf("asked for: %+v, want 4 counted, key slice 1, c (0.95+0.9)/2", s)
		}
		if want := "2 of the 4 slices in this result were answered although they are out of scope, because out-of-scope answers were asked for. The first: this image lies outside what m was trained on."; s.Reason != want {
			t.Fatalf("reason %q, want %q", s.Reason, want)
		}
		if s := SummariseSeries([]*Record{forced(0.2, 0.3, 0.5), refusedRecord()}, top2, false); s.Status != StatusRefused ||
			!strings.HasPrefix(s.Problem.Sentence, "All 2 slices were refused. The first: this image lies outside") {
			t.Fatalf("only forced answers, not asked for: %+v %v", s, s.Problem)
		}
	})
	t.Run("model without a series rule", func(t *testing.T) {
		s := SummariseSeries([]*Record{okRecord("m", 0.2, 0.3, 0.5)}, lookup(nil), false)
		if s.Status != StatusRefused || !errors.Is(s.Problem, ErrNoSeriesRule) || !s.NoSeriesRule() || s.Classified != 1 || s.Label != "" {
			t.Fatalf("summary %+v", s)
		}
	})
}

// meanEngine answers from what an image shows: P(beta) is its mean grey level / 255, the rest split between alpha
// and gamma, so that a test can make one slice the brightest and know which one must be the key slice. It counts
// runs and images.
type meanEngine struct {
	mu           sync.Mutex
	runs, images int
}

func (e *meanEngine) Classify(_ context.Context, m *inference.Model, imgs []image.Image, saliency bool) ([]inference.Prediction, error) {
	e.mu.Lock()
	e.runs++
	e.images += len(imgs)
	e.mu.Unlock()
	out := make([]inference.Prediction, len(imgs))
	for i, img := range imgs {
		b := img.Bounds()
		sum := 0.0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, _, _, _ := img.At(x, y).RGBA()
				sum += float64(r >> 8)
			}
		}
		pb := sum / float64(b.Dx()*b.Dy()) / 255
		p := inference.Prediction{ModelID: m.Manifest.ID, ModelVersion: m.Manifest.Version, Device: "cpu",
			Classes: []inference.ClassProbability{{ID: "alpha", Probability: (1 - pb) / 2}, {ID: "beta", Probability: pb}, {ID: "gamma", Probability: (1 - pb) / 2}}}
		p.Label, p.Probability = "beta", pb
		if pb < 1.0/3 {
			p.Label, p.Probability = "alpha", (1-pb)/2
		}
		if saliency {
			p.Saliency = &inference.Saliency{Method: inference.SaliencyCAM, Class: p.Label, Width: 2, Height: 2, Values: []float32{0, 1, 0, 0}}
		}
		out[i] = p
	}
	return out, nil
}

// seriesCatalogue is tiny-cam (which accepts CT and renders it with the lung window) with a top-k-mean rule.
func seriesCatalogue(t *testing.T, k int) *inference.Catalogue {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-series")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(fixtures, "tiny-cam", "model.onnx"), filepath.Join(dir, "model.onnx"))
	yml, err := os.ReadFile(filepath.Join(fixtures, "tiny-cam", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yml = bytes.Replace(yml, []byte("sha256:"), fmt.Appendf(nil, "series: {rule: top-k-mean, k: %d, validated: false}\nsha256:", k), 1)
	if err := os.WriteFile(filepath.Join(dir, "model.yaml"), yml, 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := inference.LoadCatalogue(nil, dir)
	if err != nil || len(cat.Models()) != 1 || cat.Models()[0].Manifest.Series == nil {
		t.Fatalf("catalogue: %v %v", cat.Models(), err)
	}
	return cat
}

// chestFolder writes into dir, with shuffled file names, a 7-slice axial CT series whose Instance Numbers run
// against its positions and whose slice at z = 40 is the brightest (HU by position, below), a 3-slice second series,
// a PNG picture and a file that is no image. It returns the positions of series one by file name.
func chestFolder(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	one := dicomsynth.Series{Description: "Chest 1.25", SeriesNumber: 2}
	two := dicomsynth.Series{Description: "Chest soft tissue", SeriesNumber: 3}
	hu := map[float64]int{0: -900, 10: -800, 20: -700, 30: -500, 40: -100, 50: -600, 60: -850}
	names := []string{"q", "c", "x", "a", "m", "f", "k"} // not the order of the positions
	instances := []int{3, 7, 1, 5, 2, 6, 4}              // nor are these
	pos := map[string]float64{}
	for i, z := range []float64{0, 10, 20, 30, 40, 50, 60} {
		name := names[i] + ".dcm"
		sl := dicomsynth.Slice{Position: [3]float64{-175, -175, z}, Instance: instances[i], Values: dicomsynth.FlatValues(256, hu[z])}
		if err := dicomsynth.Write(filepath.Join(dir, name), one.CTSlice(sl)); err != nil {
			t.Fatal(err)
		}
		pos[name] = z
	}
	for i, p := range dicomsynth.Axial(3, 0, 5) {
		sl := dicomsynth.Slice{Position: p, Instance: i + 1, Values: dicomsynth.FlatValues(256, -950)}
		if err := dicomsynth.Write(filepath.Join(dir, fmt.Sprintf("b%d.dcm", i)), two.CTSlice(sl)); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(fixtures, "parity_rgb.png"), filepath.Join(dir, "photo.png"))
	if err := os.WriteFile(filepath.Join(dir, "junk.dcm"), []byte("not a DICOM file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	return pos
}

// indexFolder expands and indexes dir as `classify --per series` does.
func indexFolder(t *testing.T, dir string) *study.Index {
	t.Helper()
	var files []string
	for _, in := range Expand([]string{dir}) {
		if in.Err != nil {
			t.Fatal(in.Err)
		}
		files = append(files, in.Path)
	}
	ix, err := study.Build(context.Background(), files, study.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// TestRunSeries: a folder holding two series, shuffled and with Instance Numbers against position, gives two
// series records whose slices are in position order, with the right counts, rule, series scores and key slice;
// the picture and the unreadable file get records of their own; the CSV has exactly the columns.
func TestRunSeries(t *testing.T) {
	dir := t.TempDir()
	pos := chestFolder(t, dir)
	ix := indexFolder(t, dir)
	all := ix.AllSeries()
	if len(all) != 2 {
		t.Fatalf("%d series, want 2", len(all))
	}
	eng := &meanEngine{}
	clf := New(seriesCatalogue(t, 3), eng, Options{BatchSize: 4, IncludePatient: true})
	res, err := clf.RunSeries(context.Background(), ix, all[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var zs []float64
	for _, rec := range res.Slices {
		zs = append(zs, pos[filepath.Base(rec.Path)])
	}
	if !slices.Equal(zs, []float64{0, 10, 20, 30, 40, 50, 60}) {
		t.Fatalf("slices classified in the order of positions %v, want ascending", zs)
	}
	r := res.Record
	if r.Status != StatusOK || r.Slices != 7 || r.Classified != 7 || r.Refused != 0 || r.Series != study.SeriesKey(all[0].UID) ||
		r.Description != "Chest 1.25" || r.Model != "tiny-cam" || r.Rule != "top-3-mean" {
		t.Fatalf("record %+v", r)
	}
	if filepath.Base(r.KeySlice) != "m.dcm" || pos["m.dcm"] != 40 || res.Key == nil || res.Key.Record.Path != r.KeySlice || res.Key.Image == nil {
		t.Fatalf("key slice %s (result %+v), want m.dcm at z = 40 with its image", r.KeySlice, res.Key)
	}
	// The label's score is the mean of the three highest slice probabilities, as the records give them.
	var pb []float64
	for _, rec := range res.Slices {
		p, _ := rec.P("beta")
		pb = append(pb, p)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(pb)))
	if want := (pb[0] + pb[1] + pb[2]) / 3; r.Label != "beta" || math.Abs(r.Probability-want) > 1e-12 {
		t.Fatalf("label %s %.6f, want beta %.6f (slice probabilities %v)", r.Label, r.Probability, want, pb)
	}
	if eng.images != 7 || eng.runs != 2 {
		t.Fatalf("%d images in %d runs, want 7 in 2 batches of 4", eng.images, eng.runs)
	}
	two, err := clf.RunSeries(context.Background(), ix, all[1], nil)
	if err != nil || two.Record.Slices != 3 || two.Record.Classified != 3 || two.Record.Description != "Chest soft tissue" {
		t.Fatalf("second series: %+v, %v", two.Record, err)
	}

	left := LeftoverRecords(ix)
	if len(left) != 2 {
		t.Fatalf("%d leftover records, want the picture and the junk file: %+v", len(left), left)
	}
	for _, l := range left {
		if l.Status != StatusError || l.Series != "" || (filepath.Base(l.KeySlice) != "photo.png" && filepath.Base(l.KeySlice) != "junk.dcm") || l.Error == "" {
			t.Errorf("leftover record %+v", l)
		}
	}

	var buf bytes.Buffer
	w := NewSeriesCSVWriter(&buf, ClassColumns(clf.Catalogue().Models()), true)
	w.CommandLine = true
	for _, rec := range append([]SeriesRecord{res.Record, two.Record}, left...) {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "status,error,reason,out_of_scope,model,version,device,series,series_description,slices,classified,refused,label,probability,rule,key_slice,p_alpha,p_beta,p_gamma,study_uid,series_uid,patient_id,patient_name"
	if got := strings.Join(rows[0], ","); got != want {
		t.Fatalf("header\n%s\nwant\n%s", got, want)
	}
	if len(rows) != 5 || rows[1][0] != "ok" || rows[1][2] != "" || rows[1][3] != "false" || rows[1][9] != "7" || rows[1][14] != "top-3-mean" ||
		rows[1][20] != all[0].UID || rows[1][21] != "SYNTH-1" {
		t.Fatalf("rows %q", rows)
	}
	if !strings.Contains(rows[3][1]+rows[4][1], "--per file") {
		t.Errorf("the picture's error cell does not tell the command line user what to do: %q", rows[3][1]+" | "+rows[4][1])
	}
	buf.Reset()
	jw := NewSeriesJSONWriter(&buf, false)
	if err := jw.Write(res.Record); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		t.Fatalf("JSON %s: %v", buf.Bytes(), err)
	}
	if obj["slices"] != 7.0 || obj["key_slice"] != r.KeySlice || obj["p_beta"] == nil || obj["series_uid"] != nil {
		t.Fatalf("JSON %s", buf.Bytes())
	}
}

// refuseAbove refuses slices whose rendered mean grey is above a level: a stand-in for the gate.
type refuseAbove struct {
	inner Chooser
	level float64
}

func (c refuseAbove) Choose(ctx context.Context, s *Scan, frame int) (Choice, error) {
	m := s.File.Meta
	if m.Plane.HasPosition && m.Plane.Position[2] >= c.level {
		return Choice{Refusal: &Problem{Sentence: "This slice is not a chest CT slice.", Err: ErrNoModel}}, nil
	}
	return c.inner.Choose(ctx, s, frame)
}

// TestRunSeriesLeavesRefusedSlicesOut: refused slices are counted, shown as refused and not aggregated (the
// brightest slice refused, the key slice moves); a series whose slices are all refused is refused.
func TestRunSeriesLeavesRefusedSlicesOut(t *testing.T) {
	dir := t.TempDir()
	pos := chestFolder(t, dir)
	ix := indexFolder(t, dir)
	cat := seriesCatalogue(t, 3)
	one := ix.AllSeries()[0]
	clf := New(cat, &meanEngine{}, Options{Chooser: refuseAbove{ModalityChooser{Catalogue: cat}, 40}})
	res, err := clf.RunSeries(context.Background(), ix, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Record
	if r.Status != StatusOK || r.Classified != 4 || r.Refused != 3 || pos[filepath.Base(r.KeySlice)] != 30 {
		t.Fatalf("record %+v (key slice at z = %g), want 4 classified, 3 refused, key slice at z = 30", r, pos[filepath.Base(r.KeySlice)])
	}
	for _, rec := range res.Slices {
		if got, want := rec.Refused(), pos[filepath.Base(rec.Path)] >= 40; got != want {
			t.Errorf("slice at z = %g: refused %v", pos[filepath.Base(rec.Path)], got)
		}
	}
	clf = New(cat, &meanEngine{}, Options{Chooser: refuseAbove{ModalityChooser{Catalogue: cat}, -1}})
	res, err = clf.RunSeries(context.Background(), ix, one, nil)
	if err != nil || res.Record.Status != StatusRefused || res.Record.Refused != 7 || res.Record.Label != "" || res.Record.KeySlice != "" || res.Key != nil {
		t.Fatalf("all refused: %+v, %v", res.Record, err)
	}
	if !strings.HasPrefix(res.Record.Reason, "All 7 slices were refused.") || res.Record.Error != "" || !res.Record.OutOfScope {
		t.Fatalf("error %q, reason %q, out of scope %v: a refusal's sentence is its reason, not an error", res.Record.Error, res.Record.Reason, res.Record.OutOfScope)
	}
}

// TestRunSeriesEnhancedCT: an Enhanced CT is one file holding the series; its frames are ordered by the positions
// in their functional groups, classified through one open of the file, and the key slice names its frame.
func TestRunSeriesEnhancedCT(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "Enhanced chest"}
	// Frames stored out of position order: the fourth is the lowest.
	frames := []dicomsynth.Slice{{Position: [3]float64{0, 0, 10}}, {Position: [3]float64{0, 0, 20}}, {Position: [3]float64{0, 0, 30}}, {Position: [3]float64{0, 0, 0}}}
	path := filepath.Join(dir, "enhanced.dcm")
	if err := dicomsynth.Write(path, s.EnhancedCT(frames)); err != nil {
		t.Fatal(err)
	}
	ix := indexFolder(t, dir)
	all := ix.AllSeries()
	if len(all) != 1 || len(all[0].Slices) != 4 {
		t.Fatalf("series %+v", all)
	}
	rd := &countingReader{}
	clf := New(seriesCatalogue(t, 2), &meanEngine{}, Options{Reader: rd})
	res, err := clf.RunSeries(context.Background(), ix, all[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, rec := range res.Slices {
		got = append(got, rec.Frame)
	}
	if !slices.Equal(got, []int{4, 1, 2, 3}) || rd.opens != 1 {
		t.Fatalf("frames classified %v with %d opens, want [4 1 2 3] (position order) with 1", got, rd.opens)
	}
	if r := res.Record; r.Status != StatusOK || r.Slices != 4 || !strings.HasPrefix(r.KeySlice, path+"#") {
		t.Fatalf("record %+v", r)
	}
}

// TestSeriesThroughTheGate: a series goes through the gate slice by slice, as files do, and the counts of the one
// analysis path hold: every slice file is opened once and decoded once, an Enhanced CT opened once for all its
// frames and each frame decoded once, the gate run once per slice and the classifier given each answered slice once.
// Slices outside the model's population (a child's age) are refused and left out; with out-of-scope answers allowed
// they count, and the series record says so (reason, out_of_scope). The series' localizer is no slice — the index and
// the gate decide that by one test — so it is never opened for the series, and given as a file it is refused; so is
// a topogram that says so in a vendor's word.
func TestSeriesThroughTheGate(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "Gated chest", Rows: 7, Columns: 12, PatientAge: "045Y"} // 12 wide: a chest CT slice to the gate
	for i := range 5 {
		ds := s.CTSlice(dicomsynth.Slice{Position: [3]float64{0, 0, float64(10 * i)}, Instance: i + 1})
		if i >= 3 {
			ds = append(dicomsynth.Without(ds, dicomsynth.TagPatientAge), dicomsynth.Text(dicomsynth.TagPatientAge, "AS", "010Y"))
		}
		if err := dicomsynth.Write(filepath.Join(dir, fmt.Sprintf("s%d.dcm", i)), ds); err != nil {
			t.Fatal(err)
		}
	}
	if err := dicomsynth.Write(filepath.Join(dir, "scout.dcm"), s.Localizer(9)); err != nil {
		t.Fatal(err)
	}
	topo := s // a vendor's name for it in Image Type
	topo.ImageType = `ORIGINAL\PRIMARY\TOPOGRAM`
	coronal := [6]float64{1, 0, 0, 0, 0, -1}
	if err := dicomsynth.Write(filepath.Join(dir, "topogram.dcm"), topo.CTSlice(dicomsynth.Slice{Position: [3]float64{-250, 0, 100}, Orientation: &coronal, Instance: 10, UIDSeed: "topogram"})); err != nil {
		t.Fatal(err)
	}
	enh := dicomsynth.Series{Description: "Enhanced chest", Rows: 7, Columns: 12, PatientAge: "045Y"}
	frames := []dicomsynth.Slice{{Position: [3]float64{0, 0, 20}}, {Position: [3]float64{0, 0, 0}}, {Position: [3]float64{0, 0, 10}}, {Position: [3]float64{0, 0, 30}}}
	if err := dicomsynth.Write(filepath.Join(dir, "enhanced.dcm"), enh.EnhancedCT(frames)); err != nil {
		t.Fatal(err)
	}
	ix := indexFolder(t, dir)
	byDesc := map[string]*study.Series{}
	for _, se := range ix.AllSeries() {
		byDesc[se.Description] = se
	}
	gated, enhanced := byDesc["Gated chest"], byDesc["Enhanced chest"]
	if gated == nil || enhanced == nil || len(gated.Slices) != 5 || len(gated.Objects) != 2 || len(enhanced.Slices) != 4 {
		t.Fatalf("series %+v", byDesc)
	}
	cat := decisionCatalogue(t)

	rd, eng := &countingReader{}, newDecisionEngine(t)
	clf := New(cat, eng, Options{Reader: rd, BatchSize: 4, Saliency: SaliencyAll}) // the engine sees display images (7 rows: in scope)
	res, err := clf.RunSeries(context.Background(), ix, gated, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Record; r.Status != StatusOK || r.Model != "slice" || r.Classified != 3 || r.Refused != 2 || r.Reason != "" || r.OutOfScope || r.Rule != "top-2-mean" {
		t.Fatalf("gated series: %+v", r)
	}
	for _, rec := range res.Slices {
		child := strings.HasSuffix(rec.Path, "s3.dcm") || strings.HasSuffix(rec.Path, "s4.dcm")
		if rec.Refused() != child || rec.Gate != "gate@0.0.1" || rec.SeenAs != "chest-ct" {
			t.Errorf("slice %s: %+v", filepath.Base(rec.Path), rec)
		}
	}
	// The gate runs once per batch of BatchSize files (4 + 1), the classifier on the three it routes and keeps.
	if rd.opens != 5 || len(rd.frames) != 5 || eng.runs["gate"] != 2 || eng.images["gate"] != 5 || eng.images["slice"] != 3 {
		t.Fatalf("gated series: %d opens, %d decodes, gate %d runs of %d images, classifier %d images; want 5, 5, 2 of 5, 3",
			rd.opens, len(rd.frames), eng.runs["gate"], eng.images["gate"], eng.images["slice"])
	}

	rd, eng = &countingReader{}, newDecisionEngine(t)
	clf = New(cat, eng, Options{Reader: rd, BatchSize: 4, Saliency: SaliencyAll})
	res, err = clf.RunSeries(context.Background(), ix, enhanced, nil)
	if err != nil || res.Record.Status != StatusOK || res.Record.Classified != 4 {
		t.Fatalf("enhanced series: %+v, %v", res.Record, err)
	}
	decoded := slices.Clone(rd.frames)
	sort.Ints(decoded)
	if rd.opens != 1 || !slices.Equal(decoded, []int{0, 1, 2, 3}) || eng.images["gate"] != 4 || eng.images["slice"] != 4 {
		t.Fatalf("enhanced series: %d opens, frames decoded %v, gate %d images, classifier %d; want 1, each of 4 once, 4, 4",
			rd.opens, rd.frames, eng.images["gate"], eng.images["slice"])
	}

	// Out-of-scope answers asked for (--allow-out-of-scope): the child's slices are answered and count.
	clf = New(cat, newDecisionEngine(t), Options{AllowOutOfScope: true, Saliency: SaliencyAll})
	res, err = clf.RunSeries(context.Background(), ix, gated, nil)
	r := res.Record
	if err != nil || r.Status != StatusOK || r.Classified != 5 || r.Refused != 0 || !r.OutOfScope || res.Summary.OutOfScope != 2 ||
		!strings.HasPrefix(r.Reason, "2 of the 5 slices in this result were answered although they are out of scope") || !strings.Contains(r.Reason, "PatientAge 010Y") {
		t.Fatalf("allowed: %+v, %v", r, err)
	}
	var buf bytes.Buffer
	w := NewSeriesCSVWriter(&buf, ClassColumns(cat.Classifiers()), false)
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][2] != "reason" || rows[0][3] != "out_of_scope" || rows[1][1] != "" || rows[1][2] != r.Reason || rows[1][3] != "true" {
		t.Fatalf("CSV %q, %v", rows, err)
	}

	// File by file, the gate refuses the one file the index lists as a localizer, and only that one.
	recs := map[string]Record{}
	if _, err := New(cat, newDecisionEngine(t), Options{Saliency: SaliencyAll}).Run(context.Background(), Expand([]string{dir}), func(res Result) error {
		recs[filepath.Base(res.Record.Path)] = res.Record
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range ix.Entries {
		rec := recs[filepath.Base(e.Path)]
		if byGate := rec.Refused() && strings.Contains(rec.Reason, "is a localizer (scout) image (ImageType ORIGINAL\\PRIMARY\\"); byGate != (e.Kind == study.KindLocalizer) {
			t.Errorf("%s: the index says %s, the gate's record %s %q", filepath.Base(e.Path), e.Kind, rec.Status, rec.Reason)
		}
	}
}

// TestNotClassifiableSeries: a localizer series and a dose report are listed with a refused record that says what
// they hold; nothing is classified.
func TestNotClassifiableSeries(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "Topogram", SeriesNumber: 1}
	if err := dicomsynth.Write(filepath.Join(dir, "scout.dcm"), s.Localizer(1)); err != nil {
		t.Fatal(err)
	}
	if err := dicomsynth.Write(filepath.Join(dir, "dose.dcm"), s.DoseReport()); err != nil {
		t.Fatal(err)
	}
	ix := indexFolder(t, dir)
	eng := &meanEngine{}
	clf := New(seriesCatalogue(t, 2), eng, Options{})
	var sentences []string
	for _, s := range ix.AllSeries() {
		res, err := clf.RunSeries(context.Background(), ix, s, nil)
		if err != nil || res.Record.Status != StatusRefused || res.Record.Slices != 0 {
			t.Fatalf("series %s: %+v, %v", s.Description, res.Record, err)
		}
		if res.Record.Error != "" || !res.Record.OutOfScope {
			t.Errorf("series %s: error %q, out of scope %v; want the sentence as the reason", s.Description, res.Record.Error, res.Record.OutOfScope)
		}
		sentences = append(sentences, res.Record.Reason)
	}
	sort.Strings(sentences)
	want := []string{"This series holds only dose reports (1 file), which are listed but not classified.",
		"This series holds only localizer (scout) images (1 file), which are listed but not classified."}
	if !slices.Equal(sentences, want) || eng.images != 0 {
		t.Fatalf("sentences %q (%d images classified), want %q", sentences, eng.images, want)
	}
}
