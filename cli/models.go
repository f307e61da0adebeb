package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/inference"
)

func init() {
	register("models", "list the available models, the gate's routes, each model's population and out-of-scope check (--json for the full cards)", runModels)
}

// modelEvaluation is the card's test figures with the exact evaluation file list.
type modelEvaluation struct {
	Dataset     string                            `json:"dataset"`
	N           int                               `json:"n"`
	Accuracy    float64                           `json:"accuracy"`
	MacroF1     float64                           `json:"macro_f1"`
	AUC         float64                           `json:"auc"`
	Sensitivity float64                           `json:"sensitivity"`
	Specificity float64                           `json:"specificity"`
	ECE         float64                           `json:"ece"`
	Threshold   float64                           `json:"threshold"`
	Files       []string                          `json:"files"`
	Labels      []string                          `json:"labels"`
	PerClass    map[string]inference.ClassMetrics `json:"per_class,omitempty"`
	Confusion   [][]int                           `json:"confusion,omitempty"`
}

// modelDevice says where a model can run: supported providers, and the one "auto" picks on this machine ("" when
// the runtime is missing).
type modelDevice struct {
	Supported []string `json:"supported"`
	Auto      string   `json:"auto"`
	Error     string   `json:"error,omitempty"`
}

// modelScope says whether a classifier's answers are checked against its out-of-scope statistics, and how.
type modelScope struct {
	// Status is "checked", "none" (no scope.yaml: no distance check) or "unusable" (its answers are withheld).
	Status        string  `json:"status"`
	Method        string  `json:"method,omitempty"`
	Threshold     float64 `json:"threshold,omitempty"`
	ThresholdRule string  `json:"threshold_rule,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// scopeOf reads m's out-of-scope statistics (nil for a gate).
func scopeOf(m *inference.Model) *modelScope {
	if m.Manifest.IsGate() {
		return nil
	}
	sc, err := m.Scope()
	switch {
	case errors.Is(err, inference.ErrNoScope):
		return &modelScope{Status: "none"}
	case err != nil:
		return &modelScope{Status: "unusable", Error: err.Error()}
	}
	return &modelScope{Status: "checked", Method: sc.Spec.Method, Threshold: sc.Spec.Threshold, ThresholdRule: sc.Spec.ThresholdRule}
}

type modelEntry struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Title   string `json:"title"`
	Task    string `json:"task"`
	// Routes is a gate's: class id → the model that may answer it (classify and the window route by it).
	Routes map[string]string `json:"routes,omitempty"`
	// Population is a classifier's, checked from DICOM tags (null: none declared, no population check).
	Population *inference.Population `json:"population"`
	// Scope is a classifier's out-of-scope check (null for a gate).
	Scope         *modelScope         `json:"scope,omitempty"`
	Modalities    []string            `json:"modalities"`
	Input         inference.InputSpec `json:"input"`
	Classes       []inference.Class   `json:"classes"`
	PositiveClass string              `json:"positive_class,omitempty"`
	Threshold     float64             `json:"threshold,omitempty"`
	Saliency      string              `json:"saliency"`
	SHA256        string              `json:"sha256"`
	Source        string              `json:"source"`
	Device        modelDevice         `json:"device"`
	Evaluation    modelEvaluation     `json:"evaluation"`
	Training      inference.Training  `json:"training"`
	IntendedUse   string              `json:"intended_use"`
	Limitations   []string            `json:"limitations"`
	// Series is the rule that turns slice results into a series result (classify --per series), when the model
	// states one.
	Series *inference.SeriesRule `json:"series,omitempty"`
}

func runModels(args []string, _ about.Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array with every model's card")
	device := fs.String("device", "auto", "execution provider to check: auto, cpu or cuda")
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library `PATH`")
	var modelDirs listFlag
	fs.Var(&modelDirs, "models", "also load model folders from `DIR` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer models [--json] [--models DIR] [--ort-lib PATH]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return about.ExitOK
		}
		return about.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tumortracer models: unexpected argument %q\n", fs.Arg(0))
		return about.ExitUsage
	}
	dev, err := inference.ParseDevice(*device)
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer models: %v\n", err)
		return about.ExitUsage
	}
	cat, err := loadCatalogue(modelDirs, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tumortracer models: %v\n", err)
		return about.ExitUsage
	}
	status := about.ExitOK
	if len(cat.Problems) > 0 {
		status = about.ExitFailed
	}
	// Creating each model's session checks its manifest against the real inputs and outputs and shows which
	// provider auto picks; without the runtime the cards are still listed.
	var eng *inference.Engine
	var engErr error
	if len(cat.Models()) > 0 {
		eng, engErr = inference.NewEngine(inference.Options{Device: dev, LibraryPath: *ortLib})
		if engErr == nil {
			defer eng.Close()
		} else {
			fmt.Fprintf(stderr, "tumortracer models: %v\n", inference.ErrRuntimeMissing)
		}
	}
	entries := []modelEntry{}
	for _, m := range cat.Models() {
		man := m.Manifest
		e := modelEntry{
			ID: man.ID, Version: man.Version, Title: man.Title, Task: man.Task, Routes: man.Routes, Modalities: man.Modalities,
			Input: man.Input, Classes: man.Classes, PositiveClass: man.PositiveClass, Threshold: man.Threshold,
			Saliency: inference.SaliencyOcclusion, SHA256: man.SHA256, Source: m.Source,
			Device:   modelDevice{Supported: []string{"cpu", "cuda"}},
			Training: man.Training, IntendedUse: man.IntendedUse, Limitations: man.Limitations, Series: man.Series,
			Population: man.Population, Scope: scopeOf(m),
		}
		if e.Scope != nil && e.Scope.Status == "unusable" {
			fmt.Fprintf(stderr, "tumortracer models: %s: out-of-scope statistics: %s\n", man.ID, e.Scope.Error)
			status = about.ExitFailed
		}
		if man.Outputs.CAM != "" {
			e.Saliency = inference.SaliencyCAM
		}
		ev := man.Evaluation
		e.Evaluation = modelEvaluation{Dataset: ev.Dataset, N: ev.N, Accuracy: ev.Accuracy, MacroF1: ev.MacroF1, AUC: ev.AUC,
			Sensitivity: ev.Sensitivity, Specificity: ev.Specificity, ECE: ev.ECE, Threshold: ev.Threshold,
			Files: []string{}, Labels: []string{}, PerClass: ev.PerClass, Confusion: ev.Confusion}
		files, err := m.EvalFiles()
		if err != nil {
			fmt.Fprintf(stderr, "tumortracer models: %v\n", err)
			status = about.ExitFailed
		}
		for _, f := range files {
			e.Evaluation.Files = append(e.Evaluation.Files, f.Path)
			e.Evaluation.Labels = append(e.Evaluation.Labels, f.Class)
		}
		if engErr != nil {
			e.Device.Error = inference.ErrRuntimeMissing.Error()
		} else if d, err := eng.Device(m); err != nil {
			e.Device.Error = err.Error()
			fmt.Fprintf(stderr, "tumortracer models: %v\n", err)
			status = about.ExitFailed
		} else {
			e.Device.Auto = d
		}
		entries = append(entries, e)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			fmt.Fprintf(stderr, "tumortracer models: %v\n", err)
			return about.ExitFailed
		}
		return status
	}
	if len(entries) == 0 {
		fmt.Fprintln(stdout, "no models installed (bundled models live in models/<id>/; add your own with --models DIR)")
		return status
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tDEVICE\tCLASSES\tTEST N\tACCURACY\tAUC\tSOURCE\tTITLE")
	for _, e := range entries {
		ids := make([]string, len(e.Classes))
		for i, c := range e.Classes {
			ids[i] = c.ID
		}
		d := e.Device.Auto
		if d == "" {
			d = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.3f\t%.3f\t%s\t%s\n", e.ID, e.Version, d, strings.Join(ids, ","),
			e.Evaluation.N, e.Evaluation.Accuracy, e.Evaluation.AUC, e.Source, e.Title)
	}
	tw.Flush()
	printDecision(stdout, cat, entries)
	fmt.Fprintln(stdout, about.Disclaimer)
	return status
}

// printDecision says how classify and the window decide which model answers: the gate's routes, then per
// classifier the population checked from DICOM tags and the out-of-scope check.
func printDecision(w io.Writer, cat *inference.Catalogue, entries []modelEntry) {
	if g := cat.Gate(); g != nil {
		var routes []string
		for _, c := range g.Manifest.Classes {
			if id, ok := g.Manifest.Routes[c.ID]; ok {
				routes = append(routes, fmt.Sprintf("%s → %s", strings.ToLower(c.Name[:1])+c.Name[1:], id))
			}
		}
		fmt.Fprintf(w, "\nRouting: %s %s looks at every image: %s; anything else is refused.\n", g.Manifest.ID, g.Manifest.Version,
			strings.Join(routes, ", "))
	} else {
		fmt.Fprintln(w, "\nRouting: no gate is installed; the DICOM Modality chooses the model (PNG and JPEG need --model when several models accept them).")
	}
	fmt.Fprintln(w, "Each model's population is checked from DICOM tags (PNG and JPEG carry none), then its out-of-scope statistics:")
	for _, e := range entries {
		if e.Task == inference.TaskGate {
			continue
		}
		fmt.Fprintf(w, "  %s:\n", e.ID)
		if p := e.Population; p != nil {
			var checks []string
			if p.AgeYears != nil {
				checks = append(checks, "age "+p.AgeYears.String())
			}
			for _, f := range []struct {
				name string
				list []string
			}{{"view", p.Views}, {"body part", p.BodyParts}, {"plane", p.Planes}} {
				if len(f.list) > 0 {
					checks = append(checks, f.name+" "+strings.Join(f.list, "/"))
				}
			}
			fmt.Fprintf(w, "    population: %s\n    checked: %s\n", p.Description, strings.Join(checks, "; "))
		} else {
			fmt.Fprintln(w, "    population: none declared, so no population check")
		}
		switch s := e.Scope; {
		case s != nil && s.Status == "checked":
			fmt.Fprintf(w, "    out of scope: squared distance above %.1f (%s)\n", s.Threshold, s.ThresholdRule)
		case s != nil && s.Status == "unusable":
			fmt.Fprintln(w, "    out of scope: statistics unusable, answers withheld")
		default:
			fmt.Fprintln(w, "    out of scope: no statistics, so no distance check")
		}
	}
}
