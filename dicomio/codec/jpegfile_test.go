package codec

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// chestXrayJPEG is the first NORMAL training image of chest-xray (224×224 4:2:0 colour), or a skip.
func chestXrayJPEG(tb testing.TB) []byte {
	tb.Helper()
	dir := testenv.DataPath(tb, "chest-xray", "train", "NORMAL")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jpeg"))
	if len(files) == 0 {
		testenv.Missing(tb, "no chest X-ray JPEGs in %s (set %s to the shared data folder)", dir, testenv.DataEnv)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkJPEGFile decodes a 224×224 chest X-ray JPEG with DecodeJPEGFile (libjpeg-turbo in cgo Linux builds)
// and with the pure-Go DCT decoder, e.g. go test -run '^$' -bench JPEGFile ./dicomio/codec
func BenchmarkJPEGFile(b *testing.B) {
	data := chestXrayJPEG(b)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeJPEGFile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeJPEGFile(data, cfg.Width, cfg.Height, 3); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pure-go", func(b *testing.B) {
		p := Params{Rows: cfg.Height, Columns: cfg.Width, SamplesPerPixel: 3, BitsAllocated: 8, BitsStored: 8, Photometric: "YBR_FULL_422"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJPEG(data, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
