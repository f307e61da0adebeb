package dicomio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks on corpus files (skipped without the corpus). Compare with DCMTK on the same files, e.g.
// `dcm2pnm --write-raw-pnm FILE /dev/null` (see the dicomio notes in README.md).

func benchmarkDecode(b *testing.B, rel string) {
	data, err := os.ReadFile(corpusFile(b, rel))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCT512 decodes a 512×512 signed 16-bit CT slice (explicit VR little endian).
func BenchmarkDecodeCT512(b *testing.B) { benchmarkDecode(b, "pydicom-data/693_UNCI.dcm") }

// BenchmarkDecodeChestCR decodes the 1841×1955 15-bit MONOCHROME1 chest CR (explicit VR little endian).
func BenchmarkDecodeChestCR(b *testing.B) {
	benchmarkDecode(b, "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm")
}

func benchmarkRender(b *testing.B, rel string, w Window) {
	s, err := Open(corpusFile(b, rel))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Render(0, w, RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderCT512Lung is one window/level step in the viewer on a CT slice.
func BenchmarkRenderCT512Lung(b *testing.B) {
	w, _ := Preset("lung")
	benchmarkRender(b, "pydicom-data/693_UNCI.dcm", w)
}

// BenchmarkRenderChestCR is one window/level step on the large chest CR.
func BenchmarkRenderChestCR(b *testing.B) {
	benchmarkRender(b, "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", Window{Center: 15000, Width: 30000, Function: VOILinear})
}

// BenchmarkRenderChestCRSigmoid is the slow path (per-pixel exp) on the large chest CR.
func BenchmarkRenderChestCRSigmoid(b *testing.B) {
	benchmarkRender(b, "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", Window{Center: 15000, Width: 30000, Function: VOISigmoid})
}

// BenchmarkOpenChestXrayJPEG opens a 224×224 4:2:0 chest X-ray JPEG, the images `classify` reads in bulk: file read,
// header, decode (libjpeg-turbo in cgo Linux builds, else the pure-Go DCT decoder) and the scan's samples.
func BenchmarkOpenChestXrayJPEG(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(dataRoot(b), "chest-xray", "train", "NORMAL", "*.jpeg"))
	if len(files) == 0 {
		b.Skip("chest-xray/train not found (set TUMORTRACER_DATA)")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(files[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenChestCTPNG opens the chest-ct training PNGs (RGBA, about 600×450), the ct-lung model's inputs.
func BenchmarkOpenChestCTPNG(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(dataRoot(b), "chest-ct", "train", "normal", "*.png"))
	if len(files) == 0 {
		b.Skip("chest-ct/train/normal not found (set TUMORTRACER_DATA)")
	}
	files = files[:min(len(files), 20)]
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			if _, err := Open(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(files)), "ms/file")
}
