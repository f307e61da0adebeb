package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

const inferenceFixtures = "../inference/testdata"

func runVerb(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(args, about.Build{Version: "test"}, &out, &errb)
	return code, out.String(), errb.String()
}

func TestClassifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"classify"},
		{"classify", "--format", "xml", "x.png"},
		{"classify", "--device", "gpu", "x.png"},
		{"classify", "--model", "no-such-model", "x.png"},
		{"classify", "--models", "/no/such/folder", "x.png"},
		{"classify", "--bogus", "x.png"},
	} {
		if code, _, stderr := runVerb(args...); code != about.ExitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d with a message", args, code, stderr, about.ExitUsage)
		}
	}
}

func TestClassifyCommand(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	dir, work := t.TempDir(), t.TempDir()
	good := filepath.Join(dir, "good.png")
	data, _ := os.ReadFile(filepath.Join(inferenceFixtures, "parity_rgb.png"))
	os.WriteFile(good, data, 0o644)
	sal := filepath.Join(work, "sal")
	out := filepath.Join(work, "out.csv")
	// Flags after the path are accepted too.
	code, stdout, stderr := runVerb("classify", "--models", inferenceFixtures, good, "--model", "tiny-cam", "--device", "auto", "--saliency", sal, "-o", out)
	if code != about.ExitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("with -o nothing goes to stdout, got %q", stdout)
	}
	if !strings.Contains(stderr, about.Disclaimer) {
		t.Errorf("stderr %q lacks the disclaimer", stderr)
	}
	f, _ := os.Open(out)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV %v %v", rows, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	// The fixture gate (random weights) calls this PNG chest-ct, which it routes to tiny-cam: the forced model.
	if r := rows[1]; r[col["status"]] != "ok" || r[col["model"]] != "tiny-cam" || r[col["device"]] != "cpu" ||
		r[col["gate"]] != "tiny-gate@0.0.1" || r[col["seen_as"]] != "chest-ct" || r[col["out_of_scope"]] != "false" {
		t.Errorf("row %v", r)
	}
	ov, err := os.Open(filepath.Join(sal, overlayName(good)))
	if err != nil {
		t.Fatalf("saliency overlay missing: %v", err)
	}
	img, err := png.Decode(ov)
	ov.Close()
	if err != nil || img.Bounds().Dx() != 37 || img.Bounds().Dy() != 29 {
		t.Errorf("overlay %v %v, want 37×29", img.Bounds(), err)
	}
	// A bad file among good ones: exit 1, both records printed, as JSON Lines. notes.txt is no image by its
	// name and is left out of the folder, as a drop on the window leaves it out. tiny-occl is forced, but the gate
	// sends the PNG to tiny-cam: refused (an answer: exit 0 for it), or with --allow-out-of-scope answered and
	// marked out of scope.
	os.WriteFile(filepath.Join(dir, "bad.dat"), []byte("text"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("text"), 0o644)
	var rec map[string]interface{}
	code, stdout, stderr = runVerb("classify", "--models", inferenceFixtures, "--model", "tiny-occl", "--format", "json", good)
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || code != about.ExitOK || rec["status"] != "refused" ||
		rec["out_of_scope"] != true || rec["model"] != "tiny-occl" || rec["error"] != "" || rec["probability"] != nil ||
		!strings.Contains(rec["reason"].(string), "--allow-out-of-scope") || !strings.Contains(stderr, "0 classified, 1 refused, 0 failed") {
		t.Errorf("tiny-occl forced on what the gate sends to tiny-cam: exit %d, %s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runVerb("classify", "--models", inferenceFixtures, "--model", "tiny-occl", "--allow-out-of-scope", "--format", "json", dir)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != about.ExitFailed || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines: %s", code, len(lines), stdout)
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["status"] != "error" || rec["error"] != "This file is not a DICOM, PNG or JPEG file, so it cannot be shown or classified." {
		t.Errorf("first line (bad.dat) %s: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec["status"] != "ok" || rec["p_positive"] == nil || rec["frame"] != 1.0 ||
		rec["out_of_scope"] != true || !strings.Contains(rec["reason"].(string), "tiny-occl answers chest radiographs only") {
		t.Errorf("second line (good.png) %s: %v", lines[1], err)
	}
	// Without --model the gate chooses: the model its routes name for what it saw.
	code, stdout, _ = runVerb("classify", "--models", inferenceFixtures, "--format", "json", good)
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || code != about.ExitOK || rec["status"] != "ok" ||
		rec["model"] != map[string]string{"chest-ct": "tiny-cam", "chest-radiograph": "tiny-occl"}[fmt.Sprint(rec["seen_as"])] {
		t.Errorf("routed by the gate: exit %d, %s", code, stdout)
	}
	// Models added without a gate of their own: the bundled gate decides, sees no chest image in the drawn PNG and
	// refuses it (exit 0), naming the models that answer only when chosen.
	nogate := t.TempDir()
	for _, id := range []string{"tiny-cam", "tiny-occl"} {
		for _, f := range []string{"model.yaml", "model.onnx"} {
			data, _ := os.ReadFile(filepath.Join(inferenceFixtures, id, f))
			os.MkdirAll(filepath.Join(nogate, id), 0o755)
			os.WriteFile(filepath.Join(nogate, id, f), data, 0o644)
		}
	}
	code, stdout, _ = runVerb("classify", "--models", nogate, "--format", "json", good)
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || code != about.ExitOK || rec["status"] != "refused" ||
		rec["gate"] != "gate@1.1.0" || rec["seen_as"] != "other" || rec["model"] != "" ||
		!strings.Contains(rec["reason"].(string), "tiny-cam, tiny-occl when chosen") || strings.Contains(rec["reason"].(string), "Show anyway") {
		t.Errorf("the bundled gate on a drawn PNG: exit %d, %s", code, stdout)
	}
}

// TestClassifyTimings: --timings adds one JSON line on stderr with the files counted, bad ones included, and stage
// sums; the forward runs one batch at a time, so its sum cannot exceed the wall time.
func TestClassifyTimings(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	dir := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(inferenceFixtures, "parity_rgb.png"))
	os.WriteFile(filepath.Join(dir, "a.png"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "c.png"), []byte("text, not a PNG"), 0o644) // a folder's .txt would be left out
	code, _, stderr := runVerb("classify", "--timings", "--models", inferenceFixtures, "--model", "tiny-cam", dir)
	if code != about.ExitFailed {
		t.Fatalf("exit %d, want %d for the broken PNG; stderr %s", code, about.ExitFailed, stderr)
	}
	// The log lines of failed inputs come first; the timings follow the run, before the summary line.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("stderr has %d JSON lines, want the one timings object:\n%s", len(lines), stderr)
	}
	var report map[string]float64
	if err := json.Unmarshal([]byte(lines[0]), &report); err != nil {
		t.Fatalf("stderr line %q is not the timings object: %v", lines[0], err)
	}
	for _, k := range []string{"wall_ms", "decode_ms", "preprocess_ms", "forward_ms", "gate_ms"} {
		if v, ok := report[k]; !ok || v < 0 {
			t.Errorf("timings %s = %v (present %v)", k, v, ok)
		}
	}
	if report["files"] != 3 || report["wall_ms"] <= 0 || report["forward_ms"] > report["wall_ms"] || report["gate_ms"] <= 0 ||
		report["gate_ms"] > report["wall_ms"] {
		t.Errorf("timings %s: want 3 files, and forward and the gate's run within wall (the gate ran on the two PNGs)", lines[0])
	}
}

func TestOverlayName(t *testing.T) {
	for in, want := range map[string]string{
		"a/b.dcm":         "a__b.dcm.saliency.png",
		"/abs/x y/c.png":  "abs__x y__c.png.saliency.png",
		"../../up/d.jpeg": "up__d.jpeg.saliency.png",
		"./e.png":         "e.png.saliency.png",
	} {
		if got := overlayName(in); got != want {
			t.Errorf("overlayName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModelsCommand(t *testing.T) {
	code, stdout, stderr := runVerb("models", "--json", "--models", inferenceFixtures)
	if code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list []map[string]interface{}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, stdout)
	}
	byID := map[string]map[string]interface{}{}
	for _, m := range list {
		byID[m["id"].(string)] = m
	}
	m, ok := byID["tiny-occl"]
	if !ok {
		t.Fatalf("tiny-occl missing from %s", stdout)
	}
	for _, k := range []string{"id", "version", "title", "classes", "sha256", "device", "evaluation"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	ev := m["evaluation"].(map[string]interface{})
	for _, k := range []string{"dataset", "n", "accuracy", "macro_f1", "auc", "sensitivity", "specificity", "ece", "threshold", "files"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("evaluation.%s missing", k)
		}
	}
	if m["saliency"] != "occlusion" || byID["tiny-cam"]["saliency"] != "cam" {
		t.Errorf("saliency methods %v / %v", m["saliency"], byID["tiny-cam"]["saliency"])
	}
	if _, err := inference.InitRuntime(""); err == nil {
		if d := m["device"].(map[string]interface{}); d["auto"] != "cpu" && d["auto"] != "cuda" {
			t.Errorf("device %v", d)
		}
	}
	// The gate is listed with its task and routes (it is no classifier: see TestClassifyRefusesAGate).
	if g := byID["tiny-gate"]; g == nil || g["task"] != "gate" || fmt.Sprint(g["routes"]) != "map[chest-ct:tiny-cam chest-radiograph:tiny-occl]" {
		t.Errorf("gate entry %v", g)
	}
	// Each classifier's population (null: none declared) and out-of-scope check; tiny-feat has statistics.
	if byID["tiny-cam"]["population"] != nil || fmt.Sprint(byID["tiny-cam"]["scope"]) != "map[status:none]" {
		t.Errorf("tiny-cam population %v, scope %v", byID["tiny-cam"]["population"], byID["tiny-cam"]["scope"])
	}
	if s := byID["tiny-feat"]["scope"].(map[string]interface{}); s["status"] != "checked" || s["threshold"].(float64) < 11 {
		t.Errorf("tiny-feat scope %v", s)
	}
	if p := byID["cxr-pneumonia"]["population"].(map[string]interface{}); fmt.Sprint(p["views"]) != "[PA AP]" || p["description"] == "" {
		t.Errorf("cxr-pneumonia population %v", p)
	}
	code, stdout, _ = runVerb("models", "--models", inferenceFixtures)
	for _, want := range []string{"tiny-cam", "alpha,beta,gamma", "tiny-gate",
		// The fixture gate, loaded last, routes; the bundled models' populations and the fixtures' lack of one.
		"Routing: tiny-gate 0.0.1 looks at every image: chest radiograph → tiny-occl, chest CT slice → tiny-cam; anything else is refused.",
		"  cxr-pneumonia:\n    population: Children aged 1 to 5 years", "checked: age 1 to 5 years; view PA/AP; body part CHEST/THORAX/LUNG",
		"  tiny-cam:\n    population: none declared, so no population check\n    out of scope: no statistics, so no distance check",
		"  tiny-feat:\n    population: none declared, so no population check\n    out of scope: squared distance above 11.7 (fixture: accepts 90 % of 20 noise images)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q: exit %d\n%s", want, code, stdout)
		}
	}
}

// TestClassifyRefusesAGate: a gate (here the fixture tiny-gate) cannot be forced with --model, a usage error that
// names the classifiers; without --model its classes add no p_ columns.
func TestClassifyRefusesAGate(t *testing.T) {
	img := filepath.Join(inferenceFixtures, "parity_rgb.png")
	code, stdout, stderr := runVerb("classify", "--models", inferenceFixtures, "--model", "tiny-gate", img)
	if code != about.ExitUsage || stdout != "" || !strings.Contains(stderr, "decides which model may answer") ||
		!strings.Contains(stderr, "tiny-cam") || strings.Count(stderr, "tiny-gate") != 1 {
		t.Errorf("--model tiny-gate: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stdout2, _ := runVerb("classify", "--models", inferenceFixtures, img)
	header, _, _ := strings.Cut(stdout2, "\n")
	if strings.Contains(header, "p_chest-ct") || strings.Contains(header, "p_other") || !strings.Contains(header, "p_alpha") {
		t.Errorf("header without --model: %s", header)
	}
}

func TestClassifyCUDAUnavailable(t *testing.T) {
	if _, err := inference.InitRuntime(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	m, err := inference.LoadModel(os.DirFS(inferenceFixtures), "tiny-cam", "testdata")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCUDA})
	if err != nil {
		t.Fatal(err)
	}
	_, cudaErr := eng.Device(m)
	eng.Close()
	if cudaErr == nil {
		t.Skip("CUDA works here")
	}
	img := filepath.Join(inferenceFixtures, "parity_rgb.png")
	code, stdout, stderr := runVerb("classify", "--models", inferenceFixtures, "--model", "tiny-cam", "--device", "cuda", img, img)
	if code != about.ExitFailed || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--device cpu") {
		t.Errorf("--device cuda without CUDA: exit %d, stdout %q, stderr %q; want exit 1 and one clear line", code, stdout, stderr)
	}
	// auto falls back to the CPU without a word.
	code, stdout, stderr = runVerb("classify", "--models", inferenceFixtures, "--model", "tiny-cam", "--device", "auto", img)
	if code != about.ExitOK || !strings.Contains(stdout, ",cpu,") || strings.Contains(stderr, "cuda") || strings.Contains(stderr, "CUDA") {
		t.Errorf("--device auto: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
