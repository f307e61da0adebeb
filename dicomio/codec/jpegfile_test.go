package codec

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// chestXrayJPEG is the first NORMAL training image of chest-xray (224×224 4:2:0 colour), or a skip.
func chestXrayJPEG(tb testing.TB) []byte {
	dir := os.Getenv("TUMORTRACER_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "chest-xray", "train", "NORMAL", "*.jpeg"))
	if len(files) == 0 {
		tb.Skipf("chest-xray/train not found under %s (set TUMORTRACER_DATA)", dir)
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
