package inference

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// readFixtureFiles returns the files of one fixture model folder keyed by name.
func readFixtureFiles(t *testing.T, id string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(filepath.Join("testdata", id))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", id, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

func TestFeaturesMatchPyTorch(t *testing.T) {
	needRuntime(t)
	ref := loadReference(t)
	eng, err := NewEngine(Options{Device: DeviceCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	feat := loadFixture(t, "tiny-feat")
	sc, err := feat.LoadScope()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range ref.Cases {
		if c.Model != "tiny-feat" {
			continue
		}
		checked++
		img := loadPNG(t, c.Image)
		// Batches of one and of three (preallocated tensors of two sizes) give the same features per image.
		for _, n := range []int{1, 3} {
			imgs := make([]image.Image, n)
			for i := range imgs {
				imgs[i] = img
			}
			preds, err := eng.Classify(context.Background(), feat, imgs, false)
			if err != nil {
				t.Fatal(err)
			}
			p := preds[n-1]
			if d := maxAbsDiff(p.Features, c.Features); d > 1e-4 {
				t.Errorf("%s batch %d: features %v differ from PyTorch's %v by %g", c.Image, n, p.Features, c.Features, d)
			}
			if d := maxAbsDiff(p.Logits, c.Logits); d > 1e-4 {
				t.Errorf("%s batch %d: logits differ from PyTorch's by %g", c.Image, n, d)
			}
			s, err := sc.Score(p.Features)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(s.D2-c.ScopeD2) > 1e-4*math.Max(1, c.ScopeD2) {
				t.Errorf("%s: d2 %v, Python's scope.d2 %v", c.Image, s.D2, c.ScopeD2)
			}
			if s.Nearest != c.ScopeNearest || s.Threshold != sc.Spec.Threshold || s.InScope != (s.D2 <= sc.Spec.Threshold) {
				t.Errorf("%s: score %+v, want nearest %s and the verdict of threshold %v", c.Image, s, c.ScopeNearest, sc.Spec.Threshold)
			}
		}
	}
	if checked != 2 {
		t.Fatalf("checked %d tiny-feat reference cases, want 2", checked)
	}
	// A model without a features output gives none.
	preds, err := eng.Classify(context.Background(), loadFixture(t, "tiny-cam"), []image.Image{loadPNG(t, "parity_rgb.png")}, true)
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Features != nil {
		t.Errorf("tiny-cam declares no features, got %v", preds[0].Features)
	}
}

func TestScopeScore(t *testing.T) {
	sc, err := loadFixture(t, "tiny-feat").LoadScope()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Dim != 8 || len(sc.Spec.Centres) != 3 || sc.Spec.ModelID != "tiny-feat" || !(sc.Spec.Threshold > 0) {
		t.Fatalf("spec %+v", sc.Spec)
	}
	// A class mean is at distance 0 from itself: in scope, nearest that class.
	for k, mu := range sc.means {
		f := make([]float32, len(mu))
		for i, v := range mu {
			f[i] = float32(v)
		}
		s, err := sc.Score(f)
		if err != nil {
			t.Fatal(err)
		}
		if s.D2 > 1e-9*sc.mpm[k] || !s.InScope || s.Nearest != sc.Spec.Centres[k] {
			t.Errorf("centre %d: %+v, want d2 0 in scope nearest %s", k, s, sc.Spec.Centres[k])
		}
	}
	// Far from every mean: the distance grows with the square of the offset, out of scope.
	far := make([]float32, 8)
	for i := range far {
		far[i] = float32(sc.means[0][i]) + 1000
	}
	s, err := sc.Score(far)
	if err != nil || s.InScope || s.D2 <= sc.Spec.Threshold {
		t.Errorf("far vector: %+v, %v; want out of scope", s, err)
	}
	// Hand-worked values with two centres (0,0) and (10,0).
	two := func(precision ...float64) *Scope {
		s := &Scope{Spec: ScopeSpec{Dim: 2, Threshold: 4, Centres: []string{"a", "b"}}, means: [][]float64{{0, 0}, {10, 0}},
			precision: precision}
		s.prepare()
		return s
	}
	// P = I: the squared Euclidean distance, 3² + 1² to b.
	if s, _ := two(1, 0, 0, 1).Score([]float32{7, 1}); s.D2 != 10 || s.Nearest != "b" || s.InScope {
		t.Errorf("identity scope at (7,1): %+v, want d2 10 nearest b out of scope", s)
	}
	// x varies twice as much as y: its distance counts a quarter. (6,1): 36/4+1 = 10 to a, 16/4+1 = 5 to b.
	if s, _ := two(0.25, 0, 0, 1).Score([]float32{6, 1}); s.D2 != 5 || s.Nearest != "b" || s.InScope {
		t.Errorf("scaled scope at (6,1): %+v, want d2 5 nearest b out of scope", s)
	}
	// Correlated: P = [[2,1],[1,2]]; (1,-1) from a: 2-1-1+2 = 2, in scope.
	if s, _ := two(2, 1, 1, 2).Score([]float32{1, -1}); math.Abs(s.D2-2) > 1e-12 || s.Nearest != "a" || !s.InScope {
		t.Errorf("correlated scope at (1,-1): %+v, want d2 2 nearest a in scope", s)
	}
	if _, err := sc.Score(make([]float32, 7)); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("7 features for 8: %v", err)
	}
	nan := make([]float32, 8)
	nan[3] = float32(math.NaN())
	if _, err := sc.Score(nan); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("NaN features: %v", err)
	}
}

func TestScopeRefused(t *testing.T) {
	feat := readFixtureFiles(t, "tiny-feat")
	cam := readFixtureFiles(t, "tiny-cam")
	tampered := append([]byte(nil), feat["scope.bin"]...)
	tampered[20] ^= 1
	fsys := fstest.MapFS{
		"none/model.yaml":     {Data: feat["model.yaml"]},
		"none/model.onnx":     {Data: feat["model.onnx"]},
		"other/model.yaml":    {Data: cam["model.yaml"]},
		"other/model.onnx":    {Data: cam["model.onnx"]},
		"other/scope.yaml":    {Data: feat["scope.yaml"]},
		"other/scope.bin":     {Data: feat["scope.bin"]},
		"tampered/model.yaml": {Data: feat["model.yaml"]},
		"tampered/model.onnx": {Data: feat["model.onnx"]},
		"tampered/scope.yaml": {Data: feat["scope.yaml"]},
		"tampered/scope.bin":  {Data: tampered},
		"escape/model.yaml":   {Data: feat["model.yaml"]},
		"escape/model.onnx":   {Data: feat["model.onnx"]},
		"escape/scope.yaml":   {Data: []byte(strings.Replace(string(feat["scope.yaml"]), "stats: scope.bin", "stats: ../scope.bin", 1))},
		"wrongdim/model.yaml": {Data: feat["model.yaml"]},
		"wrongdim/model.onnx": {Data: feat["model.onnx"]},
		"wrongdim/scope.yaml": {Data: []byte(strings.NewReplacer("dim: 8", "dim: 9", "method: mahalanobis-tied", "method: knn").Replace(string(feat["scope.yaml"])))},
		"wrongdim/scope.bin":  {Data: feat["scope.bin"]},
	}
	for dir, want := range map[string]error{"none": ErrNoScope, "other": ErrScopeMismatch, "tampered": ErrScopeMismatch,
		"escape": ErrInvalidScope, "wrongdim": ErrInvalidScope} {
		m, err := LoadModel(fsys, dir, "mem")
		if err != nil {
			t.Fatal(err)
		}
		sc, err := m.LoadScope()
		if !errors.Is(err, want) || sc != nil {
			t.Errorf("%s: %v, want %v", dir, err, want)
		}
		if dir == "other" && !strings.Contains(err.Error(), "make scope MODEL=tiny-cam") {
			t.Errorf("a mismatch must say how to refit: %v", err)
		}
		if dir == "wrongdim" && (!strings.Contains(err.Error(), `method "knn"`) || !strings.Contains(err.Error(), "scope.yaml says 3 of 9")) {
			t.Errorf("every problem at once: %v", err)
		}
	}
}

func TestGateManifest(t *testing.T) {
	g := loadFixture(t, "tiny-gate")
	if g.Manifest.Task != TaskGate || g.Manifest.Routes["chest-ct"] != "tiny-cam" || len(g.Manifest.Routes) != 2 {
		t.Fatalf("tiny-gate manifest %+v", g.Manifest)
	}
	y := string(readFixtureFiles(t, "tiny-gate")["model.yaml"])
	for _, c := range []struct{ from, to, want string }{
		{"routes: {chest-radiograph: tiny-occl, chest-ct: tiny-cam}", "", "a gate needs routes"},
		{"chest-ct: tiny-cam}", "chest-ct: tiny-cam, lung: tiny-cam}", "routes.lung is not one of the classes"},
		{"chest-ct: tiny-cam}", "chest-ct: tiny-cam, other: tiny-cam}", "at least one class without a route"},
		{"chest-ct: tiny-cam}", "chest-ct: tiny-gate}", `routes.chest-ct = "tiny-gate" must be the id of another model`},
		{"task: gate", "task: classification", "routes are only meaningful for task gate"},
		{"task: gate", "task: segmentation", `task "segmentation" is not supported`},
		{"cam: cam,", "cam: cam, features: logits,", "outputs.features names the same tensor"},
	} {
		m, err := ParseManifest([]byte(strings.Replace(y, c.from, c.to, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q → %q: %v, want %q", c.from, c.to, err, c.want)
		}
	}
	// A gate takes the most probable class, whatever the number of classes.
	two, _ := ParseManifest([]byte(strings.NewReplacer("  - {id: chest-ct, name: Chest CT slice}\n", "",
		", chest-ct: tiny-cam}", "}").Replace(y)))
	if err := two.Validate(); err != nil {
		t.Errorf("a two-class gate needs no threshold: %v", err)
	}
	if k, p := Decide(two, []float64{0.3, 0.7}); k != 1 || p != 0.7 {
		t.Errorf("two-class gate decides %d %v, want the most probable class 1", k, p)
	}
}

func TestCheckTensorsFeatures(t *testing.T) {
	m := loadFixture(t, "tiny-feat").Manifest
	in := []TensorInfo{{Name: "image", Float32: true, Shape: []int64{-1, 1, 20, 24}}}
	logits := TensorInfo{Name: "logits", Float32: true, Shape: []int64{-1, 3}}
	cam := TensorInfo{Name: "cam", Float32: true, Shape: []int64{-1, 3, 10, 12}}
	if err := m.CheckTensors(in, []TensorInfo{logits, cam, {Name: "features", Float32: true, Shape: []int64{-1, 8}}}); err != nil {
		t.Fatalf("matching tensors: %v", err)
	}
	for _, c := range []struct {
		out  []TensorInfo
		want string
	}{
		{[]TensorInfo{logits, cam}, `output "features" is not in the model (it has logits, cam)`},
		{[]TensorInfo{logits, cam, {Name: "features", Float32: true, Shape: []int64{-1, 8, 1, 1}}}, `output "features" has shape [-1 8 1 1], want [N,C]`},
		{[]TensorInfo{logits, cam, {Name: "features", Float32: false, Shape: []int64{-1, 8}}}, `output "features" is not float32`},
	} {
		if err := m.CheckTensors(in, c.out); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.out, err, c.want)
		}
	}
}

// BenchmarkScopeScore measures Scope.Score for feature widths of today's CamNet (96) and of wider 2.0 networks, with
// four class means (ct-lung's count): the cost added to each classified image by the out-of-scope check.
func BenchmarkScopeScore(b *testing.B) {
	for _, c := range []int{96, 256, 512} {
		b.Run(fmt.Sprintf("C=%d", c), func(b *testing.B) {
			s := &Scope{Spec: ScopeSpec{Dim: c, Threshold: 1, Centres: []string{"a", "b", "c", "d"}}, precision: make([]float64, c*c)}
			for k := range 4 {
				mu := make([]float64, c)
				for i := range mu {
					mu[i] = float64(k + i%7)
				}
				s.means = append(s.means, mu)
			}
			for i := range c {
				s.precision[i*c+i] = 1
			}
			s.prepare()
			f := make([]float32, c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Score(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
