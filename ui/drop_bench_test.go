package ui

import (
	"bufio"
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/pipeline"
)

// BenchmarkDropRSS drops a folder of 1,000 files on the window — links, in turn, to every file a drop of
// DATA/dicom queues (the corpus: CT, CR, MR, multi-frame, compressed, and DICOM files that hold no image) — and waits
// until the batch table has a record for each. It drives the window's own drop path (viewer.dropped with the
// bundled models on a CPU engine, the viewer's memory limit) and reports the process's peak resident set
// (VmHWM, native memory of ONNX Runtime and the codecs included), reset just before the drop, as peak-RSS-MB.
//
// Most files of the corpus are refused undecoded (no model for MR, US …; no image at all). $TUMORTRACER_BENCH_MODEL
// forces one model on every file, as the window's --model flag and Model list do, so that every file with an
// image is decoded and classified: the heaviest drop the corpus allows.
//
// Run it alone, one iteration: go test ./ui -run '^$' -bench DropRSS -benchtime 1x. $TUMORTRACER_BENCH_N
// changes the number of files.
func BenchmarkDropRSS(b *testing.B) {
	corpus := corpusFiles(b, testenv.DataPath(b, "dicom"))
	lib := filepath.Join(repoRoot(b), "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		testenv.Missing(b, "needs ONNX Runtime at %s (make deps): %v", lib, err)
	}
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("TUMORTRACER_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	for i := range n {
		src := corpus[i%len(corpus)]
		if err := os.Symlink(src, filepath.Join(dir, fmt.Sprintf("%04d-%s", i, filepath.Base(src)))); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		before, peak, took, vw := dropAndWait(b, dir, lib, n)
		done, failed, _ := vw.batch.counts()
		b.ReportMetric(before, "RSS-before-MB")
		b.ReportMetric(peak, "peak-RSS-MB")
		b.ReportMetric(took.Seconds(), "s/drop")
		b.ReportMetric(float64(done), "records-ok")
		b.ReportMetric(float64(failed), "records-failed")
		logFailures(b, vw)
		if done == 0 {
			b.Fatal("no file of the drop was classified: the figure would measure error records only")
		}
	}
}

// logFailures logs how many records failed with each sentence, most first, so that a peak reported for a drop is
// known to include the classifications it should (files of modalities no model accepts are refused undecoded).
func logFailures(b *testing.B, vw *viewer) {
	why := map[string]int{}
	for _, r := range vw.batch.rows {
		if r.status == rowFailed && r.result != nil {
			why[r.result.rec.Error]++
		}
	}
	sentences := slices.Collect(maps.Keys(why))
	slices.SortFunc(sentences, func(x, y string) int { return cmp.Or(why[y]-why[x], strings.Compare(x, y)) })
	var out strings.Builder
	for _, sentence := range sentences {
		fmt.Fprintf(&out, "\n%5d failed: %s", why[sentence], sentence)
	}
	b.Logf("records by failure:%s", out.String())
}

// dropAndWait builds the window as Main does (newWindow, limitMemory), drops dir on it and returns the resident set
// just before the drop (window, models and ONNX Runtime loaded) and its peak from the drop to the last record, in
// MB, how long the batch took, and the window.
func dropAndWait(b *testing.B, dir, lib string, n int) (before, peak float64, took time.Duration, vw *viewer) {
	runUI(true)
	a := test.NewTempApp(b)
	w := test.NewTempWindow(b, nil)
	flags := windowFlags{ortLib: lib, device: "cpu", modelID: os.Getenv("TUMORTRACER_BENCH_MODEL")}
	vw = newWindow(a, w, flags, about.Build{Version: "bench"})
	vw.install()
	waitForTB(b, time.Minute, "the analyst", vw.an.isStarted)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	gc := debug.SetGCPercent(100) // to put back after the drop: limitMemory sets it
	debug.SetGCPercent(gc)
	defer debug.SetGCPercent(gc)
	limitMemory()
	resetPeakRSS(b)
	before = procStatusMB(b, "VmRSS:")
	start := time.Now()
	vw.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(dir)})
	waitForTB(b, 30*time.Minute, "the batch", func() bool {
		done, failed, _ := vw.batch.counts()
		return !vw.batch.running && len(vw.batch.rows) == n && done+failed == n
	})
	return before, procStatusMB(b, "VmHWM:"), time.Since(start), vw
}

// corpusFiles lists the files under root that a drop of root queues (pipeline.Expand's rules), in order.
func corpusFiles(b *testing.B, root string) []string {
	var out []string
	for _, in := range pipeline.Expand([]string{root}) {
		if in.Err == nil {
			out = append(out, in.Path)
		}
	}
	if len(out) == 0 {
		testenv.Missing(b, "no image files under %s (set %s to the shared data folder)", root, testenv.DataEnv)
	}
	return out
}

// resetPeakRSS resets the kernel's high-water mark of this process's resident set (VmHWM), so that the next
// reading covers what follows only (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS here: %v", err)
	}
}

// procStatusMB reads a kB field of /proc/self/status (VmRSS:, VmHWM: the peak), in MB (10^6 bytes).
func procStatusMB(b *testing.B, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024 / 1e6
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
