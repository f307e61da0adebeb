package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/tumortracer/tumortracer/inference"
)

// Progress reports a batch's advance after every record.
type Progress struct {
	Done, Total, Failed, Refused int
	Elapsed                      time.Duration
	// ETA is the estimated time left from the mean time per record so far (0 until the first record).
	ETA  time.Duration
	Path string // the input just finished
}

// Summary counts a finished (or cancelled) batch: OK records (answers, out-of-scope ones given on request
// included), Refused ones (answers too: no model may answer) and Failed ones (errors).
type Summary struct {
	Total, OK, Refused, Failed int
}

// Run classifies every input, in order, and calls emit once per input with its result (error results carry only
// the record) as soon as its batch is done; progress, when not nil, is called after each emit. Each file goes
// through the steps of Analyse on its frame (Input.Frame, else AnalysisFrame): files are opened, their model chosen and
// their frame rendered by Options.Workers goroutines ahead of the engine, at most a few batches ahead, and no scan
// is kept after its image is rendered, so memory stays flat however many files there are. Run stops at the first
// emit error or when ctx is cancelled, returning that error; inputs not reached get no record.
func (c *Classifier) Run(ctx context.Context, inputs []Input, emit func(Result) error, progress func(Progress)) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	futures := c.prepareAhead(ctx, inputs)
	t := tally{sum: Summary{Total: len(inputs)}, start: time.Now(), emit: emit, progress: progress}
	batch := make([]prepared, 0, c.opts.BatchSize)
	for {
		var err error
		batch, err = c.nextBatch(ctx, futures, batch[:0])
		if err != nil || len(batch) == 0 {
			return t.sum, err
		}
		results := c.infer(ctx, batch)
		if err := ctx.Err(); err != nil {
			return t.sum, err
		}
		for _, r := range results {
			if err := t.finish(r); err != nil {
				return t.sum, err
			}
		}
	}
}

// prepareAhead runs prepareInput for the inputs on Options.Workers goroutines and returns, in input order, one
// future per input; at most a few batches are prepared ahead of the engine. It stops when ctx is done.
func (c *Classifier) prepareAhead(ctx context.Context, inputs []Input) <-chan chan prepared {
	futures := make(chan chan prepared, c.opts.BatchSize+2*c.opts.Workers)
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
			f := make(chan prepared, 1)
			select {
			case futures <- f:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- func() { f <- c.prepareInput(ctx, in) }:
			case <-ctx.Done():
				return
			}
		}
	}()
	return futures
}

// nextBatch appends up to Options.BatchSize prepared inputs, in order, to batch; empty when all are done.
func (c *Classifier) nextBatch(ctx context.Context, futures <-chan chan prepared, batch []prepared) ([]prepared, error) {
	for len(batch) < c.opts.BatchSize {
		f, ok := <-futures
		if !ok {
			break
		}
		select {
		case d := <-f:
			batch = append(batch, d)
		case <-ctx.Done():
			return batch, ctx.Err()
		}
	}
	return batch, ctx.Err()
}

// tally counts a run's records and reports its progress.
type tally struct {
	sum      Summary
	done     int
	start    time.Time
	emit     func(Result) error
	progress func(Progress)
}

// finish counts one result, emits it and reports progress.
func (t *tally) finish(r Result) error {
	t.done++
	switch r.Record.Status {
	case StatusOK:
		t.sum.OK++
	case StatusRefused:
		t.sum.Refused++
	default:
		t.sum.Failed++
	}
	if err := t.emit(r); err != nil {
		return err
	}
	if t.progress != nil {
		el := time.Since(t.start)
		p := Progress{Done: t.done, Total: t.sum.Total, Failed: t.sum.Failed, Refused: t.sum.Refused, Elapsed: el, Path: r.Record.Path}
		p.ETA = time.Duration(float64(el) / float64(t.done) * float64(t.sum.Total-t.done))
		t.progress(p)
	}
	return nil
}

// prepareInput opens one input (unless it comes open) and runs the steps before the forward run on its frame;
// the scan is dropped once its image is rendered.
func (c *Classifier) prepareInput(ctx context.Context, in Input) prepared {
	if in.Err != nil {
		return prepared{rec: Record{Path: in.Path}, err: in.Err}
	}
	t0 := time.Now()
	s := in.Scan
	if s == nil {
		var err error
		if s, err = c.Open(in.Path); err != nil {
			return prepared{rec: Record{Path: in.Path}, err: err, decode: time.Since(t0)}
		}
	}
	frame := AnalysisFrame(s)
	if in.Frame > 0 {
		frame = in.Frame - 1
	}
	p := c.prepare(ctx, s, frame)
	p.decode = time.Since(t0)
	if p.err == nil && p.refusal == nil && !c.saliencyFor(p.model) {
		// Grey and resize here, on the decode workers, so that the engine's goroutine only normalises and runs the
		// model while the workers decode the next images. A saliency map is sized from the display image, so a
		// model whose predictions carry one still gets that. The time goes to the preprocessing stage.
		t1 := time.Now()
		p.input = inference.ModelImage(p.img, p.model.Manifest.Input)
		p.prep = time.Since(t1)
	}
	return p
}

// infer runs the forward step for the good items, grouped by model, and returns one result per item in order:
// the record filled from the prediction, or failed with the item's error.
func (c *Classifier) infer(ctx context.Context, batch []prepared) []Result {
	out := make([]Result, len(batch))
	groups := map[*inference.Model][]int{}
	var order []*inference.Model
	for i, d := range batch {
		out[i] = Result{Record: d.rec, Decode: d.decode}
		if d.err != nil {
			out[i].Record.fail(d.err)
			continue
		}
		if d.refusal != nil {
			out[i].Record.refuse(d.refusal)
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
				if e == nil {
					e = errNoPrediction
				}
				out[i].Record.fail(e)
				continue
			}
			p := preds[j].Prediction
			p.Timing.Preprocess += batch[i].prep
			out[i].Prediction = &p
			out[i].Image = batch[i].img
			out[i].Record.fill(m, &p)
			c.checkScope(&out[i], m, &batch[i])
		}
	}
	return out
}

// checkScope is the step after the forward run: the answer given out of scope on request is marked, and the model's
// out-of-scope statistics score its pooled features; a distance above the threshold refuses the answer (its
// prediction and image are dropped: no view shows it) unless out-of-scope answers were asked for.
func (c *Classifier) checkScope(r *Result, m *inference.Model, d *prepared) {
	if d.outOfScope != nil {
		r.Record.markOutOfScope(d.outOfScope)
	}
	if d.scope == nil {
		return
	}
	sc, err := d.scope.Score(r.Prediction.Features)
	if err != nil {
		r.Record.fail(fmt.Errorf("out-of-scope check of model %s: %w", m.Manifest.ID, err))
		r.Prediction, r.Image = nil, nil
		return
	}
	r.Record.Scored, r.Record.ScopeScore, r.Record.ScopeThreshold = true, sc.D2, sc.Threshold
	if sc.InScope {
		return
	}
	p := scopeProblem(m, sc, d.gate)
	switch {
	case !c.opts.AllowOutOfScope:
		r.Record.refuse(p)
		r.Prediction, r.Image = nil, nil
	case !r.Record.OutOfScope:
		r.Record.markOutOfScope(p)
	}
}

// errNoPrediction means the engine returned fewer predictions than images.
var errNoPrediction = errors.New("the model returned no prediction for this image")

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
