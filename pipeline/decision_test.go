package pipeline

import (
	"context"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

// The gate's decision on files whose every tag the test chose, with a scripted engine: no ONNX Runtime needed.
// The catalogue holds a gate routing chest-radiograph → film and chest-ct → slice (the fixtures' model files under
// new manifests): film is a paediatric frontal-film model (CR/DX/OT, ages 1–5, PA/AP, CHEST), slice an adult axial
// chest CT model (CT/OT, 18 or older, axial, CHEST) with tiny-feat's out-of-scope statistics.

// decisionEngine answers the gate by the image's width — 11: chest-radiograph, 12: chest-ct, anything else: other
// (at 0.8; the rest split 0.15 chest-ct, 0.05 chest-radiograph or the other way round) — and every classifier with
// its first class at 0.9. A model with a features output gets features at one of its statistics' class means when
// the image is 7 rows high (in scope), else far away. It counts runs and images per model.
type decisionEngine struct {
	mu     sync.Mutex
	runs   map[string]int
	images map[string]int
	near   []float32
}

func (e *decisionEngine) Classify(_ context.Context, m *inference.Model, imgs []image.Image, _ bool) ([]inference.Prediction, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := m.Manifest.ID
	e.runs[id]++
	e.images[id] += len(imgs)
	out := make([]inference.Prediction, len(imgs))
	for i, img := range imgs {
		size := img.Bounds().Size()
		probs := make([]float64, len(m.Manifest.Classes))
		label := 0
		if m.Manifest.IsGate() {
			label = m.Manifest.ClassIndex("other")
			switch size.X {
			case 11:
				label = m.Manifest.ClassIndex("chest-radiograph")
			case 12:
				label = m.Manifest.ClassIndex("chest-ct")
			}
			rest := map[bool][2]float64{true: {0.15, 0.05}, false: {0.05, 0.15}}[label != m.Manifest.ClassIndex("chest-ct")]
			probs[m.Manifest.ClassIndex("chest-ct")], probs[m.Manifest.ClassIndex("chest-radiograph")] = rest[0], rest[1]
			if label == m.Manifest.ClassIndex("chest-ct") {
				probs[m.Manifest.ClassIndex("other")] = 0.15
			}
			probs[label] = 0.8
		} else {
			for k := range probs {
				probs[k] = 0.1 / float64(len(probs)-1)
			}
			probs[label] = 0.9
		}
		p := inference.Prediction{ModelID: id, ModelVersion: m.Manifest.Version, Device: "cpu",
			Label: m.Manifest.Classes[label].ID, Probability: probs[label]}
		for k, c := range m.Manifest.Classes {
			p.Classes = append(p.Classes, inference.ClassProbability{ID: c.ID, Name: c.Name, Probability: probs[k]})
		}
		if m.Manifest.Outputs.Features != "" {
			p.Features = make([]float32, len(e.near))
			for k := range p.Features {
				p.Features[k] = 50
			}
			if size.Y == 7 {
				copy(p.Features, e.near)
			}
		}
		out[i] = p
	}
	return out, nil
}

func newDecisionEngine(t *testing.T) *decisionEngine {
	t.Helper()
	// scope.bin: "TTSCOPE1", uint32 K, uint32 C, then K×C float32 means: the first class's mean is in scope.
	stats, err := os.ReadFile(filepath.Join(fixtures, "tiny-feat", "scope.bin"))
	if err != nil {
		t.Fatal(err)
	}
	c := int(binary.LittleEndian.Uint32(stats[12:16]))
	near := make([]float32, c)
	for i := range near {
		near[i] = math.Float32frombits(binary.LittleEndian.Uint32(stats[16+4*i:]))
	}
	return &decisionEngine{runs: map[string]int{}, images: map[string]int{}, near: near}
}

// decisionCatalogue is the gate, film and slice catalogue described above, plus for each extra pair {id, fixture}
// that fixture's model as it is under the id (no population, no statistics: a model added with --models).
func decisionCatalogue(t *testing.T, extra ...[2]string) *inference.Catalogue {
	t.Helper()
	fsys := fstest.MapFS{}
	add := func(id, fixture string, edit func(string) string) {
		for _, name := range []string{"model.yaml", "model.onnx", "scope.yaml", "scope.bin"} {
			data, err := os.ReadFile(filepath.Join(fixtures, fixture, name))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if name == "model.yaml" {
				data = []byte(edit(strings.Replace(string(data), "id: "+fixture, "id: "+id, 1)))
			}
			fsys[id+"/"+name] = &fstest.MapFile{Data: data}
		}
	}
	add("gate", "tiny-gate", func(y string) string {
		return strings.Replace(y, "routes: {chest-radiograph: tiny-occl, chest-ct: tiny-cam}", "routes: {chest-radiograph: film, chest-ct: slice}", 1)
	})
	add("film", "tiny-occl", func(y string) string {
		return strings.Replace(y, "modalities: [OT, CT]", "modalities: [CR, DX, OT]", 1) + `population:
  description: "Children aged 1 to 5 years; frontal chest films."
  age_years: {min: 1, max: 5}
  views: [PA, AP]
  body_parts: [CHEST]
`
	})
	// slice states a series rule too, for the series tests (series_test.go); per file it changes nothing.
	add("slice", "tiny-feat", func(y string) string {
		return y + `series: {rule: top-k-mean, k: 2, validated: false}
population:
  description: "Adults; axial chest CT slices."
  age_years: {min: 18}
  body_parts: [CHEST, THORAX]
  planes: [axial]
`
	})
	for _, e := range extra {
		add(e[0], e[1], func(y string) string { return y })
	}
	cat, err := inference.LoadCatalogue(fsys)
	if err != nil || len(cat.Problems) > 0 || len(cat.Models()) != 3+len(extra) {
		t.Fatalf("decision catalogue: %v %v %v", cat.Models(), cat.Problems, err)
	}
	return cat
}

// tagged writes a grey DICOM file of the modality, rows×cols, with extra elements.
func tagged(t *testing.T, path, modality string, rows, cols int, extra ...dicomsynth.Element) {
	t.Helper()
	vals := make([]uint16, rows*cols)
	for i := range vals {
		vals[i] = uint16(100 + 37*i%900)
	}
	ds, err := dicomsynth.GreyFrames(modality, rows, cols, [][]uint16{vals})
	if err == nil {
		err = dicomsynth.Write(path, append(ds, extra...))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// writePNG writes a grey w×h PNG.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	f, err := os.Create(path)
	if err == nil {
		err = png.Encode(f, img)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// decisionCase is one file and the decision expected for it.
type decisionCase struct {
	name    string
	write   func(t *testing.T, path string)
	status  string // StatusOK or StatusRefused
	model   string // answered, or considered for a refusal ("" when the content fits none)
	seenAs  string
	reason  []string // fragments of the refusal sentence
	allowed string   // the model that answers with AllowOutOfScope ("": still refused)
	scored  bool     // the slice model's statistics scored it
}

func decisionCases() []decisionCase {
	var (
		axial    = dicomsynth.DS(dicomsynth.TagImageOrientationPatient, 1, 0, 0, 0, 1, 0)
		sagittal = dicomsynth.DS(dicomsynth.TagImageOrientationPatient, 0, 1, 0, 0, 0, -1)
		age      = func(a string) dicomsynth.Element { return dicomsynth.Text(dicomsynth.TagPatientAge, "AS", a) }
		view     = func(v string) dicomsynth.Element { return dicomsynth.Text(dicomsynth.TagViewPosition, "CS", v) }
		body     = func(b string) dicomsynth.Element { return dicomsynth.Text(dicomsynth.TagBodyPartExamined, "CS", b) }
		born     = dicomsynth.Text(dicomsynth.TagPatientBirthDate, "DA", "19800101")
		studied  = dicomsynth.Text(dicomsynth.TagStudyDate, "DA", "20200101")
	)
	film := func(extra ...dicomsynth.Element) func(*testing.T, string) {
		return func(t *testing.T, p string) { tagged(t, p, "CR", 8, 11, extra...) }
	}
	slice := func(rows int, extra ...dicomsynth.Element) func(*testing.T, string) {
		return func(t *testing.T, p string) { tagged(t, p, "CT", rows, 12, extra...) }
	}
	return []decisionCase{
		{name: "PNG chest film", write: func(t *testing.T, p string) { writePNG(t, p, 11, 9) }, status: StatusOK, model: "film", seenAs: "chest-radiograph"},
		{name: "PNG CT slice", write: func(t *testing.T, p string) { writePNG(t, p, 12, 7) }, status: StatusOK, model: "slice", seenAs: "chest-ct", scored: true},
		{name: "PNG photo", write: func(t *testing.T, p string) { writePNG(t, p, 40, 30) }, status: StatusRefused, seenAs: "other",
			reason: []string{"This PNG image does not look like a chest radiograph or a chest CT slice (the gate saw other, 80 %)",
				"the installed models answer only chest radiographs (film) and chest CT slices (slice)"}, allowed: "slice"},
		{name: "child PA film", write: film(age("003Y"), view("PA"), body("CHEST")), status: StatusOK, model: "film", seenAs: "chest-radiograph"},
		{name: "film without tags", write: film(), status: StatusOK, model: "film", seenAs: "chest-radiograph"},
		{name: "anonymised age 000Y", write: film(age("000Y")), status: StatusOK, model: "film", seenAs: "chest-radiograph"},
		{name: "adult by PatientAge", write: film(age("045Y"), view("PA")), status: StatusRefused, model: "film", seenAs: "chest-radiograph",
			reason: []string{"The patient was 45 years old (PatientAge 045Y); film was trained on patients aged 1 to 5 years."}, allowed: "film"},
		{name: "adult by birth and study dates", write: film(born, studied), status: StatusRefused, model: "film", seenAs: "chest-radiograph",
			reason: []string{"The patient was 40 years old (from PatientBirthDate and StudyDate)"}, allowed: "film"},
		{name: "lateral film", write: film(age("004Y"), view("LL")), status: StatusRefused, model: "film", seenAs: "chest-radiograph",
			reason: []string{"This CR image is a lateral view (ViewPosition LL)", "film answers PA or AP views only"}, allowed: "film"},
		{name: "knee film", write: film(body("KNEE")), status: StatusRefused, model: "film", seenAs: "chest-radiograph",
			reason: []string{"tagged BodyPartExamined KNEE", "film answers CHEST images only"}, allowed: "film"},
		{name: "CT localizer", write: func(t *testing.T, p string) {
			tagged(t, p, "CT", 8, 11, dicomsynth.Text(dicomsynth.TagImageType, "CS", `ORIGINAL\PRIMARY\LOCALIZER`))
		}, status: StatusRefused, model: "film", seenAs: "chest-radiograph",
			reason: []string{`This CT image is a localizer (scout) image (ImageType ORIGINAL\PRIMARY\LOCALIZER)`}, allowed: "film"},
		{name: "CT that looks like a film", write: func(t *testing.T, p string) { tagged(t, p, "CT", 8, 11) }, status: StatusRefused, model: "film",
			seenAs: "chest-radiograph", reason: []string{"looks like a chest radiograph (80 %), but its Modality tag says CT, which film does not accept"}, allowed: "film"},
		{name: "MR that looks like a CT slice", write: func(t *testing.T, p string) { tagged(t, p, "MR", 7, 12) }, status: StatusRefused, model: "slice",
			seenAs: "chest-ct", reason: []string{"its Modality tag says MR, which slice does not accept"}, allowed: "slice"},
		{name: "adult axial chest CT", write: slice(7, age("060Y"), axial, body("CHEST")), status: StatusOK, model: "slice", seenAs: "chest-ct", scored: true},
		{name: "sagittal CT", write: slice(7, sagittal), status: StatusRefused, model: "slice", seenAs: "chest-ct",
			reason: []string{"This CT image is a sagittal slice (ImageOrientationPatient)", "slice answers axial slices only"}, allowed: "slice"},
		{name: "child CT", write: slice(7, age("010Y")), status: StatusRefused, model: "slice", seenAs: "chest-ct",
			reason: []string{"The patient was 10 years old (PatientAge 010Y); slice was trained on patients aged 18 years or older."}, allowed: "slice"},
		{name: "head CT tagged HEAD", write: slice(7, body("HEAD")), status: StatusRefused, model: "slice", seenAs: "chest-ct",
			reason: []string{"tagged BodyPartExamined HEAD"}, allowed: "slice"},
		{name: "CT the gate calls other", write: func(t *testing.T, p string) { tagged(t, p, "CT", 7, 13, body("CHEST")) }, status: StatusRefused, seenAs: "other",
			reason: []string{"This CT image does not look like a chest radiograph or a chest CT slice"}, allowed: "slice"},
		{name: "CT slice far from the training data", write: slice(8), status: StatusRefused, model: "slice", seenAs: "chest-ct", scored: true,
			reason: []string{"This image looks like a chest CT slice (80 %) but lies outside what slice was trained on", "above the model's limit of 11.7"}, allowed: "slice"},
	}
}

// TestGateDecidesEachFile: content chooses the model, tags and the slice model's statistics can only refuse, every
// refusal has its sentence; AllowOutOfScope answers the refused ones, marked out of scope with the same sentence.
// Each file is opened once and its frame decoded once (the gate's image is the model's), the gate runs once per
// file and a classifier once per file that reaches it.
func TestGateDecidesEachFile(t *testing.T) {
	cat := decisionCatalogue(t)
	dir := t.TempDir()
	cases := decisionCases()
	var inputs []Input
	for _, c := range cases {
		ext := ".dcm"
		if strings.HasPrefix(c.name, "PNG") {
			ext = ".png"
		}
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+ext)
		c.write(t, p)
		inputs = append(inputs, Input{Path: p})
	}
	for _, allow := range []bool{false, true} {
		rd, eng := &countingReader{}, newDecisionEngine(t)
		var got []Result
		// With saliency the engine gets each display image at its own size, which the scripted engine reads.
		sum, err := New(cat, eng, Options{Reader: rd, AllowOutOfScope: allow, Saliency: SaliencyAll}).Run(context.Background(), inputs,
			func(r Result) error { got = append(got, r); return nil }, nil)
		if err != nil || len(got) != len(cases) {
			t.Fatalf("allow=%v: %v, %d records", allow, err, len(got))
		}
		forwards := 0
		for i, c := range cases {
			r := got[i].Record
			t.Run(c.name, func(t *testing.T) {
				if r.Gate != "gate@0.0.1" || r.SeenAs != c.seenAs || r.Path != inputs[i].Path {
					t.Errorf("gate %q saw %q, want gate@0.0.1 seeing %q", r.Gate, r.SeenAs, c.seenAs)
				}
				wantScored := c.scored
				if allow && c.status == StatusRefused {
					wantScored = c.allowed == "slice" // answered by slice: its statistics score it
				}
				if r.Scored != wantScored {
					t.Errorf("scored %v, want %v (score %v)", r.Scored, wantScored, r.ScopeScore)
				}
				if !allow || c.status == StatusOK {
					if r.Status != c.status || r.Model != c.model || r.OutOfScope != (c.status == StatusRefused) || r.Error != "" {
						t.Fatalf("record %+v, want %s by %q", r, c.status, c.model)
					}
					for _, frag := range c.reason {
						if !strings.Contains(r.Reason, frag) {
							t.Errorf("reason %q lacks %q", r.Reason, frag)
						}
					}
					if c.status == StatusRefused {
						p := r.Problem()
						if !r.Refused() || !r.Overridable() || got[i].Prediction != nil || r.Label != "" || len(r.Probabilities) > 0 ||
							!strings.Contains(p.ForCLI(), "--allow-out-of-scope") || !strings.Contains(p.ForWindow(), "Show anyway") ||
							strings.Contains(p.ForWindow(), "--") {
							t.Errorf("refusal %+v: hints %q / %q", r, p.ForCLI(), p.ForWindow())
						}
					} else if r.Reason != "" || got[i].Prediction == nil || r.Label == "" || r.Refused() {
						t.Errorf("answer %+v", r)
					}
					return
				}
				// Asked for anyway: answered by the model considered (for "other", the routed class the gate found
				// likeliest), marked out of scope with the refusal's sentence.
				if r.Status != StatusOK || r.Model != c.allowed || !r.OutOfScope || r.Refused() || got[i].Prediction == nil {
					t.Fatalf("allowed: %+v, want an answer by %s marked out of scope", r, c.allowed)
				}
				for _, frag := range c.reason {
					if !strings.Contains(r.Reason, frag) {
						t.Errorf("allowed: reason %q lacks %q", r.Reason, frag)
					}
				}
			})
			if got[i].Prediction != nil || r.Scored {
				forwards++
			}
		}
		if rd.opens != len(cases) || len(rd.frames) != len(cases) {
			t.Errorf("allow=%v: %d opens, %d decodes for %d files; want one each", allow, rd.opens, len(rd.frames), len(cases))
		}
		if eng.images["gate"] != len(cases) || eng.images["film"]+eng.images["slice"] != forwards {
			t.Errorf("allow=%v: gate ran on %d images, classifiers on %d+%d; want %d and %d", allow, eng.images["gate"],
				eng.images["film"], eng.images["slice"], len(cases), forwards)
		}
		refused := 0
		for _, c := range cases {
			if c.status == StatusRefused && !allow {
				refused++
			}
		}
		if sum.Refused != refused || sum.Failed != 0 || sum.OK != len(cases)-refused {
			t.Errorf("allow=%v: summary %+v, want %d refused", allow, sum, refused)
		}
	}
}

// TestForcedModelKeepsTheChecks: --model skips the routing, not the checks. The gate refuses an image it sends to
// another model it routes to; a model it does not route to is judged by its own population and statistics only.
func TestForcedModelKeepsTheChecks(t *testing.T) {
	cat := decisionCatalogue(t)
	dir := t.TempDir()
	ctSlice, film, photo := filepath.Join(dir, "slice.png"), filepath.Join(dir, "film.dcm"), filepath.Join(dir, "photo.png")
	writePNG(t, ctSlice, 12, 7)
	tagged(t, film, "CR", 8, 11, dicomsynth.Text(dicomsynth.TagPatientAge, "AS", "045Y"))
	writePNG(t, photo, 40, 30)
	run := func(cat *inference.Catalogue, model string, allow bool, path string) Record {
		t.Helper()
		s, err := Open(Files{}, path)
		if err != nil {
			t.Fatal(err)
		}
		return New(cat, newDecisionEngine(t), Options{ModelID: model, AllowOutOfScope: allow, Saliency: SaliencyAll}).Analyse(context.Background(), s, 0).Record
	}
	if r := run(cat, "film", false, ctSlice); r.Status != StatusRefused || r.Model != "film" || r.SeenAs != "chest-ct" ||
		!strings.Contains(r.Reason, "This PNG image looks like a chest CT slice (80 %), and film answers chest radiographs only.") {
		t.Errorf("a CT slice forced through film: %+v", r)
	}
	if r := run(cat, "film", true, ctSlice); r.Status != StatusOK || r.Model != "film" || !r.OutOfScope {
		t.Errorf("a CT slice forced through film, allowed: %+v", r)
	}
	if r := run(cat, "slice", false, ctSlice); r.Status != StatusOK || r.Model != "slice" || !r.Scored || r.OutOfScope {
		t.Errorf("a CT slice forced through slice: %+v", r)
	}
	if r := run(cat, "film", false, film); r.Status != StatusRefused || !strings.Contains(r.Reason, "45 years old") {
		t.Errorf("an adult film forced through film keeps the population check: %+v", r)
	}
	if r := run(cat, "film", false, photo); r.Status != StatusRefused || !strings.Contains(r.Reason, "looks like none of the images the models answer (the gate saw other)") {
		t.Errorf("a photo forced through film: %+v", r)
	}
	// A model the gate does not route to (added with --models, no population): the gate's class refuses nothing.
	withUser := decisionCatalogue(t, [2]string{"mine", "tiny-cam"})
	if r := run(withUser, "mine", false, photo); r.Status != StatusOK || r.Model != "mine" || r.SeenAs != "other" || r.OutOfScope || r.Scored {
		t.Errorf("a photo forced through a model the gate knows nothing of: %+v", r)
	}
	if r := run(withUser, "", false, photo); r.Status != StatusRefused || !strings.Contains(r.Reason, "(and mine when chosen)") {
		t.Errorf("auto on a photo with an extra model installed: %+v", r)
	}
}

// TestGateRunIsCountedApart is the counting test with a gate in the catalogue: the viewer's analysis of a PNG and
// of a multi-frame CT (its middle frame) opens the file once, decodes the frame once (the gate's image is the
// model's), runs the gate once and the classifier once; the gate's forward is a model run of its own.
func TestGateRunIsCountedApart(t *testing.T) {
	dir := t.TempDir()
	pngPath, multi := filepath.Join(dir, "slice.png"), filepath.Join(dir, "series.dcm")
	writePNG(t, pngPath, 12, 7)
	frames := make([][]uint16, 5)
	for f := range frames {
		frames[f] = make([]uint16, 7*12)
		for i := range frames[f] {
			frames[f][i] = uint16(100*f + i)
		}
	}
	writeGrey(t, multi, "CT", 7, 12, frames)
	for _, c := range []struct {
		path  string
		frame int
	}{{pngPath, 0}, {multi, 2}} {
		rd, eng := &countingReader{}, newDecisionEngine(t)
		clf := New(decisionCatalogue(t), eng, Options{Reader: rd, Saliency: SaliencyAll})
		s, err := clf.Open(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if f := AnalysisFrame(s); f != c.frame {
			t.Fatalf("%s: analysis frame %d", c.path, f)
		}
		r := clf.Analyse(context.Background(), s, c.frame)
		if r.Record.Status != StatusOK || r.Record.Model != "slice" || r.Record.Frame != c.frame+1 {
			t.Fatalf("%s: %+v", c.path, r.Record)
		}
		if rd.opens != 1 || len(rd.frames) != 1 || rd.frames[0] != c.frame || eng.runs["gate"] != 1 || eng.runs["slice"] != 1 {
			t.Errorf("%s: opens %d, decodes %v, gate runs %d, classifier runs %d; want 1, [%d], 1, 1", filepath.Base(c.path),
				rd.opens, rd.frames, eng.runs["gate"], eng.runs["slice"], c.frame)
		}
	}
}
