package inference

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Manifest is a model card: model.yaml beside model.onnx. The training recipe writes it; see the README's
// "Model manifest" section for the schema.
type Manifest struct {
	ID            string        `yaml:"id" json:"id"`
	Version       string        `yaml:"version" json:"version"`
	Title         string        `yaml:"title" json:"title"`
	Task          string        `yaml:"task" json:"task"`
	Modalities    []string      `yaml:"modalities" json:"modalities"`
	Input         InputSpec     `yaml:"input" json:"input"`
	Preprocessing Preprocessing `yaml:"preprocessing" json:"preprocessing"`
	Outputs       OutputSpec    `yaml:"outputs" json:"outputs"`
	Classes       []Class       `yaml:"classes" json:"classes"`
	// PositiveClass and Threshold apply to binary models only: p(positive) >= Threshold → positive.
	PositiveClass string     `yaml:"positive_class,omitempty" json:"positive_class,omitempty"`
	Threshold     float64    `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	Evaluation    Evaluation `yaml:"evaluation" json:"evaluation"`
	Training      Training   `yaml:"training" json:"training"`
	IntendedUse   string     `yaml:"intended_use" json:"intended_use"`
	Limitations   []string   `yaml:"limitations" json:"limitations"`
	// Routes is a gate's answer: class id → id of the model that may answer images of that class. Classes without
	// a route (the gate's "other") are refused. Only a manifest with task "gate" has routes.
	Routes map[string]string `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Population is who and what the classifier was trained on, as far as DICOM tags can tell; nil when the
	// manifest declares none (then no population check runs for the model).
	Population *Population `yaml:"population,omitempty" json:"population,omitempty"`
	// Series, when set, is how the model's slice results add up to a result for a whole series (SeriesRule).
	Series *SeriesRule `yaml:"series,omitempty" json:"series,omitempty"`
	SHA256 string      `yaml:"sha256" json:"sha256"`
}

// Population describes the images a classifier was trained on in the terms DICOM tags state, so that an image
// whose tags place it outside is refused (issue 12: a paediatric film model is not asked about an adult, nor about a
// lateral view). Every field is optional; an empty one is not checked, and a tag the file lacks cannot refuse.
// PNG and JPEG files carry no tags, so none of this can be checked for them (Unchecked says so on the card).
type Population struct {
	// Description is the population in one sentence for people: "Children aged 1 to 5 years; frontal chest films."
	Description string `yaml:"description" json:"description"`
	// AgeYears is the accepted age in completed years (PatientAge, else PatientBirthDate and StudyDate).
	AgeYears *AgeRange `yaml:"age_years,omitempty" json:"age_years,omitempty"`
	// Views lists the accepted ViewPosition values (PA, AP …), upper case.
	Views []string `yaml:"views,omitempty" json:"views,omitempty"`
	// BodyParts lists the accepted BodyPartExamined values (CHEST …), upper case.
	BodyParts []string `yaml:"body_parts,omitempty" json:"body_parts,omitempty"`
	// Planes lists the accepted slice planes from ImageOrientationPatient: axial, coronal, sagittal.
	Planes []string `yaml:"planes,omitempty" json:"planes,omitempty"`
	// Unchecked says what the tags cannot tell (PNG/JPEG have none), for the card.
	Unchecked string `yaml:"unchecked,omitempty" json:"unchecked,omitempty"`
}

// AgeRange is an inclusive range of completed years; a nil end is open.
type AgeRange struct {
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
}

// Contains reports whether an age in years (fractional) lies in the range, counted in completed years: a child of
// 5 years and 11 months is 5.
func (r AgeRange) Contains(years float64) bool {
	whole := math.Floor(years)
	return (r.Min == nil || whole >= *r.Min) && (r.Max == nil || whole <= *r.Max)
}

// String is the range for a sentence: "1 to 5 years", "18 years or older", "up to 5 years".
func (r AgeRange) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	switch {
	case r.Min != nil && r.Max != nil:
		return f(*r.Min) + " to " + f(*r.Max) + " years"
	case r.Min != nil:
		return f(*r.Min) + " years or older"
	case r.Max != nil:
		return "up to " + f(*r.Max) + " years"
	}
	return "any age"
}

// Planes a population may name (dicomio's Plane.Anatomical names).
var populationPlanes = map[string]bool{"axial": true, "coronal": true, "sagittal": true}

// validate reports the population's problems through bad.
func (p *Population) validate(bad func(string, ...interface{})) {
	if strings.TrimSpace(p.Description) == "" {
		bad("population.description is missing (one sentence for people)")
	}
	if r := p.AgeYears; r != nil {
		switch {
		case r.Min == nil && r.Max == nil:
			bad("population.age_years needs min, max or both")
		case r.Min != nil && (*r.Min < 0 || math.IsNaN(*r.Min) || math.IsInf(*r.Min, 0)):
			bad("population.age_years.min %v must be a non-negative number", *r.Min)
		case r.Max != nil && (*r.Max < 0 || math.IsNaN(*r.Max) || math.IsInf(*r.Max, 0)):
			bad("population.age_years.max %v must be a non-negative number", *r.Max)
		case r.Min != nil && r.Max != nil && *r.Min > *r.Max:
			bad("population.age_years.min %v is above max %v", *r.Min, *r.Max)
		}
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"views", p.Views}, {"body_parts", p.BodyParts}} {
		for i, v := range f.list {
			if v == "" || v != strings.ToUpper(strings.TrimSpace(v)) {
				bad("population.%s[%d] %q must be an upper-case DICOM value", f.name, i, v)
			}
		}
	}
	for i, v := range p.Planes {
		if !populationPlanes[v] {
			bad("population.planes[%d] %q must be axial, coronal or sagittal", i, v)
		}
	}
}

// Tasks a manifest may declare: a classifier answers; a gate decides which classifier (if any) may answer.
const (
	TaskClassification = "classification"
	TaskGate           = "gate"
)

// InputSpec describes the model's single image input.
type InputSpec struct {
	Name     string `yaml:"name" json:"name"`
	Layout   string `yaml:"layout" json:"layout"` // NCHW
	Channels int    `yaml:"channels" json:"channels"`
	Height   int    `yaml:"height" json:"height"`
	Width    int    `yaml:"width" json:"width"`
}

// Preprocessing is the recipe that turns the 8-bit display image into the input tensor.
type Preprocessing struct {
	Grayscale string    `yaml:"grayscale" json:"grayscale"` // pil-luma
	Resize    string    `yaml:"resize" json:"resize"`       // linear (imaging.Linear)
	Mean      []float64 `yaml:"mean" json:"mean"`           // one value, or one per channel
	Std       []float64 `yaml:"std" json:"std"`
	// VOI maps a DICOM Modality (or "default") to the window used to render DICOM scans for this model.
	VOI map[string]VOISpec `yaml:"voi" json:"voi,omitempty"`
}

// VOISpec is a window for rendering DICOM: a named preset ("lung" …, or "file" for the file's own first window,
// else the frame's min–max), or an explicit centre and width.
type VOISpec struct {
	Preset string   `yaml:"preset,omitempty" json:"preset,omitempty"`
	Center *float64 `yaml:"center,omitempty" json:"center,omitempty"`
	Width  *float64 `yaml:"width,omitempty" json:"width,omitempty"`
}

// OutputSpec names the model's outputs.
type OutputSpec struct {
	Logits string `yaml:"logits" json:"logits"`
	// CAM names the optional class-activation-map output [N,K,h,w]; empty when the model has none (occlusion
	// sensitivity is used instead).
	CAM string `yaml:"cam,omitempty" json:"cam,omitempty"`
	// Features names the optional pooled-feature output [N,C]: the global average pool of the last feature map
	// (the CAM head's input). Prediction.Features carries it; a model's scope statistics are fitted on it.
	Features string `yaml:"features,omitempty" json:"features,omitempty"`
	// Kind is "logits" (softmax with Temperature is applied) or "probabilities" (used as they are).
	Kind        string  `yaml:"kind" json:"kind"`
	Temperature float64 `yaml:"temperature" json:"temperature"`
}

// Class is one output class.
type Class struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
}

// Evaluation holds the card's test figures and names the exact evaluation file list.
type Evaluation struct {
	Dataset     string                  `yaml:"dataset" json:"dataset"`
	DataRoot    string                  `yaml:"data_root,omitempty" json:"data_root,omitempty"`
	N           int                     `yaml:"n" json:"n"`
	Accuracy    float64                 `yaml:"accuracy" json:"accuracy"`
	MacroF1     float64                 `yaml:"macro_f1" json:"macro_f1"`
	AUC         float64                 `yaml:"auc" json:"auc"`
	Sensitivity float64                 `yaml:"sensitivity" json:"sensitivity"`
	Specificity float64                 `yaml:"specificity" json:"specificity"`
	ECE         float64                 `yaml:"ece" json:"ece"`
	Threshold   float64                 `yaml:"threshold" json:"threshold"`
	PerClass    map[string]ClassMetrics `yaml:"per_class,omitempty" json:"per_class,omitempty"`
	Confusion   [][]int                 `yaml:"confusion,omitempty" json:"confusion,omitempty"`
	// Files names the evaluation file list in the model folder: "relative/path<TAB>class-id" per line.
	Files string `yaml:"files" json:"files"`
}

// ClassMetrics are one class's one-vs-rest test figures.
type ClassMetrics struct {
	Sensitivity float64 `yaml:"sensitivity" json:"sensitivity"`
	Specificity float64 `yaml:"specificity" json:"specificity"`
	AUC         float64 `yaml:"auc" json:"auc"`
}

// Training records the provenance of the weights.
type Training struct {
	Data         string                 `yaml:"data" json:"data"`
	Licence      string                 `yaml:"licence" json:"licence"`
	Removed      string                 `yaml:"removed,omitempty" json:"removed,omitempty"`
	RecipeCommit string                 `yaml:"recipe_commit,omitempty" json:"recipe_commit,omitempty"`
	Params       map[string]interface{} `yaml:"params,omitempty" json:"params,omitempty"`
	RunID        string                 `yaml:"run_id,omitempty" json:"run_id,omitempty"`
}

// ParseManifest decodes model.yaml; it does not validate (see Validate).
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse model.yaml: %w: %w", ErrInvalidManifest, err)
	}
	return &m, nil
}

var (
	idPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	hexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate reports every problem with the manifest at once (errors.Join), each wrapping ErrInvalidManifest.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...interface{}) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]interface{}{ErrInvalidManifest}, args...)...))
	}
	if !idPattern.MatchString(m.ID) {
		bad("id %q must be lower-case letters, digits, '.', '_' or '-'", m.ID)
	}
	if m.Version == "" {
		bad("version is missing")
	}
	if m.Task != TaskClassification && m.Task != TaskGate {
		bad("task %q is not supported (want %s or %s)", m.Task, TaskClassification, TaskGate)
	}
	if len(m.Modalities) == 0 {
		bad("modalities is empty")
	}
	in := m.Input
	if in.Name == "" {
		bad("input.name is missing")
	}
	if in.Layout != "NCHW" {
		bad("input.layout %q is not supported (want NCHW)", in.Layout)
	}
	if in.Channels != 1 && in.Channels != 3 {
		bad("input.channels %d must be 1 or 3", in.Channels)
	}
	if in.Height < 1 || in.Height > 4096 || in.Width < 1 || in.Width > 4096 {
		bad("input size %dx%d must be between 1 and 4096 on each side", in.Width, in.Height)
	}
	p := m.Preprocessing
	if p.Grayscale != "pil-luma" {
		bad("preprocessing.grayscale %q is not supported (want pil-luma)", p.Grayscale)
	}
	if p.Resize != "linear" {
		bad("preprocessing.resize %q is not supported (want linear)", p.Resize)
	}
	if len(p.Mean) != 1 && len(p.Mean) != in.Channels {
		bad("preprocessing.mean needs 1 or %d values, has %d", in.Channels, len(p.Mean))
	}
	if len(p.Std) != 1 && len(p.Std) != in.Channels {
		bad("preprocessing.std needs 1 or %d values, has %d", in.Channels, len(p.Std))
	}
	for i, s := range p.Std {
		if !(s > 0) || math.IsInf(s, 0) {
			bad("preprocessing.std[%d] = %v must be positive", i, s)
		}
	}
	for i, v := range p.Mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad("preprocessing.mean[%d] = %v is not a number", i, v)
		}
	}
	for key, v := range p.VOI {
		switch {
		case v.Preset != "" && (v.Center != nil || v.Width != nil):
			bad("preprocessing.voi.%s gives both a preset and a centre/width", key)
		case v.Preset == "" && (v.Center == nil || v.Width == nil):
			bad("preprocessing.voi.%s needs a preset or both center and width", key)
		case v.Width != nil && !(*v.Width > 0):
			bad("preprocessing.voi.%s.width must be positive", key)
		}
	}
	o := m.Outputs
	if o.Logits == "" {
		bad("outputs.logits is missing")
	}
	if o.Kind != "logits" && o.Kind != "probabilities" {
		bad("outputs.kind %q must be logits or probabilities", o.Kind)
	}
	if !(o.Temperature > 0) || math.IsInf(o.Temperature, 0) {
		bad("outputs.temperature %v must be positive", o.Temperature)
	}
	if o.CAM != "" && o.CAM == o.Logits {
		bad("outputs.cam and outputs.logits name the same tensor %q", o.CAM)
	}
	if o.Features != "" && (o.Features == o.Logits || o.Features == o.CAM) {
		bad("outputs.features names the same tensor %q as another output", o.Features)
	}
	if len(m.Classes) < 2 {
		bad("classes needs at least 2 entries, has %d", len(m.Classes))
	}
	seen := map[string]bool{}
	for i, c := range m.Classes {
		if !idPattern.MatchString(c.ID) {
			bad("classes[%d].id %q must be lower-case letters, digits, '.', '_' or '-'", i, c.ID)
		}
		if seen[c.ID] {
			bad("classes[%d].id %q is repeated", i, c.ID)
		}
		seen[c.ID] = true
		if c.Name == "" {
			bad("classes[%d].name is missing", i)
		}
	}
	if m.Population != nil {
		if m.Task == TaskGate {
			bad("population is only meaningful for a classifier (a gate's routed models declare theirs)")
		}
		m.Population.validate(bad)
	}
	if m.Task == TaskGate {
		m.validateRoutes(seen, bad)
	} else if len(m.Routes) > 0 {
		bad("routes are only meaningful for task %s", TaskGate)
	}
	if len(m.Classes) == 2 && m.Task != TaskGate {
		if !seen[m.PositiveClass] {
			bad("positive_class %q is not one of the classes", m.PositiveClass)
		}
		if !(m.Threshold > 0 && m.Threshold < 1) {
			bad("threshold %v must be between 0 and 1 for a binary model", m.Threshold)
		}
	} else if m.PositiveClass != "" && m.Task != TaskGate {
		bad("positive_class is only meaningful for binary models")
	}
	if !hexPattern.MatchString(m.SHA256) {
		bad("sha256 %q must be 64 lower-case hex digits", m.SHA256)
	}
	if m.Series != nil {
		errs = append(errs, m.Series.validate()...)
	}
	if m.Evaluation.Files != "" && (strings.Contains(m.Evaluation.Files, "..") || strings.ContainsAny(m.Evaluation.Files, `/\`)) {
		bad("evaluation.files %q must be a file name in the model folder", m.Evaluation.Files)
	}
	return errors.Join(errs...)
}

// validateRoutes checks a gate's routes: each names one of its classes and a model id other than the gate's own,
// and at least one class has no route, so that the gate can refuse. A gate decides by the highest probability, so
// positive_class and threshold are not used.
func (m *Manifest) validateRoutes(classes map[string]bool, bad func(string, ...interface{})) {
	if len(m.Routes) == 0 {
		bad("a gate needs routes (class id: model id)")
	}
	keys := make([]string, 0, len(m.Routes))
	for k := range m.Routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !classes[k] {
			bad("routes.%s is not one of the classes", k)
		}
		if v := m.Routes[k]; !idPattern.MatchString(v) || v == m.ID {
			bad("routes.%s = %q must be the id of another model", k, v)
		}
	}
	refusing := 0
	for _, c := range m.Classes {
		if _, ok := m.Routes[c.ID]; !ok {
			refusing++
		}
	}
	if refusing == 0 && len(m.Classes) > 0 {
		bad("a gate needs at least one class without a route (what it refuses)")
	}
	if m.PositiveClass != "" {
		bad("positive_class is not used by a gate (it takes the most probable class)")
	}
}

// TensorInfo is the name, element type and shape (-1 for a dynamic dimension) of a model input or output.
type TensorInfo struct {
	Name    string
	Float32 bool
	Shape   []int64
}

// CheckTensors reports, all at once, where the manifest disagrees with the model's real inputs and outputs.
func (m *Manifest) CheckTensors(inputs, outputs []TensorInfo) error {
	var errs []error
	bad := func(format string, args ...interface{}) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]interface{}{ErrInvalidManifest}, args...)...))
	}
	find := func(list []TensorInfo, name string) *TensorInfo {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
		return nil
	}
	names := func(list []TensorInfo) string {
		s := make([]string, len(list))
		for i, t := range list {
			s[i] = t.Name
		}
		return strings.Join(s, ", ")
	}
	dimOK := func(got int64, want int) bool { return got < 0 || got == int64(want) }
	if len(inputs) != 1 {
		bad("the model has %d inputs (%s); one image input is supported", len(inputs), names(inputs))
	}
	if in := find(inputs, m.Input.Name); in == nil {
		bad("input %q is not in the model (it has %s)", m.Input.Name, names(inputs))
	} else {
		if !in.Float32 {
			bad("input %q is not float32", in.Name)
		}
		if len(in.Shape) != 4 {
			bad("input %q has shape %v, want [N,%d,%d,%d]", in.Name, in.Shape, m.Input.Channels, m.Input.Height, m.Input.Width)
		} else if !dimOK(in.Shape[1], m.Input.Channels) || !dimOK(in.Shape[2], m.Input.Height) || !dimOK(in.Shape[3], m.Input.Width) {
			bad("input %q has shape %v, manifest says [N,%d,%d,%d]", in.Name, in.Shape, m.Input.Channels, m.Input.Height, m.Input.Width)
		}
	}
	k := len(m.Classes)
	if out := find(outputs, m.Outputs.Logits); out == nil {
		bad("output %q is not in the model (it has %s)", m.Outputs.Logits, names(outputs))
	} else {
		if !out.Float32 {
			bad("output %q is not float32", out.Name)
		}
		if len(out.Shape) != 2 || !dimOK(out.Shape[1], k) {
			bad("output %q has shape %v, want [N,%d] for %d classes", out.Name, out.Shape, k, k)
		}
	}
	if m.Outputs.CAM != "" {
		if out := find(outputs, m.Outputs.CAM); out == nil {
			bad("output %q is not in the model (it has %s)", m.Outputs.CAM, names(outputs))
		} else {
			if !out.Float32 {
				bad("output %q is not float32", out.Name)
			}
			if len(out.Shape) != 4 || !dimOK(out.Shape[1], k) {
				bad("output %q has shape %v, want [N,%d,h,w]", out.Name, out.Shape, k)
			}
		}
	}
	if m.Outputs.Features != "" {
		if out := find(outputs, m.Outputs.Features); out == nil {
			bad("output %q is not in the model (it has %s)", m.Outputs.Features, names(outputs))
		} else {
			if !out.Float32 {
				bad("output %q is not float32", out.Name)
			}
			if len(out.Shape) != 2 || out.Shape[1] == 0 {
				bad("output %q has shape %v, want [N,C] pooled features", out.Name, out.Shape)
			}
		}
	}
	return errors.Join(errs...)
}

// ClassIndex returns the index of class id, or -1.
func (m *Manifest) ClassIndex(id string) int {
	for i, c := range m.Classes {
		if c.ID == id {
			return i
		}
	}
	return -1
}

// IsGate reports whether the manifest is a gate's (task gate): it decides which classifier may answer an image
// and answers nothing itself, so it is never offered or run as a classifier.
func (m *Manifest) IsGate() bool { return m.Task == TaskGate }

// Accepts reports whether the model lists modality (case-insensitive) among those it accepts.
func (m *Manifest) Accepts(modality string) bool {
	for _, s := range m.Modalities {
		if strings.EqualFold(s, modality) {
			return true
		}
	}
	return false
}
