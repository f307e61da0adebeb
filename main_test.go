package main

import (
	"bytes"
	"encoding/csv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// TestBuiltBinaryClassifies is the README's path as a newcomer walks it: `make build` (which `make test` runs
// first), then `./bin/tumortracer classify --model cxr-pneumonia FILE`, with no TUMORTRACER_ORT_LIB (make test
// exports it; a user has none) and no LD_LIBRARY_PATH, from a working directory outside the checkout. The binary
// must find ONNX Runtime through its own lookup (bin/lib, which make build links to lib/) and run the gate and the
// model on a phantom drawn by packaging/phantom. The gate sees no chest film in the drawing (it looks like a CT
// slice to it), so the answer comes only with --allow-out-of-scope and is marked out of scope; without it the
// phantom is refused with the reason (exit 0: a refusal is an answer). A copy of the same binary in a folder
// without lib/ must fail with the library's sentence: that proves the success came from bin/lib and not from a
// library somewhere on the system.
func TestBuiltBinaryClassifies(t *testing.T) {
	bin := testenv.Binary(t)
	away := t.TempDir()
	xray := filepath.Join(away, "phantom-chest-xray.dcm")
	testenv.Phantom(t, "cxr", xray)

	run := func(bin string, args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = away
		cmd.Env = testenv.UserEnviron()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatalf("run %s: %v", bin, err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	code, stdout, stderr := run(bin, "classify", "--model", "cxr-pneumonia", "phantom-chest-xray.dcm")
	if rec := onlyRecord(t, stdout); code != 0 || rec["status"] != "refused" || rec["seen_as"] == "" || rec["gate"] == "" ||
		!strings.Contains(rec["reason"], "--allow-out-of-scope") {
		t.Fatalf("%s classify --model cxr-pneumonia phantom-chest-xray.dcm: exit %d, want 0 and a refusal with its reason\nstdout:\n%s\nstderr:\n%s",
			bin, code, stdout, stderr)
	}
	code, stdout, stderr = run(bin, "classify", "--model", "cxr-pneumonia", "--allow-out-of-scope", "phantom-chest-xray.dcm")
	if code != 0 {
		t.Fatalf("%s classify --model cxr-pneumonia --allow-out-of-scope phantom-chest-xray.dcm: exit %d\nstdout:\n%s\nstderr:\n%s", bin, code, stdout, stderr)
	}
	rec := onlyRecord(t, stdout)
	for col, want := range map[string]string{"path": "phantom-chest-xray.dcm", "status": "ok", "error": "", "model": "cxr-pneumonia", "out_of_scope": "true"} {
		if rec[col] != want {
			t.Errorf("column %s = %q, want %q (record %v)", col, rec[col], want, rec)
		}
	}
	if rec["device"] != "cpu" && rec["device"] != "cuda" {
		t.Errorf("device %q, want cpu or cuda", rec["device"])
	}
	pn, errN := strconv.ParseFloat(rec["p_normal"], 64)
	pp, errP := strconv.ParseFloat(rec["p_pneumonia"], 64)
	if errN != nil || errP != nil || pn < 0 || pp < 0 || pn+pp < 0.999 || pn+pp > 1.001 {
		t.Errorf("class probabilities p_normal=%q p_pneumonia=%q, want two probabilities summing to 1", rec["p_normal"], rec["p_pneumonia"])
	}
	if top := map[bool]string{true: "pneumonia", false: "normal"}[pp > pn]; rec["label"] != top {
		t.Errorf("label %q, but the larger probability is %s's", rec["label"], top)
	}

	// The control: the same binary without lib/ beside it.
	alone := filepath.Join(t.TempDir(), "tumortracer")
	if err := os.Link(bin, alone); err != nil {
		copyExecutable(t, bin, alone)
	}
	code, stdout, stderr = run(alone, "classify", "--model", "cxr-pneumonia", "phantom-chest-xray.dcm")
	if code == 0 || !strings.Contains(stdout+stderr, "ONNX Runtime") {
		t.Fatalf("a copy of the binary with no lib/ beside it: exit %d, want a failure naming ONNX Runtime — "+
			"the library was found elsewhere, so the run above proves nothing about bin/lib\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// onlyRecord parses classify's CSV and returns its single record by column name.
func onlyRecord(t *testing.T, out string) map[string]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("classify printed %d CSV rows (%v), want a header and one record:\n%s", len(rows), err, out)
	}
	rec := map[string]string{}
	for i, col := range rows[0] {
		rec[col] = rows[1][i]
	}
	return rec
}

func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
