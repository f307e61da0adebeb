package inference

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// SeriesTopKMean is the one series rule supported: each class's series score is the mean of that class's K
// highest slice probabilities (of all of them when the series has fewer classified slices), and the series label
// is the class with the highest score.
const SeriesTopKMean = "top-k-mean"

// SeriesRule says how the slice results of one acquisition (a CT series) add up to a result for the series. It
// lives in the manifest's `series:` section, which the training recipe copies from training/cards.yaml onto the
// card, so the rule, its k and whether it was validated are written where the model is described and nowhere
// else. A model without one gets no series result.
type SeriesRule struct {
	// Rule names the aggregation (SeriesTopKMean).
	Rule string `yaml:"rule" json:"rule"`
	// K is the number of slices each class's score averages.
	K int `yaml:"k" json:"k"`
	// Validated is true only when the rule was checked against series-level labels; the window and the card say
	// so when it was not.
	Validated bool `yaml:"validated" json:"validated"`
	// Note says why the rule and k were chosen.
	Note string `yaml:"note,omitempty" json:"note,omitempty"`
}

// maxSeriesK bounds k: a rule averaging more slices than any series holds is a typo.
const maxSeriesK = 10000

// validate reports every problem of the rule.
func (r *SeriesRule) validate() []error {
	var errs []error
	if r.Rule != SeriesTopKMean {
		errs = append(errs, fmt.Errorf("%w: series.rule %q is not supported (want %s)", ErrInvalidManifest, r.Rule, SeriesTopKMean))
	}
	if r.K < 1 || r.K > maxSeriesK {
		errs = append(errs, fmt.Errorf("%w: series.k %d must be between 1 and %d", ErrInvalidManifest, r.K, maxSeriesK))
	}
	return errs
}

// Name is the rule's short form, as the `rule` column writes it: "top-5-mean".
func (r *SeriesRule) Name() string { return fmt.Sprintf("top-%d-mean", r.K) }

// Sentence says the rule in words for people, including whether it was validated.
func (r *SeriesRule) Sentence() string {
	s := fmt.Sprintf("Series score per class: the mean of its %d highest slice probabilities (of all slices when fewer are classified); the series label is the class with the highest score.", r.K)
	if r.Validated {
		return s
	}
	return s + " This rule is not validated: no series-level labels exist for this model."
}

// ErrNoSlices means a series rule was asked to aggregate no slices.
var ErrNoSlices = errors.New("no classified slices to aggregate")

// Aggregate returns each class's series score from the class probabilities of the classified slices, one row per
// slice with one value per class in the same order. Rows of another length are an error, as is an empty list.
func (r *SeriesRule) Aggregate(slices [][]float64) ([]float64, error) {
	if len(slices) == 0 {
		return nil, ErrNoSlices
	}
	k := len(slices[0])
	col := make([]float64, len(slices))
	scores := make([]float64, k)
	for c := range k {
		for i, row := range slices {
			if len(row) != k {
				return nil, fmt.Errorf("slice %d has %d class probabilities, slice 1 has %d", i+1, len(row), k)
			}
			col[i] = row[c]
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(col)))
		n := min(r.K, len(col))
		sum := 0.0
		for _, v := range col[:n] {
			sum += v
		}
		scores[c] = sum / float64(n)
		if math.IsNaN(scores[c]) {
			return nil, fmt.Errorf("class %d: a slice probability is not a number", c)
		}
	}
	return scores, nil
}
