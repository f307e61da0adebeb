package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/study"
)

// Series results. A series' slices go through the one path like any file (Run, one record per slice: the gate,
// the tag and scope checks included), and SummariseSeries adds their records up with the series rule of the model
// that answered them (the manifest's `series:` section): the command line's `--per series` and the window's series
// panel both call it on the same records, so they cannot differ.
//
// Refused slices (Record.Refused: the gate, a tag, the model's scope statistics) are counted and left out; a series
// whose slices were all refused is refused. A slice answered out of scope (Record.AnsweredOutOfScope: the person
// asked for that file's answer anyway) is left out the same way and counted as refused, unless out-of-scope answers
// were asked for the series itself (countOutOfScope: `--allow-out-of-scope` with `--per series`, the series panel's
// "Show anyway"); then it counts like any answer, and the series result is marked out of scope with the first such
// slice's reason. Localizers never reach a series (study files them as objects by dicomio's Metadata.Localizer, the
// test the gate refuses them by), so a series of localizers is refused, whatever was asked.

// SeriesSummary is what the records of a series' slices add up to.
type SeriesSummary struct {
	// Status is StatusOK when at least one slice was classified by a model with a series rule, StatusRefused when
	// every decided slice was refused (or the model states no series rule), StatusError when none could be
	// classified; empty while no slice is decided yet.
	Status string
	// Problem says why Status is not ok; nil otherwise.
	Problem *Problem
	// OutOfScope counts the slices answered out of scope (Record.AnsweredOutOfScope) among Classified when
	// out-of-scope answers count, else among Refused. Reason, set only when they count and some were aggregated,
	// says so with the first one's reason: the series result is then out of scope too.
	OutOfScope int
	Reason     string
	// Model answered most of the classified slices; only its slices are aggregated.
	Model, Version, Device string
	Rule                   *inference.SeriesRule
	// Slices counts all slices; Classified those the series model answered (and that count), Refused those no
	// model may answer (and the uncounted out-of-scope answers), Failed those that failed or that another model
	// answered, Pending those without a record yet.
	Slices, Classified, Refused, Failed, Pending int
	// Label is the class with the highest series score, Score that score, Scores every class's (manifest order).
	Label  string
	Score  float64
	Scores []ClassValue
	// Key is the index of the key slice, the aggregated slice with the highest probability for Label; -1 when
	// there is none.
	Key int
}

// NoSeriesRule reports a series whose slices were answered by a model that states no series rule (a film's): its
// slices keep their own results, and it has no series result — which is not a refusal of its images.
func (s *SeriesSummary) NoSeriesRule() bool {
	return s.Problem != nil && errors.Is(s.Problem, ErrNoSeriesRule)
}

// ModelLookup returns the manifest of the model with id, or nil.
type ModelLookup func(id string) *inference.Manifest

// CatalogueLookup looks models up in cat.
func CatalogueLookup(cat *inference.Catalogue) ModelLookup {
	return func(id string) *inference.Manifest {
		if cat == nil {
			return nil
		}
		m, err := cat.Get(id)
		if err != nil {
			return nil
		}
		return &m.Manifest
	}
}

// SummariseSeries adds up the records of a series' slices, in series order (nil: not classified yet), with the
// series rule of the model that answered most of them; countOutOfScope counts the slices answered out of scope
// (see above). It is pure: the window calls it again as records arrive.
func SummariseSeries(recs []*Record, models ModelLookup, countOutOfScope bool) SeriesSummary {
	sum, firstRefusal, firstFailure := tallySlices(recs, countOutOfScope)
	if sum.Model == "" {
		switch {
		case sum.Pending > 0: // undecided: a slice still to come may be classified
		case sum.Failed == 0:
			sentence, lead := fmt.Sprintf("All %d slices were refused.", sum.Refused), "The first: "
			if sum.Refused == 1 {
				sentence, lead = "Its only slice was refused.", ""
			}
			sum.Status, sum.Problem = StatusRefused, seriesProblem(sentence, lead, firstRefusal)
		default:
			sum.Status, sum.Problem = StatusError, seriesProblem(fmt.Sprintf("None of the %d slices could be classified.", sum.Slices), "The first: ", firstFailure)
		}
		return sum
	}
	m := models(sum.Model)
	if m == nil || m.Series == nil {
		sum.Status = StatusRefused
		sum.Problem = &Problem{
			Sentence: fmt.Sprintf("Model %s states no series rule, so this series gets no series result; each slice keeps its own.", sum.Model),
			Err:      fmt.Errorf("model %s: %w", sum.Model, ErrNoSeriesRule),
		}
		return sum
	}
	return aggregate(sum, recs, m, countOutOfScope)
}

// leftOut reports a slice the series result leaves out as refused: a refusal, or an answer given out of scope
// that does not count.
func leftOut(r *Record, countOutOfScope bool) bool {
	return r.Refused() || (r.AnsweredOutOfScope() && !countOutOfScope)
}

// tallySlices counts the records by state and picks the series model, the one that answered most slices (the
// first to appear on a tie); slices another model answered count as failed. It also returns the first refused
// and the first failed record, whose sentences explain a series that has no result.
func tallySlices(recs []*Record, countOutOfScope bool) (sum SeriesSummary, firstRefusal, firstFailure *Record) {
	sum = SeriesSummary{Slices: len(recs), Key: -1}
	counts := map[string]int{}
	var order []string
	var first = map[string]*Record{}
	for _, r := range recs {
		switch {
		case r == nil:
			sum.Pending++
		case leftOut(r, countOutOfScope):
			sum.Refused++
			if r.AnsweredOutOfScope() {
				sum.OutOfScope++
			}
			if firstRefusal == nil {
				firstRefusal = r
			}
		case r.Status == StatusOK:
			if counts[r.Model] == 0 {
				order, first[r.Model] = append(order, r.Model), r
			}
			counts[r.Model]++
		default:
			sum.Failed++
			if firstFailure == nil {
				firstFailure = r
			}
		}
	}
	for _, id := range order {
		if counts[id] > counts[sum.Model] {
			sum.Model = id
		}
	}
	if sum.Model != "" {
		sum.Classified = counts[sum.Model]
		sum.Failed += sum.Slices - sum.Pending - sum.Refused - sum.Failed - sum.Classified
		sum.Version, sum.Device = first[sum.Model].Version, first[sum.Model].Device
	}
	return sum, firstRefusal, firstFailure
}

// aggregate applies m's series rule to the slices m answered that count: the class scores, the label, the key
// slice, and with countOutOfScope the out-of-scope mark.
func aggregate(sum SeriesSummary, recs []*Record, m *inference.Manifest, countOutOfScope bool) SeriesSummary {
	var rows [][]float64
	var rowSlice []int
	var firstOut *Record
	for i, r := range recs {
		if r == nil || leftOut(r, countOutOfScope) || r.Status != StatusOK || r.Model != sum.Model {
			continue
		}
		if r.AnsweredOutOfScope() {
			sum.OutOfScope++
			if firstOut == nil {
				firstOut = r
			}
		}
		row := make([]float64, len(m.Classes))
		for c, cl := range m.Classes {
			row[c], _ = r.P(cl.ID)
		}
		rows, rowSlice = append(rows, row), append(rowSlice, i)
	}
	sum.Rule = m.Series
	scores, err := m.Series.Aggregate(rows)
	if err != nil {
		sum.Status, sum.Problem = StatusError, Explain(fmt.Errorf("series rule of %s: %w", sum.Model, err))
		return sum
	}
	best := 0
	for c, v := range scores {
		sum.Scores = append(sum.Scores, ClassValue{ID: m.Classes[c].ID, Probability: v})
		if v > scores[best] {
			best = c
		}
	}
	sum.Status, sum.Label, sum.Score = StatusOK, m.Classes[best].ID, scores[best]
	key := 0
	for j, row := range rows {
		if row[best] > rows[key][best] {
			key = j
		}
	}
	sum.Key = rowSlice[key]
	if firstOut != nil {
		sum.Reason = joinSentences(fmt.Sprintf("%d of the %d slices in this result were answered although they are out of scope, because out-of-scope answers were asked for.",
			sum.OutOfScope, sum.Classified), "The first: "+lowerFirst(firstOut.Reason))
	}
	return sum
}

// seriesProblem is a series problem: the series' sentence followed by the first slice's (after lead, "The first: "
// or nothing), with that slice's hints (an answer given out of scope that does not count has no problem, only its
// reason).
func seriesProblem(sentence, lead string, first *Record) *Problem {
	p := &Problem{Sentence: sentence, Err: ErrNoSliceClassified}
	switch {
	case first == nil:
	case first.Problem() != nil:
		fp := first.Problem()
		p.Sentence = joinSentences(sentence, lead+leadCase(lead, fp.Sentence))
		p.WindowHint, p.CLIHint, p.Err = fp.WindowHint, fp.CLIHint, fmt.Errorf("%w: %w", ErrNoSliceClassified, fp)
	case first.Reason != "":
		p.Sentence = joinSentences(sentence, lead+leadCase(lead, first.Reason))
		p.Err = fmt.Errorf("%w: %w", ErrNoSliceClassified, ErrOutOfScope)
	}
	return p
}

// leadCase is s to follow lead: lower-cased after one, as it was written when there is none.
func leadCase(lead, s string) string {
	if lead == "" {
		return s
	}
	return lowerFirst(s)
}

// Sentinel errors of series results.
var (
	// ErrNoSeriesRule means the model that answered a series' slices states no series rule.
	ErrNoSeriesRule = errors.New("the model states no series rule")
	// ErrNoSliceClassified means no slice of a series was classified.
	ErrNoSliceClassified = errors.New("no slice of the series was classified")
	// ErrNotInSeries means a file belongs to no series, so a per-series run gives it no result.
	ErrNotInSeries = errors.New("the file belongs to no series")
	// ErrNotClassifiableSeries means a series holds no images to classify (localizers, reports …).
	ErrNotClassifiableSeries = errors.New("the series holds no image to classify")
)

// SeriesResult is one series classified: its record, every slice's record in series order, and the key slice's
// result with the display image and prediction (saliency as the classifier's mode gives it), nil when there is
// no key slice.
type SeriesResult struct {
	Record  SeriesRecord
	Summary SeriesSummary
	Slices  []Record
	Key     *Result
}

// RunSeries classifies every slice of series s of ix through Run — a single-frame file by its path, the frames of a
// multi-frame file through one open scan — and summarises them (SummariseSeries). A series without slices
// (localizers, reports) is not classified: its record is refused with a sentence saying what it holds. progress
// is Run's. The error is Run's (ctx cancelled); the result then holds the slices done.
func (c *Classifier) RunSeries(ctx context.Context, ix *study.Index, s *study.Series, progress func(Progress)) (SeriesResult, error) {
	if !s.Classifiable() {
		return SeriesResult{Record: NewSeriesRecord(ix, s, SeriesSummary{}, c.opts.IncludePatient)}, nil
	}
	inputs := c.seriesInputs(ix, s)
	recs := make([]Record, 0, len(inputs))
	// The best slice per model and class keeps its image, so that the key slice's is at hand without a second
	// decode: a handful of images, whatever the series' length.
	best := map[string][]slot{}
	_, err := c.Run(ctx, inputs, func(r Result) error {
		i := len(recs)
		recs = append(recs, r.Record)
		if r.Prediction == nil || r.Record.Status != StatusOK {
			return nil
		}
		b := best[r.Record.Model]
		if b == nil {
			b = make([]slot, len(r.Record.Probabilities))
			best[r.Record.Model] = b
		}
		for k, cv := range r.Record.Probabilities {
			if k < len(b) && (b[k].result == nil || cv.Probability > b[k].p) {
				keep := r
				b[k] = slot{slice: i, p: cv.Probability, result: &keep}
			}
		}
		return nil
	}, progress)
	ptrs := make([]*Record, len(inputs))
	for i := range recs {
		ptrs[i] = &recs[i]
	}
	sum := SummariseSeries(ptrs, CatalogueLookup(c.cat), c.opts.AllowOutOfScope)
	out := SeriesResult{Record: NewSeriesRecord(ix, s, sum, c.opts.IncludePatient), Summary: sum, Slices: recs}
	if sum.Key >= 0 {
		if m, err := c.cat.Get(sum.Model); err == nil {
			// The first slice with the highest probability for the label, as SummariseSeries chose it.
			if k := m.Manifest.ClassIndex(sum.Label); k >= 0 && k < len(best[sum.Model]) && best[sum.Model][k].slice == sum.Key {
				out.Key = best[sum.Model][k].result
			}
		}
	}
	return out, err
}

// slot is the best slice so far for one class: its index, probability and result.
type slot struct {
	slice  int
	p      float64
	result *Result
}

// seriesInputs are the inputs of Run for the slices of s, in series order. The frames of a multi-frame file share
// one open scan; a file that cannot be opened gives each of its slices that error.
func (c *Classifier) seriesInputs(ix *study.Index, s *study.Series) []Input {
	open := map[string]*Scan{}
	failed := map[string]error{}
	inputs := make([]Input, len(s.Slices))
	for i, sl := range s.Slices {
		in := Input{Path: sl.Path, Frame: sl.Frame + 1}
		if ix.Entries[sl.Entry].Frames > 1 {
			if err, ok := failed[sl.Path]; ok {
				in.Err = err
			} else if sc := open[sl.Path]; sc != nil {
				in.Scan = sc
			} else if sc, err := c.Open(sl.Path); err != nil {
				failed[sl.Path], in.Err = err, err
			} else {
				open[sl.Path], in.Scan = sc, sc
			}
		}
		inputs[i] = in
	}
	return inputs
}

// kindNouns name, in a sentence, what a series without images holds.
var kindNouns = map[study.Kind]string{
	study.KindLocalizer:         "localizer (scout) images",
	study.KindDoseReport:        "dose reports",
	study.KindStructuredReport:  "structured reports",
	study.KindKeyObject:         "key object selections",
	study.KindSegmentation:      "segmentations",
	study.KindPresentationState: "presentation states",
	study.KindOtherObject:       "non-image objects",
	study.KindUnreadable:        "files that could not be used",
}

// notClassifiable is the summary of a series without slices: refused, saying what it holds.
func notClassifiable(s *study.Series) SeriesSummary {
	noun, ok := kindNouns[s.Kind]
	if !ok {
		noun = string(s.Kind) + " objects"
	}
	n := len(s.Objects)
	files := "files"
	if n == 1 {
		files = "file"
	}
	return SeriesSummary{Status: StatusRefused, Key: -1, Problem: &Problem{
		Sentence: fmt.Sprintf("This series holds only %s (%d %s), which are listed but not classified.", noun, n, files),
		Err:      fmt.Errorf("series %s (%s): %w", s.Key, s.Kind, ErrNotClassifiableSeries),
	}}
}

// FileSeriesRecord is the record of a file that gets no series result (unreadable, no series, a picture): status
// error, its path in key_slice.
func FileSeriesRecord(path string, err error) SeriesRecord {
	p := Explain(err)
	return SeriesRecord{Status: StatusError, Error: p.Sentence, KeySlice: path, problem: p}
}

// LeftoverRecords returns, in entry order, a record for every entry of ix that no series record speaks for: files
// that could not be read or used (also those listed with a series), DICOM files without a series, PNG/JPEG
// pictures (a folder of pictures is not an acquisition: they are classified per file), and a DICOMDIR that listed
// no file. With the series records, every input then has a line.
func LeftoverRecords(ix *study.Index) []SeriesRecord {
	var out []SeriesRecord
	for _, e := range ix.Entries {
		switch {
		case e.Err != nil:
			out = append(out, FileSeriesRecord(e.Path, &Problem{Sentence: study.Sentence(e.Err), Err: e.Err}))
		case e.Kind == study.KindPicture:
			out = append(out, FileSeriesRecord(e.Path, &Problem{
				Sentence: "PNG and JPEG images form no series (a folder of pictures is not an acquisition), so they get no series result.",
				CLIHint:  "Classify them with --per file.",
				Err:      ErrNotInSeries,
			}))
		case e.Kind == study.KindDirectory && e.Listed == 0:
			out = append(out, FileSeriesRecord(e.Path, &Problem{
				Sentence: "This DICOMDIR lists no files.",
				Err:      ErrNotInSeries,
			}))
		case e.Kind != study.KindDirectory && e.SeriesKey == "":
			out = append(out, FileSeriesRecord(e.Path, &Problem{
				Sentence: "This file belongs to no series.",
				Err:      ErrNotInSeries,
			}))
		}
	}
	return out
}
