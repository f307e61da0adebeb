package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

// countingReader is the program's Reader with counts of opens and of frame decodes (dicomio's observer, which
// sees the one frame cache, so a frame served from it is not counted).
type countingReader struct {
	mu     sync.Mutex
	opens  int
	frames []int // frame indices decoded, in order
}

func (r *countingReader) Open(path string) (*dicomio.Scan, error) {
	r.mu.Lock()
	r.opens++
	r.mu.Unlock()
	return dicomio.Open(path, dicomio.WithDecodeObserver(func(i int) {
		r.mu.Lock()
		r.frames = append(r.frames, i)
		r.mu.Unlock()
	}))
}

// countingEngine answers every image with the model's last class at 0.75 and counts runs and images.
type countingEngine struct {
	mu           sync.Mutex
	runs, images int
	saliency     []bool
	sizes        []image.Point // of every image handed over, in order
}

func (e *countingEngine) Classify(_ context.Context, m *inference.Model, imgs []image.Image, saliency bool) ([]inference.Prediction, error) {
	e.mu.Lock()
	e.runs++
	e.images += len(imgs)
	e.saliency = append(e.saliency, saliency)
	for _, img := range imgs {
		e.sizes = append(e.sizes, img.Bounds().Size())
	}
	e.mu.Unlock()
	out := make([]inference.Prediction, len(imgs))
	k := len(m.Manifest.Classes)
	for i, img := range imgs {
		if img.Bounds().Empty() {
			return nil, inference.ErrBadImage
		}
		p := inference.Prediction{ModelID: m.Manifest.ID, ModelVersion: m.Manifest.Version, Device: "cpu",
			Label: m.Manifest.Classes[k-1].ID, Probability: 0.75}
		for j, c := range m.Manifest.Classes {
			pr := 0.25 / float64(k-1)
			if j == k-1 {
				pr = 0.75
			}
			p.Classes = append(p.Classes, inference.ClassProbability{ID: c.ID, Name: c.Name, Probability: pr})
		}
		if saliency {
			p.Saliency = &inference.Saliency{Method: inference.SaliencyCAM, Class: p.Label, Width: 2, Height: 2, Values: []float32{0, 1, 0, 0}}
		}
		out[i] = p
	}
	return out, nil
}

func tinyCam(t *testing.T) *inference.Catalogue {
	t.Helper()
	cat, err := inference.LoadCatalogue(nil, filepath.Join(fixtures, "tiny-cam"))
	if err != nil || len(cat.Models()) != 1 {
		t.Fatalf("catalogue: %v %v", cat.Models(), err)
	}
	return cat
}

// writeMultiFrame writes a CT file of n 8×6 frames whose values tell the frames apart.
func writeMultiFrame(t *testing.T, path string, n int) {
	t.Helper()
	var frames [][]uint16
	for f := range n {
		vals := make([]uint16, 48)
		for i := range vals {
			vals[i] = uint16(100*f + i)
		}
		frames = append(frames, vals)
	}
	writeGrey(t, path, "CT", 6, 8, frames)
}

// writeGrey writes a grey DICOM file of the modality whose frames hold the given values (dicomsynth.GreyFrames).
func writeGrey(t *testing.T, path, modality string, rows, cols int, frames [][]uint16) {
	t.Helper()
	ds, err := dicomsynth.GreyFrames(modality, rows, cols, frames)
	if err == nil {
		err = dicomsynth.Write(path, ds)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestOneOpenOneDecodeOneRun: analysing a file opens it once, decodes the one frame classified once and runs the
// model once, for a single-frame PNG and for a multi-frame DICOM (whose record names its middle frame).
func TestOneOpenOneDecodeOneRun(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "film.png")
	copyFile(t, filepath.Join(fixtures, "parity_rgb.png"), png)
	multi := filepath.Join(dir, "series.dcm")
	writeMultiFrame(t, multi, 5)
	for _, c := range []struct {
		path      string
		wantFrame int // 0-based
	}{{png, 0}, {multi, 2}} {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			rd, eng := &countingReader{}, &countingEngine{}
			clf := New(tinyCam(t), eng, Options{Reader: rd, ModelID: "tiny-cam", Saliency: SaliencyAll})
			s, err := clf.Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			frame := AnalysisFrame(s)
			// The viewer shows the frame before the analysis asks for it: still one decode.
			if _, err := s.Frame(frame); err != nil {
				t.Fatal(err)
			}
			r := clf.Analyse(context.Background(), s, frame)
			if r.Record.Status != StatusOK || r.Record.Frame != c.wantFrame+1 || r.Prediction == nil || r.Prediction.Saliency == nil {
				t.Fatalf("record %+v", r.Record)
			}
			if rd.opens != 1 || len(rd.frames) != 1 || rd.frames[0] != c.wantFrame || eng.runs != 1 || eng.images != 1 {
				t.Fatalf("opens %d, frames decoded %v, model runs %d (%d images); want 1, [%d], 1 (1)",
					rd.opens, rd.frames, eng.runs, eng.images, c.wantFrame)
			}
			// The batch path classifies the same frame.
			rd2, eng2 := &countingReader{}, &countingEngine{}
			var got []Result
			_, err = New(tinyCam(t), eng2, Options{Reader: rd2, ModelID: "tiny-cam"}).Run(context.Background(),
				[]Input{{Path: c.path}}, func(r Result) error { got = append(got, r); return nil }, nil)
			if err != nil || len(got) != 1 || got[0].Record.Frame != c.wantFrame+1 || rd2.opens != 1 || len(rd2.frames) != 1 || eng2.images != 1 {
				t.Fatalf("Run: %v, records %+v, opens %d, decodes %v, images %d", err, got, rd2.opens, rd2.frames, eng2.images)
			}
		})
	}
}

// TestRunHandsTheEngineTheModelImage: without saliency, Run's decode workers make the grey model-size image
// (inference.ModelImage) and the engine gets that, while the result keeps the display image for overlays and the
// frame is still decoded once; with saliency the engine gets the display image, from which the map is sized.
func TestRunHandsTheEngineTheModelImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "film.png")
	copyFile(t, filepath.Join(fixtures, "parity_rgb.png"), path)
	for _, c := range []struct {
		mode SaliencyMode
		grey bool // the engine gets the 24×20 model image
	}{{SaliencyOff, true}, {SaliencyAll, false}} {
		rd, eng := &countingReader{}, &countingEngine{}
		var got []Result
		_, err := New(tinyCam(t), eng, Options{Reader: rd, ModelID: "tiny-cam", Saliency: c.mode}).Run(context.Background(),
			[]Input{{Path: path}}, func(r Result) error { got = append(got, r); return nil }, nil)
		if err != nil || len(got) != 1 || got[0].Image == nil || got[0].Prediction == nil {
			t.Fatalf("saliency %v: %v, %+v", c.mode, err, got)
		}
		display := got[0].Image.Bounds().Size()
		want := display
		if c.grey {
			want = image.Pt(24, 20)
		}
		if len(eng.sizes) != 1 || eng.sizes[0] != want || display == image.Pt(24, 20) || rd.opens != 1 || len(rd.frames) != 1 {
			t.Errorf("saliency %v: engine got %v, want [%v] (display image %v); opens %d, decodes %v",
				c.mode, eng.sizes, want, display, rd.opens, rd.frames)
		}
	}
}

// TestRunFramesOfAnOpenScan: the frames of one open multi-frame file go through Run as inputs of their own
// (how a series of frames is classified): no second open, each frame decoded once, one batched model run.
func TestRunFramesOfAnOpenScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.dcm")
	writeMultiFrame(t, path, 5)
	rd, eng := &countingReader{}, &countingEngine{}
	clf := New(tinyCam(t), eng, Options{Reader: rd, ModelID: "tiny-cam", BatchSize: 8})
	s, err := clf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []Input
	for f := 1; f <= 6; f++ {
		inputs = append(inputs, Input{Path: path, Scan: s, Frame: f})
	}
	var frames []int
	sum, err := clf.Run(context.Background(), inputs, func(r Result) error { frames = append(frames, r.Record.Frame); return nil }, nil)
	slices.Sort(rd.frames) // decoded by two workers at once
	if err != nil || sum.OK != 5 || sum.Failed != 1 {
		t.Fatalf("summary %+v, %v: want frames 1–5 ok and frame 6 (of 5) failed", sum, err)
	}
	if fmt.Sprint(frames) != "[1 2 3 4 5 6]" || rd.opens != 1 || fmt.Sprint(rd.frames) != "[0 1 2 3 4]" || eng.runs != 1 || eng.images != 5 {
		t.Fatalf("records for frames %v; opens %d, decodes %v, runs %d of %d images", frames, rd.opens, rd.frames, eng.runs, eng.images)
	}
}

// TestScanDecodesEachFrameOnceAndKeepsTwo: concurrent requests for one frame share one decode, the render for a
// model reads the frame on screen without decoding it again, and the scan keeps the last two frames used.
func TestScanDecodesEachFrameOnceAndKeepsTwo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.dcm")
	writeMultiFrame(t, path, 8)
	rd := &countingReader{}
	cat := tinyCam(t)
	s, err := New(cat, nil, Options{Reader: rd}).Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Frame(3) }()
	}
	wg.Wait()
	px, err := s.Frame(3)
	if err != nil || len(rd.frames) != 1 {
		t.Fatalf("frame 3 asked for 5 times at once: %d decodes (%v)", len(rd.frames), err)
	}
	if px.Values[0] != 300 || px.Min != 300 || px.Max != 347 || !px.Integral {
		t.Fatalf("frame 3: first value %v, range %v…%v", px.Values[0], px.Min, px.Max)
	}
	m, err := cat.Get("tiny-cam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DisplayImage(s, 3, &m.Manifest); err != nil || len(rd.frames) != 1 {
		t.Fatalf("the model's render of the frame on screen: %v, decodes %v", err, rd.frames)
	}
	s.Frame(4)
	s.Frame(3) // still kept: the last two frames used stay
	s.Frame(5)
	s.Frame(6)
	s.Frame(3) // forgotten after two others: decoded again
	if fmt.Sprint(rd.frames) != "[3 4 5 6 3]" {
		t.Fatalf("decodes %v, want [3 4 5 6 3]", rd.frames)
	}
	if _, err := s.Frame(9); !errors.Is(err, dicomio.ErrFrameRange) {
		t.Fatalf("frame 9 of 8: %v", err)
	}
}

// TestRefusalAndMissingRuntime: without a gate, an MR file no model accepts is refused (a record of its own, not
// an error) before any decode or model run; without an engine, the record is an error naming ONNX Runtime.
func TestRefusalAndMissingRuntime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mr.dcm")
	writeGrey(t, path, "MR", 2, 2, [][]uint16{{1, 2, 3, 4}})
	rd, eng := &countingReader{}, &countingEngine{}
	clf := New(tinyCam(t), eng, Options{Reader: rd})
	s, err := clf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := clf.Analyse(context.Background(), s, 0)
	p := r.Record.Problem()
	if r.Record.Status != StatusRefused || p == nil || !errors.Is(p, ErrNoModel) || r.Record.Reason != p.Sentence || r.Record.Error != "" ||
		!r.Record.OutOfScope || r.Record.Model != "" || r.Record.Gate != "" || r.Record.Frame != 1 {
		t.Fatalf("MR record %+v", r.Record)
	}
	if len(rd.frames) != 0 || eng.runs != 0 {
		t.Fatalf("a refused scan was decoded %v or classified %d times", rd.frames, eng.runs)
	}
	// Forcing a model does not lift the tag checks: tiny-cam accepts CT and OT, not MR (overridable).
	r = New(tinyCam(t), eng, Options{ModelID: "tiny-cam"}).Analyse(context.Background(), s, 0)
	if r.Record.Status != StatusRefused || !r.Record.Overridable() || r.Record.Model != "tiny-cam" || eng.runs != 0 ||
		!strings.Contains(r.Record.Reason, "tiny-cam accepts (OT, CT)") {
		t.Fatalf("MR forced through tiny-cam: %+v", r.Record)
	}
	r = New(tinyCam(t), eng, Options{ModelID: "tiny-cam", AllowOutOfScope: true}).Analyse(context.Background(), s, 0)
	if r.Record.Status != StatusOK || !r.Record.OutOfScope || !strings.Contains(r.Record.Reason, "tiny-cam accepts") || eng.runs != 1 {
		t.Fatalf("MR forced through tiny-cam, out of scope allowed: %+v (%d runs)", r.Record, eng.runs)
	}
	// No engine: the record says ONNX Runtime is missing, without the command line's flags in the sentence.
	ct := filepath.Join(t.TempDir(), "ct.dcm")
	writeGrey(t, ct, "CT", 2, 2, [][]uint16{{1, 2, 3, 4}})
	if s, err = clf.Open(ct); err != nil {
		t.Fatal(err)
	}
	r = New(tinyCam(t), nil, Options{ModelID: "tiny-cam"}).Analyse(context.Background(), s, 0)
	if r.Record.Status != StatusError || !strings.Contains(r.Record.Error, "ONNX Runtime") || strings.Contains(r.Record.Error, "--ort-lib") ||
		!strings.Contains(r.Record.Problem().ForCLI(), "--ort-lib") {
		t.Fatalf("without an engine: %q / %q", r.Record.Error, r.Record.Problem().ForCLI())
	}
}

func TestExplain(t *testing.T) {
	_, openErr := dicomio.Open(filepath.Join(t.TempDir(), "none.dcm"))
	for _, c := range []struct {
		err  error
		want string
	}{
		{openErr, "There is no such file."},
		{dicomio.ErrTruncated, "This file is truncated"},
		{inference.ErrRuntimeMissing, "Classification needs the ONNX Runtime library"},
		{errors.New("disk on fire"), "Disk on fire."},
	} {
		p := Explain(c.err)
		if !strings.HasPrefix(p.Sentence, c.want) || !errors.Is(p, c.err) {
			t.Errorf("Explain(%v) = %q, want it to start %q and wrap the cause", c.err, p.Sentence, c.want)
		}
	}
	own := &Problem{Sentence: "Own."}
	if Explain(errors.Join(errors.New("x"), own)) != own {
		t.Error("a Problem inside an error is not the one explained")
	}
}

// TestCSVNeutralisesFormulas: a file named like a formula lands in the CSV as text (a leading '), while the JSON
// Lines keep it exactly.
func TestCSVNeutralisesFormulas(t *testing.T) {
	cat := tinyCam(t)
	t.Chdir(t.TempDir()) // the name is the whole path cell, as in `tumortracer classify NAME`
	name := `=HYPERLINK("http:x","y").jpeg`
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var csvOut, jsonOut bytes.Buffer
	cw, jw := NewCSVWriter(&csvOut, ClassColumns(cat.Models()), true), NewJSONWriter(&jsonOut, true)
	clf := New(cat, &countingEngine{}, Options{ModelID: "tiny-cam", IncludePatient: true})
	_, err := clf.Run(context.Background(), Expand([]string{name, "-missing", "@x", "+y"}), func(r Result) error {
		if r.Record.Path == name {
			r.Record.PatientName = "=cmd|' /C calc'!A0" // DICOM text is anyone's too
		}
		if err := cw.Write(r.Record); err != nil {
			return err
		}
		return jw.Write(r.Record)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("CSV %q: %v", csvOut.String(), err)
	}
	for i, want := range []string{"'" + name, "'-missing", "'@x", "'+y"} {
		if rows[i+1][0] != want {
			t.Errorf("path cell %q, want %q", rows[i+1][0], want)
		}
	}
	if rows[1][1] != "ok" || rows[1][len(rows[1])-1] != "'=cmd|' /C calc'!A0" {
		t.Errorf("row %q", rows[1])
	}
	for _, r := range rows[1:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q would be read as a formula", cell)
			}
		}
	}
	var first map[string]any
	if err := json.Unmarshal(bytes.SplitN(jsonOut.Bytes(), []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	if first["path"] != name || first["patient_name"] != "=cmd|' /C calc'!A0" {
		t.Errorf("JSON changed the values: %v", first)
	}
}

// TestLargeJPEG2000IsAnalysedReduced: a JPEG 2000 frame of twice AnalysisSide or more is classified from its
// reduced-resolution decode (fo-dicom/VL5_J2KI.dcm, 2670×3340 RGB: at 1335×1670), by the batch without a full
// decode, and by the viewer's analysis with the same image although the full frame is on screen (its one second
// decode, a quarter of the first).
func TestLargeJPEG2000IsAnalysedReduced(t *testing.T) {
	path := testenv.DataPath(t, "dicom", "fo-dicom", "VL5_J2KI.dcm")
	rd, eng := &countingReader{}, &countingEngine{}
	clf := New(tinyCam(t), eng, Options{Reader: rd, ModelID: "tiny-cam", AllowOutOfScope: true})
	s, err := clf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Frame(0); err != nil { // on screen
		t.Fatal(err)
	}
	viewed := clf.Analyse(context.Background(), s, 0)
	want := image.Pt(1335, 1670)
	if viewed.Record.Status != StatusOK || viewed.Image == nil || viewed.Image.Bounds().Size() != want {
		t.Fatalf("viewer's analysis: %+v, image %v; want ok at %v", viewed.Record, viewed.Image.Bounds(), want)
	}
	if !slices.Equal(rd.frames, []int{0, 0}) {
		t.Fatalf("viewer's analysis decoded frames %v, want the full frame then the reduced one", rd.frames)
	}
	rd2, eng2 := &countingReader{}, &countingEngine{}
	var got []Result
	_, err = New(tinyCam(t), eng2, Options{Reader: rd2, ModelID: "tiny-cam", AllowOutOfScope: true}).Run(context.Background(),
		[]Input{{Path: path}}, func(r Result) error { got = append(got, r); return nil }, nil)
	if err != nil || len(got) != 1 || got[0].Image == nil || len(rd2.frames) != 1 {
		t.Fatalf("Run: %v, records %+v, decodes %v", err, got, rd2.frames)
	}
	a, b := viewed.Image.(*image.RGBA), got[0].Image.(*image.RGBA)
	if a == nil || b == nil || !bytes.Equal(a.Pix, b.Pix) {
		t.Fatal("the batch classified another image than the viewer's analysis")
	}
}

// TestAnalysisFileKeepsTwoFrames: a Scan remembers the reduced-resolution copies (or their absence) of its last two
// analysed frames only, so scrolling through a long multi-frame file keeps no more than two.
func TestAnalysisFileKeepsTwoFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "series.dcm")
	writeMultiFrame(t, path, 5)
	s, err := Open(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if f, k := s.analysisFile(i); f != s.File || k != i {
			t.Fatalf("frame %d of a native file: analysed from %p frame %d, want the file itself", i, f, k)
		}
	}
	s.analysisFile(3)
	if len(s.reduced) != 2 || s.reduced[0].frame != 3 || s.reduced[1].frame != 4 {
		t.Fatalf("kept %+v, want frames 3 then 4", s.reduced)
	}
}
