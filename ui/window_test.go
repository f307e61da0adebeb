package ui

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// repoRoot is the module root, one level above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// windowCase is one real-window run: a file, and the model expected to classify it ("" when it is refused, as
// refused says; by default as gateRefusal).
type windowCase struct {
	name, file string
	overlay    bool
	args       []string // extra viewer flags (model choice)
	modelID    string
	refused    refusal
}

// refusal is what the AI panel shows for a refused image: part of its sentence, the gate's class and the start of
// the model line.
type refusal struct{ sentence, seen, modelLine string }

// gateRefusal is the panel of an image the gate itself refuses.
var gateRefusal = refusal{"does not look like a chest radiograph or a chest CT slice", "Other", "Model: none answers this image"}

// TestRealWindow starts the built viewer under Xvfb on a child's chest film in DICOM, a chest CT slice, a head CT
// and an adult's chest CR, waits for the decision, takes a screenshot with xwd and checks from its pixels that the
// image, the probability bars, the model line and the research-use line are on screen where the viewer says they
// are (TUMORTRACER_UI_STATE) — for the head CT and the adult film, which are refused, the refusal sentence where
// the bars would be, what the gate saw and "Show anyway". Screenshots are kept in artifacts/ui/ at the repository
// root (git-ignored).
func TestRealWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("real-window test skipped in -short mode")
	}
	testenv.Tools(t, windowTools...)
	root := repoRoot(t)
	cr := testenv.DataPath(t, "dicom", "fo-dicom", "CR-MONO1-10-chest")
	ct := testenv.DataPath(t, "dicom", "fo-dicom", "D_CLUNIE_CT1_RLE_FRAGS.dcm")
	head := testenv.DataPath(t, "dicom", "pydicom-data", "693_UNCI.dcm")
	ortLib := filepath.Join(root, "lib", "libonnxruntime.so.1")
	haveORT := true
	if _, err := os.Stat(ortLib); err != nil {
		haveORT = false
		t.Logf("no ONNX Runtime at %s: checking that the AI panel says so instead of a result", ortLib)
	}

	// The bundled models when they have been trained; else the inference test fixture, fixed for both files.
	// The CT starts with the saliency overlay on, so the screenshot shows it too.
	// The adult CR film is refused by the paediatric cxr-pneumonia (its out-of-scope statistics; it has no age tag).
	cases := []windowCase{{name: "child-film", file: childFilm(t)}, {name: "ct", file: ct, overlay: true},
		{name: "head-ct-refused", file: head}, {name: "adult-cr-refused", file: cr, refused: refusal{
			"lies outside what cxr-pneumonia was trained on", "Chest radiograph", "Model: none answers (cxr-pneumonia "}}}
	bundled := func(id string) bool {
		_, err := os.Stat(filepath.Join(root, "models", id, "model.onnx"))
		return err == nil
	}
	if bundled("cxr-pneumonia") && bundled("ct-lung") && bundled("gate") {
		cases[0].modelID, cases[1].modelID = "cxr-pneumonia", "ct-lung"
	} else {
		t.Logf("bundled models not trained yet: using the inference test fixture tiny-cam for the chest files")
		fixture := []string{"--models", filepath.Join(root, "inference", "testdata", "tiny-cam"), "--model", "tiny-cam"}
		cases = cases[:2]
		for i := range cases {
			cases[i].args, cases[i].modelID = fixture, "tiny-cam"
		}
	}

	bin := buildViewer(t)
	artefacts := filepath.Join(root, "artifacts", "ui")
	if err := os.MkdirAll(artefacts, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shot := filepath.Join(artefacts, "window-"+c.name+".png")
			args := append([]string{}, c.args...)
			if c.overlay && haveORT {
				args = append(args, "--overlay")
			}
			st, launched := runWindow(t, bin, ortLib, haveORT, shot, append(args, c.file))
			img := readPNG(t, shot)
			t.Logf("screenshot %s (%dx%d); first frame %.0f ms, first image %.0f ms, result %.0f ms after launch",
				shot, img.Bounds().Dx(), img.Bounds().Dy(), ms(st.FirstFrameNS-launched), ms(st.FirstImageNS-launched), ms(st.ResultNS-launched))
			checkImageRegion(t, img, st, c.overlay && haveORT)
			checkDisclaimer(t, img, st)
			if !haveORT {
				if !strings.Contains(st.Error, "ONNX Runtime") {
					t.Fatalf("without ONNX Runtime the AI panel says %q, want the sentence naming the library", st.Error)
				}
				return
			}
			if st.Error != "" {
				t.Fatalf("classification failed in the window: %s", st.Error)
			}
			if c.modelID == "" {
				checkRefusal(t, img, st, c.refused)
				return
			}
			checkModelLine(t, img, st, c.modelID)
			checkBars(t, img, st)
		})
	}
}

// buildViewer builds the viewer from the repository into a scratch folder and returns its path.
func buildViewer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tumortracer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the viewer: %v\n%s", err, out)
	}
	return bin
}

// windowTools are the programs a real-window test drives (make deps installs xvfb, x11-apps and imagemagick).
var windowTools = []string{"xvfb-run", "xwd", "convert"}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// runWindow runs the viewer under Xvfb until its state file shows a result (or an error), screenshots its window
// and returns the state and the launch time (Unix ns). The viewer runs in a scratch working directory with the
// user's environment (testenv.UserEnviron) plus TUMORTRACER_ORT_LIB=ortLib; with ortLib "" it must find ONNX
// Runtime by itself, as a user's copy does.
func runWindow(t *testing.T, bin, ortLib string, haveORT bool, shot string, args []string) (uiState, int64) {
	t.Helper()
	// The loop waits for result_ns (or, without ONNX Runtime, for the panel's error) and the bars.
	want := `"result_ns"`
	if !haveORT {
		want = `"error"`
	}
	return runWindowUntil(t, bin, ortLib, haveORT, shot, args, fmt.Sprintf(`grep -q '%s' STATE && grep -q '"bars"\|"error"\|"refusal"' STATE`, want), 600)
}

// runWindowUntil is runWindow with the shell condition on the state file (STATE in it names the file) that ends
// the wait, checked every 0.1 s at most polls times; then half a second for the paint before the screenshot.
func runWindowUntil(t *testing.T, bin, ortLib string, haveORT bool, shot string, args []string, until string, polls int) (uiState, int64) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	script := filepath.Join(dir, "run.sh")
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	body := fmt.Sprintf(`#!/bin/sh
date +%%s%%N > %[1]s/launched
%[2]s %[3]s > %[1]s/app.log 2>&1 &
pid=$!
i=0
while [ $i -lt %[7]d ]; do
  if [ -f %[4]s ] && %[5]s; then break; fi
  if ! kill -0 $pid 2>/dev/null; then echo "viewer exited early"; cat %[1]s/app.log; exit 3; fi
  sleep 0.1; i=$((i+1))
done
sleep 0.7
xwd -silent -name TumorTracer -out %[1]s/shot.xwd || xwd -silent -root -out %[1]s/shot.xwd
kill $pid
wait $pid 2>/dev/null
convert xwd:%[1]s/shot.xwd %[6]s
`, dir, bin, strings.Join(quoted, " "), state, strings.ReplaceAll(until, "STATE", state), shot, polls)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("xvfb-run", "-a", "-s", "-screen 0 1400x900x24", script)
	cmd.Dir = dir
	cmd.Env = append(testenv.UserEnviron(), StateEnv+"="+state)
	switch {
	case !haveORT:
		cmd.Env = append(cmd.Env, "TUMORTRACER_ORT_LIB="+filepath.Join(dir, "missing", "libonnxruntime.so.1"))
	case ortLib != "":
		cmd.Env = append(cmd.Env, "TUMORTRACER_ORT_LIB="+ortLib)
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(polls)/10*time.Second + 60*time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the viewer under Xvfb did not finish within %d s", polls/10+60)
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "app.log"))
		t.Fatalf("viewer under Xvfb: %v\n%s\napp log:\n%s", err, out, log)
	}
	var st uiState
	b, rerr := os.ReadFile(state)
	if rerr != nil {
		t.Fatalf("read the viewer's state: %v", rerr)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("parse the viewer's state: %v\n%s", err, b)
	}
	lb, _ := os.ReadFile(filepath.Join(dir, "launched"))
	var launched int64
	fmt.Sscan(strings.TrimSpace(string(lb)), &launched)
	return st, launched
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

func rgb(img image.Image, x, y int) (int, int, int) {
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	return int(c.R), int(c.G), int(c.B)
}

// checkImageRegion: the image rectangle holds a grey picture with real structure (many grey levels, a spread of
// brightness), and the viewport beside it is black.
func checkImageRegion(t *testing.T, img image.Image, st uiState, overlay bool) {
	t.Helper()
	r := st.Image
	if r.W < 200 || r.H < 200 {
		t.Fatalf("image drawn at %+v: too small or missing (view %+v)", r, st.View)
	}
	levels := map[int]int{}
	var sum, sum2 float64
	n, tinted, all := 0, 0, 0
	for y := r.Y + 2; y < r.Y+r.H-2; y += 3 {
		for x := r.X + 2; x < r.X+r.W-2; x += 3 {
			cr, cg, cb := rgb(img, x, y)
			all++
			if cr != cg || cg != cb {
				tinted++
				if overlay {
					cr = (cr + cg + cb) / 3 // the grey picture shows through the overlay
				} else {
					continue // corner text over the image
				}
			}
			levels[cr]++
			sum += float64(cr)
			sum2 += float64(cr * cr)
			n++
		}
	}
	if overlay && tinted < all/5 {
		t.Fatalf("overlay on, but only %d of %d sampled image pixels are coloured", tinted, all)
	}
	if !overlay && tinted > all/20 {
		t.Fatalf("overlay off, but %d of %d sampled image pixels are coloured", tinted, all)
	}
	mean := sum / float64(n)
	sd := math.Sqrt(sum2/float64(n) - mean*mean)
	if len(levels) < 40 || sd < 20 {
		t.Fatalf("image region %+v: %d grey levels, sd %.1f — not a displayed scan", r, len(levels), sd)
	}
	// The viewport's margin (left of the image when it is narrower than the view) is black.
	if r.X-st.View.X > 20 {
		x := st.View.X + (r.X-st.View.X)/2
		if cr, cg, cb := rgb(img, x, r.Y+r.H/2); cr+cg+cb > 30 {
			t.Fatalf("viewport margin at (%d,%d) is (%d,%d,%d), want black", x, r.Y+r.H/2, cr, cg, cb)
		}
	}
}

// textPixels counts pixels in r brighter than the background by a margin, i.e. glyphs.
func textPixels(img image.Image, r rect, pred func(r, g, b int) bool) int {
	n := 0
	for y := r.Y; y < r.Y+r.H; y++ {
		for x := r.X; x < r.X+r.W; x++ {
			if pred(rgb(img, x, y)) {
				n++
			}
		}
	}
	return n
}

func checkDisclaimer(t *testing.T, img image.Image, st uiState) {
	t.Helper()
	if st.Disclaimer.Text != "Research use only — not for diagnosis." {
		t.Fatalf("disclaimer text %q", st.Disclaimer.Text)
	}
	// Warning orange glyphs: red well above blue.
	n := textPixels(img, st.Disclaimer.rect, func(r, g, b int) bool { return r > 150 && r-b > 80 })
	if n < 150 {
		t.Fatalf("disclaimer region %+v has %d orange text pixels, want the research-use line drawn", st.Disclaimer.rect, n)
	}
}

func checkModelLine(t *testing.T, img image.Image, st uiState, modelID string) {
	t.Helper()
	if !strings.HasPrefix(st.ModelLine.Text, "Model: ") || !strings.Contains(st.ModelLine.Text, "("+modelID+")") {
		t.Fatalf("model line %q does not name model %s", st.ModelLine.Text, modelID)
	}
	n := textPixels(img, st.ModelLine.rect, func(r, g, b int) bool { return r > 150 && g > 150 && b > 150 })
	if n < 150 {
		t.Fatalf("model line region %+v has %d light text pixels, want the line drawn", st.ModelLine.rect, n)
	}
}

// checkRefusal: a refused image's panel names no model, shows the refusal sentence where the bars would be (drawn
// in the warning colour), what the gate saw and "Show anyway".
func checkRefusal(t *testing.T, img image.Image, st uiState, want refusal) {
	t.Helper()
	if want == (refusal{}) {
		want = gateRefusal
	}
	if st.Refusal == nil || !strings.Contains(st.Refusal.Text, want.sentence) ||
		len(st.Bars) != 0 || !strings.HasPrefix(st.Gate, "Seen as: "+want.seen+" (") || !st.ShowAnyway ||
		!strings.HasPrefix(st.ModelLine.Text, want.modelLine) {
		t.Fatalf("refused image: refusal %+v, %d bars, gate line %q, Show anyway %v, model line %q", st.Refusal, len(st.Bars),
			st.Gate, st.ShowAnyway, st.ModelLine.Text)
	}
	n := textPixels(img, st.Refusal.rect, func(r, g, b int) bool { return r > 150 && r-b > 80 })
	if n < 300 {
		t.Fatalf("refusal region %+v has %d warning-coloured text pixels, want the sentence drawn", st.Refusal.rect, n)
	}
}

// checkBars: every bar's filled part (from its left edge to prob × width) is blue or green, the rest the dark
// track, so the drawn lengths match the probabilities.
func checkBars(t *testing.T, img image.Image, st uiState) {
	t.Helper()
	if len(st.Bars) < 2 {
		t.Fatalf("%d probability bars, want one per class", len(st.Bars))
	}
	sum := 0.0
	for _, b := range st.Bars {
		sum += b.Prob
		y := b.Y + b.H/2
		fillEnd := b.X + int(float64(b.W)*b.Prob)
		isFill := func(x int) bool {
			r, g, bl := rgb(img, x, y)
			return (bl > 150 && bl-r > 60) || (g > 150 && g-r > 60) // blue bar, or the green top-class bar
		}
		isTrack := func(x int) bool {
			r, g, bl := rgb(img, x, y)
			return r < 70 && g < 70 && bl < 70 && r == g && g == bl
		}
		if fillEnd-b.X > 6 && !isFill(b.X+(fillEnd-b.X)/2) {
			r, g, bl := rgb(img, b.X+(fillEnd-b.X)/2, y)
			t.Errorf("bar %s (p %.3f): middle of the filled part is (%d,%d,%d), want the bar colour", b.Class, b.Prob, r, g, bl)
		}
		if b.X+b.W-fillEnd > 6 && !isTrack((fillEnd+b.X+b.W)/2) && (b.Threshold == 0) {
			r, g, bl := rgb(img, (fillEnd+b.X+b.W)/2, y)
			t.Errorf("bar %s (p %.3f): unfilled part is (%d,%d,%d), want the dark track", b.Class, b.Prob, r, g, bl)
		}
		// The measured fill length matches the probability within 3 pixels. The captured rectangle may start a
		// pixel before the drawn bar (positions in Fyne units are fractional): the fill may start up to 2 px in.
		x := b.X
		for x < b.X+2 && !isFill(x) {
			x++
		}
		if !isFill(x) {
			x = b.X
		}
		for x < b.X+b.W && isFill(x) {
			x++
		}
		if b.Threshold > 0 && math.Abs(float64(x-fillEnd)) > 3 {
			// The threshold tick may interrupt the fill; measure up to it.
			tick := b.X + int(float64(b.W)*b.Threshold)
			if x >= tick-2 && x <= tick+2 && fillEnd > tick {
				continue
			}
		}
		if math.Abs(float64(x-fillEnd)) > 3 {
			t.Errorf("bar %s: filled %d px, want %d (p %.3f of %d px)", b.Class, x-b.X, fillEnd-b.X, b.Prob, b.W)
		}
	}
	if math.Abs(sum-1) > 1e-3 {
		t.Errorf("bar probabilities sum to %g, want 1", sum)
	}
}
