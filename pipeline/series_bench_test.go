package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/models"
	"github.com/tumortracer/tumortracer/study"
)

// BenchmarkSeries500 is the figure for a 500-slice series: a CT series of 500 slices of 512×512 (512 kB
// files, 256 MB, in the page cache after writing; file names shuffled), whose pictures are chest-ct train slices, is
// indexed (study.Build: headers only) and classified to its series result (RunSeries: every slice through Run — the
// bundled gate's forward, the tag checks, ct-lung and its scope check on ONNX Runtime — and the card's series rule),
// as `classify --per series` does. It reports the indexing
// time, the time from the start to the series result, the slices per second and the process's peak resident set
// during one iteration (VmHWM, reset first; ONNX Runtime's native memory included). Run with -benchtime=1x or 3x.
func BenchmarkSeries500(b *testing.B) {
	const n, side = 500, 512
	paths := writeBenchSeries(b, n, side)
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		b.Fatal(err)
	}
	if m, err := cat.Get("ct-lung"); err != nil || m.Manifest.Series == nil {
		testenv.Missing(b, "the bundled ct-lung with a series rule is not available: %v", err)
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU})
	if err != nil {
		testenv.Missing(b, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	clf := New(cat, eng, Options{})
	var index, result time.Duration
	var peak, baseline float64
	var device string
	var last SeriesRecord
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // VmHWM back to the current RSS (Linux)
		baseline = float64(statusKB("VmRSS")) / 1024
		start := time.Now()
		ix, err := study.Build(context.Background(), paths, study.Options{})
		if err != nil {
			b.Fatal(err)
		}
		index = time.Since(start)
		all := ix.AllSeries()
		if len(all) != 1 || len(all[0].Slices) != n {
			b.Fatalf("%d series", len(all))
		}
		res, err := clf.RunSeries(context.Background(), ix, all[0], nil)
		if err != nil {
			b.Fatal(err)
		}
		result = time.Since(start)
		peak, device, last = float64(statusKB("VmHWM"))/1024, res.Record.Device, res.Record
		if r := res.Record; r.Status != StatusOK || r.Classified+r.Refused != n || r.Model != "ct-lung" {
			b.Fatalf("series record %+v", r)
		}
	}
	b.ReportMetric(float64(index.Milliseconds()), "index-ms")
	b.ReportMetric(float64(result.Milliseconds()), "series-result-ms")
	b.ReportMetric(float64(n)/(result-index).Seconds(), "slices/s")
	b.ReportMetric(peak, "peak-RSS-MB")
	b.ReportMetric(baseline, "baseline-RSS-MB")
	b.Logf("device %s, GOMAXPROCS %d, %d slices of %d×%d; through the gate: %d classified, %d refused", device,
		runtime.GOMAXPROCS(0), n, side, side, last.Classified, last.Refused)
}

// writeBenchSeries writes n side×side slices of one axial CT series with shuffled file names; the pictures are the
// chest-ct train split's adenocarcinoma slices in turn.
func writeBenchSeries(b *testing.B, n, side int) []string {
	b.Helper()
	var pictures [][]uint16
	for _, img := range testenv.ChestCTPictures(b, 50) {
		pictures = append(pictures, dicomsynth.CTValues(img, side, side, -600, 1500))
	}
	dir := b.TempDir()
	s := dicomsynth.Series{Description: "bench 500", Rows: side, Columns: side}
	paths := make([]string, n)
	for i, p := range dicomsynth.Axial(n, -300, 0.625) {
		paths[i] = filepath.Join(dir, fmt.Sprintf("IM%05d", (i*7919)%n))
		if err := dicomsynth.Write(paths[i], s.CTSlice(dicomsynth.Slice{Position: p, Instance: i + 1, Values: pictures[i%len(pictures)]})); err != nil {
			b.Fatal(err)
		}
	}
	return paths
}
