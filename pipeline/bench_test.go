package pipeline

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/models"
)

// BenchmarkBatch classifies a batch of files end to end (decode, render, preprocess, forward, CAM saliency) the way
// `tumortracer classify --saliency` does, and reports images/s, each stage's mean time per image and the Go heap in
// use (and the process's resident set, native memory included) after the first and at the worst tenth of the batch
// (flat memory: the two stay close).
//
// Files: the first $TUMORTRACER_BENCH_N (default 1000) files of DATA/chest-xray/train in sorted order. Model:
// $TUMORTRACER_BENCH_MODEL (default cxr-pneumonia) from the bundle or $TUMORTRACER_BENCH_MODELS, else the tiny-cam
// test fixture. $TUMORTRACER_BENCH_BATCH sets the images per model run (default 8). Run with -benchtime=1x: one
// iteration is the whole batch.
func BenchmarkBatch(b *testing.B) {
	root := testenv.DataDir(b)
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("TUMORTRACER_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	var dirs []string
	if d := os.Getenv("TUMORTRACER_BENCH_MODELS"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join(fixtures, "tiny-cam"))
	cat, err := inference.LoadCatalogue(models.Bundle(), dirs...)
	if err != nil {
		b.Fatal(err)
	}
	id := os.Getenv("TUMORTRACER_BENCH_MODEL")
	if id == "" {
		id = "cxr-pneumonia"
	}
	if _, err := cat.Get(id); err != nil {
		b.Logf("model %s not available, using the tiny-cam fixture", id)
		id = "tiny-cam"
	}
	inputs := Expand([]string{filepath.Join(root, "chest-xray", "train")})
	if len(inputs) < n {
		testenv.Missing(b, "only %d files under chest-xray/train, want %d", len(inputs), n)
	}
	inputs = inputs[:n]
	batch := 8
	if v, err := strconv.Atoi(os.Getenv("TUMORTRACER_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceAuto, BatchSize: batch})
	if err != nil {
		testenv.Missing(b, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	clf := New(cat, eng, Options{ModelID: id, Saliency: SaliencyAll, BatchSize: batch})
	b.ReportAllocs()
	var decode, pre, fwd, sal, wall time.Duration
	var heapFirst, heapMax, rssFirst, rssMax uint64
	var device string
	for b.Loop() {
		decode, pre, fwd, sal = 0, 0, 0, 0
		heapFirst, heapMax, rssFirst, rssMax = 0, 0, 0, 0
		done := 0
		start := time.Now()
		_, err := clf.Run(context.Background(), inputs, func(r Result) error {
			if r.Record.Status != StatusOK {
				b.Errorf("%s: %s", r.Record.Path, r.Record.Error)
				return nil
			}
			decode += r.Decode
			t := r.Prediction.Timing
			pre, fwd, sal = pre+t.Preprocess, fwd+t.Forward, sal+t.Saliency
			device = r.Record.Device
			done++
			if done%(n/10) == 0 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if heapFirst == 0 {
					heapFirst = ms.HeapInuse
				}
				heapMax = max(heapMax, ms.HeapInuse)
				if rss := residentBytes(); rss > 0 {
					if rssFirst == 0 {
						rssFirst = rss
					}
					rssMax = max(rssMax, rss)
				}
			}
			return nil
		}, nil)
		wall = time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	b.ReportMetric(float64(n)/wall.Seconds(), "images/s")
	b.ReportMetric(per(wall), "ms/image")
	b.ReportMetric(per(decode), "decode-ms/image")
	b.ReportMetric(per(pre), "preprocess-ms/image")
	b.ReportMetric(per(fwd), "forward-ms/image")
	b.ReportMetric(per(sal), "cam-ms/image")
	b.ReportMetric(float64(heapFirst)/(1<<20), "heap-MB-first-tenth")
	b.ReportMetric(float64(heapMax)/(1<<20), "heap-MB-max")
	if rssFirst > 0 {
		b.ReportMetric(float64(rssFirst)/(1<<20), "rss-MB-first-tenth")
		b.ReportMetric(float64(rssMax)/(1<<20), "rss-MB-max")
	}
	b.Logf("model %s on %s, %d files in batches of %d", id, device, n, batch)
}

// residentBytes is the process's resident set size from /proc/self/status (ONNX Runtime's native memory
// included), or 0 where that file does not exist.
func residentBytes() uint64 { return statusKB("VmRSS") << 10 }

// statusKB reads a kB field of /proc/self/status (VmRSS, VmHWM …); 0 where the file does not exist.
func statusKB(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb
		}
	}
	return 0
}

// BenchmarkGateCost is the gate's cost per image beside the routed models' own: every sub-benchmark handles one
// image per iteration, cycling over the first $TUMORTRACER_BENCH_N (default 32) files of DATA/chest-xray/test
// (films) or DATA/chest-ct/test (slices), opened before the timer starts, on one engine (one thread, batches of
// one, as the window's viewer runs them):
//   - gate-decision: GateChooser.Choose, the whole step the gate adds before a classifier runs — render for the
//     gate, preprocess, its forward run and the tag checks;
//   - gate-forward: the gate's engine run alone (preprocess and forward) on the rendered image;
//   - cxr-pneumonia, ct-lung: the routed model's engine run (preprocess and forward) on its own image;
//   - batch8/gate, batch8/cxr-pneumonia, batch8/ct-lung: each model's engine run on batches of eight grey images
//     at its input size, as Run hands them over (the gate's share of a batch, against the classifier's), with
//     ms/image.
//
// go test ./pipeline -run '^$' -bench GateCost -benchtime 200x
func BenchmarkGateCost(b *testing.B) {
	root := testenv.DataDir(b)
	n := 32
	if v, err := strconv.Atoi(os.Getenv("TUMORTRACER_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		b.Fatal(err)
	}
	gate := cat.Gate()
	if gate == nil {
		b.Fatal("no bundled gate")
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU, BatchSize: 1, Threads: 1})
	if err != nil {
		testenv.Missing(b, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	open := func(folder string) []*Scan {
		inputs := Expand([]string{filepath.Join(root, folder)})
		if len(inputs) < n {
			testenv.Missing(b, "only %d files under %s, want %d", len(inputs), folder, n)
		}
		var out []*Scan
		for _, in := range inputs[:n] {
			s, err := Open(Files{}, in.Path)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	films, slices := open(filepath.Join("chest-xray", "test")), open(filepath.Join("chest-ct", "test"))
	ctx := context.Background()
	chooser := GateChooser{Catalogue: cat, Engine: eng}
	render := func(scans []*Scan, m *inference.Model) []image.Image {
		var out []image.Image
		for _, s := range scans {
			img, err := DisplayImage(s, 0, &m.Manifest)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, img)
		}
		return out
	}
	forward := func(m *inference.Model, imgs []image.Image) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := eng.Classify(ctx, m, imgs[i%len(imgs):i%len(imgs)+1], false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
	}
	all := append(append([]*Scan(nil), films...), slices...)
	b.Run("gate-decision", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ch, err := chooser.Choose(ctx, all[i%len(all)], 0)
			if err != nil || ch.Refusal != nil {
				b.Fatalf("%s: %v %v", all[i%len(all)].Path, err, ch.Refusal)
			}
			i++
		}
	})
	b.Run("gate-forward", forward(gate, render(all, gate)))
	for _, c := range []struct {
		id    string
		scans []*Scan
	}{{"cxr-pneumonia", films}, {"ct-lung", slices}} {
		m, err := cat.Get(c.id)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.id, forward(m, render(c.scans, m)))
	}
	batched, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU, BatchSize: 8, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer batched.Close()
	for _, c := range []struct {
		m     *inference.Model
		scans []*Scan
	}{{gate, all}, {must(cat.Get("cxr-pneumonia")), films}, {must(cat.Get("ct-lung")), slices}} {
		var inputs []image.Image
		for _, img := range render(c.scans, c.m) {
			inputs = append(inputs, inference.ModelImage(img, c.m.Manifest.Input))
		}
		b.Run("batch8/"+c.m.Manifest.ID, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				start := (8 * i) % (len(inputs) - 7)
				if _, err := batched.Classify(ctx, c.m, inputs[start:start+8], false); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(8*b.N), "ms/image")
		})
	}
}

// must returns m, ending the benchmark's process on err (a bundled model that is missing).
func must(m *inference.Model, err error) *inference.Model {
	if err != nil {
		panic(err)
	}
	return m
}

// BenchmarkRunChestXrayTest is `tumortracer classify` without its process: Run over the 624 JPEGs of
// DATA/chest-xray/test with the bundled models, no saliency, the default workers and batches, in the two modes of
// the whole-process comparison (make bench-classify): auto (the gate routes every image, the default job) and
// forced (--model cxr-pneumonia; the gate still runs). Besides the wall time it reports the process's CPU time
// (user and system, ONNX Runtime's threads included) per image, which a shared machine's load disturbs far less.
// One iteration is the whole folder; compare runs with benchstat:
//
//	go test ./pipeline -run '^$' -bench RunChestXrayTest -benchtime 1x -count 6
func BenchmarkRunChestXrayTest(b *testing.B) {
	inputs := Expand([]string{testenv.DataPath(b, filepath.Join("chest-xray", "test"))})
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		b.Fatal(err)
	}
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceCPU})
	if err != nil {
		testenv.Missing(b, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as classify does
	for _, mode := range []struct{ name, model string }{{"auto", ""}, {"forced", "cxr-pneumonia"}} {
		b.Run(mode.name, func(b *testing.B) {
			clf := New(cat, eng, Options{ModelID: mode.model})
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				sum, err := clf.Run(context.Background(), inputs, func(Result) error { return nil }, nil)
				if err != nil || sum.OK != len(inputs) {
					b.Fatalf("%+v: %v", sum, err)
				}
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N*len(inputs)) }
			b.ReportMetric(per(b.Elapsed()), "ms/image")
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(per(cpu), "cpu-ms/image")
			}
		})
	}
}
