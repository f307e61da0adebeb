package pipeline

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tumortracer/tumortracer/inference"
	"github.com/tumortracer/tumortracer/internal/testenv"
	"github.com/tumortracer/tumortracer/models"
)

// TestCardFiguresReproduce runs every bundled model, through the same pipeline steps as `tumortracer classify --model
// ID` without its checks, over its card's evaluation file list and checks the card's accuracy, sensitivity, specificity and AUC
// within 0.005.
func TestCardFiguresReproduce(t *testing.T) {
	cat, err := inference.LoadCatalogue(models.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cat.Problems {
		t.Errorf("bundled model refused: %v", p)
	}
	if len(cat.Models()) == 0 {
		t.Skip("no bundled models under models/ yet")
	}
	root := testenv.DataDir(t)
	eng, err := inference.NewEngine(inference.Options{Device: inference.DeviceAuto})
	if err != nil {
		testenv.Missing(t, "ONNX Runtime not available (set %s): %v", inference.LibraryEnv, err)
	}
	defer eng.Close()
	for _, m := range cat.Models() {
		t.Run(m.Manifest.ID, func(t *testing.T) {
			files, err := m.EvalFiles()
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Skipf("model %s names no evaluation files", m.Manifest.ID)
			}
			if m.Manifest.Evaluation.N == 0 {
				t.Skipf("model %s's card has no test figures yet (dataset %q)", m.Manifest.ID, m.Manifest.Evaluation.Dataset)
			}
			inputs := make([]Input, len(files))
			truth := map[string]int{}
			for i, f := range files {
				p := filepath.Join(root, filepath.FromSlash(f.Path))
				if _, err := os.Stat(p); err != nil {
					testenv.Missing(t, "evaluation file %s not under %s", f.Path, root)
				}
				inputs[i] = Input{Path: p}
				truth[p] = m.Manifest.ClassIndex(f.Class)
			}
			ev := m.Manifest.Evaluation
			if ev.N != len(files) {
				t.Errorf("card says n = %d, file list has %d", ev.N, len(files))
			}
			// The card's figures are the model's own: every file goes through the same open, render and engine
			// steps as `classify --model ID`, but without the gate's and the tags' checks (a refused test image
			// would drop out of the figures), as the evaluation (training/goscore) ran it. A gate is run the same
			// way, as if it were the classifier.
			clf := New(cat, eng, Options{Chooser: forcedChooser{m}})
			k := len(m.Manifest.Classes)
			var ys []int
			var pred []int
			var probs [][]float64
			_, err = clf.Run(context.Background(), inputs, func(r Result) error {
				if r.Record.Status != StatusOK {
					t.Errorf("%s: %s", r.Record.Path, r.Record.Error)
					return nil
				}
				ys = append(ys, truth[r.Record.Path])
				pred = append(pred, m.Manifest.ClassIndex(r.Record.Label))
				p := make([]float64, k)
				for j, c := range r.Record.Probabilities {
					p[j] = c.Probability
				}
				probs = append(probs, p)
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			correct := 0
			for i := range ys {
				if ys[i] == pred[i] {
					correct++
				}
			}
			acc := float64(correct) / float64(len(files))
			var sens, spec, auc float64
			if k == 2 {
				pos := m.Manifest.ClassIndex(m.Manifest.PositiveClass)
				sens, spec = recall(ys, pred, pos), recall(ys, pred, 1-pos)
				auc = aucOneVsRest(ys, probs, pos)
			} else {
				for c := 0; c < k; c++ {
					sens += recall(ys, pred, c) / float64(k)
					spec += specificity(ys, pred, c) / float64(k)
					auc += aucOneVsRest(ys, probs, c) / float64(k)
				}
			}
			t.Logf("%s over %d files: accuracy %.4f (card %.4f), sensitivity %.4f (%.4f), specificity %.4f (%.4f), AUC %.4f (%.4f)",
				m.Manifest.ID, len(files), acc, ev.Accuracy, sens, ev.Sensitivity, spec, ev.Specificity, auc, ev.AUC)
			for _, c := range []struct {
				name      string
				got, card float64
			}{{"accuracy", acc, ev.Accuracy}, {"sensitivity", sens, ev.Sensitivity}, {"specificity", spec, ev.Specificity}, {"auc", auc, ev.AUC}} {
				if math.Abs(c.got-c.card) > 0.005 {
					t.Errorf("%s %.4f differs from the card's %.4f by more than 0.005", c.name, c.got, c.card)
				}
			}
		})
	}
}

// forcedChooser chooses one model for every scan, gate or not.
type forcedChooser struct{ m *inference.Model }

func (c forcedChooser) Choose(context.Context, *Scan, int) (Choice, error) {
	return Choice{Model: c.m}, nil
}

func recall(ys, pred []int, c int) float64 {
	tp, n := 0, 0
	for i, y := range ys {
		if y == c {
			n++
			if pred[i] == c {
				tp++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(tp) / float64(n)
}

func specificity(ys, pred []int, c int) float64 {
	tn, n := 0, 0
	for i, y := range ys {
		if y != c {
			n++
			if pred[i] != c {
				tn++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(tn) / float64(n)
}

// aucOneVsRest is the Mann–Whitney AUC of class c's probability, ties counted half.
func aucOneVsRest(ys []int, probs [][]float64, c int) float64 {
	type s struct {
		p   float64
		pos bool
	}
	v := make([]s, len(ys))
	npos := 0
	for i, y := range ys {
		v[i] = s{probs[i][c], y == c}
		if y == c {
			npos++
		}
	}
	nneg := len(v) - npos
	if npos == 0 || nneg == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i].p < v[j].p })
	var rankSum float64
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j].p == v[i].p {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of 1-based ranks i+1 … j
		for k := i; k < j; k++ {
			if v[k].pos {
				rankSum += rank
			}
		}
		i = j
	}
	return (rankSum - float64(npos)*float64(npos+1)/2) / (float64(npos) * float64(nneg))
}

func TestAUC(t *testing.T) {
	ys := []int{0, 0, 1, 1}
	probs := [][]float64{{0.9, 0.1}, {0.6, 0.4}, {0.65, 0.35}, {0.2, 0.8}}
	// Positive scores 0.35, 0.8 against negatives 0.1, 0.4: pairs won 1+0+1+1 = 3 of 4.
	if got := aucOneVsRest(ys, probs, 1); math.Abs(got-0.75) > 1e-12 {
		t.Errorf("AUC = %v, want 0.75", got)
	}
	tie := [][]float64{{0.5, 0.5}, {0.5, 0.5}}
	if got := aucOneVsRest([]int{0, 1}, tie, 1); got != 0.5 {
		t.Errorf("tied AUC = %v, want 0.5", got)
	}
}
