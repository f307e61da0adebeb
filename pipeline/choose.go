package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"

	"github.com/tumortracer/tumortracer/inference"
)

// Sentinel errors of the modality chooser, wrapped by its refusals.
var (
	// ErrNoModel means no available model accepts the scan's modality.
	ErrNoModel = errors.New("no model accepts this image")
	// ErrAmbiguousModel means several models accept the scan's modality and none is the modality's default.
	ErrAmbiguousModel = errors.New("more than one model accepts this image")
	// ErrGateForced means a gate (inference.Manifest.IsGate) was forced as the model: a gate only decides which
	// classifier may answer.
	ErrGateForced = errors.New("a gate is not a classifier")
)

// Chooser is the step between decoding a scan and running a model: it decides which model answers frame of s, or
// that none may. It is the one replaceable step of model choice: GateChooser (content routing, tag and scope
// checks) is the program's; ModalityChooser the rule it falls back on without a gate. Choose returns an error only
// when the step itself failed; a decision not to classify is a Choice with Refusal set.
type Chooser interface {
	Choose(ctx context.Context, s *Scan, frame int) (Choice, error)
}

// Choice is a Chooser's decision: Model answers, or Refusal says in a sentence why no model may.
type Choice struct {
	// Model answers; with Refusal set it is the model that was considered (nil when the image fits none).
	Model   *inference.Model
	Refusal *Problem
	// OutOfScope, with Model set and no Refusal, is the refusal the person overrode (Options.AllowOutOfScope):
	// the answer is given and marked out of scope with this sentence.
	OutOfScope *Problem
	// Gate is what the gate saw (nil when no gate ran).
	Gate *GateView
	// Scope scores Model's pooled features after its forward run (nil: the model has no statistics, no check).
	Scope *inference.Scope
	// Image is frame rendered for Model when the chooser already made it (the gate saw the same image), else nil.
	Image image.Image
}

// DefaultModels maps a DICOM Modality to the model chosen for it when no model is forced.
var DefaultModels = map[string]string{
	"CT": "ct-lung",
	"CR": "cxr-pneumonia",
	"DX": "cxr-pneumonia",
}

// ModalityChooser chooses by the file's Modality ("OT" for PNG/JPEG): ModelID when set (the --model flag, the
// window's Model list); else the modality's default (DefaultModels) when installed; else the only model that
// accepts the modality. Anything else is refused.
//
// Only classifiers take part (inference.Catalogue.Classifiers): a gate is never chosen, and forcing one is refused.
// GateChooser uses this rule when the catalogue has no gate; with one, content chooses (see gate.go).
type ModalityChooser struct {
	Catalogue *inference.Catalogue
	ModelID   string
}

// Choose implements Chooser.
func (c ModalityChooser) Choose(_ context.Context, s *Scan, _ int) (Choice, error) {
	m, p := c.Select(s.File.Meta.Modality)
	return Choice{Model: m, Refusal: p}, nil
}

// Select is the rule for one modality: the model, or the refusal.
func (c ModalityChooser) Select(modality string) (*inference.Model, *Problem) {
	if c.ModelID != "" {
		m, err := c.Catalogue.Get(c.ModelID)
		if err != nil {
			return nil, Explain(err)
		}
		if m.Manifest.IsGate() {
			return nil, gateForced(m, c.Catalogue)
		}
		return m, nil
	}
	modality = strings.ToUpper(strings.TrimSpace(modality))
	if id, ok := DefaultModels[modality]; ok {
		if m, err := c.Catalogue.Get(id); err == nil {
			return m, nil
		}
	}
	var fits, all []string
	var found *inference.Model
	for _, m := range c.Catalogue.Classifiers() {
		all = append(all, m.Manifest.ID)
		if m.Manifest.Accepts(modality) {
			fits = append(fits, m.Manifest.ID)
			found = m
		}
	}
	what := "images of modality " + modality
	switch modality {
	case "OT": // PNG and JPEG, and DICOM secondary captures
		what = "PNG, JPEG and other (OT) images"
	case "":
		what = "images that name no modality"
	}
	switch {
	case len(fits) == 1:
		return found, nil
	case len(all) == 0:
		return nil, &Problem{Sentence: "No classification models are installed.", Err: ErrNoModel}
	case len(fits) == 0:
		return nil, &Problem{
			Sentence:   fmt.Sprintf("No installed model accepts %s.", what),
			WindowHint: "Pick a model in the Model list to force one.",
			CLIHint:    fmt.Sprintf("Give --model with one of %s to force one.", strings.Join(all, ", ")),
			Err:        fmt.Errorf("modality %s: %w", modality, ErrNoModel),
		}
	}
	return nil, &Problem{
		Sentence:   fmt.Sprintf("More than one model accepts %s (%s).", what, strings.Join(fits, ", ")),
		WindowHint: "Pick one in the Model list.",
		CLIHint:    fmt.Sprintf("Give --model %s.", strings.Join(fits, " or --model ")),
		Err:        fmt.Errorf("modality %s: %w", modality, ErrAmbiguousModel),
	}
}

// gateForced is the refusal of a gate forced as the model.
func gateForced(gate *inference.Model, cat *inference.Catalogue) *Problem {
	var ids []string
	for _, m := range cat.Classifiers() {
		ids = append(ids, m.Manifest.ID)
	}
	return &Problem{
		Sentence:   fmt.Sprintf("The %s model decides which model may answer an image; it gives no diagnosis itself.", gate.Manifest.ID),
		WindowHint: "Pick a classifier in the Model list, or Auto.",
		CLIHint:    fmt.Sprintf("Give --model with one of %s, or leave --model out.", strings.Join(ids, ", ")),
		Err:        fmt.Errorf("model %s: %w", gate.Manifest.ID, ErrGateForced),
	}
}
