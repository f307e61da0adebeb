package pipeline

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/models"
)

// drawn returns out-of-scope images drawn here, each 400×300: what a person might drop on the window by mistake.
func drawn() map[string]image.Image {
	rng := rand.New(rand.NewPCG(12, 1))
	out := map[string]image.Image{}
	fill := func(name string, f func(x, y int) color.Color) {
		img := image.NewRGBA(image.Rect(0, 0, 400, 300))
		for y := range 300 {
			for x := range 400 {
				img.Set(x, y, f(x, y))
			}
		}
		out[name] = img
	}
	fill("blank white", func(x, y int) color.Color { return color.White })
	fill("blank black", func(x, y int) color.Color { return color.Black })
	fill("constant grey", func(x, y int) color.Color { return color.Gray{Y: 128} })
	fill("checkerboard", func(x, y int) color.Color {
		if (x/25+y/25)%2 == 0 {
			return color.White
		}
		return color.Black
	})
	fill("noise", func(x, y int) color.Color { return color.Gray{Y: uint8(rng.IntN(256))} })
	fill("colour noise", func(x, y int) color.Color {
		return color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	})
	fill("gradient", func(x, y int) color.Color { return color.Gray{Y: uint8(x * 255 / 399)} })
	// A text page: lines of word-sized dark blocks on white paper.
	page := image.NewGray(image.Rect(0, 0, 300, 400))
	for i := range page.Pix {
		page.Pix[i] = 245
	}
	for line := 30; line < 370; line += 16 {
		for x := 30; x < 270; {
			w := 8 + rng.IntN(40)
			for yy := line; yy < line+8; yy++ {
				for xx := x; xx < min(x+w, 270); xx++ {
					if rng.IntN(3) > 0 {
						page.Pix[yy*page.Stride+xx] = 20
					}
				}
			}
			x += w + 6
		}
	}
	out["text page"] = page
	return out
}

// TestGateDecisions runs the bundled gate, as the engine runs it, on drawn out-of-scope images (all must be
// "other") and on the first chest CT PNG and chest film JPEG of its test list, opened and rendered as the
// application does (each must go to its class; the shared data is needed for these).
func TestGateDecisions(t *testing.T) {
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	gate, err := cat.Get("gate")
	if err != nil {
		t.Fatalf("the gate is bundled (models/gate): %v", err)
	}
	if routes := gate.Manifest.Routes; gate.Manifest.Task != inference.TaskGate || routes["chest-radiograph"] != "cxr-pneumonia" || routes["chest-ct"] != "ct-lung" {
		t.Fatalf("gate manifest: task %q routes %v", gate.Manifest.Task, routes)
	}
	for class, id := range gate.Manifest.Routes {
		if _, err := cat.Get(id); err != nil {
			t.Errorf("route %s → %s: %v", class, id, err)
		}
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU})
	if err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	classify := func(t *testing.T, img image.Image) inference.Prediction {
		t.Helper()
		preds, err := eng.Classify(context.Background(), gate, []image.Image{img}, false)
		if err != nil {
			t.Fatal(err)
		}
		return preds[0]
	}
	for name, img := range drawn() {
		t.Run(name, func(t *testing.T) {
			if p := classify(t, img); p.Label != "other" {
				t.Errorf("%s seen as %s (%.3f), want other", name, p.Label, p.Probability)
			}
		})
	}

	files, err := gate.EvalFiles()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".png": "chest-ct", ".jpeg": "chest-radiograph"}
	for _, f := range files {
		ext := filepath.Ext(f.Path)
		if want[ext] != f.Class {
			continue
		}
		delete(want, ext)
		t.Run(f.Path, func(t *testing.T) {
			// Opened and rendered as the application does (Open, DisplayImage with the gate's windows).
			s, err := Open(Files{}, testenv.DataPath(t, filepath.FromSlash(f.Path)))
			if err != nil {
				t.Fatal(err)
			}
			img, err := DisplayImage(s, AnalysisFrame(s), &gate.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			if p := classify(t, img); p.Label != f.Class {
				t.Errorf("seen as %s (%.3f), want %s", p.Label, p.Probability, f.Class)
			}
		})
	}
	if len(want) > 0 {
		t.Errorf("the gate's test list lacks %v", want)
	}
}

// TestWholeDecision runs the program's decision — the bundled gate, the tag and population checks and the bundled
// classifiers, through Classifier.Run with no --model, as `tumortracer classify` and a drop on the window do — on:
//   - the drawn out-of-scope images (blank, grey, checkerboard, noise, gradient, text page), saved as PNG: each
//     refused, seen as other, naming the models that exist;
//   - the first chest CT PNG slice and chest film JPEG of the gate's test list: routed to ct-lung and cxr-pneumonia;
//   - DICOM CR files made from that film's pixels with chosen tags: a child's PA film is answered; PatientAge 045Y,
//     an adult by PatientBirthDate and StudyDate, and a lateral view are refused by cxr-pneumonia's population;
//   - the corpus's CT localizer GH342.dcm, which the gate alone calls a chest radiograph: refused by ImageType.
func TestWholeDecision(t *testing.T) {
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	gate := cat.Gate()
	if gate == nil {
		t.Fatal("the gate is bundled (models/gate)")
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU})
	if err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	dir := t.TempDir()
	type want struct {
		status, model, seenAs string
		reason                []string
	}
	var inputs []Input
	wants := map[string]want{}
	add := func(path string, w want) {
		inputs = append(inputs, Input{Path: path})
		wants[path] = w
	}
	for name, img := range drawn() {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".png")
		f, err := os.Create(p)
		if err == nil {
			err = png.Encode(f, img)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		add(p, want{StatusRefused, "", "other", []string{"This PNG image does not look like a chest radiograph or a chest CT slice (the gate saw other",
			"the installed models answer only chest radiographs (cxr-pneumonia) and chest CT slices (ct-lung)"}})
	}
	files, err := gate.EvalFiles()
	if err != nil {
		t.Fatal(err)
	}
	var film string
	for _, ext := range []string{".png", ".jpeg"} {
		for _, f := range files {
			if filepath.Ext(f.Path) == ext && (f.Class == "chest-ct" || f.Class == "chest-radiograph") {
				p := testenv.DataPath(t, filepath.FromSlash(f.Path))
				add(p, want{StatusOK, gate.Manifest.Routes[f.Class], f.Class, nil})
				if ext == ".jpeg" {
					film = p
				}
				break
			}
		}
	}
	s, err := Open(Files{}, film)
	if err != nil {
		t.Fatal(err)
	}
	grey, err := DisplayImage(s, 0, &gate.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	g := inference.Luma(grey)
	vals := make([]uint16, len(g.Pix))
	for i, v := range g.Pix {
		vals[i] = uint16(v) * 16 // 12-bit, as a CR stores it
	}
	text := func(tag uint32, vr, v string) dicomsynth.Element { return dicomsynth.Text(tag, vr, v) }
	for _, c := range []struct {
		name string
		tags []dicomsynth.Element
		want want
	}{
		{"child-pa", []dicomsynth.Element{text(dicomsynth.TagPatientAge, "AS", "003Y"), text(dicomsynth.TagViewPosition, "CS", "PA"),
			text(dicomsynth.TagBodyPartExamined, "CS", "CHEST")}, want{StatusOK, "cxr-pneumonia", "chest-radiograph", nil}},
		{"age-045Y", []dicomsynth.Element{text(dicomsynth.TagPatientAge, "AS", "045Y"), text(dicomsynth.TagViewPosition, "CS", "PA")},
			want{StatusRefused, "cxr-pneumonia", "chest-radiograph", []string{"The patient was 45 years old (PatientAge 045Y); cxr-pneumonia was trained on patients aged 1 to 5 years."}}},
		{"adult-by-dates", []dicomsynth.Element{text(dicomsynth.TagPatientBirthDate, "DA", "19700310"), text(dicomsynth.TagStudyDate, "DA", "20240102")},
			want{StatusRefused, "cxr-pneumonia", "chest-radiograph", []string{"The patient was 53 years old (from PatientBirthDate and StudyDate)"}}},
		{"lateral", []dicomsynth.Element{text(dicomsynth.TagPatientAge, "AS", "004Y"), text(dicomsynth.TagViewPosition, "CS", "LL")},
			want{StatusRefused, "cxr-pneumonia", "chest-radiograph", []string{"is a lateral view (ViewPosition LL)", "cxr-pneumonia answers PA or AP views only"}}},
	} {
		ds, err := dicomsynth.GreyFrames("CR", g.Rect.Dy(), g.Rect.Dx(), [][]uint16{vals})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, c.name+".dcm")
		if err := dicomsynth.Write(p, append(ds, c.tags...)); err != nil {
			t.Fatal(err)
		}
		add(p, c.want)
	}
	add(testenv.DataPath(t, "dicom", "fo-dicom", "GH342.dcm"), want{StatusRefused, "cxr-pneumonia", "chest-radiograph",
		[]string{`This CT image is a localizer (scout) image (ImageType ORIGINAL\PRIMARY\LOCALIZER\PS)`}})

	_, err = New(cat, eng, Options{}).Run(context.Background(), inputs, func(r Result) error {
		rec := r.Record
		w := wants[rec.Path]
		if rec.Status != w.status || rec.Model != w.model || rec.SeenAs != w.seenAs || rec.Gate != "gate@"+gate.Manifest.Version {
			t.Errorf("%s: %s by %q, seen as %q (%.2f), reason %q; want %s by %q seen as %q", filepath.Base(rec.Path), rec.Status,
				rec.Model, rec.SeenAs, rec.SeenAsProbability, rec.Reason, w.status, w.model, w.seenAs)
		}
		for _, frag := range w.reason {
			if !strings.Contains(rec.Reason, frag) {
				t.Errorf("%s: reason %q lacks %q", filepath.Base(rec.Path), rec.Reason, frag)
			}
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
