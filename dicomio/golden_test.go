package dicomio

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden renders in testdata/golden")

// TestGoldenRenders renders corpus images and compares them pixel for pixel with committed PNGs (see
// testdata/README.md for what each should look like). Run with -update to regenerate, then look at them.
func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		golden, file, preset string
	}{
		{"ct_small_lung.png", "pydicom-test-files/CT_small.dcm", "lung"},
		{"ct_small_default.png", "pydicom-test-files/CT_small.dcm", ""},
		{"cr_mono1_chest_default.png", "fo-dicom/CR-MONO1-10-chest", ""},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			s, err := Open(corpusFile(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			w := s.DefaultWindow(0)
			if c.preset != "" {
				w, _ = Preset(c.preset)
			}
			img, err := s.Render(0, w, RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := png.Encode(&got, img); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", c.golden)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("golden render missing (run go test -run TestGoldenRenders -update): %v", err)
			}
			defer f.Close()
			want, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if !sameGrey(img, want) {
				failed := filepath.Join("testdata", "failed", c.golden)
				os.MkdirAll(filepath.Dir(failed), 0o755)
				os.WriteFile(failed, got.Bytes(), 0o644)
				t.Errorf("render differs from %s; this run's image is in %s", path, failed)
			}
		})
	}
}

func sameGrey(a, b image.Image) bool {
	ga, ok1 := a.(*image.Gray)
	gb, ok2 := b.(*image.Gray)
	return ok1 && ok2 && ga.Rect == gb.Rect && bytes.Equal(ga.Pix, gb.Pix)
}
