package ui

import (
	"image"
	"image/draw"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

// childFilm writes a chest film of the model's own population as DICOM: the pixels of a paediatric film of the
// chest X-ray test split, tagged DX, PatientAge 003Y, ViewPosition PA, BodyPartExamined CHEST (dicomsynth.Film).
// The corpus's DICOM radiographs are adults' films, which cxr-pneumonia rightly refuses (by age tag or by its
// out-of-scope statistics), so a test that wants a film answered in DICOM makes it here.
func childFilm(t *testing.T) string {
	t.Helper()
	src := testenv.DataPath(t, "chest-xray", "test", "NORMAL", "IM-0001-0001.jpeg")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", src, err)
	}
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	path := filepath.Join(t.TempDir(), "child-film.dcm")
	if err := dicomsynth.Write(path, dicomsynth.Film(g, "003Y", "PA")); err != nil {
		t.Fatal(err)
	}
	return path
}
