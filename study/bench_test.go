package study

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

// writeBenchSeries writes n slices of rows×rows 16-bit pixels per series, shuffled names, into a temp folder.
func writeBenchSeries(b *testing.B, series, n, rows int) []string {
	b.Helper()
	dir := b.TempDir()
	var paths []string
	for k := range series {
		s := dicomsynth.Series{Rows: rows, Columns: rows, Description: fmt.Sprintf("bench %d", k), SeriesNumber: k + 1}
		name := shuffledNames(n, uint64(k))
		for i, p := range dicomsynth.Axial(n, -300, 0.625) {
			path := filepath.Join(dir, fmt.Sprintf("s%d-%s", k, name(i)))
			if err := dicomsynth.Write(path, s.CTSlice(dicomsynth.Slice{Position: p, Instance: n - i})); err != nil {
				b.Fatal(err)
			}
			paths = append(paths, path)
		}
	}
	return paths
}

// procStatusKB reads a field of /proc/self/status in kB (0 where there is no /proc).
func procStatusKB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return v
		}
	}
	return 0
}

// resetPeakRSS frees what the set-up left and resets VmHWM to the current RSS (Linux: clear_refs 5), so that
// the peak measured afterwards is the indexing's own.
func resetPeakRSS() (baselineMB float64) {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return procStatusKB("VmRSS") / 1024
}

func benchIndex(b *testing.B, paths []string, wantSeries, wantSlices int) {
	baseline := resetPeakRSS()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ix, err := Build(context.Background(), paths, Options{})
		if err != nil {
			b.Fatal(err)
		}
		all := ix.AllSeries()
		if len(all) != wantSeries || len(all[0].Slices) != wantSlices || len(all[0].Problems) != 0 {
			b.Fatalf("%d series, %d slices", len(all), len(all[0].Slices))
		}
	}
	b.ReportMetric(procStatusKB("VmHWM")/1024, "peak-RSS-MB")
	b.ReportMetric(baseline, "baseline-RSS-MB")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(paths)), "µs/file")
}

// BenchmarkIndexSeries500 indexes one 500-slice CT series of 512×512 slices (512 kB files, 256 MB in all, in
// the page cache after writing), file names shuffled: the figure for indexing time and peak RSS.
func BenchmarkIndexSeries500(b *testing.B) {
	benchIndex(b, writeBenchSeries(b, 1, 500, 512), 1, 500)
}

// BenchmarkIndexFiles3000 indexes 3000 small files in 6 series: the per-file cost and the memory of a large
// index (entries hold headers, never pixels).
func BenchmarkIndexFiles3000(b *testing.B) {
	benchIndex(b, writeBenchSeries(b, 6, 500, 32), 6, 500)
}

// BenchmarkGroup500 regroups 500 indexed slices: what a window pays for one Snapshot while indexing runs.
func BenchmarkGroup500(b *testing.B) {
	ix, err := Build(context.Background(), writeBenchSeries(b, 1, 500, 16), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if g := Group(ix.Entries); len(g.AllSeries()[0].Slices) != 500 {
			b.Fatal("lost slices")
		}
	}
}
