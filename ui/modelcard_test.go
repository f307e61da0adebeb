package ui

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
)

// TestFiguresListTheCardImages checks that the model-card dialog gets every figure evaluate.py writes beside a
// model, the reliability diagram included, and nothing for images that are absent.
func TestFiguresListTheCardImages(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"roc.png", "reliability.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := figures(&inference.Model{Manifest: inference.Manifest{ID: "m"}, Source: dir})
	if len(got) != 2 || string(got["ROC curve"]) != "roc.png" || string(got["Reliability diagram"]) != "reliability.png" {
		t.Errorf("figures = %v, want the ROC curve and the reliability diagram only", got)
	}
}
