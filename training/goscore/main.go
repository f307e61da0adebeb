// Command goscore runs an exported model through the application's own inference engine (ONNX Runtime via
// inference.Engine) on an evaluation file list, so the model card's figures come from the ONNX file the
// application ships rather than from the PyTorch weights it was exported from.
//
// Usage: go run ./training/goscore -models DIR -id ID -data ROOT -list FILE [-batch N] [-threads N] [-timing N]
// [-features] [-scope] [-features-check N]
//
// Every file is opened as the application opens it (pipeline.Open with the program's Reader, dicomio: DICOM, PNG
// or JPEG by content) and rendered by pipeline.DisplayImage with the model's VOI windows, on the frame a record is
// about (pipeline.AnalysisFrame). It prints JSON:
// {"rel": [...], "logits": [[...], ...], "features": [[...], ...], "device": "cpu", "timing": {...}}; features
// only with -features (the model's declared pooled-feature output). With -scope it also loads the model folder's
// out-of-scope statistics (inference's Model.LoadScope, which refuses statistics of other weights) and adds
// "scope": {"d2": [...], "in_scope": [...]} as inference's Scope.Score computes them. With -timing N it also
// classifies the first N files one at a time and reports the median preprocess and forward time per image. With
// -features-check N it also runs the first N files through ONNX Runtime directly, asking for the "logits" and
// "features" outputs, and adds {"features_check": {"logits": [...], "features": [...]}}: the training recipe checks
// with it that logits = W features + b holds in the exported graph, which the out-of-scope statistics rely on.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/pipeline"
	ort "github.com/yalue/onnxruntime_go"
)

type result struct {
	Rel      []string    `json:"rel"`
	Logits   [][]float32 `json:"logits"`
	Features [][]float32 `json:"features,omitempty"`
	Scope    *scopeOut   `json:"scope,omitempty"`
	Device   string      `json:"device"`
	Timing   *timing     `json:"timing,omitempty"`
	// FeaturesCheck holds the first images' outputs read straight from the graph (-features-check).
	FeaturesCheck *rawOutputs `json:"features_check,omitempty"`
}

// rawOutputs are the logits and pooled features of the first images, read straight from the ONNX graph.
type rawOutputs struct {
	Logits   [][]float32 `json:"logits"`
	Features [][]float32 `json:"features"`
}

type scopeOut struct {
	D2      []float64 `json:"d2"`
	InScope []bool    `json:"in_scope"`
	Nearest []string  `json:"nearest"`
}

type timing struct {
	Images             int     `json:"images"`
	Threads            int     `json:"threads"`
	MedianPreprocessMS float64 `json:"median_preprocess_ms"`
	MedianForwardMS    float64 `json:"median_forward_ms"`
}

func main() {
	models := flag.String("models", "models", "folder holding the model folders")
	id := flag.String("id", "", "model id (its folder name)")
	data := flag.String("data", "../shared/data", "data root the list's paths are relative to")
	list := flag.String("list", "", "evaluation list: relative/path<TAB>class-id per line")
	batch := flag.Int("batch", 16, "images per batch")
	threads := flag.Int("threads", 2, "ONNX Runtime intra-op threads")
	timed := flag.Int("timing", 0, "also time this many single-image runs")
	ortLib := flag.String("ort-lib", "", "ONNX Runtime library (default: the engine's search)")
	features := flag.Bool("features", false, "also print the model's pooled features (outputs.features)")
	withScope := flag.Bool("scope", false, "also print each image's out-of-scope distance (the model's scope.yaml)")
	check := flag.Int("features-check", 0, "also read the logits and features outputs of this many images from the graph")
	flag.Parse()
	if err := run(*models, *id, *data, *list, *batch, *threads, *timed, *check, *ortLib, *features, *withScope); err != nil {
		fmt.Fprintln(os.Stderr, "goscore:", err)
		os.Exit(1)
	}
}

func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open list: %w", err)
	}
	defer f.Close()
	var rels []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		rel, _, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("list line %q has no tab", line)
		}
		rels = append(rels, rel)
	}
	return rels, sc.Err()
}

// decode opens path as the application does and renders the frame it classifies with m's VOI windows.
func decode(path string, m *inference.Manifest) (image.Image, error) {
	scan, err := pipeline.Open(pipeline.Files{}, path)
	if err != nil {
		return nil, err
	}
	img, err := pipeline.DisplayImage(scan, pipeline.AnalysisFrame(scan), m)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", path, err)
	}
	return img, nil
}

func median(d []time.Duration) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[len(d)/2].Microseconds()) / 1000
}

func run(models, id, data, list string, batch, threads, timed, check int, ortLib string, features, withScope bool) error {
	m, err := inference.LoadModel(os.DirFS(models), id, filepath.Join(models, id))
	if err != nil {
		return err
	}
	var sc *inference.Scope
	if withScope {
		if sc, err = m.LoadScope(); err != nil {
			return err
		}
	}
	if features && m.Manifest.Outputs.Features == "" {
		return fmt.Errorf("model %s declares no features output (outputs.features in model.yaml)", id)
	}
	rels, err := readList(list)
	if err != nil {
		return err
	}
	eng, err := inference.NewEngine(inference.Options{Device: "cpu", LibraryPath: ortLib, BatchSize: batch, Threads: threads})
	if err != nil {
		return err
	}
	defer eng.Close()
	res := result{Rel: rels, Device: "cpu"}
	if sc != nil {
		res.Scope = &scopeOut{}
	}
	ctx := context.Background()
	for i := 0; i < len(rels); i += batch {
		var imgs []image.Image
		for _, rel := range rels[i:min(i+batch, len(rels))] {
			img, err := decode(filepath.Join(data, rel), &m.Manifest)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
		preds, err := eng.Classify(ctx, m, imgs, false)
		if err != nil {
			return err
		}
		for _, p := range preds {
			res.Logits = append(res.Logits, p.Logits)
			if features {
				res.Features = append(res.Features, p.Features)
			}
			if sc != nil {
				s, err := sc.Score(p.Features)
				if err != nil {
					return err
				}
				res.Scope.D2 = append(res.Scope.D2, s.D2)
				res.Scope.InScope = append(res.Scope.InScope, s.InScope)
				res.Scope.Nearest = append(res.Scope.Nearest, s.Nearest)
			}
			res.Device = p.Device
		}
	}
	if timed > 0 {
		one, err := inference.NewEngine(inference.Options{Device: "cpu", LibraryPath: ortLib, BatchSize: 1, Threads: threads})
		if err != nil {
			return err
		}
		defer one.Close()
		var pre, fwd []time.Duration
		for i := 0; i < min(timed, len(rels)); i++ {
			img, err := decode(filepath.Join(data, rels[i]), &m.Manifest)
			if err != nil {
				return err
			}
			preds, err := one.Classify(ctx, m, []image.Image{img}, false)
			if err != nil {
				return err
			}
			if i > 0 { // the first run includes session creation
				pre = append(pre, preds[0].Timing.Preprocess)
				fwd = append(fwd, preds[0].Timing.Forward)
			}
		}
		if len(fwd) > 0 {
			res.Timing = &timing{Images: len(fwd), Threads: threads, MedianPreprocessMS: median(pre), MedianForwardMS: median(fwd)}
		}
	}
	if check > 0 {
		var imgs []image.Image
		for _, rel := range rels[:min(check, len(rels))] {
			img, err := decode(filepath.Join(data, rel), &m.Manifest)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
		if res.FeaturesCheck, err = readFeatures(m, imgs); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// readFeatures preprocesses imgs as the engine does and runs them through the model's ONNX graph, returning its
// "logits" and "features" outputs. The runtime is already initialised by the engine created before.
func readFeatures(m *inference.Model, imgs []image.Image) (*rawOutputs, error) {
	onnx, err := m.ONNX()
	if err != nil {
		return nil, err
	}
	in := m.Manifest.Input
	plane := in.Channels * in.Height * in.Width
	x := make([]float32, len(imgs)*plane)
	for i, img := range imgs {
		if err := inference.Preprocess(img, in, m.Manifest.Preprocessing, x[i*plane:(i+1)*plane]); err != nil {
			return nil, err
		}
	}
	input, err := ort.NewTensor(ort.NewShape(int64(len(imgs)), int64(in.Channels), int64(in.Height), int64(in.Width)), x)
	if err != nil {
		return nil, err
	}
	defer input.Destroy()
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx, []string{in.Name}, []string{m.Manifest.Outputs.Logits, "features"}, nil)
	if err != nil {
		return nil, fmt.Errorf("open the graph with a features output: %w", err)
	}
	defer sess.Destroy()
	outs := []ort.Value{nil, nil}
	if err := sess.Run([]ort.Value{input}, outs); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	raw := &rawOutputs{}
	for j, dst := range []*[][]float32{&raw.Logits, &raw.Features} {
		t, ok := outs[j].(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("output %d is not a float32 tensor", j)
		}
		defer t.Destroy()
		data, width := t.GetData(), int(t.GetShape()[1])
		for i := range imgs {
			*dst = append(*dst, append([]float32(nil), data[i*width:(i+1)*width]...))
		}
	}
	return raw, nil
}
