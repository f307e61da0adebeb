package dicomio

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio/codec"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

// TestJPEGVariantsMatchPIL writes JPEGs in every encoding PIL produces (grey, 4:4:4, 4:2:2, 4:2:0, odd sizes,
// qualities 5 to 100, optimised tables, progressive) with scripts/jpeg_variants.py and checks that Open gives
// exactly PIL's samples — what the models were trained on — with libjpeg-turbo (Linux cgo builds) and with the
// pure-Go decoder (other builds). Progressive files are the pure-Go path's known exception: image/jpeg decodes
// them, up to a grey level away.
func TestJPEGVariantsMatchPIL(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import PIL, numpy").Run(); err != nil {
		testenv.Missing(t, "python3-pil and python3-numpy are needed for the reference values (make deps installs them): %v", err)
	}
	out, err := exec.Command(python, filepath.Join("..", "scripts", "jpeg_variants.py"), t.TempDir()).Output()
	if err != nil {
		t.Fatalf("jpeg_variants.py: %v", err)
	}
	libjpeg := codec.LibjpegTurbo()
	t.Logf("JPEG decoder: libjpeg-turbo %q (empty: pure Go)", libjpeg)
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct {
			Path, Mode, SHA256 string
			Shape              []int
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		name := strings.TrimSuffix(filepath.Base(r.Path), ".jpg")
		t.Run(name, func(t *testing.T) {
			s, err := Open(r.Path)
			if err != nil {
				t.Fatal(err)
			}
			spp := 1
			if r.Mode == "RGB" {
				spp = 3
			}
			if s.SamplesPerPixel != spp || s.Rows != r.Shape[0] || s.Columns != r.Shape[1] {
				t.Fatalf("%dx%dx%d, PIL %v", s.Columns, s.Rows, s.SamplesPerPixel, r.Shape)
			}
			vals, _ := s.Frame(0)
			samples := make([]byte, len(vals))
			for i, v := range vals {
				samples[i] = byte(v)
			}
			sum := sha256.Sum256(samples)
			if hex.EncodeToString(sum[:]) == r.SHA256 {
				return
			}
			if libjpeg == "" && strings.Contains(name, "progressive") {
				t.Skip("progressive JPEG without libjpeg-turbo goes to image/jpeg, which is not PIL-exact")
			}
			t.Errorf("samples differ from PIL's decode")
		})
	}
	if n < 10 {
		t.Errorf("jpeg_variants.py made %d files", n)
	}
}
