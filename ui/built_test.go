package ui

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// TestBuiltBinaryWindow is `make run ARGS=film.dcm` as a newcomer meets it: the binary `make build` produced opens
// the window under Xvfb from a working directory outside the checkout, with no TUMORTRACER_ORT_LIB and no
// LD_LIBRARY_PATH, and its AI panel must show a cxr-pneumonia result for a child's chest film in DICOM (childFilm) —
// not the sentence asking for the ONNX Runtime library. (packaging/phantom's drawn radiograph is not used here: the
// gate rightly sees no chest film in it; nor are the corpus's adult films, which the paediatric model refuses.) The
// screenshot is checked like TestRealWindow's and kept in artifacts/ui/window-built-binary.png. main_test.go's
// TestBuiltBinaryClassifies shows, with a copy of the binary that has no lib/, that the library came from the
// binary's own lookup.
func TestBuiltBinaryWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("real-window test skipped in -short mode")
	}
	bin := testenv.Binary(t)
	testenv.Tools(t, windowTools...)
	xray := childFilm(t)
	shot := filepath.Join(repoRoot(t), "artifacts", "ui", "window-built-binary.png")
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	st, launched := runWindow(t, bin, "", true, shot, []string{xray})
	if st.Error != "" {
		t.Fatalf("the AI panel of %s shows %q, want a classification", bin, st.Error)
	}
	img := readPNG(t, shot)
	t.Logf("screenshot %s; result %.0f ms after launch", shot, ms(st.ResultNS-launched))
	checkImageRegion(t, img, st, false)
	checkDisclaimer(t, img, st)
	checkModelLine(t, img, st, "cxr-pneumonia")
	checkBars(t, img, st)
}
