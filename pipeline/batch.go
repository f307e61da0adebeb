package pipeline

import (
	"context"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// Input is one file to classify, or a path that could not be listed (Err set), which still gets its record.
type Input struct {
	Path string
	Err  error
}

// Expand turns PATH arguments into the files to classify, in a stable order: each argument in the order given;
// a folder contributes every file below it, recursively, in lexical order, skipping names that start with "."
// (.DS_Store, .git …). A path that does not exist becomes an Input with Err set.
func Expand(paths []string) []Input {
	var out []Input
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			out = append(out, Input{Path: p, Err: fmt.Errorf("open %s: %w", p, err)})
			continue
		}
		if !st.IsDir() {
			out = append(out, Input{Path: p})
			continue
		}
		var files []Input
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				files = append(files, Input{Path: path, Err: fmt.Errorf("open %s: %w", path, err)})
				if d != nil && d.IsDir() && path != p {
					return fs.SkipDir
				}
				return nil
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, Input{Path: path})
			} else if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
					files = append(files, Input{Path: path})
				}
			}
			return nil
		})
		if err != nil {
			files = append(files, Input{Path: p, Err: fmt.Errorf("list %s: %w", p, err)})
		}
		// WalkDir is already lexical within a folder; sorting the whole list keeps the order independent of
		// how the walk interleaves folders and files.
		sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		out = append(out, files...)
	}
	return out
}

// Progress reports a batch's advance after every record.
type Progress struct {
	Done, Total, Failed int
	Elapsed             time.Duration
	// ETA is the estimated time left from the mean time per record so far (0 until the first record).
	ETA  time.Duration
	Path string // the input just finished
}

// Summary counts a finished (or cancelled) batch.
type Summary struct {
	Total, OK, Failed int
}

// decoded is one input after reading and rendering, before inference.
type decoded struct {
	in    Input
	rec   Record
	model *inference.Model
	img   image.Image
	// input is img already grey at the model's input size (inference.ModelImage), made on the decode worker when
	// no saliency is asked for; nil otherwise. prep is the time that took, part of the preprocessing stage.
	input  image.Image
	decode time.Duration
	prep   time.Duration
	err    error
}

// Run classifies every input, in order, and calls emit once per input with its result (error results carry only
// the record) as soon as its batch is done; progress, when not nil, is called after each emit. Files are read
// and rendered by Options.Workers goroutines ahead of the engine, at most a few batches ahead, and no scan is kept
// after its image is rendered, so memory stays flat however many files there are. Run stops at the first emit
// error or when ctx is cancelled, returning that error; inputs not reached get no record.
func (c *Classifier) Run(ctx context.Context, inputs []Input, emit func(Result) error, progress func(Progress)) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sum := Summary{Total: len(inputs)}
	window := c.opts.BatchSize + 2*c.opts.Workers
	futures := make(chan chan decoded, window)
	jobs := make(chan func(), c.opts.Workers)
	for range c.opts.Workers {
		go func() {
			for job := range jobs {
				job()
			}
		}()
	}
	go func() {
		defer close(futures)
		defer close(jobs)
		for _, in := range inputs {
			f := make(chan decoded, 1)
			select {
			case futures <- f:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- func() { f <- c.decode(in) }:
			case <-ctx.Done():
				return
			}
		}
	}()

	start := time.Now()
	done := 0
	finish := func(r Result) error {
		done++
		if r.Record.Status == StatusOK {
			sum.OK++
		} else {
			sum.Failed++
		}
		if err := emit(r); err != nil {
			return err
		}
		if progress != nil {
			el := time.Since(start)
			p := Progress{Done: done, Total: len(inputs), Failed: sum.Failed, Elapsed: el, Path: r.Record.Path}
			p.ETA = time.Duration(float64(el) / float64(done) * float64(len(inputs)-done))
			progress(p)
		}
		return nil
	}
	batch := make([]decoded, 0, c.opts.BatchSize)
	for {
		batch = batch[:0]
		for len(batch) < c.opts.BatchSize {
			f, ok := <-futures
			if !ok {
				break
			}
			select {
			case d := <-f:
				batch = append(batch, d)
			case <-ctx.Done():
				return sum, ctx.Err()
			}
		}
		if len(batch) == 0 {
			return sum, ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		results := c.infer(ctx, batch)
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		for _, r := range results {
			if err := finish(r); err != nil {
				return sum, err
			}
		}
	}
}

// decode opens one input, picks its model and renders its display image.
func (c *Classifier) decode(in Input) decoded {
	d := decoded{in: in, rec: c.newRecord(in.Path, nil)}
	if in.Err != nil {
		d.err = in.Err
		return d
	}
	t0 := time.Now()
	scan, err := dicomio.Open(in.Path)
	if err != nil {
		d.err = err
		return d
	}
	d.rec = c.newRecord(in.Path, scan)
	d.model, err = c.SelectModel(scan.Meta.Modality)
	if err != nil {
		d.err = fmt.Errorf("%s: %w", in.Path, err)
		return d
	}
	d.img, err = DisplayImage(scan, ClassifyFrame(scan), &d.model.Manifest)
	if err != nil {
		d.err = fmt.Errorf("%s: %w", in.Path, err)
	} else if !c.opts.Saliency {
		// Grey and resize here, on the decode workers, so that the engine's goroutine only normalises and runs the
		// model while the workers decode the next images. Saliency maps are sized from the display image, so with
		// saliency the engine still gets that.
		t1 := time.Now()
		d.input = inference.ModelImage(d.img, d.model.Manifest.Input)
		d.prep = time.Since(t1)
		t0 = t0.Add(d.prep)
	}
	d.decode = time.Since(t0)
	return d
}

// infer runs the batch's good images, grouped by model, and returns one result per item in order.
func (c *Classifier) infer(ctx context.Context, batch []decoded) []Result {
	out := make([]Result, len(batch))
	groups := map[*inference.Model][]int{}
	var order []*inference.Model
	for i, d := range batch {
		out[i] = Result{Record: d.rec, Decode: d.decode}
		if d.err != nil {
			rec := ErrorRecord(d.in.Path, d.err)
			rec.PatientID, rec.PatientName = d.rec.PatientID, d.rec.PatientName
			out[i].Record = rec
			continue
		}
		if groups[d.model] == nil {
			order = append(order, d.model)
		}
		groups[d.model] = append(groups[d.model], i)
	}
	for _, m := range order {
		idx := groups[m]
		imgs := make([]image.Image, len(idx))
		for j, i := range idx {
			imgs[j] = batch[i].img
			if batch[i].input != nil {
				imgs[j] = batch[i].input
			}
		}
		preds, err := c.classifyBatch(ctx, m, imgs)
		if err != nil && len(idx) > 1 && ctx.Err() == nil {
			// One bad image must not fail its neighbours: run them one by one to isolate it.
			preds, err = c.classifyEach(ctx, m, imgs)
		}
		for j, i := range idx {
			if err != nil || j >= len(preds) || preds[j].err != nil {
				e := err
				if e == nil && j < len(preds) {
					e = preds[j].err
				}
				if e == nil {
					e = ctx.Err()
				}
				rec := ErrorRecord(batch[i].in.Path, fmt.Errorf("%s: %w", batch[i].in.Path, e))
				rec.PatientID, rec.PatientName = batch[i].rec.PatientID, batch[i].rec.PatientName
				out[i].Record = rec
				continue
			}
			p := preds[j].Prediction
			p.Timing.Preprocess += batch[i].prep
			out[i].Prediction = &p
			out[i].Image = batch[i].img
			out[i].Record.fill(m, &p)
		}
	}
	return out
}

// outcome is one image's prediction or error.
type outcome struct {
	inference.Prediction
	err error
}

// classifyBatch runs imgs together; classifyEach one at a time, so that errors belong to single images.
func (c *Classifier) classifyBatch(ctx context.Context, m *inference.Model, imgs []image.Image) ([]outcome, error) {
	preds, err := c.classify(ctx, m, imgs)
	out := make([]outcome, len(preds))
	for i, p := range preds {
		out[i].Prediction = p
	}
	return out, err
}

func (c *Classifier) classifyEach(ctx context.Context, m *inference.Model, imgs []image.Image) ([]outcome, error) {
	out := make([]outcome, len(imgs))
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return out[:i], err
		}
		preds, err := c.classify(ctx, m, []image.Image{img})
		if err == nil && len(preds) == 1 {
			out[i].Prediction = preds[0]
		} else {
			out[i].err = err
		}
	}
	return out, nil
}
