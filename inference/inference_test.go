package inference

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/disintegration/imaging"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// reference is testdata/reference.json, written by training/fixtures/make_test_models.py from PyTorch.
type reference struct {
	Torch string `json:"torch"`
	Cases []struct {
		Model         string    `json:"model"`
		Image         string    `json:"image"`
		Input         []float64 `json:"input"`
		Logits        []float64 `json:"logits"`
		Probabilities []float64 `json:"probabilities"`
		CAM           []float64 `json:"cam"`
		CAMShape      []int     `json:"cam_shape"`
		Label         int       `json:"label"`
		Saliency      []float64 `json:"saliency"`
		Features      []float64 `json:"features"`
		ScopeD2       float64   `json:"scope_d2"`
		ScopeNearest  string    `json:"scope_nearest"`
	} `json:"cases"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("reference.json has no cases")
	}
	return ref
}

func loadPNG(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func loadFixture(t *testing.T, id string) *Model {
	t.Helper()
	m, err := LoadModel(os.DirFS("testdata"), id, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// needRuntime initialises ONNX Runtime from TUMORTRACER_ORT_LIB (go test runs from a temporary folder, so the
// library beside the executable cannot be found) or skips.
func needRuntime(t testing.TB) {
	t.Helper()
	if _, err := InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s, e.g. to lib/libonnxruntime.so.1 after make deps): %v", LibraryEnv, err)
	}
}

func maxAbsDiff[T float32 | float64](got []T, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d float64
	for i := range got {
		d = math.Max(d, math.Abs(float64(got[i])-want[i]))
	}
	return d
}

func TestPreprocessMatchesPython(t *testing.T) {
	ref := loadReference(t)
	for _, c := range ref.Cases {
		t.Run(c.Model+"/"+c.Image, func(t *testing.T) {
			m := loadFixture(t, c.Model)
			in := m.Manifest.Input
			dst := make([]float32, in.Channels*in.Height*in.Width)
			if err := Preprocess(loadPNG(t, c.Image), in, m.Manifest.Preprocessing, dst); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(dst, c.Input); d > 1e-4 {
				t.Errorf("preprocessed input differs from the Python reference by %g (> 1e-4)", d)
			}
		})
	}
}

func TestPreprocessRejectsBadInput(t *testing.T) {
	m := loadFixture(t, "tiny-cam")
	in := m.Manifest.Input
	good := make([]float32, in.Channels*in.Height*in.Width)
	if err := Preprocess(image.NewGray(image.Rect(0, 0, 0, 0)), in, m.Manifest.Preprocessing, good); !errors.Is(err, ErrBadImage) {
		t.Errorf("empty image: got %v, want ErrBadImage", err)
	}
	if err := Preprocess(nil, in, m.Manifest.Preprocessing, good); !errors.Is(err, ErrBadImage) {
		t.Errorf("nil image: got %v, want ErrBadImage", err)
	}
	if err := Preprocess(image.NewGray(image.Rect(0, 0, 5, 5)), in, m.Manifest.Preprocessing, good[:3]); !errors.Is(err, ErrBadImage) {
		t.Errorf("short tensor: got %v, want ErrBadImage", err)
	}
	// A 1×1 image and a sub-image (non-zero origin) must work.
	if err := Preprocess(image.NewGray(image.Rect(0, 0, 1, 1)), in, m.Manifest.Preprocessing, good); err != nil {
		t.Errorf("1×1 image: %v", err)
	}
	full := loadPNG(t, "parity_rgb.png").(interface {
		SubImage(image.Rectangle) image.Image
	})
	sub := full.SubImage(image.Rect(3, 2, 3+in.Width, 2+in.Height))
	if err := Preprocess(sub, in, m.Manifest.Preprocessing, good); err != nil {
		t.Fatal(err)
	}
	// Same size as the input: no resampling, so the first value is the luma of pixel (3,2) normalised.
	r, g, b, _ := sub.At(3, 2).RGBA()
	luma := float64((19595*(r>>8) + 38470*(g>>8) + 7471*(b>>8) + 0x8000) >> 16)
	want := (luma/255 - 0.5) / 0.25
	if math.Abs(float64(good[0])-want) > 1e-6 {
		t.Errorf("sub-image first value %v, want %v", good[0], want)
	}
}

func TestSoftmaxAndDecide(t *testing.T) {
	p := Softmax([]float32{1, 2, 3}, 1)
	want := []float64{0.09003057317038046, 0.24472847105479764, 0.6652409557748219}
	if d := maxAbsDiff(p, want); d > 1e-12 {
		t.Errorf("softmax = %v, want %v", p, want)
	}
	// Temperature 2 halves the logits.
	if d := maxAbsDiff(Softmax([]float32{2, 4, 6}, 2), want); d > 1e-12 {
		t.Errorf("softmax with temperature 2 differs by %g", d)
	}
	// Huge logits must not overflow.
	if p := Softmax([]float32{1000, 0}, 1); math.IsNaN(p[0]) || p[0] != 1 {
		t.Errorf("softmax of large logits = %v", p)
	}
	bin := &Manifest{Classes: []Class{{ID: "normal"}, {ID: "pneumonia"}}, PositiveClass: "pneumonia", Threshold: 0.3}
	for _, tc := range []struct {
		probs []float64
		label int
		p     float64
	}{
		{[]float64{0.7, 0.3}, 1, 0.3}, // exactly at the threshold → positive
		{[]float64{0.71, 0.29}, 0, 0.71},
		{[]float64{0.2, 0.8}, 1, 0.8},
	} {
		if l, p := Decide(bin, tc.probs); l != tc.label || p != tc.p {
			t.Errorf("Decide(%v) = %d, %v; want %d, %v", tc.probs, l, p, tc.label, tc.p)
		}
	}
	multi := &Manifest{Classes: []Class{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	if l, p := Decide(multi, []float64{0.2, 0.5, 0.3}); l != 1 || p != 0.5 {
		t.Errorf("Decide multi = %d, %v; want 1, 0.5", l, p)
	}
}

// resample samples s at the pixel centres of a w×h image.
func resample(s *Saliency, w, h int) []float32 {
	out := make([]float32, w*h)
	for y := range h {
		for x := range w {
			out[y*w+x] = s.At((float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h))
		}
	}
	return out
}

func TestSaliencyAt(t *testing.T) {
	// A 2×1 grid over a 4×1 image, as PyTorch's interpolate with align_corners=False: cell centres at 1/4 and
	// 3/4, the edge value held beyond them.
	s := &Saliency{Width: 2, Height: 1, Values: []float32{0, 1}}
	if d := maxAbsDiff(resample(s, 4, 1), []float64{0, 0.25, 0.75, 1}); d > 1e-6 {
		t.Errorf("At over 4×1 = %v, want 0 0.25 0.75 1", resample(s, 4, 1))
	}
	// 2×2 grid: the image centre is the mean of the four cells; a corner is its cell's value.
	q := &Saliency{Width: 2, Height: 2, Values: []float32{0, 1, 0.5, 0.25}}
	if got := q.At(0.5, 0.5); math.Abs(float64(got)-0.4375) > 1e-6 {
		t.Errorf("At(centre) = %v, want 0.4375", got)
	}
	if got := q.At(1, 1); got != 0.25 {
		t.Errorf("At(bottom-right corner) = %v, want 0.25", got)
	}
	if got := (&Saliency{}).At(0.5, 0.5); got != 0 {
		t.Errorf("a map without a grid samples as %v, want 0", got)
	}
	v := []float32{2, 4, 6}
	normalise(v)
	if d := maxAbsDiff(v, []float64{0, 0.5, 1}); d > 1e-6 {
		t.Errorf("normalise = %v", v)
	}
	flat := []float32{3, 3}
	normalise(flat)
	if flat[0] != 0 || flat[1] != 0 {
		t.Errorf("normalise of a constant map = %v, want zeros", flat)
	}
}

func TestColormapAndOverlay(t *testing.T) {
	if c := Colormap(0); c.R > 5 || c.G > 5 || c.B > 10 {
		t.Errorf("Colormap(0) = %v, want near black", c)
	}
	if c := Colormap(1); c.R < 240 || c.G < 240 {
		t.Errorf("Colormap(1) = %v, want pale yellow", c)
	}
	// Luminance must rise monotonically along a perceptual map.
	prev := -1.0
	for i := 0; i <= 255; i += 5 {
		c := Colormap(float32(i) / 255)
		l := 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)
		if l < prev-1 {
			t.Fatalf("colormap luminance falls at %d: %v < %v", i, l, prev)
		}
		prev = l
	}
	base := image.NewGray(image.Rect(0, 0, 2, 1))
	base.Pix[0], base.Pix[1] = 100, 100
	s := &Saliency{Width: 2, Height: 1, Values: []float32{0, 1}}
	o := Overlay(base, s, 0.5)
	if o.Pix[0] != 100 || o.Pix[1] != 100 || o.Pix[3] != 255 {
		t.Errorf("zero saliency must leave the pixel alone: %v", o.Pix[:4])
	}
	hot := Colormap(1)
	if want := uint8(float64(100)*0.5 + float64(hot.R)*0.5 + 0.5); o.Pix[4] != want {
		t.Errorf("full saliency at alpha 0.5: red %d, want %d", o.Pix[4], want)
	}
	// The grey, RGBA and generic paths agree.
	rgb := loadPNG(t, "parity_rgb.png")
	g := Luma(rgb)
	asRGBA := image.NewRGBA(g.Bounds())
	asNRGBA := image.NewNRGBA(g.Bounds())
	for i, v := range g.Pix {
		copy(asRGBA.Pix[4*i:], []uint8{v, v, v, 255})
		copy(asNRGBA.Pix[4*i:], []uint8{v, v, v, 255})
	}
	ramp := &Saliency{Width: g.Bounds().Dx(), Height: g.Bounds().Dy(), Values: make([]float32, len(g.Pix))}
	for i := range ramp.Values {
		ramp.Values[i] = float32(i) / float32(len(g.Pix)-1)
	}
	og, orgba, onrgba := Overlay(g, ramp, 0.6), Overlay(asRGBA, ramp, 0.6), Overlay(asNRGBA, ramp, 0.6)
	if !bytes.Equal(og.Pix, orgba.Pix) || !bytes.Equal(og.Pix, onrgba.Pix) {
		t.Error("Overlay differs between grey, RGBA and NRGBA bases of the same picture")
	}
	// The viewer's row drawing and Overlay are one formula: a row drawn at the image's own pixel centres
	// equals Overlay's row.
	row := make([]uint8, 4*g.Bounds().Dx())
	us := make([]float64, g.Bounds().Dx())
	for x := range us {
		row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = g.Pix[x], g.Pix[x], g.Pix[x], 255
		us[x] = (float64(x) + 0.5) / float64(len(us))
	}
	ramp.OverlayRow(row, us, 0.5/float64(g.Bounds().Dy()), 0.6)
	if !bytes.Equal(row, og.Pix[:len(row)]) {
		t.Error("OverlayRow differs from Overlay's first row")
	}
	bar := ColorScale(10, 2)
	if bar.Bounds().Dx() != 10 || bar.RGBAAt(0, 0).R >= bar.RGBAAt(9, 0).R {
		t.Errorf("horizontal colour scale must go from dark to bright")
	}
	vbar := ColorScale(2, 10)
	if vbar.RGBAAt(0, 9).G >= vbar.RGBAAt(0, 0).G {
		t.Errorf("vertical colour scale must be bright at the top")
	}
}

func TestOcclusionWindow(t *testing.T) {
	if w, s := OcclusionWindow(224, 224); w != 28 || s != 14 {
		t.Errorf("OcclusionWindow(224,224) = %d, %d; want 28, 14", w, s)
	}
	if w, s := OcclusionWindow(3, 2); w != 1 || s != 1 {
		t.Errorf("OcclusionWindow(3,2) = %d, %d; want 1, 1", w, s)
	}
}

func TestModelMatchesPyTorch(t *testing.T) {
	needRuntime(t)
	ref := loadReference(t)
	eng, err := NewEngine(Options{Device: DeviceCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	models := map[string]*Model{}
	for _, c := range ref.Cases {
		t.Run(c.Model+"/"+c.Image, func(t *testing.T) {
			m := models[c.Model]
			if m == nil {
				m = loadFixture(t, c.Model)
				models[c.Model] = m
			}
			img := loadPNG(t, c.Image)
			preds, err := eng.Classify(context.Background(), m, []image.Image{img, img}, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(preds) != 2 {
				t.Fatalf("got %d predictions for 2 images", len(preds))
			}
			p := preds[1]
			if d := maxAbsDiff(p.Logits, c.Logits); d > 1e-4 {
				t.Errorf("logits %v differ from PyTorch's %v by %g", p.Logits, c.Logits, d)
			}
			probs := make([]float64, len(p.Classes))
			for i, cp := range p.Classes {
				probs[i] = cp.Probability
			}
			if d := maxAbsDiff(probs, c.Probabilities); d > 1e-4 {
				t.Errorf("probabilities %v differ from PyTorch's %v by %g", probs, c.Probabilities, d)
			}
			if p.Device != "cpu" {
				t.Errorf("device %q, want cpu", p.Device)
			}
			if p.ModelID != c.Model || p.ModelVersion != "0.0.1" {
				t.Errorf("model identity %q %q", p.ModelID, p.ModelVersion)
			}
			if want := m.Manifest.Classes[c.Label].ID; p.Label != want {
				t.Errorf("label %q, want %q", p.Label, want)
			}
			s := p.Saliency
			b := img.Bounds()
			if s == nil || s.Width < 1 || s.Height < 1 || len(s.Values) != s.Width*s.Height {
				t.Fatalf("saliency %+v, want a grid", s)
			}
			wantMethod := SaliencyOcclusion
			if c.CAM != nil {
				wantMethod = SaliencyCAM
			}
			if s.Method != wantMethod || s.Class != p.Label {
				t.Errorf("saliency method %q class %q, want %q %q", s.Method, s.Class, wantMethod, p.Label)
			}
			if c.CAM != nil {
				// The reference is PyTorch's interpolate of the CAM to the image's size.
				if d := maxAbsDiff(resample(s, b.Dx(), b.Dy()), c.Saliency); d > 1e-4 {
					t.Errorf("CAM saliency sampled at the image's pixels differs from PyTorch's interpolate by %g", d)
				}
			} else {
				// The Python reference is at the model's input size, the map's own grid.
				in := m.Manifest.Input
				if s.Width != in.Width || s.Height != in.Height {
					t.Fatalf("occlusion grid %d×%d, want the input's %d×%d", s.Width, s.Height, in.Width, in.Height)
				}
				if d := maxAbsDiff(s.Values, c.Saliency); d > 1e-3 {
					t.Errorf("occlusion map differs from the Python reference by %g", d)
				}
			}
		})
	}
	// Raw CAM output against PyTorch's.
	for _, c := range ref.Cases {
		if c.CAM == nil {
			continue
		}
		m := models[c.Model]
		s, err := eng.session(m)
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		bt, err := s.tensorsFor(1)
		if err == nil {
			in := m.Manifest.Input
			err = Preprocess(loadPNG(t, c.Image), in, m.Manifest.Preprocessing, bt.input.GetData())
		}
		var cams []float32
		var h, w int
		if err == nil {
			var r runOutputs
			r, err = s.run(bt)
			cams, h, w = r.cams, r.camH, r.camW
		}
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if h != c.CAMShape[2] || w != c.CAMShape[3] {
			t.Errorf("%s: cam %dx%d, want %dx%d", c.Image, w, h, c.CAMShape[3], c.CAMShape[2])
		}
		if d := maxAbsDiff(cams, c.CAM); d > 1e-4 {
			t.Errorf("%s: raw CAM differs from PyTorch's by %g", c.Image, d)
		}
	}
}

func TestClassifyCancelled(t *testing.T) {
	needRuntime(t)
	eng, err := NewEngine(Options{Device: DeviceCPU, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := loadPNG(t, "parity_rgb.png")
	preds, err := eng.Classify(ctx, loadFixture(t, "tiny-cam"), []image.Image{img, img}, false)
	if !errors.Is(err, context.Canceled) || len(preds) != 0 {
		t.Errorf("cancelled classify: %d predictions, err %v", len(preds), err)
	}
}

func TestDevices(t *testing.T) {
	needRuntime(t)
	m := loadFixture(t, "tiny-cam")
	cuda, err := NewEngine(Options{Device: DeviceCUDA})
	if err != nil {
		t.Fatal(err)
	}
	defer cuda.Close()
	cudaDev, cudaErr := cuda.Device(m)
	auto, err := NewEngine(Options{Device: DeviceAuto})
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	autoDev, err := auto.Device(m)
	if err != nil {
		t.Fatalf("auto must fall back to the CPU: %v", err)
	}
	if cudaErr == nil {
		if cudaDev != "cuda" || autoDev != "cuda" {
			t.Errorf("CUDA works, but cuda reports %q and auto %q", cudaDev, autoDev)
		}
		return
	}
	t.Logf("no CUDA here: %v", cudaErr)
	if !errors.Is(cudaErr, ErrDeviceUnavailable) || !strings.Contains(cudaErr.Error(), "--device cpu") {
		t.Errorf("cuda error %q must wrap ErrDeviceUnavailable and say what to do", cudaErr)
	}
	if autoDev != "cpu" {
		t.Errorf("auto without CUDA reports %q, want cpu", autoDev)
	}
	if _, err := ParseDevice("gpu"); !errors.Is(err, ErrDeviceUnavailable) {
		t.Errorf("ParseDevice(gpu) = %v", err)
	}
}

// TestRuntimeMissing runs in a child process, because the runtime is initialised once per process.
func TestRuntimeMissing(t *testing.T) {
	if os.Getenv("TUMORTRACER_TEST_CHILD") == "1" {
		_, err := InitRuntime(filepath.Join(t.TempDir(), "no-such-libonnxruntime.so"))
		if !errors.Is(err, ErrRuntimeMissing) {
			t.Fatalf("got %v, want ErrRuntimeMissing", err)
		}
		_, err = NewEngine(Options{LibraryPath: "/nonexistent/libonnxruntime.so.1"})
		if !errors.Is(err, ErrRuntimeMissing) || !strings.Contains(err.Error(), "--ort-lib") {
			t.Fatalf("NewEngine: got %v, want ErrRuntimeMissing naming --ort-lib", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRuntimeMissing$")
	cmd.Env = append(os.Environ(), "TUMORTRACER_TEST_CHILD=1", LibraryEnv+"=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestLibraryCandidates(t *testing.T) {
	t.Setenv(LibraryEnv, "")
	if got := LibraryCandidates("/x/lib.so"); len(got) != 1 || got[0] != "/x/lib.so" {
		t.Errorf("explicit path: %v", got)
	}
	t.Setenv(LibraryEnv, "/env/lib.so")
	if got := LibraryCandidates(""); len(got) != 1 || got[0] != "/env/lib.so" {
		t.Errorf("environment: %v", got)
	}
	t.Setenv(LibraryEnv, "")
	got := LibraryCandidates("")
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if len(got) < 3 || got[0] != filepath.Join(filepath.Dir(exe), "lib", libraryFileName()) {
		t.Fatalf("search order %v must start beside the executable", got)
	}
	if last := got[len(got)-1]; filepath.Base(last) != last {
		t.Errorf("the search must end with bare names for the system loader, got %q", last)
	}
	found := false
	for _, c := range got {
		if strings.Contains(c, filepath.Join("lib", "tumortracer")) {
			found = true
		}
	}
	if !found {
		t.Errorf("../lib/tumortracer/ missing from %v", got)
	}
}

const goodYAML = `id: t-model
version: 1.0.0
title: T
task: classification
modalities: [CR, DX]
input: {name: image, layout: NCHW, channels: 1, height: 8, width: 8}
preprocessing: {grayscale: pil-luma, resize: linear, mean: [0.5], std: [0.25], voi: {default: {preset: file}}}
outputs: {logits: logits, cam: cam, kind: logits, temperature: 1.0}
classes:
  - {id: normal, name: Normal}
  - {id: pneumonia, name: Pneumonia}
positive_class: pneumonia
threshold: 0.5
evaluation: {dataset: d, n: 2, accuracy: 1, macro_f1: 1, auc: 1, sensitivity: 1, specificity: 1, ece: 0, threshold: 0.5, files: test_files.txt}
sha256: 0000000000000000000000000000000000000000000000000000000000000000
`

func TestManifestValidate(t *testing.T) {
	m, err := ParseManifest([]byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	bad := strings.NewReplacer(
		"id: t-model", "id: T Model",
		"layout: NCHW", "layout: NHWC",
		"channels: 1", "channels: 2",
		"std: [0.25]", "std: [0]",
		"positive_class: pneumonia", "positive_class: cancer",
		"threshold: 0.5\nevaluation", "threshold: 1.5\nevaluation",
		"  - {id: pneumonia, name: Pneumonia}", "  - {id: normal, name: Again}",
		"temperature: 1.0", "temperature: 0",
		"files: test_files.txt", "files: ../x.txt",
		"sha256: 0000", "sha256: zz00",
	).Replace(goodYAML)
	m, err = ParseManifest([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Validate()
	if !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("bad manifest: %v, want ErrInvalidManifest", err)
	}
	for _, want := range []string{`id "T Model"`, `layout "NHWC"`, "channels 2", "std[0]", `positive_class "cancer"`,
		"threshold 1.5", `"normal" is repeated`, "temperature 0", "evaluation.files", "sha256"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error must report %q; got:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n < 10 {
		t.Errorf("want every problem reported at once, got %d lines:\n%v", n, err)
	}
	if _, err := ParseManifest([]byte("id: [unclosed")); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("malformed YAML: %v", err)
	}
}

func TestCheckTensors(t *testing.T) {
	m, err := ParseManifest([]byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	in := []TensorInfo{{Name: "image", Float32: true, Shape: []int64{-1, 1, 8, 8}}}
	out := []TensorInfo{{Name: "logits", Float32: true, Shape: []int64{-1, 2}}, {Name: "cam", Float32: true, Shape: []int64{-1, 2, 2, 2}}}
	if err := m.CheckTensors(in, out); err != nil {
		t.Fatalf("matching tensors: %v", err)
	}
	in[0] = TensorInfo{Name: "input", Float32: true, Shape: []int64{-1, 3, 8, 8}}
	out = []TensorInfo{{Name: "logits", Float32: true, Shape: []int64{-1, 4}}}
	err = m.CheckTensors(in, out)
	for _, want := range []string{`input "image" is not in the model (it has input)`, `output "logits" has shape [-1 4]`, `output "cam" is not in the model`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

func TestModelRefusedOnChecksum(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "tiny-cam", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(filepath.Join("testdata", "tiny-cam", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), onnx...)
	tampered[len(tampered)/2] ^= 1
	fsys := fstest.MapFS{
		"ok/model.yaml":       {Data: good},
		"ok/model.onnx":       {Data: onnx},
		"bad/model.yaml":      {Data: good},
		"bad/model.onnx":      {Data: tampered},
		"partial/model.yaml":  {Data: good}, // no model.onnx: ignored, not a problem
		"broken/model.yaml":   {Data: []byte("id: x\n")},
		"broken/model.onnx":   {Data: onnx},
		"README.md":           {Data: []byte("not a model")},
		"empty/.gitkeep":      {Data: nil},
		"ok/test_files.txt":   {Data: []byte("a/b.png\talpha\n")},
		"ok/extra/model.yaml": {Data: good},
	}
	if _, err := LoadModel(fsys, "bad", "mem"); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("tampered model: %v, want ErrChecksum saying it is refused", err)
	}
	c, err := LoadCatalogue(fsys)
	if err != nil {
		t.Fatal(err)
	}
	ms := c.Models()
	if len(ms) != 1 || ms[0].Manifest.ID != "tiny-cam" || ms[0].Source != "bundled" {
		t.Fatalf("catalogue = %v, want only the good tiny-cam", ms)
	}
	if len(c.Problems) != 2 {
		t.Errorf("want 2 problems (checksum, invalid manifest), got %v", c.Problems)
	}
	if _, err := c.Get("ct-lung"); !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "tiny-cam") {
		t.Errorf("Get(ct-lung) = %v, want ErrModelNotFound listing tiny-cam", err)
	}
	// The tiny-cam fixture names no evaluation files.
	if files, err := ms[0].EvalFiles(); err != nil || files != nil {
		t.Errorf("EvalFiles = %v, %v", files, err)
	}
	// User folders override bundled models of the same id.
	c, err = LoadCatalogue(fsys, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := c.Get("tiny-cam"); err != nil || m.Source != "testdata" {
		t.Errorf("user folder must replace the bundled model: %v %v", m, err)
	}
	if _, err := c.Get("tiny-occl"); err != nil {
		t.Error(err)
	}
	if _, err := LoadCatalogue(nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing --models folder must be an error")
	}
}

func TestSessionChecksTensors(t *testing.T) {
	needRuntime(t)
	onnx, err := os.ReadFile(filepath.Join("testdata", "tiny-cam", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join("testdata", "tiny-cam", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.NewReplacer("name: image", "name: pixels", "height: 20", "height: 32").Replace(string(y))
	m, err := LoadModel(fstest.MapFS{"m/model.yaml": {Data: []byte(wrong)}, "m/model.onnx": {Data: onnx}}, "m", "mem")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(Options{Device: DeviceCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, err = eng.Classify(context.Background(), m, []image.Image{loadPNG(t, "parity_rgb.png")}, false)
	if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), `input "pixels" is not in the model`) {
		t.Errorf("mismatched manifest: %v", err)
	}
}

func TestResizeLinearMatchesImaging(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][4]int{{37, 29, 24, 20}, {1500, 1200, 128, 128}, {10, 7, 31, 23}, {64, 64, 64, 17}, {5, 64, 12, 64}, {1, 1, 3, 2}, {300, 2, 7, 1},
		{224, 224, 112, 112}, {512, 512, 128, 128}, {1841, 1955, 112, 112}, {9, 9, 2, 3}, {100, 3, 5, 3}} {
		src := image.NewGray(image.Rect(0, 0, sz[0], sz[1]))
		for i := range src.Pix {
			src.Pix[i] = uint8(rng.IntN(256))
		}
		got := ResizeLinear(src, sz[2], sz[3])
		want := imaging.Resize(src, sz[2], sz[3], imaging.Linear)
		for i := 0; i < sz[2]*sz[3]; i++ {
			x, y := i%sz[2], i/sz[2]
			if g, w := got.GrayAt(x, y).Y, want.NRGBAAt(x, y).R; g != w {
				t.Fatalf("%v: pixel (%d,%d) = %d, imaging gives %d", sz, x, y, g, w)
			}
		}
	}
}

func BenchmarkPreprocess(b *testing.B) {
	in := InputSpec{Name: "image", Layout: "NCHW", Channels: 1, Height: 128, Width: 128}
	pre := Preprocessing{Mean: []float64{0.5}, Std: []float64{0.25}}
	dst := make([]float32, 128*128)
	grey := image.NewGray(image.Rect(0, 0, 1500, 1200))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i * 7)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 224, 224))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i * 7)
		if i%4 == 3 {
			rgba.Pix[i] = 255
		}
	}
	for _, c := range []struct {
		name string
		img  image.Image
	}{{"grey-1500x1200", grey}, {"rgba-224x224", rgba}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Preprocess(c.img, in, pre, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkModelImage is the decode workers' step before a model: grey and resize a display image to the model's
// input (ModelImage), for the sizes the bundled models meet: a 224×224 colour chest X-ray JPEG to the gate's and
// cxr-pneumonia's 112×112, a 512×512 CT slice (grey, and RGBA as the Kaggle PNGs decode) to ct-lung's 128×128, and
// a 1841×1955 chest CR to 112×112.
func BenchmarkModelImage(b *testing.B) {
	fill := func(pix []uint8, opaque bool) {
		for i := range pix {
			pix[i] = uint8(i*7 + i/1000)
			if opaque && i%4 == 3 {
				pix[i] = 255
			}
		}
	}
	rgba := func(w, h int) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		fill(img.Pix, true)
		return img
	}
	grey := func(w, h int) image.Image {
		img := image.NewGray(image.Rect(0, 0, w, h))
		fill(img.Pix, false)
		return img
	}
	for _, c := range []struct {
		name string
		img  image.Image
		size int
	}{
		{"rgba-224-to-112", rgba(224, 224), 112},
		{"grey-512-to-128", grey(512, 512), 128},
		{"rgba-512-to-128", rgba(512, 512), 128},
		{"grey-1841x1955-to-112", grey(1841, 1955), 112},
	} {
		in := InputSpec{Name: "image", Layout: "NCHW", Channels: 1, Height: c.size, Width: c.size}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ModelImage(c.img, in)
			}
		})
	}
}

func BenchmarkImagingResize(b *testing.B) {
	src := image.NewGray(image.Rect(0, 0, 1500, 1200))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	b.ReportAllocs()
	for b.Loop() {
		imaging.Resize(src, 128, 128, imaging.Linear)
	}
}

// BenchmarkClassify times the engine alone on images already at the model's input size (no resampling), in
// batches of 8: preprocess, forward and CAM per image. Model: $TUMORTRACER_BENCH_MODEL from
// $TUMORTRACER_BENCH_MODELS, else the tiny-cam fixture.
func BenchmarkClassify(b *testing.B) {
	needRuntime(b)
	m, err := LoadModel(os.DirFS("testdata"), "tiny-cam", "testdata")
	if dir, id := os.Getenv("TUMORTRACER_BENCH_MODELS"), os.Getenv("TUMORTRACER_BENCH_MODEL"); dir != "" && id != "" {
		m, err = LoadModel(os.DirFS(dir), id, dir)
	}
	if err != nil {
		b.Fatal(err)
	}
	eng, err := NewEngine(Options{Device: DeviceAuto, BatchSize: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	in := m.Manifest.Input
	imgs := make([]image.Image, 8)
	for i := range imgs {
		g := image.NewGray(image.Rect(0, 0, in.Width, in.Height))
		for j := range g.Pix {
			g.Pix[j] = uint8(j*7 + i*13)
		}
		imgs[i] = g
	}
	var pre, fwd, sal time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		preds, err := eng.Classify(context.Background(), m, imgs, true)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range preds {
			pre, fwd, sal = pre+p.Timing.Preprocess, fwd+p.Timing.Forward, sal+p.Timing.Saliency
			n++
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	b.ReportMetric(per(pre), "preprocess-ms/image")
	b.ReportMetric(per(fwd), "forward-ms/image")
	b.ReportMetric(per(sal), "cam-ms/image")
}

// TestAutoFallbackIsQuiet checks, in a child process whose real stderr is captured, that auto falls back to the
// CPU without ONNX Runtime printing anything.
func TestAutoFallbackIsQuiet(t *testing.T) {
	if os.Getenv("TUMORTRACER_TEST_CHILD") == "quiet" {
		eng, err := NewEngine(Options{Device: DeviceAuto})
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(os.DirFS("testdata"), "tiny-cam", "testdata")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Device(m); err != nil {
			t.Fatal(err)
		}
		return
	}
	needRuntime(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAutoFallbackIsQuiet$")
	cmd.Env = append(os.Environ(), "TUMORTRACER_TEST_CHILD=quiet")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("auto fallback wrote to stderr:\n%s", stderr.String())
	}
}

// TestPreprocessMatchesTrainingRecipe runs the training recipe's own preprocessing (training/preprocess.py) on the
// parity images and compares it with Preprocess, so that the Go side follows the recipe that trained the models,
// not only this package's fixture script. Skips when python3 with numpy and PIL is not installed.
func TestPreprocessMatchesTrainingRecipe(t *testing.T) {
	recipe, _ := filepath.Abs(filepath.Join("..", "training"))
	if _, err := os.Stat(filepath.Join(recipe, "preprocess.py")); err != nil {
		t.Skipf("training/preprocess.py not found: %v", err)
	}
	const script = `
import json, sys
sys.path.insert(0, sys.argv[1])
import preprocess
out = {}
for spec in sys.argv[2:]:
    path, w, h, c, mean, std = spec.split(",")
    g = preprocess.preprocess_file(path, int(w), int(h))
    out[spec] = [float(v) for v in preprocess.normalise(g, float(mean), float(std), int(c)).ravel()]
print(json.dumps(out))
`
	type tc struct {
		img       string
		in        InputSpec
		mean, std float64
	}
	cases := []tc{
		{"parity_rgb.png", InputSpec{Channels: 1, Height: 20, Width: 24}, 0.5, 0.25},
		{"parity_rgba.png", InputSpec{Channels: 3, Height: 16, Width: 16}, 0.45, 0.2},
		{"parity_rgb.png", InputSpec{Channels: 1, Height: 64, Width: 50}, 0.5, 0.25}, // upscaling
	}
	args := []string{"-c", script, recipe}
	for _, c := range cases {
		p, _ := filepath.Abs(filepath.Join("testdata", c.img))
		args = append(args, fmt.Sprintf("%s,%d,%d,%d,%g,%g", p, c.in.Width, c.in.Height, c.in.Channels, c.mean, c.std))
	}
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	out, err := exec.Command(python, args...).Output()
	if err != nil {
		testenv.Missing(t, "python3 with numpy and PIL not available, or training/preprocess.py failed (make deps installs them): %v", err)
	}
	var ref map[string][]float64
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		want := ref[args[3+i]]
		dst := make([]float32, c.in.Channels*c.in.Height*c.in.Width)
		pre := Preprocessing{Mean: []float64{c.mean}, Std: []float64{c.std}}
		if err := Preprocess(loadPNG(t, c.img), c.in, pre, dst); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(dst, want); d > 1e-4 {
			t.Errorf("%s at %dx%d: Go differs from training/preprocess.py by %g", c.img, c.in.Width, c.in.Height, d)
		}
	}
}

// TestLongCommandLine initialises ONNX Runtime in a child process whose command line is 200 KB long, as
// `tumortracer classify` with a few thousand paths has: ORT's environment creation parses /proc/self/cmdline with
// a recursive regex that overflowed a default 8 MiB stack (SIGSEGV) before onBigStack.
func TestLongCommandLine(t *testing.T) {
	if os.Getenv("TUMORTRACER_TEST_CHILD") == "longargs" {
		if _, err := InitRuntime(""); err != nil {
			t.Fatal(err)
		}
		return
	}
	needRuntime(t)
	long := strings.Repeat("a", 100000)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongCommandLine$", "--", long, long)
	cmd.Env = append(os.Environ(), "TUMORTRACER_TEST_CHILD=longargs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 2000 {
			out = out[:2000]
		}
		t.Fatalf("child with a 200 KB command line: %v\n%s", err, out)
	}
}

// TestModelImageKeepsPreprocess: Preprocess of the grey model-size image a batch worker makes (ModelImage) equals
// Preprocess of the display image, for grey, RGBA (opaque and translucent) and NRGBA images larger, smaller and
// as large as the input; and Luma's opaque RGBA and NRGBA loops equal the colour-model conversion of the generic
// path.
func TestModelImageKeepsPreprocess(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := InputSpec{Name: "image", Layout: "NCHW", Channels: 3, Height: 20, Width: 24}
	pre := Preprocessing{Mean: []float64{0.4, 0.5, 0.6}, Std: []float64{0.2, 0.25, 0.3}}
	for _, size := range [][2]int{{24, 20}, {61, 47}, {9, 13}} {
		rect := image.Rect(0, 0, size[0], size[1])
		grey, rgba, translucent, nrgba := image.NewGray(rect), image.NewRGBA(rect), image.NewRGBA(rect), image.NewNRGBA(rect)
		for i := range grey.Pix {
			grey.Pix[i] = uint8(rng.IntN(256))
		}
		for i := 0; i < len(rgba.Pix); i += 4 {
			for c := range 3 {
				rgba.Pix[i+c] = uint8(rng.IntN(256))
				nrgba.Pix[i+c] = uint8(rng.IntN(256))
			}
			rgba.Pix[i+3], nrgba.Pix[i+3] = 255, uint8(rng.IntN(256))
			a := uint8(rng.IntN(256))
			for c := range 3 {
				translucent.Pix[i+c] = uint8(rng.IntN(int(a) + 1)) // premultiplied: colour ≤ alpha
			}
			translucent.Pix[i+3] = a
		}
		for name, img := range map[string]image.Image{"grey": grey, "rgba": rgba, "translucent": translucent, "nrgba": nrgba} {
			want := make([]float32, 3*20*24)
			got := make([]float32, len(want))
			if err := Preprocess(img, in, pre, want); err != nil {
				t.Fatal(err)
			}
			if err := Preprocess(ModelImage(img, in), in, pre, got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %v: Preprocess(ModelImage(img)) differs from Preprocess(img)", name, size)
			}
			// ModelImage greys a colour image row by row as it resizes: the same as greying it first.
			if !bytes.Equal(ModelImage(img, in).Pix, ResizeLinear(Luma(img), in.Width, in.Height).Pix) {
				t.Errorf("%s %v: ModelImage differs from ResizeLinear(Luma(img))", name, size)
			}
			// A display image carrying its model image gives the same input without making it again, and is the
			// display image to everyone else; a model image of another size is not taken for this input.
			carrying := WithModelImage(img, ModelImage(img, in))
			if err := Preprocess(carrying, in, pre, got); err != nil || !slices.Equal(got, want) || carrying.Bounds() != img.Bounds() ||
				carrying.At(3, 5) != img.At(3, 5) || ModelImage(carrying, in) != carrying.(*carried).grey {
				t.Errorf("%s %v: an image carrying its model image: %v", name, size, err)
			}
			other := WithModelImage(img, image.NewGray(image.Rect(0, 0, 5, 5)))
			if err := Preprocess(other, in, pre, got); err != nil || !slices.Equal(got, want) {
				t.Errorf("%s %v: a carried model image of another size was used: %v", name, size, err)
			}
			// A sub-image is read from its own bounds (its Pix starts at its first pixel).
			sub := img.(interface {
				SubImage(image.Rectangle) image.Image
			}).SubImage(image.Rect(2, 3, size[0], size[1]))
			if err := Preprocess(sub, in, pre, got); err != nil {
				t.Fatal(err)
			}
			copied := image.NewNRGBA(image.Rect(0, 0, size[0]-2, size[1]-3))
			for y := range size[1] - 3 {
				for x := range size[0] - 2 {
					copied.Set(x, y, sub.At(x+2, y+3))
				}
			}
			if err := Preprocess(copied, in, pre, want); err != nil || (name != "translucent" && !slices.Equal(got, want)) {
				t.Errorf("%s %v: a sub-image differs from its copy: %v", name, size, err)
			}
			// The generic path (an image type Luma has no loop for) must agree with the typed loops. (Translucent
			// RGBA is left out: the two undo premultiplication with 8- and 16-bit arithmetic, and the renderer only
			// makes opaque images.)
			generic := Luma(struct{ image.Image }{img})
			if name != "translucent" && !bytes.Equal(Luma(img).Pix, generic.Pix) {
				t.Errorf("%s %v: Luma's typed loop differs from the colour-model path", name, size)
			}
		}
	}
}
