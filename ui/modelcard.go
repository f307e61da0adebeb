package ui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/models"
)

// modelInfo is a model as the picker, the AI panel and the model card show it.
type modelInfo struct {
	ID, Version, Title string
	Modalities         []string
	Classes            []string // display names, in output order
	ClassIDs           []string // ids, in the same order
	PositiveClass      int      // index into Classes for binary models, else -1
	Threshold          float64
	// Card is the model card as plain text (figures, data, intended use, limitations); Figures are image files
	// (ROC, confusion matrix) when present, as encoded PNG bytes keyed by title.
	Card    string
	Figures map[string][]byte
}

// className is the display name of class id.
func (m modelInfo) className(id string) string {
	for i, c := range m.ClassIDs {
		if c == id {
			return m.Classes[i]
		}
	}
	return id
}

// infoOf describes a model for the picker and the card.
func infoOf(m *inference.Model) modelInfo {
	man := m.Manifest
	info := modelInfo{ID: man.ID, Version: man.Version, Title: man.Title, Modalities: man.Modalities,
		PositiveClass: -1, Threshold: man.Threshold}
	for i, c := range man.Classes {
		name := c.Name
		if name == "" {
			name = c.ID
		}
		info.Classes = append(info.Classes, name)
		info.ClassIDs = append(info.ClassIDs, c.ID)
		if c.ID == man.PositiveClass && man.PositiveClass != "" {
			info.PositiveClass = i
		}
	}
	info.Card = cardText(&man) + scopeText(m)
	info.Figures = figures(m)
	return info
}

// cardText is the model card: what the model is for, how it was evaluated and on what, and its limits.
func cardText(m *inference.Manifest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s %s\nModalities: %s\n", m.Title, m.ID, m.Version, strings.Join(m.Modalities, ", "))
	names := make([]string, len(m.Classes))
	for i, c := range m.Classes {
		names[i] = c.Name
	}
	fmt.Fprintf(&b, "Classes: %s\n", strings.Join(names, ", "))
	if m.PositiveClass != "" {
		fmt.Fprintf(&b, "Positive class: %s at threshold %.2f\n", m.PositiveClass, m.Threshold)
	}
	e := m.Evaluation
	fmt.Fprintf(&b, "\nIntended use\n%s\n", strings.TrimSpace(m.IntendedUse))
	fmt.Fprintf(&b, "\nEvaluation: %s (n = %d)\n", e.Dataset, e.N)
	fmt.Fprintf(&b, "Accuracy %.3f · macro F1 %.3f · AUC %.3f · sensitivity %.3f · specificity %.3f · ECE %.3f\n",
		e.Accuracy, e.MacroF1, e.AUC, e.Sensitivity, e.Specificity, e.ECE)
	for _, c := range m.Classes {
		if pc, ok := e.PerClass[c.ID]; ok {
			fmt.Fprintf(&b, "  %s: sensitivity %.3f, specificity %.3f, AUC %.3f\n", c.Name, pc.Sensitivity, pc.Specificity, pc.AUC)
		}
	}
	if len(e.Confusion) > 0 {
		fmt.Fprintf(&b, "Confusion (rows = truth, columns = prediction): %v\n", e.Confusion)
	}
	switch p := m.Population; {
	case p != nil:
		fmt.Fprintf(&b, "\nPopulation (checked from DICOM tags before the model answers)\n%s\n", p.Description)
		if p.AgeYears != nil {
			fmt.Fprintf(&b, "  Age: %s\n", p.AgeYears)
		}
		for _, f := range []struct {
			name string
			list []string
		}{{"View", p.Views}, {"Body part", p.BodyParts}, {"Plane", p.Planes}} {
			if len(f.list) > 0 {
				fmt.Fprintf(&b, "  %s: %s\n", f.name, strings.Join(f.list, ", "))
			}
		}
		if p.Unchecked != "" {
			fmt.Fprintf(&b, "  %s\n", p.Unchecked)
		}
	case m.IsGate():
		fmt.Fprintf(&b, "\nRoutes: %s; anything else is refused.\n", routesText(m))
	default:
		b.WriteString("\nPopulation: not declared, so no population check runs for this model.\n")
	}
	t := m.Training
	fmt.Fprintf(&b, "\nTraining data: %s\nLicence: %s\n", t.Data, t.Licence)
	if t.Removed != "" {
		fmt.Fprintf(&b, "Removed: %s\n", t.Removed)
	}
	if r := m.Series; r != nil {
		fmt.Fprintf(&b, "\nSeries rule (%s)\n%s\n", r.Name(), r.Sentence())
		if r.Note != "" {
			fmt.Fprintf(&b, "%s\n", r.Note)
		}
	}
	if len(m.Limitations) > 0 {
		b.WriteString("\nLimitations\n")
		for _, l := range m.Limitations {
			fmt.Fprintf(&b, "• %s\n", l)
		}
	}
	b.WriteString("\n" + about.Disclaimer)
	return b.String()
}

// routesText lists a gate's routes in class order: "Chest radiograph → cxr-pneumonia, …".
func routesText(m *inference.Manifest) string {
	var parts []string
	for _, c := range m.Classes {
		if id, ok := m.Routes[c.ID]; ok {
			parts = append(parts, c.Name+" → "+id)
		}
	}
	return strings.Join(parts, ", ")
}

// scopeText is the card's line on the model's out-of-scope statistics: the threshold and how it was chosen, or
// why there is no check.
func scopeText(m *inference.Model) string {
	if m.Manifest.IsGate() {
		return ""
	}
	sc, err := m.Scope()
	switch {
	case errors.Is(err, inference.ErrNoScope):
		return "\n\nOut-of-scope statistics: none, so no distance check runs for this model."
	case err != nil:
		return "\n\nOut-of-scope statistics: unusable (" + err.Error() + "); the model's answers are withheld."
	}
	return fmt.Sprintf("\n\nOut-of-scope statistics: %s on the pooled features, limit %.1f (%s).", sc.Spec.Method,
		sc.Spec.Threshold, sc.Spec.ThresholdRule)
}

// figures reads the card's ROC, confusion-matrix and reliability images from the model folder when they exist.
func figures(m *inference.Model) map[string][]byte {
	out := map[string][]byte{}
	for title, name := range map[string]string{"ROC curve": "roc.png", "Confusion matrix": "confusion.png", "Reliability diagram": "reliability.png"} {
		var data []byte
		var err error
		if m.Source == "bundled" {
			data, err = fs.ReadFile(models.Bundle(), m.Manifest.ID+"/"+name)
		} else {
			data, err = os.ReadFile(filepath.Join(m.Source, m.Manifest.ID, name))
			if err != nil {
				data, err = os.ReadFile(filepath.Join(m.Source, name))
			}
		}
		if err == nil {
			out[title] = data
		}
	}
	return out
}
