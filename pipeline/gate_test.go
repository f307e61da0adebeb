package pipeline

import (
	"context"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
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
