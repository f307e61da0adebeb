package dicomio

import (
	"github.com/tumortracer/tumortracer/internal/testenv"

	"bytes"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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
		s, err := Decode(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		// Decode only locates the frame; Frame decodes it, as Decode alone did before frames became lazy.
		if _, err := s.Frame(0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCT512 reads and decodes a 512×512 signed 16-bit CT slice (explicit VR little endian).
func BenchmarkDecodeCT512(b *testing.B) { benchmarkDecode(b, "pydicom-data/693_UNCI.dcm") }

// BenchmarkDecodeChestCR reads and decodes the 1841×1955 15-bit MONOCHROME1 chest CR (explicit VR little endian).
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

// BenchmarkRenderCT512Lung is one window/level step in the viewer on a CT slice (after the first render, which
// streams, the frame's values are kept: see renderValues).
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

// BenchmarkOpenRenderOneFrame opens a large multi-frame file and renders one frame (the middle one, which the
// classifier takes): the cost of showing or classifying one frame must not grow with the number of frames.
func BenchmarkOpenRenderOneFrame(b *testing.B) {
	b.Run("jpeg-96x512x512", func(b *testing.B) {
		benchmarkOpenRender(b, corpusFile(b, "fo-dicom/HasFragmentSequence.dcm"))
	})
	b.Run("native-100x512x512", func(b *testing.B) {
		benchmarkOpenRender(b, writeMultiFrameCT(b, 100, 512, 512))
	})
}

func benchmarkOpenRender(b *testing.B, path string) {
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		mid := s.NumFrames / 2
		if _, err := s.Render(mid, s.DefaultWindow(mid), RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenChestXrayJPEG opens a 224×224 4:2:0 chest X-ray JPEG, the images `classify` reads in bulk: file read,
// header, decode (libjpeg-turbo in cgo Linux builds, else the pure-Go DCT decoder) and the scan's samples.
func BenchmarkOpenChestXrayJPEG(b *testing.B) {
	dir := testenv.DataPath(b, "chest-xray", "train", "NORMAL")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jpeg"))
	if len(files) == 0 {
		testenv.Missing(b, "no chest X-ray JPEGs in %s (set %s to the shared data folder)", dir, testenv.DataEnv)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(files[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// writeMultiFrameCT writes a signed 16-bit CT-like multi-frame file (explicit VR little endian) to a temporary
// folder: the corpus' largest native multi-frame file has 19 frames of 256×256.
func writeMultiFrameCT(b *testing.B, frames, rows, cols int) string {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(rows, cols, 1, 16, 12, 1, "MONOCHROME2")
	pix := make([]byte, 2*frames*rows*cols)
	for i := range frames * rows * cols {
		binary.LittleEndian.PutUint16(pix[2*i:], uint16(int16(i%4096-1024)))
	}
	es = append(es, fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text(strconv.Itoa(frames))},
		fxElem{group: 0x0028, elem: 0x1052, vr: "DS", val: text("-1024")},
		fxElem{group: 0x0028, elem: 0x1053, vr: "DS", val: text("1")},
		pixelElem(pix, "OW"))
	f.elems = sortElems(es)
	path := filepath.Join(b.TempDir(), "multiframe-ct.dcm")
	if err := os.WriteFile(path, f.bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSweepPeakRSS opens 1,000 image files (cycling over the DICOM corpus, files without an image left
// out) one after another and renders each one's middle frame with its default window, as a drop of a folder
// does, and reports the process's peak resident set (VmHWM) as peak-RSS-MB. VmHWM is reset first where the
// kernel allows it (clear_refs 5), so run this benchmark alone: `-run '^$' -bench SweepPeakRSS -benchtime 1x`.
func BenchmarkSweepPeakRSS(b *testing.B) {
	root := testenv.DataPath(b, "dicom")
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".tsv") && !strings.HasSuffix(p, ".txt") {
			files = append(files, p)
		}
		return nil
	})
	var images []string
	for _, p := range files {
		if s, err := Open(p, MetadataOnly()); err == nil && s.NumFrames > 0 {
			images = append(images, p)
		}
	}
	if len(images) == 0 {
		b.Skipf("no DICOM images under %s (set TUMORTRACER_DATA to the shared data folder)", root)
	}
	runtime.GC()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	b.ReportAllocs()
	const sweep = 1000
	failed := 0
	for b.Loop() {
		for i := range sweep {
			s, err := Open(images[i%len(images)])
			if err != nil {
				failed++
				continue
			}
			mid := s.NumFrames / 2
			if _, err := s.Render(mid, s.DefaultWindow(mid), RenderOptions{}); err != nil {
				failed++
			}
		}
	}
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
	b.ReportMetric(sweep, "files/op")
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("peak RSS needs /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkOpenChestCTPNG opens the chest-ct training PNGs (RGBA, about 600×450), the ct-lung model's inputs.
func BenchmarkOpenChestCTPNG(b *testing.B) {
	dir := testenv.DataPath(b, "chest-ct", "train", "normal")
	files, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(files) == 0 {
		testenv.Missing(b, "no chest CT PNGs in %s (set %s to the shared data folder)", dir, testenv.DataEnv)
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
