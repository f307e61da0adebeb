package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

const fixtures = "../inference/testdata"

// engine returns a CPU engine, or nil (after logging why) when ONNX Runtime is not available.
func engine(t *testing.T) *inference.Engine {
	t.Helper()
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU})
	if err != nil {
		t.Logf("ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
		return nil
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBatchFolder(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	copyFile(t, filepath.Join(fixtures, "parity_rgb.png"), filepath.Join(dir, "a-good.png"))
	copyFile(t, filepath.Join(fixtures, "parity_rgba.png"), filepath.Join(dir, "sub", "b-good.png"))
	png, _ := os.ReadFile(filepath.Join(fixtures, "parity_rgb.png"))
	os.WriteFile(filepath.Join(dir, "c-corrupt.png"), png[:len(png)/2], 0o644)
	os.WriteFile(filepath.Join(dir, "d-notes.txt"), []byte("not an image\n"), 0o644)
	var g bytes.Buffer
	gif.Encode(&g, image.NewPaletted(image.Rect(0, 0, 4, 4), []color.Color{color.Black, color.White}), nil)
	os.WriteFile(filepath.Join(dir, "e-unsupported.gif"), g.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("skipped"), 0o644)

	cat, err := inference.LoadCatalogue(nil, filepath.Join(fixtures, "tiny-cam"))
	if err != nil || len(cat.Models()) != 1 {
		t.Fatalf("catalogue: %v %v", cat.Models(), err)
	}
	eng := engine(t)
	clf := New(cat, eng, Options{BatchSize: 2, Workers: 2})
	inputs := Expand([]string{dir, filepath.Join(dir, "missing.png")})
	var csvOut, jsonOut bytes.Buffer
	cw := NewCSVWriter(&csvOut, ClassColumns(cat.Models()), false)
	jw := NewJSONWriter(&jsonOut, false)
	var got []Result
	var progress []Progress
	sum, err := clf.Run(context.Background(), inputs, func(r Result) error {
		got = append(got, r)
		if err := cw.Write(r.Record); err != nil {
			return err
		}
		return jw.Write(r.Record)
	}, func(p Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	// d-notes.txt is no image by its name and is left out of the folder; .hidden too.
	wantPaths := []string{"a-good.png", "c-corrupt.png", "e-unsupported.gif", filepath.Join("sub", "b-good.png"), "missing.png"}
	if len(got) != len(wantPaths) || sum.Total != len(wantPaths) || len(progress) != len(wantPaths) {
		t.Fatalf("got %d records (summary %+v, %d progress calls), want one per input: %v", len(got), sum, len(progress), wantPaths)
	}
	wantErr := map[string]string{
		"c-corrupt.png":     "malformed",
		"e-unsupported.gif": "not a DICOM, PNG or JPEG file",
		"missing.png":       "no such file",
	}
	for i, r := range got {
		rec := r.Record
		if want := filepath.Join(dir, wantPaths[i]); rec.Path != want {
			t.Errorf("record %d is %s, want %s (stable order)", i, rec.Path, want)
		}
		if frag, bad := wantErr[wantPaths[i]]; bad {
			if rec.Status != StatusError || !strings.Contains(rec.Error, frag) || r.Prediction != nil {
				t.Errorf("%s: status %q error %q, want an error row mentioning %q", wantPaths[i], rec.Status, rec.Error, frag)
			}
			continue
		}
		if eng == nil {
			if rec.Status != StatusError || !strings.Contains(rec.Error, "ONNX Runtime") {
				t.Errorf("%s: without the runtime want an error row naming it, got %+v", wantPaths[i], rec)
			}
			continue
		}
		if rec.Status != StatusOK || rec.Model != "tiny-cam" || rec.Version != "0.0.1" || rec.Device != "cpu" || rec.Frame != 1 {
			t.Errorf("%s: %+v, want ok from tiny-cam on cpu", wantPaths[i], rec)
		}
	}
	if last := progress[len(progress)-1]; last.Done != 5 || last.Total != 5 || last.Failed != sum.Failed || last.ETA != 0 {
		t.Errorf("final progress %+v", last)
	}
	if eng != nil && (sum.OK != 2 || sum.Failed != 3) {
		t.Errorf("summary %+v, want 2 ok and 3 failed", sum)
	}

	// CSV: a header and one row per input, with the fixed columns.
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "path,status,error,reason,out_of_scope,model,gate,seen_as,scope_score,version,device,label,probability,frame,p_alpha,p_beta,p_gamma"
	if len(rows) != 6 || strings.Join(rows[0], ",") != wantHeader {
		t.Fatalf("CSV has %d rows, header %v", len(rows), rows[0])
	}
	// JSON Lines: one object per input.
	lines := strings.Split(strings.TrimSpace(jsonOut.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("JSON Lines has %d lines, want 5", len(lines))
	}
	for _, l := range lines {
		var obj map[string]interface{}
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		if _, ok := obj["patient_id"]; ok {
			t.Errorf("patient identifiers must not be exported unless asked for: %s", l)
		}
	}

	if eng == nil {
		return
	}
	// The PNG goes through dicomio exactly as PIL would read it: the probabilities equal PyTorch's reference.
	var ref struct {
		Cases []struct {
			Model, Image  string
			Probabilities []float64
		}
	}
	data, _ := os.ReadFile(filepath.Join(fixtures, "reference.json"))
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range ref.Cases {
		var r *Result
		switch {
		case c.Model == "tiny-cam" && c.Image == "parity_rgb.png":
			r = &got[0]
		case c.Model == "tiny-cam" && c.Image == "parity_rgba.png":
			r = &got[3]
		default:
			continue
		}
		checked++
		for j, p := range r.Record.Probabilities {
			if math.Abs(p.Probability-c.Probabilities[j]) > 1e-4 {
				t.Errorf("%s: p_%s = %v, PyTorch %v", c.Image, p.ID, p.Probability, c.Probabilities[j])
			}
		}
		var sum float64
		for _, p := range r.Record.Probabilities {
			sum += p.Probability
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: probabilities sum to %v", c.Image, sum)
		}
	}
	if checked != 2 {
		t.Errorf("checked %d reference cases, want 2", checked)
	}
	// CSV cells carry the same numbers.
	if rows[1][1] != "ok" || rows[1][12] == "" || rows[1][13] != "1" || rows[2][1] != "error" || rows[2][12] != "" {
		t.Errorf("CSV rows: %v / %v", rows[1], rows[2])
	}
}

func TestRunCancelled(t *testing.T) {
	cat, _ := inference.LoadCatalogue(nil, filepath.Join(fixtures, "tiny-cam"))
	clf := New(cat, nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	_, err := clf.Run(ctx, Expand([]string{fixtures}), func(Result) error { n++; return nil }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run returned %v", err)
	}
	if n != 0 {
		t.Errorf("cancelled before starting, yet %d records were emitted", n)
	}
	// An emit error stops the run and is returned.
	boom := errors.New("disk full")
	_, err = clf.Run(context.Background(), Expand([]string{fixtures}), func(Result) error { return boom }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("emit error: got %v", err)
	}
}

func TestSelectModel(t *testing.T) {
	camYAML, _ := os.ReadFile(filepath.Join(fixtures, "tiny-cam", "model.yaml"))
	camONNX, _ := os.ReadFile(filepath.Join(fixtures, "tiny-cam", "model.onnx"))
	fsys := fstest.MapFS{
		"ct-lung/model.yaml": {Data: []byte(strings.Replace(string(camYAML), "id: tiny-cam", "id: ct-lung", 1))},
		"ct-lung/model.onnx": {Data: camONNX},
	}
	cat, err := inference.LoadCatalogue(fsys, filepath.Join(fixtures, "tiny-occl"))
	if err != nil || len(cat.Models()) != 2 {
		t.Fatalf("catalogue %v: %v %v", cat.Models(), err, cat.Problems)
	}
	choose := ModalityChooser{Catalogue: cat}
	if m, p := choose.Select("CT"); p != nil || m.Manifest.ID != "ct-lung" {
		t.Errorf("CT → %v, %v; want the default ct-lung although tiny-occl also accepts CT", m, p)
	}
	// A refusal says what failed in both front ends' words, each with its own advice.
	_, p := choose.Select("OT")
	if p == nil || !errors.Is(p, ErrAmbiguousModel) || !strings.Contains(p.ForCLI(), "Give --model ct-lung or --model tiny-occl.") ||
		strings.Contains(p.ForWindow(), "--model") || !strings.Contains(p.ForWindow(), "Model list") {
		t.Errorf("OT with two candidates: window %q, command line %q", p.ForWindow(), p.ForCLI())
	}
	if _, p := choose.Select("MR"); p == nil || !errors.Is(p, ErrNoModel) || !strings.Contains(p.CLIHint, "--model") || strings.Contains(p.ForWindow(), "--model") {
		t.Errorf("MR: %v", p)
	}
	// The sentence names the file's kind: OT is also a DICOM secondary capture, and a file may name no modality.
	if !strings.HasPrefix(p.Sentence, "More than one model accepts PNG, JPEG and other (OT) images (") {
		t.Errorf("OT sentence %q", p.Sentence)
	}
	if _, p := choose.Select(""); p == nil || p.Sentence != "No installed model accepts images that name no modality." {
		t.Errorf("no modality: %v", p)
	}
	forced := ModalityChooser{Catalogue: cat, ModelID: "tiny-occl"}
	if m, p := forced.Select("CT"); p != nil || m.Manifest.ID != "tiny-occl" {
		t.Errorf("--model tiny-occl on CT: %v %v", m, p)
	}
	if _, p := (ModalityChooser{Catalogue: cat, ModelID: "cxr-pneumonia"}).Select("DX"); !errors.Is(p, inference.ErrModelNotFound) {
		t.Errorf("unknown --model: %v", p)
	}
	empty, _ := inference.LoadCatalogue(nil)
	if _, p := (ModalityChooser{Catalogue: empty}).Select("DX"); !errors.Is(p, ErrNoModel) {
		t.Errorf("no models: %v", p)
	}
}

// TestGateIsNotAClassifier: a gate in the catalogue is never chosen by the modality rule (GateChooser's fallback),
// never offered in a refusal's advice, and forcing it is refused with its own sentence; the classifiers are chosen
// as without it.
func TestGateIsNotAClassifier(t *testing.T) {
	cat, err := inference.LoadCatalogue(nil, filepath.Join(fixtures, "tiny-cam"), filepath.Join(fixtures, "tiny-gate"))
	if err != nil || len(cat.Models()) != 2 || len(cat.Classifiers()) != 1 || cat.Classifiers()[0].Manifest.ID != "tiny-cam" {
		t.Fatalf("catalogue %v (classifiers %v): %v %v", cat.Models(), cat.Classifiers(), err, cat.Problems)
	}
	// tiny-gate also lists OT and CT among its modalities: the only classifier that accepts them answers.
	for _, modality := range []string{"OT", "CT"} {
		if m, p := (ModalityChooser{Catalogue: cat}).Select(modality); p != nil || m.Manifest.ID != "tiny-cam" {
			t.Errorf("%s → %v, %v; want tiny-cam, the only classifier", modality, m, p)
		}
	}
	if _, p := (ModalityChooser{Catalogue: cat}).Select("MR"); p == nil || strings.Contains(p.ForCLI(), "tiny-gate") {
		t.Errorf("MR refusal offers the gate: %v", p)
	}
	_, p := (ModalityChooser{Catalogue: cat, ModelID: "tiny-gate"}).Select("OT")
	if p == nil || !errors.Is(p, ErrGateForced) || !strings.Contains(p.ForCLI(), "--model with one of tiny-cam,") ||
		strings.Contains(p.ForWindow(), "--model") {
		t.Fatalf("forced gate: %v", p)
	}
	// Through Run: a forced gate is refused (no override: there is no classifier to ask) and never reaches the
	// engine; the columns are tiny-cam's.
	path := filepath.Join(t.TempDir(), "film.png")
	copyFile(t, filepath.Join(fixtures, "parity_rgb.png"), path)
	eng := &countingEngine{}
	var got []Result
	New(cat, eng, Options{ModelID: "tiny-gate"}).Run(context.Background(), []Input{{Path: path}},
		func(r Result) error { got = append(got, r); return nil }, nil)
	if len(got) != 1 || got[0].Record.Status != StatusRefused || got[0].Record.Reason != p.Sentence || got[0].Record.Overridable() || eng.runs != 0 {
		t.Errorf("forced gate through Run: %+v, %d model runs", got, eng.runs)
	}
	if cols := strings.Join(ClassColumns(cat.Classifiers()), ","); cols != "alpha,beta,gamma" {
		t.Errorf("class columns %s, want tiny-cam's only", cols)
	}
}

func TestWindowFromManifest(t *testing.T) {
	path := testenv.DataPath(t, "dicom", "pydicom-test-files", "CT_small.dcm")
	f, err := dicomio.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	scan := NewScan(path, f)
	if f.Meta.Modality != "CT" {
		t.Fatalf("%s modality %q", path, f.Meta.Modality)
	}
	c, w := 40.0, 400.0
	man := &inference.Manifest{ID: "m", Preprocessing: inference.Preprocessing{VOI: map[string]inference.VOISpec{
		"CT": {Preset: "lung"}, "default": {Preset: "file"}}}}
	lung, _ := dicomio.Preset("lung")
	if got, err := Window(f, 0, man); err != nil || got.Center != lung.Center || got.Width != lung.Width {
		t.Errorf("CT with lung preset: %+v %v", got, err)
	}
	man.Preprocessing.VOI = map[string]inference.VOISpec{"default": {Preset: "file"}}
	if got, err := Window(f, 0, man); err != nil || len(f.Windows) != 0 || got != f.MinMaxWindow(0) {
		t.Errorf("file preset on a file without windows: %+v %v, want the min–max", got, err)
	}
	man.Preprocessing.VOI = map[string]inference.VOISpec{"CT": {Center: &c, Width: &w}}
	if got, err := Window(f, 0, man); err != nil || got.Center != 40 || got.Width != 400 {
		t.Errorf("explicit window: %+v %v", got, err)
	}
	man.Preprocessing.VOI = map[string]inference.VOISpec{"CT": {Preset: "no-such"}}
	if _, err := Window(f, 0, man); !errors.Is(err, inference.ErrInvalidManifest) {
		t.Errorf("unknown preset: %v", err)
	}
	// The rendered image follows the window: lung and mediastinum windows give different images.
	man.Preprocessing.VOI = map[string]inference.VOISpec{"CT": {Preset: "lung"}}
	a, err := DisplayImage(scan, 0, man)
	if err != nil {
		t.Fatal(err)
	}
	man.Preprocessing.VOI = map[string]inference.VOISpec{"CT": {Preset: "mediastinum"}}
	b, err := DisplayImage(scan, 0, man)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.(*image.Gray).Pix, b.(*image.Gray).Pix) {
		t.Error("lung and mediastinum renders are identical")
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"b/2.png", "b/1.png", "a.png", ".git/x", "c/.DS_Store"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "b", "notes.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "named.txt"), nil, 0o644)
	got := Expand([]string{filepath.Join(dir, "b", "2.png"), dir, filepath.Join(dir, "nope"), filepath.Join(dir, "named.txt")})
	var names []string
	for _, in := range got {
		rel, _ := filepath.Rel(dir, in.Path)
		if in.Err != nil {
			rel += "!"
		}
		names = append(names, filepath.ToSlash(rel))
	}
	// b/2.png once (first named), hidden names and notes.txt left out of the folder, a named .txt kept, a
	// missing path an error input.
	if want := "b/2.png a.png b/1.png nope! named.txt"; strings.Join(names, " ") != want {
		t.Errorf("Expand = %q, want %q", strings.Join(names, " "), want)
	}
}

// TestExpandDICOMDIR: a DICOMDIR, named or met in a folder, gives the files it lists in its order (each once, though
// the folder holds them too), a missing one an input with the index's sentence; a DICOMDIR that is no DICOMDIR an
// input with its error. IndexPaths gives the series index the DICOMDIR itself, once, in place of its files.
func TestExpandDICOMDIR(t *testing.T) {
	dir := t.TempDir()
	var sl []dicomsynth.Slice
	for i, p := range dicomsynth.Axial(3, 0, 2) {
		sl = append(sl, dicomsynth.Slice{Position: p, Instance: i + 1})
	}
	files, err := dicomsynth.WriteFileSet(dir, []dicomsynth.Series{{Description: "On the CD"}}, [][]dicomsynth.Slice{sl})
	if err != nil {
		t.Fatal(err)
	}
	dicomdir := filepath.Join(dir, "DICOMDIR")
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("burnt by a PACS"), 0o644)
	for _, paths := range [][]string{{dicomdir}, {dir}, {dicomdir, dir}} {
		got := Expand(paths)
		if len(got) != 3 {
			t.Fatalf("Expand(%v) = %+v, want the 3 listed files", paths, got)
		}
		for i, in := range got {
			if in.Path != files[i] || in.Err != nil || in.Directory != dicomdir {
				t.Errorf("Expand(%v)[%d] = %+v, want %s from the DICOMDIR", paths, i, in, files[i])
			}
		}
		idx, failed := IndexPaths(got)
		if len(idx) != 1 || idx[0] != dicomdir || len(failed) != 0 {
			t.Errorf("IndexPaths = %v, %v; want the DICOMDIR alone", idx, failed)
		}
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.dcm")
	os.WriteFile(other, []byte("x"), 0o644)
	got := Expand([]string{dicomdir, other})
	if len(got) != 4 || got[1].Path != files[1] || got[1].Err == nil || got[0].Err != nil || got[2].Err != nil {
		t.Fatalf("with a listed file missing: %+v", got)
	}
	if p := Explain(got[1].Err); p.Sentence != "The DICOMDIR lists this file, but it is not on disk." || !errors.Is(got[1].Err, fs.ErrNotExist) {
		t.Errorf("missing file's sentence %q (%v)", p.Sentence, got[1].Err)
	}
	if idx, failed := IndexPaths(got); strings.Join(idx, " ") != dicomdir+" "+other || len(failed) != 0 {
		t.Errorf("IndexPaths = %v, %v: the DICOMDIR speaks for its missing file (the index gives it its entry)", idx, failed)
	}
	notDir := filepath.Join(t.TempDir(), "DICOMDIR")
	os.WriteFile(notDir, []byte("not a DICOMDIR"), 0o644)
	got = Expand([]string{notDir})
	if len(got) != 1 || got[0].Err == nil || !strings.Contains(Explain(got[0].Err).Sentence, "This DICOMDIR cannot be read") {
		t.Fatalf("a broken DICOMDIR: %+v", got)
	}
}

func TestWritersIncludePatientOnlyWhenAsked(t *testing.T) {
	r := Record{Path: "x.dcm", Status: StatusOK, Model: "m", Version: "1", Device: "cpu", Label: "b", Probability: 0.75, Frame: 3,
		Probabilities: []ClassValue{{"a", 0.25}, {"b", 0.75}}, PatientID: "PID-1", PatientName: "Doe^Jane"}
	var plain, withPatient bytes.Buffer
	NewCSVWriter(&plain, []string{"a", "b", "c"}, false).Write(r)
	NewCSVWriter(&withPatient, []string{"a", "b", "c"}, true).Write(r)
	if strings.Contains(plain.String(), "PID-1") {
		t.Errorf("identifiers leaked: %s", plain.String())
	}
	if want := "x.dcm,ok,,,false,m,,,,1,cpu,b,0.750000,3,0.250000,0.750000,\n"; !strings.HasSuffix(plain.String(), want) {
		t.Errorf("CSV row %q, want suffix %q", plain.String(), want)
	}
	if !strings.Contains(withPatient.String(), "patient_id,patient_name") || !strings.Contains(withPatient.String(), "PID-1,Doe^Jane") {
		t.Errorf("patient columns missing: %s", withPatient.String())
	}
	var j bytes.Buffer
	NewJSONWriter(&j, false).Write(ErrorRecord("y.png", errors.New(`bad "quote"`)))
	if want := `{"path":"y.png","status":"error","error":"Bad \"quote\".","reason":"","out_of_scope":false,"model":"","gate":"","seen_as":"","scope_score":null,"version":"","device":"","label":"","probability":null,"frame":null}` + "\n"; j.String() != want {
		t.Errorf("JSON error line %q, want %q", j.String(), want)
	}
}

func TestBadImageDoesNotFailItsBatch(t *testing.T) {
	eng := engine(t)
	if eng == nil {
		testenv.Missing(t, "needs ONNX Runtime (set %s)", inference.LibraryEnv)
	}
	cat, _ := inference.LoadCatalogue(nil, filepath.Join(fixtures, "tiny-cam"))
	m := cat.Models()[0]
	clf := New(cat, eng, Options{})
	good := image.NewGray(image.Rect(0, 0, 30, 30))
	batch := []prepared{
		{rec: Record{Path: "good1"}, model: m, img: good},
		{rec: Record{Path: "empty"}, model: m, img: image.NewGray(image.Rect(0, 0, 0, 0))},
		{rec: Record{Path: "good2"}, model: m, img: good},
	}
	res := clf.infer(context.Background(), batch)
	if res[0].Record.Status != StatusOK || res[2].Record.Status != StatusOK {
		t.Errorf("good images failed with their batch: %+v / %+v", res[0].Record, res[2].Record)
	}
	if res[1].Record.Status != StatusError || !strings.Contains(res[1].Record.Error, "empty") {
		t.Errorf("empty image: %+v", res[1].Record)
	}
}
