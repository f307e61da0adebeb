package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"strings"
	"time"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// The gate (issue 12). GateChooser is the Chooser both front ends use: for every scan it decides which classifier
// may answer, or refuses with one sentence saying what the image looked like and which models exist.
//
//   - Content routes: the catalogue's gate (inference.Catalogue.Gate) looks at the 8-bit image a classifier would
//     see and names its class; the gate's routes say which model answers that class ("other" has none: refused).
//     PNG, JPEG and DICOM all go this way; the DICOM Modality never chooses the model.
//   - Tags can only refuse: a localizer or scout (dicomio.Metadata.Localizer, the test by which the series index
//     keeps them out of series), a Modality the chosen model does not accept (the tags contradict the content), and
//     the model's population (inference.Population: BodyPartExamined, the slice plane from
//     ImageOrientationPatient, the age from PatientAge or PatientBirthDate and StudyDate, ViewPosition). A tag the
//     file lacks refuses nothing, so PNG and JPEG are never refused by tags.
//   - After the forward run, the model's out-of-scope statistics (inference.Model.Scope; none: no check) score its
//     pooled features; a distance above the model's threshold is refused (Classifier.infer does that step).
//   - A forced model (--model, the window's Model list) skips the routing but not the checks: the gate still refuses
//     an image it sends to another model or to none, when it routes to the forced model at all (a model the gate
//     knows nothing of is judged by its own population and statistics only).
//   - AllowOutOfScope (--allow-out-of-scope, "Show anyway") turns every refusal that has a model to ask into an
//     answer marked out of scope with the refusal's sentence. For an image the gate calls "other" that model is the
//     routed class the gate found most probable.
//
// Without a gate in the catalogue the modality rule (ModalityChooser) chooses, and the tag and scope checks still
// run.

// GateView is what the gate saw in an image: its most probable class and that class's probability.
type GateView struct {
	Gate        *inference.Model
	Class, Name string // class id and display name
	Probability float64
	// Classes holds every class's probability, in the gate's class order.
	Classes []inference.ClassProbability
}

// ID is the gate's "id@version", the record's gate column.
func (v *GateView) ID() string { return v.Gate.Manifest.ID + "@" + v.Gate.Manifest.Version }

// GateChooser chooses by content with the catalogue's gate and refuses what fails a check (see above). It is safe
// for concurrent use: the gate's runs go through Engine, which serialises runs of one model.
type GateChooser struct {
	Catalogue *inference.Catalogue
	// Engine runs the gate (nil: every scan fails with inference.ErrRuntimeMissing when a gate is installed).
	Engine Engine
	// ModelID forces a model (empty: chosen by content).
	ModelID string
	// AllowOutOfScope gives the answer of a scan that fails a check, marked out of scope, instead of refusing it.
	AllowOutOfScope bool
}

// Choose implements Chooser: the decode worker's step (look) and the decision (decide) for one scan.
func (c GateChooser) Choose(ctx context.Context, s *Scan, frame int) (Choice, error) {
	l, ch, err := c.look(s, frame)
	if l == nil {
		return ch, err
	}
	l.scan = s // the caller holds the scan anyway
	return c.decide(ctx, []*gateLook{l})[0].result()
}

// gateLook is a scan made ready on a decode worker for the gate's run: the frame rendered with the gate's window
// and made grey at the gate's input size, and what the decision reads of the scan besides its image (facts). Run's
// decode workers make one per file and the gate then runs once for a whole batch of them (decide); the scan
// itself is kept only while a model the decision may choose needs the frame rendered with a window of its own.
type gateLook struct {
	gate, forced *inference.Model
	facts        scanFacts
	// display is the frame rendered with the gate's window, the image a model sharing that window classifies;
	// input is display through inference.ModelImage at the gate's input size, what the gate's run normalises (and
	// the classifier's, when its input has that size).
	display image.Image
	input   *image.Gray
	prep    time.Duration // the time input took
	// shared lists the candidate models (the forced one, or those the gate routes to) whose window for this frame
	// is the gate's: they classify display. scan and frame are kept only while a candidate that may answer (one
	// whose Modality check will not refuse the file, or any with AllowOutOfScope) needs a window of its own.
	shared []*inference.Model
	scan   *Scan
	frame  int
}

// look is the decode worker's part of Choose: it renders frame of s for the gate and makes the gate's input. A
// decision that needs no gate run (a forced gate, no gate in the catalogue: the modality rule) comes back as the
// Choice (or error) with a nil look.
func (c GateChooser) look(s *Scan, frame int) (*gateLook, Choice, error) {
	var forced *inference.Model
	if c.ModelID != "" {
		m, err := c.Catalogue.Get(c.ModelID)
		if err != nil {
			return nil, Choice{}, err
		}
		if m.Manifest.IsGate() {
			return nil, Choice{Refusal: gateForced(m, c.Catalogue)}, nil
		}
		forced = m
	}
	facts := factsOf(s, frame)
	gate := c.Catalogue.Gate()
	if gate == nil {
		m := forced
		if m == nil {
			var p *Problem
			if m, p = (ModalityChooser{Catalogue: c.Catalogue}).Select(s.File.Meta.Modality); p != nil {
				return nil, Choice{Refusal: p}, nil
			}
		}
		ch, err := c.finish(Choice{Model: m}, c.tagProblem(&facts, m, nil))
		return nil, ch, err
	}
	display, err := DisplayImage(s, frame, &gate.Manifest)
	if err != nil {
		return nil, Choice{}, err
	}
	t := time.Now()
	l := &gateLook{gate: gate, forced: forced, facts: facts, display: display,
		input: inference.ModelImage(display, gate.Manifest.Input)}
	l.prep = time.Since(t)
	candidates := []*inference.Model{forced}
	if forced == nil {
		candidates = c.routed(gate)
	}
	for _, m := range candidates {
		switch {
		case sameWindow(s, frame, &gate.Manifest, &m.Manifest):
			l.shared = append(l.shared, m)
		case c.AllowOutOfScope || modalityProblem(&facts, m) == "":
			l.scan, l.frame = s, frame // m may answer with a window of its own: keep the scan for its render
		}
	}
	return l, Choice{}, nil
}

// gateDecision is one look's decision, or the error that stopped it.
type gateDecision struct {
	choice Choice
	err    error
}

func (d gateDecision) result() (Choice, error) { return d.choice, d.err }

// decide runs the gate once on every look's input (the engine splits the run into its batch size; a failed run
// is retried image by image so that an error belongs to its image) and makes each look's decision: the routing,
// the tag checks and the chosen model's scope statistics. All looks are of one catalogue, so of one gate.
func (c GateChooser) decide(ctx context.Context, looks []*gateLook) []gateDecision {
	out := make([]gateDecision, len(looks))
	views, errs := c.see(ctx, looks)
	for i, l := range looks {
		if errs[i] != nil {
			out[i].err = errs[i]
			continue
		}
		out[i].choice, out[i].err = c.route(l, views[i])
	}
	return out
}

// see is the gate's run over the looks' inputs: what it saw in each image, or why it could not say (the run's
// error, naming the gate; inference.ErrRuntimeMissing as it is).
func (c GateChooser) see(ctx context.Context, looks []*gateLook) ([]*GateView, []error) {
	views, errs := make([]*GateView, len(looks)), make([]error, len(looks))
	if c.Engine == nil {
		for i := range errs {
			errs[i] = inference.ErrRuntimeMissing
		}
		return views, errs
	}
	gate := looks[0].gate
	imgs := make([]image.Image, len(looks))
	for i, l := range looks {
		imgs[i] = inference.WithModelImage(l.display, l.input)
	}
	preds, err := c.Engine.Classify(ctx, gate, imgs, false)
	if err == nil && len(preds) != len(imgs) {
		err = errNoPrediction
	}
	if err != nil && len(imgs) > 1 && ctx.Err() == nil {
		// One bad image must not fail its neighbours: run them one by one to isolate it.
		preds = make([]inference.Prediction, len(imgs))
		for i := range imgs {
			p, err := c.Engine.Classify(ctx, gate, imgs[i:i+1], false)
			if err == nil && len(p) != 1 {
				err = errNoPrediction
			}
			if errs[i] = err; err == nil {
				preds[i] = p[0]
			}
		}
		err = nil
	}
	for i := range looks {
		if err != nil {
			errs[i] = err
		}
		if errs[i] != nil {
			errs[i] = fmt.Errorf("gate %s: %w", gate.Manifest.ID, errs[i])
			continue
		}
		p := preds[i]
		views[i] = &GateView{Gate: gate, Class: p.Label, Name: className(&gate.Manifest, p.Label), Probability: p.Probability, Classes: p.Classes}
	}
	return views, errs
}

// route decides for one look from what the gate saw: the routed (or forced) model, or the refusal, with the tag
// checks; the model classifies the gate's image when it shares the gate's window.
func (c GateChooser) route(l *gateLook, view *GateView) (Choice, error) {
	gate, f := l.gate, &l.facts
	ch := Choice{Gate: view}
	routed, ok := gate.Manifest.Routes[view.Class]
	var problem *Problem
	switch {
	case l.forced != nil:
		ch.Model = l.forced
		if routesTo(gate, l.forced.Manifest.ID) && routed != l.forced.Manifest.ID {
			problem = c.mismatch(f, view, l.forced)
		}
	case !ok:
		problem = c.notAnswered(f, view)
		if c.AllowOutOfScope {
			ch.Model = c.likeliest(view) // a refused record names no model: the content fits none
		}
	default:
		m, err := c.Catalogue.Get(routed)
		if err != nil {
			return Choice{Gate: view, Refusal: &Problem{
				Sentence: fmt.Sprintf("%s looks like a %s (%s), but %s, the model for those, is not installed.",
					f.describe(), lowerFirst(view.Name), percent(view.Probability), routed),
				Err: fmt.Errorf("route %s → %s: %w", view.Class, routed, err),
			}}, nil
		}
		ch.Model = m
	}
	if problem == nil && ch.Model != nil {
		problem = c.tagProblem(f, ch.Model, view)
	}
	if slices.Contains(l.shared, ch.Model) {
		ch.Image = l.display // what the gate saw is what the model would see: rendered once
	}
	return c.finish(ch, problem)
}

// routed are the installed models the gate routes to, in the gate's class order.
func (c GateChooser) routed(gate *inference.Model) []*inference.Model {
	var out []*inference.Model
	for _, cl := range gate.Manifest.Classes {
		if id, ok := gate.Manifest.Routes[cl.ID]; ok {
			if m, err := c.Catalogue.Get(id); err == nil && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// scanFacts is what the decision reads of a scan besides its image — its format, its tags and the frame's plane —
// taken on the decode worker so that the scan (its file bytes, its decoded frame) need not wait for the gate's run.
type scanFacts struct {
	format dicomio.Format
	meta   dicomio.Metadata
	plane  string // the frame's anatomical plane ("" without one)
}

func factsOf(s *Scan, frame int) scanFacts {
	return scanFacts{format: s.File.Format, meta: s.File.Meta, plane: planeOf(s, frame)}
}

// finish applies the decision: a problem refuses (or, with AllowOutOfScope and a model to ask, marks the answer out
// of scope), and the chosen model's out-of-scope statistics come along for the step after its forward run.
func (c GateChooser) finish(ch Choice, problem *Problem) (Choice, error) {
	if problem != nil {
		if !c.AllowOutOfScope || ch.Model == nil {
			ch.Refusal = problem
			return ch, nil
		}
		ch.OutOfScope = problem
	}
	if ch.Model == nil {
		return ch, nil
	}
	sc, err := ch.Model.Scope()
	switch {
	case errors.Is(err, inference.ErrNoScope):
	case err != nil:
		return Choice{}, err
	default:
		ch.Scope = sc
	}
	return ch, nil
}

// likeliest is the model of the routed class the gate found most probable (installed ones only): whom to ask for
// an image the gate calls "other" when out-of-scope answers were asked for. Nil when none is installed.
func (c GateChooser) likeliest(v *GateView) *inference.Model {
	var best *inference.Model
	bestP := -1.0
	for _, cp := range v.Classes {
		id, ok := v.Gate.Manifest.Routes[cp.ID]
		if !ok || cp.Probability <= bestP {
			continue
		}
		if m, err := c.Catalogue.Get(id); err == nil {
			best, bestP = m, cp.Probability
		}
	}
	return best
}

// routesTo reports whether the gate routes some class to model id.
func routesTo(gate *inference.Model, id string) bool {
	for _, m := range gate.Manifest.Routes {
		if m == id {
			return true
		}
	}
	return false
}

// sameWindow reports whether frame of s renders the same for both manifests (same VOI window; PNG/JPEG always).
func sameWindow(s *Scan, frame int, a, b *inference.Manifest) bool {
	f, i := s.analysisFile(frame)
	wa, errA := Window(f, i, a)
	wb, errB := Window(f, i, b)
	return errA == nil && errB == nil && wa == wb
}

// tagProblem is the first tag that refuses m for frame of s (nil when none does): a localizer, a Modality m does
// not accept, then m's population. Files without tags (PNG, JPEG) pass.
func (c GateChooser) tagProblem(f *scanFacts, m *inference.Model, v *GateView) *Problem {
	meta := &f.meta
	if f.format != dicomio.FormatDICOM {
		return nil
	}
	if why := meta.Localizer(); why != "" {
		// The study index files the same images as localizers, never as slices of a series (dicomio decides both).
		return c.outOfScope(fmt.Sprintf("%s is a localizer (scout) image (%s), not a slice or a film%s; %s.",
			f.describe(), why, seen(v), c.offer()), fmt.Errorf("localizer, %s: %w", why, ErrOutOfScope))
	}
	if mod := modalityProblem(f, m); mod != "" {
		err := fmt.Errorf("modality %s, model %s: %w", mod, m.Manifest.ID, ErrOutOfScope)
		if v == nil {
			return c.outOfScope(fmt.Sprintf("%s is not of a modality %s accepts (%s).", f.describe(), m.Manifest.ID,
				strings.Join(m.Manifest.Modalities, ", ")), err)
		}
		return c.outOfScope(fmt.Sprintf("%s looks like a %s (%s), but its Modality tag says %s, which %s does not accept: the tags and the content disagree; %s.",
			f.describe(), lowerFirst(v.Name), percent(v.Probability), mod, m.Manifest.ID, c.offer()), err)
	}
	if m.Manifest.Population == nil {
		return nil
	}
	return c.populationProblem(f, m, v)
}

// modalityProblem is the DICOM Modality that m does not accept ("" when m accepts it, or the file has none): the
// tag check that refuses the file for m.
func modalityProblem(f *scanFacts, m *inference.Model) string {
	if mod := strings.ToUpper(strings.TrimSpace(f.meta.Modality)); f.format == dicomio.FormatDICOM && mod != "" && !m.Manifest.Accepts(mod) {
		return mod
	}
	return ""
}

// populationProblem checks the tags against m's population.
func (c GateChooser) populationProblem(f *scanFacts, m *inference.Model, v *GateView) *Problem {
	meta, pop, id := &f.meta, m.Manifest.Population, m.Manifest.ID
	refuse := func(sentence string, what string) *Problem {
		return c.outOfScope(sentence, fmt.Errorf("%s, model %s: %w", what, id, ErrOutsidePopulation))
	}
	if bp := strings.ToUpper(strings.TrimSpace(meta.BodyPart)); bp != "" && len(pop.BodyParts) > 0 && !slices.Contains(pop.BodyParts, bp) {
		return refuse(fmt.Sprintf("%s is tagged BodyPartExamined %s%s; %s answers %s images only.",
			f.describe(), bp, seen(v), id, orList(pop.BodyParts)), "body part "+bp)
	}
	if plane := f.plane; plane != "" && len(pop.Planes) > 0 && !slices.Contains(pop.Planes, plane) {
		return refuse(fmt.Sprintf("%s is %s slice (ImageOrientationPatient)%s; %s answers %s slices only.",
			f.describe(), article(plane), seen(v), id, orList(pop.Planes)), "plane "+plane)
	}
	if r := pop.AgeYears; r != nil {
		if years, from, ok := meta.Age(); ok && !r.Contains(years) {
			src := "PatientAge " + meta.PatientAge
			if from == dicomio.AgeFromBirthDate {
				src = "from PatientBirthDate and StudyDate"
			}
			return refuse(fmt.Sprintf("The patient was %s old (%s); %s was trained on patients aged %s.",
				ageText(years), src, id, r), fmt.Sprintf("age %.2f years", years))
		}
	}
	if vp := strings.ToUpper(strings.TrimSpace(meta.ViewPosition)); vp != "" && len(pop.Views) > 0 && !slices.Contains(pop.Views, vp) {
		return refuse(fmt.Sprintf("%s is a %s view (ViewPosition %s)%s; %s answers %s views only.",
			f.describe(), viewName(vp), vp, seen(v), id, orList(pop.Views)), "view "+vp)
	}
	return nil
}

// Sentinel errors of the gate's refusals, wrapped by their Problems.
var (
	// ErrOutOfScope means the image is not one the models answer (the gate's "other", a localizer, tags that
	// contradict the content, a distance above the model's scope threshold).
	ErrOutOfScope = errors.New("the image is out of the models' scope")
	// ErrOutsidePopulation means the tags place the image outside the model's population.
	ErrOutsidePopulation = errors.New("the image is outside the model's population")
)

// outOfScope is a refusal the person may override ("Show anyway", --allow-out-of-scope).
func (c GateChooser) outOfScope(sentence string, err error) *Problem {
	return &Problem{
		Sentence:   sentence,
		WindowHint: "“Show anyway” gives the model's answer, marked out of scope.",
		CLIHint:    "--allow-out-of-scope gives the model's answer, marked out of scope.",
		Err:        err,
	}
}

// notAnswered is the refusal of an image the gate sends to no model.
func (c GateChooser) notAnswered(f *scanFacts, v *GateView) *Problem {
	return c.outOfScope(fmt.Sprintf("%s does not look like %s (the gate saw %s, %s); %s.",
		f.describe(), orList(c.routedNames(v.Gate, "a ")), lowerFirst(v.Name), percent(v.Probability), c.offer()),
		fmt.Errorf("gate class %s: %w", v.Class, ErrOutOfScope))
}

// mismatch is the refusal of an image the gate sends elsewhere than to the forced model m.
func (c GateChooser) mismatch(f *scanFacts, v *GateView, m *inference.Model) *Problem {
	var answers []string
	for _, cl := range v.Gate.Manifest.Classes {
		if v.Gate.Manifest.Routes[cl.ID] == m.Manifest.ID {
			answers = append(answers, plural(cl.Name))
		}
	}
	looks := "looks like a " + lowerFirst(v.Name)
	if _, routed := v.Gate.Manifest.Routes[v.Class]; !routed {
		looks = "looks like none of the images the models answer (the gate saw " + lowerFirst(v.Name) + ")"
	}
	return c.outOfScope(fmt.Sprintf("%s %s (%s), and %s answers %s only.",
		f.describe(), looks, percent(v.Probability), m.Manifest.ID, strings.Join(answers, " and ")),
		fmt.Errorf("gate class %s, forced model %s: %w", v.Class, m.Manifest.ID, ErrOutOfScope))
}

// scopeProblem is the refusal of an image whose features lie beyond the model's scope threshold.
func scopeProblem(m *inference.Model, sc inference.ScopeScore, v *GateView) *Problem {
	lead := "This image lies"
	if v != nil {
		lead = fmt.Sprintf("This image looks like a %s (%s) but lies", lowerFirst(v.Name), percent(v.Probability))
	}
	return &Problem{
		Sentence: fmt.Sprintf("%s outside what %s was trained on: its features are at a squared distance of %.1f from the training images, above the model's limit of %.1f.",
			lead, m.Manifest.ID, sc.D2, sc.Threshold),
		WindowHint: "“Show anyway” gives the model's answer, marked out of scope.",
		CLIHint:    "--allow-out-of-scope gives the model's answer, marked out of scope.",
		Err:        fmt.Errorf("model %s: squared distance %.3f > %.3f: %w", m.Manifest.ID, sc.D2, sc.Threshold, ErrOutOfScope),
	}
}

// offer says which models exist: "the installed models answer only chest radiographs (cxr-pneumonia) and chest
// CT slices (ct-lung)", plus the classifiers the gate does not route to.
func (c GateChooser) offer() string {
	gate := c.Catalogue.Gate()
	var parts, others []string
	routed := map[string]bool{}
	if gate != nil {
		for _, cl := range gate.Manifest.Classes {
			if id, ok := gate.Manifest.Routes[cl.ID]; ok {
				parts = append(parts, fmt.Sprintf("%s (%s)", plural(cl.Name), id))
				routed[id] = true
			}
		}
	}
	for _, m := range c.Catalogue.Classifiers() {
		if !routed[m.Manifest.ID] {
			others = append(others, m.Manifest.ID)
		}
	}
	switch {
	case len(parts) == 0 && len(others) == 0:
		return "no classification models are installed"
	case len(parts) == 0:
		return "the installed models are " + strings.Join(others, ", ")
	}
	out := "the installed models answer only " + andList(parts)
	if len(others) > 0 {
		out += " (and " + strings.Join(others, ", ") + " when chosen)"
	}
	return out
}

// routedNames are the display names of the gate's routed classes, each with prefix.
func (c GateChooser) routedNames(gate *inference.Model, prefix string) []string {
	var out []string
	for _, cl := range gate.Manifest.Classes {
		if _, ok := gate.Manifest.Routes[cl.ID]; ok {
			out = append(out, prefix+lowerFirst(cl.Name))
		}
	}
	return out
}

// describe names the image for a sentence: "This CT image", "This PNG image".
func (f *scanFacts) describe() string {
	switch {
	case f.format != dicomio.FormatDICOM:
		return "This " + string(f.format) + " image"
	case strings.TrimSpace(f.meta.Modality) == "":
		return "This DICOM image"
	}
	return "This " + strings.ToUpper(strings.TrimSpace(f.meta.Modality)) + " image"
}

// seen adds what the gate saw to a tag refusal: " (it looks like a chest CT slice, 100 %)".
func seen(v *GateView) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf(" (it looks like a %s, %s)", lowerFirst(v.Name), percent(v.Probability))
}

// planeOf is frame's anatomical plane from its orientation ("" without one).
func planeOf(s *Scan, frame int) string {
	meta := &s.File.Meta
	if frame >= 0 && frame < len(meta.FramePlanes) {
		return meta.FramePlanes[frame].Anatomical()
	}
	return meta.Plane.Anatomical()
}

// viewName reads a ViewPosition for a sentence.
func viewName(vp string) string {
	switch vp {
	case "LL", "RL", "LATERAL", "LLD", "RLD", "LAT":
		return "lateral"
	case "PA", "AP":
		return "frontal (" + vp + ")"
	}
	return vp
}

// ageText is an age for a sentence: years, or months for a child under two.
func ageText(years float64) string {
	if years < 2 {
		return fmt.Sprintf("%d months", int(years*12))
	}
	return fmt.Sprintf("%d years", int(years))
}

// percent is a probability for a sentence: "97 %".
func percent(p float64) string { return fmt.Sprintf("%.0f %%", 100*p) }

// className is the display name of class id in m (the id when it has none).
func className(m *inference.Manifest, id string) string {
	if i := m.ClassIndex(id); i >= 0 && m.Classes[i].Name != "" {
		return m.Classes[i].Name
	}
	return id
}

// lowerFirst lower-cases a name's or a sentence's first letter for use inside a sentence, unless it starts an
// acronym ("ONNX", "PNG", "CT image" stay).
func lowerFirst(s string) string {
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

// plural is a class name as a plural noun: "Chest CT slice" → "chest CT slices".
func plural(name string) string {
	n := lowerFirst(name)
	if strings.HasSuffix(n, "s") {
		return n
	}
	return n + "s"
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

func orList(items []string) string  { return joinList(items, "or") }
func andList(items []string) string { return joinList(items, "and") }

// joinList joins "a", "b", "c" as "a, b or c".
func joinList(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}
