package ui

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/cli"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/pipeline"
)

// exportRows is the window's CSV export of the batch table, by file name.
func exportRows(t *testing.T, vw *viewer) map[string]map[string]string {
	t.Helper()
	var b bytes.Buffer
	if err := vw.an.Export(&b, "csv", vw.batch.records(), false); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		rec := map[string]string{}
		for i, name := range rows[0] {
			rec[name] = r[i]
		}
		out[filepath.Base(r[0])] = rec
	}
	return out
}

// TestRefusalPanelAndShowAnyway: a file the gate refuses shows the refusal sentence where the bars would be, what
// the gate saw and "Show anyway"; its batch row says refused with the reason and the export carries it. "Show
// anyway" makes the record again with the answer, marked out of scope in the panel, the row and the export.
func TestRefusalPanelAndShowAnyway(t *testing.T) {
	eng := &scriptedEngine{}
	parts := scriptedParts(eng, nil, nil)
	parts.catalogue = gateCatalogue
	vw := newTestViewer(t, parts)
	dir := t.TempDir()
	photo, film := filepath.Join(dir, "photo.png"), filepath.Join(dir, "film.png")
	writeGreyPNG(t, photo, 13, 10, func(x, y int) uint16 { return uint16(x * 4000) })
	writeGreyPNG(t, film, 16, 16, func(x, y int) uint16 { return uint16(y * 3000) })
	vw.open([]string{photo, film})
	waitFor(t, "both records", func() bool {
		a, b := rowOf(vw, "photo.png"), rowOf(vw, "film.png")
		return a != nil && b != nil && a.result != nil && b.result != nil && vw.shown == a.result && !vw.batch.running
	})
	row := rowOf(vw, "photo.png")
	reason := "This PNG image does not look like a chest radiograph (the gate saw other, 90 %); the installed models answer only chest radiographs (cxr-test)."
	if row.status != rowRefused || row.result.rec.Reason != reason {
		t.Fatalf("photo row %v, record %+v; want refused with %q", row.status, row.result.rec, reason)
	}
	if got := vw.batch.cell(row, 2); got != "refused: "+reason {
		t.Errorf("status cell %q", got)
	}
	p := vw.ai
	if len(p.barList) != 0 || len(p.bars.Objects) != 1 || p.bars.Objects[0].(*widget.Label).Text != reason {
		t.Errorf("where the bars would be: %d bars, %v", len(p.barList), p.bars.Objects)
	}
	if !p.gateLine.Visible() || p.gateLine.Text != "Seen as: Other (90 %), by test-gate@0.9.0" || p.modelLine.Text != "Model: none answers this image" {
		t.Errorf("gate line %q (visible %v), model line %q", p.gateLine.Text, p.gateLine.Visible(), p.modelLine.Text)
	}
	if !p.anyway.Visible() || p.outMark.Visible() || p.disclaimer.Text != about.Disclaimer {
		t.Errorf("Show anyway visible %v, out-of-scope mark visible %v", p.anyway.Visible(), p.outMark.Visible())
	}
	if r := rowOf(vw, "film.png"); r.status != rowDone || r.result.rec.Gate != "test-gate@0.9.0" || r.result.rec.SeenAs != "chest-radiograph" {
		t.Errorf("film row %v %+v", r.status, r.result.rec)
	}
	if got := vw.batch.count.Text; got != "2 / 2 done, 1 refused" {
		t.Errorf("batch count %q", got)
	}
	rows := exportRows(t, vw)
	if r := rows["photo.png"]; r["status"] != "refused" || r["reason"] != reason || r["out_of_scope"] != "true" || r["seen_as"] != "other" ||
		r["model"] != "" || r["label"] != "" || r["error"] != "" {
		t.Errorf("export of the refusal %v", r)
	}
	if runs, _ := eng.counts(); runs != 1 || eng.gateImages != 2 {
		t.Errorf("classifier runs %d, gate images %d; want 1 and 2", runs, eng.gateImages)
	}

	test.Tap(p.anyway)
	waitFor(t, "the answer shown anyway", func() bool { return vw.shown != nil && !vw.shown.failed() && row.result == vw.shown })
	rec := row.result.rec
	if rec.Status != pipeline.StatusOK || !rec.OutOfScope || rec.Reason != reason || rec.Model != "cxr-test" {
		t.Fatalf("shown anyway: %+v", rec)
	}
	if !p.outMark.Visible() || p.outMark.Text != "OUT OF SCOPE — shown anyway: "+reason || len(p.barList) != 2 || p.anyway.Visible() {
		t.Errorf("panel after Show anyway: mark %q (visible %v), %d bars, button visible %v", p.outMark.Text, p.outMark.Visible(), len(p.barList), p.anyway.Visible())
	}
	if got := vw.batch.cell(row, 2); got != "done, out of scope (shown anyway): "+reason {
		t.Errorf("status cell after Show anyway %q", got)
	}
	if r := exportRows(t, vw)["photo.png"]; r["status"] != "ok" || r["out_of_scope"] != "true" || r["reason"] != reason || r["model"] != "cxr-test" || r["label"] == "" {
		t.Errorf("export after Show anyway %v", r)
	}
}

// TestCommandLineAndWindowAgree: `tumortracer classify` and the window reach the same decision for the same files —
// status, model, what the gate saw, the reason (the command line adds its hint), the label and the probabilities —
// on real images: drawn and corpus out-of-scope files, a chest CT PNG slice and a chest film JPEG from the test
// sets, chest DICOMs, an adult's film and a CT localizer. The window's records are its batch table's, the first
// file's made by the viewer itself.
func TestCommandLineAndWindowAgree(t *testing.T) {
	lib := filepath.Join(repoRoot(t), "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		testenv.Missing(t, "needs ONNX Runtime at %s (make deps): %v", lib, err)
	}
	dir := t.TempDir()
	check := filepath.Join(dir, "checkerboard.png")
	writeGreyPNG(t, check, 64, 48, func(x, y int) uint16 { return uint16(65535 * ((x/8 + y/8) % 2)) })
	files := []string{
		check,
		testenv.DataPath(t, "chest-ct", "test", "adenocarcinoma", "000108 (3).png"),
		testenv.DataPath(t, "chest-xray", "test", "NORMAL", "IM-0001-0001.jpeg"),
		childFilm(t),
		testenv.DataPath(t, "dicom", "fo-dicom", "CR-MONO1-10-chest"), // an adult's film: out of cxr-pneumonia's scope
		testenv.DataPath(t, "dicom", "fo-dicom", "D_CLUNIE_CT1_RLE_FRAGS.dcm"),
		testenv.DataPath(t, "dicom", "pydicom-data", "RG1_J2KI.dcm"),
		testenv.DataPath(t, "dicom", "fo-dicom", "GH342.dcm"),
		testenv.DataPath(t, "dicom", "pydicom-data", "693_UNCI.dcm"),
		testenv.DataPath(t, "dicom", "pydicom-data", "MR2_UNCR.dcm"),
	}
	var stdout, stderr bytes.Buffer
	code := cli.Run(append([]string{"classify", "--ort-lib", lib, "--device", "cpu", "--format", "json"}, files...), about.Build{}, &stdout, &stderr)
	if code != about.ExitOK {
		t.Fatalf("classify: exit %d\n%s", code, stderr.String())
	}
	byCLI := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		byCLI[r["path"].(string)] = r
	}

	vw := newTestViewer(t, realParts(lib, nil))
	vw.open(files)
	waitForTB(t, time.Minute, "the window's records", func() bool {
		for _, f := range files {
			if r := vw.batch.byPath[f]; r == nil || r.result == nil || r.status == rowRunning {
				return false
			}
		}
		return !vw.batch.running
	})
	statuses := map[string]int{}
	for _, f := range files {
		w, c := vw.batch.byPath[f].result.rec, byCLI[f]
		name := filepath.Base(f)
		statuses[w.Status]++
		if c == nil || c["status"] != w.Status || c["model"] != w.Model || c["seen_as"] != w.SeenAs || c["gate"] != w.Gate ||
			c["label"] != w.Label || c["out_of_scope"] != w.OutOfScope || !strings.HasPrefix(c["reason"].(string), w.Reason) {
			t.Errorf("%s: command line %v\nwindow %+v", name, c, w)
			continue
		}
		if w.Status == pipeline.StatusOK {
			for _, p := range w.Probabilities {
				if v, ok := c["p_"+p.ID].(float64); !ok || math.Abs(v-p.Probability) > 1e-6 {
					t.Errorf("%s: p_%s %v on the command line, %v in the window", name, p.ID, c["p_"+p.ID], p.Probability)
				}
			}
		}
		t.Logf("%s: %s %s %s %s", name, w.Status, w.SeenAs, w.Model, w.Reason)
	}
	if statuses[pipeline.StatusOK] != 4 || statuses[pipeline.StatusRefused] != 6 {
		t.Errorf("statuses %v, want 4 answered (CT slice, film, a child's film and a CT slice in DICOM) and 6 refused", statuses)
	}
}
