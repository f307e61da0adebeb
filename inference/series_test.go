package inference

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSeriesRuleAggregate(t *testing.T) {
	rule := SeriesRule{Rule: SeriesTopKMean, K: 2}
	// Three slices, two classes. Class 0's two highest are 0.9 and 0.6 (mean 0.75); class 1's are 0.8 and 0.4
	// (mean 0.6): a mean over all slices (0.6333 / 0.3667) or a max (0.9 / 0.8) would give other numbers.
	got, err := rule.Aggregate([][]float64{{0.6, 0.4}, {0.9, 0.1}, {0.2, 0.8}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.75, 0.6} {
		if math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("class %d score %.6f, want %.6f", i, got[i], want)
		}
	}
	// Fewer slices than k: the mean of all of them.
	got, err = (&SeriesRule{Rule: SeriesTopKMean, K: 5}).Aggregate([][]float64{{0.2, 0.8}, {0.6, 0.4}})
	if err != nil || math.Abs(got[0]-0.4) > 1e-12 || math.Abs(got[1]-0.6) > 1e-12 {
		t.Fatalf("two slices under k=5: %v, %v; want [0.4 0.6]", got, err)
	}
	if _, err := rule.Aggregate(nil); !errors.Is(err, ErrNoSlices) {
		t.Errorf("no slices: %v, want ErrNoSlices", err)
	}
	if _, err := rule.Aggregate([][]float64{{0.5, 0.5}, {1}}); err == nil {
		t.Error("rows of different lengths were aggregated")
	}
	if _, err := rule.Aggregate([][]float64{{math.NaN(), 0.5}}); err == nil {
		t.Error("a NaN probability was aggregated")
	}
}

func TestSeriesRuleInManifest(t *testing.T) {
	withRule := func(rule string) *Manifest {
		t.Helper()
		m, err := ParseManifest([]byte(strings.Replace(goodYAML, "sha256:", rule+"sha256:", 1)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := withRule("series: {rule: top-k-mean, k: 5, validated: false, note: chosen by reasoning}\n")
	if err := m.Validate(); err != nil {
		t.Fatalf("manifest with a good series rule: %v", err)
	}
	if m.Series == nil || m.Series.K != 5 || m.Series.Validated || m.Series.Name() != "top-5-mean" {
		t.Fatalf("series rule read as %+v", m.Series)
	}
	if s := m.Series.Sentence(); !strings.Contains(s, "5 highest") || !strings.Contains(s, "not validated") {
		t.Errorf("rule sentence %q must give k and say the rule is not validated", s)
	}
	if s := (&SeriesRule{Rule: SeriesTopKMean, K: 3, Validated: true}).Sentence(); strings.Contains(s, "not validated") {
		t.Errorf("a validated rule's sentence says %q", s)
	}
	// Both problems at once.
	err := withRule("series: {rule: max, k: 0}\n").Validate()
	if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), `series.rule "max"`) || !strings.Contains(err.Error(), "series.k 0") {
		t.Fatalf("bad series rule: %v", err)
	}
	// Without a section there is no rule, and the manifest is still valid.
	if none := withRule(""); none.Validate() != nil || none.Series != nil {
		t.Fatalf("manifest without series: rule %+v, error %v", none.Series, none.Validate())
	}
	// The section round-trips through YAML (the training recipe writes what Go reads).
	out, err := yaml.Marshal(m.Series)
	if err != nil || !strings.Contains(string(out), "k: 5") {
		t.Fatalf("marshal: %s, %v", out, err)
	}
}
