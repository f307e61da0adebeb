package inference

import (
	"errors"
	"fmt"
	"math"
	"regexp"
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
	// Series, when set, is how the model's slice results add up to a result for a whole series (SeriesRule).
	Series *SeriesRule `yaml:"series,omitempty" json:"series,omitempty"`
	SHA256 string      `yaml:"sha256" json:"sha256"`
}

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
	if m.Task != "classification" {
		bad("task %q is not supported (want classification)", m.Task)
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
	if len(m.Classes) == 2 {
		if !seen[m.PositiveClass] {
			bad("positive_class %q is not one of the classes", m.PositiveClass)
		}
		if !(m.Threshold > 0 && m.Threshold < 1) {
			bad("threshold %v must be between 0 and 1 for a binary model", m.Threshold)
		}
	} else if m.PositiveClass != "" {
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

// Accepts reports whether the model lists modality (case-insensitive) among those it accepts.
func (m *Manifest) Accepts(modality string) bool {
	for _, s := range m.Modalities {
		if strings.EqualFold(s, modality) {
			return true
		}
	}
	return false
}
