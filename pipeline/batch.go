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
// through the steps of Analyse on its frame (Input.Frame, else AnalysisFrame), in three stages that overlap:
//
//   - Options.Workers goroutines open files and render their frame for the gate (at most a few batches ahead of
//     the engine, and within Options.DecodeMemory), and drop each scan once its image is made;
//   - one goroutine gathers them into batches in input order and runs the gate once per batch (with a Chooser
//     other than GateChooser the workers choose instead, one scan at a time);
//   - the caller's goroutine runs each batch's classifier forward and emits the records,
//
// so memory stays flat however many files there are. Run stops at the first emit error or when ctx is cancelled,
// returning that error; inputs not reached get no record.
func (c *Classifier) Run(ctx context.Context, inputs []Input, emit func(Result) error, progress func(Progress)) (Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := c.decideAhead(ctx, c.prepareAhead(ctx, inputs))
	t := tally{sum: Summary{Total: len(inputs)}, start: time.Now(), emit: emit, progress: progress}
	for batch := range batches {
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
	return t.sum, ctx.Err()
}

// prepareAhead runs prepareInput for the inputs on Options.Workers goroutines and returns, in input order, one
// future per input; at most two files a worker are prepared ahead of the batch the gate's goroutine is gathering
// (so, with that batch and the engine's, as many files are held at once as before the gate had its goroutine). It
// stops when ctx is done.
func (c *Classifier) prepareAhead(ctx context.Context, inputs []Input) <-chan chan prepared {
	futures := make(chan chan prepared, 2*c.opts.Workers)
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

// decideAhead gathers the prepared inputs into batches of Options.BatchSize, in order, and on its own goroutine
// makes each batch's choices (decideBatch) while the engine runs the classifiers on the batch before. The channel
// closes when all are done or ctx is.
func (c *Classifier) decideAhead(ctx context.Context, futures <-chan chan prepared) <-chan []prepared {
	out := make(chan []prepared)
	go func() {
		defer close(out)
		for {
			batch, err := c.nextBatch(ctx, futures, make([]prepared, 0, c.opts.BatchSize))
			if err != nil || len(batch) == 0 {
				return
			}
			c.decideBatch(ctx, batch)
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// decideBatch makes the choices the workers left to the gate's run: one run for the batch's looks, then each
// scan's decision and its model's image. A model that shares the gate's window and input size classifies the very
// image the gate did; another gets its own, made here from the display image (or rendered from the scan the look
// kept for a window of its own).
func (c *Classifier) decideBatch(ctx context.Context, batch []prepared) {
	var looks []*gateLook
	var idx []int
	for i := range batch {
		if batch[i].look != nil {
			looks, idx = append(looks, batch[i].look), append(idx, i)
		}
	}
	if len(looks) == 0 {
		return
	}
	gc := c.opts.Chooser.(GateChooser) // only GateChooser's workers leave looks
	t0 := time.Now()
	decisions := gc.decide(ctx, looks)
	share := time.Since(t0) / time.Duration(len(looks))
	for k, i := range idx {
		p, l := &batch[i], looks[k]
		p.look = nil
		t1 := time.Now()
		p.apply(decisions[k].choice, decisions[k].err, l.scan, l.frame)
		p.decode += time.Since(t1)
		p.gateRun = share
		if p.err != nil || p.refusal != nil || c.saliencyFor(p.model) {
			continue
		}
		t2 := time.Now()
		in := p.model.Manifest.Input
		if b := l.input.Bounds(); p.img == l.display && b.Dx() == in.Width && b.Dy() == in.Height {
			p.input, p.prep = l.input, l.prep
		} else {
			p.input = inference.ModelImage(p.img, in)
		}
		p.prep += time.Since(t2)
	}
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

// prepareInput opens one input (unless it comes open) and runs the steps before the forward run on its frame, or
// with GateChooser those before the gate's run (its look); the scan is dropped once its images are made, unless
// the look keeps it for a model with a window of its own. The reading, decoding and rendering hold a reservation
// of the decode memory: the file's size, then what its frame takes (decodeMemory).
func (c *Classifier) prepareInput(ctx context.Context, in Input) prepared {
	if in.Err != nil {
		return prepared{rec: Record{Path: in.Path}, err: in.Err}
	}
	t0 := time.Now()
	var size int64
	if in.Scan == nil {
		size = fileSize(in.Path)
	}
	held, err := c.budget.acquire(ctx, size)
	defer func() { c.budget.release(held) }()
	if err != nil {
		return prepared{rec: Record{Path: in.Path}, err: err}
	}
	s := in.Scan
	if s == nil {
		if s, err = c.Open(in.Path); err != nil {
			return prepared{rec: Record{Path: in.Path}, err: err, decode: time.Since(t0)}
		}
	}
	if held, err = c.budget.grow(ctx, held, size+decodeMemory(s)); err != nil {
		return prepared{rec: Record{Path: in.Path}, err: err}
	}
	frame := AnalysisFrame(s)
	if in.Frame > 0 {
		frame = in.Frame - 1
	}
	if gc, ok := c.opts.Chooser.(GateChooser); ok {
		p := prepared{rec: c.newRecord(s, frame)}
		l, choice, err := gc.look(s, frame)
		if l == nil {
			p.apply(choice, err, s, frame)
			c.modelInput(&p)
		}
		p.look, p.decode = l, time.Since(t0)
		if l != nil {
			p.decode -= l.prep // preprocessing, counted when the model shares it
		}
		return p
	}
	p := c.prepare(ctx, s, frame)
	p.decode = time.Since(t0)
	c.modelInput(&p)
	return p
}

// modelInput greys and resizes p's image for its model here, on the decode workers, so that the engine's goroutine
// only normalises and runs the model while the workers decode the next images. A saliency map is sized from the
// display image, so a model whose predictions carry one still gets that. The time goes to the preprocessing stage.
func (c *Classifier) modelInput(p *prepared) {
	if p.err != nil || p.refusal != nil || c.saliencyFor(p.model) {
		return
	}
	t := time.Now()
	p.input = inference.ModelImage(p.img, p.model.Manifest.Input)
	p.prep = time.Since(t)
}

// infer runs the forward step for the good items, grouped by model, and returns one result per item in order:
// the record filled from the prediction, or failed with the item's error.
func (c *Classifier) infer(ctx context.Context, batch []prepared) []Result {
	out := make([]Result, len(batch))
	groups := map[*inference.Model][]int{}
	var order []*inference.Model
	for i, d := range batch {
		out[i] = Result{Record: d.rec, Decode: d.decode, Gate: d.gateRun}
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
