package inference

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"

	"gopkg.in/yaml.v3"
)

// Files of a model folder's out-of-scope statistics (written by training/scope.py, `make scope MODEL=ID`).
const (
	ScopeFile = "scope.yaml"
	// scopeMagic opens the statistics file: little-endian uint32 K and C follow, then K×C float32 class means and
	// C×C float32 precision (row-major).
	scopeMagic = "TTSCOPE1"
)

// ScopeMethod is the only scoring method so far: the squared Mahalanobis distance to the nearest class mean under
// one shared (tied) covariance.
const ScopeMethod = "mahalanobis-tied"

var (
	// ErrNoScope means the model folder has no scope.yaml: the model's out-of-scope check cannot run.
	ErrNoScope = errors.New("the model has no out-of-scope statistics")
	// ErrScopeMismatch means the statistics were fitted for other weights (or their file was changed); they are
	// refused, since a distance to another model's features means nothing.
	ErrScopeMismatch = errors.New("the out-of-scope statistics do not belong to this model file")
	// ErrInvalidScope means scope.yaml or its statistics file is malformed.
	ErrInvalidScope = errors.New("invalid out-of-scope statistics")
)

// ScopeSpec is scope.yaml: what the statistics are, which model file they belong to and the threshold.
type ScopeSpec struct {
	Method       string `yaml:"method" json:"method"`
	ModelID      string `yaml:"model_id" json:"model_id"`
	ModelVersion string `yaml:"model_version" json:"model_version"`
	// ModelSHA256 is the sha256 of the model.onnx the features came from.
	ModelSHA256 string `yaml:"model_sha256" json:"model_sha256"`
	// Features names the model output the statistics were fitted on (the manifest's outputs.features).
	Features string `yaml:"features" json:"features"`
	Dim      int    `yaml:"dim" json:"dim"`
	// Centres are the class ids of the means in the statistics file, in order; empty for a class without one.
	Centres []string `yaml:"centres" json:"centres"`
	// Stats names the binary statistics file in the model folder and StatsSHA256 its sha256.
	Stats       string  `yaml:"stats" json:"stats"`
	StatsSHA256 string  `yaml:"stats_sha256" json:"stats_sha256"`
	Shrinkage   float64 `yaml:"shrinkage" json:"shrinkage"`
	// Threshold: a squared distance above it is out of scope. ThresholdRule says how it was chosen.
	Threshold     float64 `yaml:"threshold" json:"threshold"`
	ThresholdRule string  `yaml:"threshold_rule" json:"threshold_rule"`
}

// Scope scores a model's pooled features against the statistics of its training data.
type Scope struct {
	Spec      ScopeSpec
	means     [][]float64 // per centre, nil for a class without one
	precision []float64   // C×C, row-major
	// pm[k] = P·μ_k and mpm[k] = μ_kᵀ·P·μ_k, so that d²_k = fᵀPf − 2 fᵀ(Pμ_k) + μ_kᵀPμ_k costs one C×C product
	// per image whatever the number of classes.
	pm  [][]float64
	mpm []float64
}

// ScopeScore is one image's out-of-scope verdict.
type ScopeScore struct {
	// D2 is the squared Mahalanobis distance to the nearest class mean; Threshold the model's limit.
	D2, Threshold float64
	// InScope is D2 <= Threshold.
	InScope bool
	// Nearest is the class id of the nearest mean.
	Nearest string
}

// LoadScope reads the model folder's scope.yaml and statistics file. The error wraps ErrNoScope when the folder
// has none, ErrScopeMismatch when they were fitted for another model.onnx (or the statistics file does not match
// its sha256), and ErrInvalidScope when they are malformed.
func (m *Model) LoadScope() (*Scope, error) {
	spec, err := fs.ReadFile(m.fsys, path.Join(m.dir, ScopeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model %s: %w (no %s)", m.Manifest.ID, ErrNoScope, ScopeFile)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: read %s: %w", m.Manifest.ID, ScopeFile, err)
	}
	var s ScopeSpec
	if err := yaml.Unmarshal(spec, &s); err != nil {
		return nil, fmt.Errorf("model %s: %w: %s: %w", m.Manifest.ID, ErrInvalidScope, ScopeFile, err)
	}
	if s.Stats == "" || path.Base(s.Stats) != s.Stats || s.Stats == "." || s.Stats == ".." {
		return nil, fmt.Errorf("model %s: %w: stats %q must be a file name in the model folder", m.Manifest.ID, ErrInvalidScope, s.Stats)
	}
	stats, err := fs.ReadFile(m.fsys, path.Join(m.dir, s.Stats))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w: read %s: %w", m.Manifest.ID, ErrInvalidScope, s.Stats, err)
	}
	sc, err := NewScope(s, stats, &m.Manifest)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Manifest.ID, err)
	}
	return sc, nil
}

// Scope returns the model's out-of-scope statistics, read and checked by LoadScope on the first call and kept: the
// same answer (statistics, or an error wrapping ErrNoScope, ErrScopeMismatch or ErrInvalidScope) every time after.
func (m *Model) Scope() (*Scope, error) {
	m.scopeOnce.Do(func() { m.scope, m.scopeErr = m.LoadScope() })
	return m.scope, m.scopeErr
}

// NewScope checks spec and the statistics file's bytes against the model's manifest (whose SHA256 LoadModel has
// verified against model.onnx) and returns the scorer.
func NewScope(spec ScopeSpec, stats []byte, man *Manifest) (*Scope, error) {
	if spec.ModelSHA256 != man.SHA256 {
		return nil, fmt.Errorf("%w: fitted for model file %s, this is %s; refit with `make scope MODEL=%s`", ErrScopeMismatch, short(spec.ModelSHA256), short(man.SHA256), man.ID)
	}
	sum := sha256.Sum256(stats)
	if got := hex.EncodeToString(sum[:]); got != spec.StatsSHA256 {
		return nil, fmt.Errorf("%w: %s has sha256 %s, scope.yaml says %s", ErrScopeMismatch, spec.Stats, short(got), short(spec.StatsSHA256))
	}
	var errs []error
	bad := func(format string, args ...interface{}) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]interface{}{ErrInvalidScope}, args...)...))
	}
	if spec.Method != ScopeMethod {
		bad("method %q is not supported (want %s)", spec.Method, ScopeMethod)
	}
	if spec.Features == "" || spec.Features != man.Outputs.Features {
		bad("fitted on output %q, the model's features output is %q", spec.Features, man.Outputs.Features)
	}
	if !(spec.Threshold > 0) || math.IsInf(spec.Threshold, 0) {
		bad("threshold %v must be a positive number", spec.Threshold)
	}
	if len(spec.Centres) != len(man.Classes) {
		bad("%d centres for %d classes", len(spec.Centres), len(man.Classes))
	}
	for i, c := range spec.Centres {
		if c != "" && (i >= len(man.Classes) || man.Classes[i].ID != c) {
			bad("centre %d is %q, the model's class %d is another", i, c, i)
		}
	}
	if len(stats) < 16 || string(stats[:8]) != scopeMagic {
		bad("%s is not a statistics file", spec.Stats)
		return nil, errors.Join(errs...)
	}
	k := int(binary.LittleEndian.Uint32(stats[8:12]))
	c := int(binary.LittleEndian.Uint32(stats[12:16]))
	if k != len(spec.Centres) || c != spec.Dim || c < 1 || k < 1 {
		bad("%s holds %d centres of %d features, scope.yaml says %d of %d", spec.Stats, k, c, len(spec.Centres), spec.Dim)
	} else if want := 16 + 4*(int64(k)*int64(c)+int64(c)*int64(c)); int64(len(stats)) != want {
		bad("%s holds %d bytes, want %d", spec.Stats, len(stats), want)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	vals := make([]float64, (len(stats)-16)/4)
	for i := range vals {
		vals[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(stats[16+4*i:])))
	}
	s := &Scope{Spec: spec, means: make([][]float64, k), precision: vals[k*c:]}
	centres := 0
	for i := range k {
		mu := vals[i*c : (i+1)*c]
		if spec.Centres[i] == "" || hasNaN(mu) {
			continue
		}
		s.means[i] = mu
		centres++
	}
	if centres == 0 {
		return nil, fmt.Errorf("%w: no class has a mean", ErrInvalidScope)
	}
	if hasNaN(s.precision) {
		return nil, fmt.Errorf("%w: the precision matrix is not finite", ErrInvalidScope)
	}
	s.prepare()
	return s, nil
}

// prepare computes P·μ_k and μ_kᵀPμ_k for every centre.
func (s *Scope) prepare() {
	c := s.Spec.Dim
	s.pm = make([][]float64, len(s.means))
	s.mpm = make([]float64, len(s.means))
	for k, mu := range s.means {
		if mu == nil {
			continue
		}
		s.pm[k] = s.mulPrecision(mu)
		for i := 0; i < c; i++ {
			s.mpm[k] += mu[i] * s.pm[k][i]
		}
	}
}

// mulPrecision returns P·v.
func (s *Scope) mulPrecision(v []float64) []float64 {
	c := s.Spec.Dim
	out := make([]float64, c)
	for i := range out {
		row := s.precision[i*c : (i+1)*c]
		var acc float64
		for j, vj := range v {
			acc += row[j] * vj
		}
		out[i] = acc
	}
	return out
}

// Score returns the squared Mahalanobis distance of a feature vector (Prediction.Features) to the nearest class
// mean and whether it lies within the threshold. The error wraps ErrInvalidScope when the vector's length is not
// the statistics' width.
func (s *Scope) Score(features []float32) (ScopeScore, error) {
	c := s.Spec.Dim
	if len(features) != c {
		return ScopeScore{}, fmt.Errorf("%w: %d features, the statistics have %d", ErrInvalidScope, len(features), c)
	}
	f := make([]float64, c)
	for i, v := range features {
		f[i] = float64(v)
	}
	pf := s.mulPrecision(f)
	var fpf float64
	for i := range f {
		fpf += f[i] * pf[i]
	}
	best, nearest := math.Inf(1), -1
	for k, pm := range s.pm {
		if pm == nil {
			continue
		}
		var cross float64
		for i := range f {
			cross += f[i] * pm[i]
		}
		// (f−μ)ᵀP(f−μ) expanded; P is symmetric. Rounding can take a distance of 0 just below it.
		d2 := max(fpf-2*cross+s.mpm[k], 0)
		if d2 < best {
			best, nearest = d2, k
		}
	}
	if math.IsNaN(fpf) || nearest < 0 {
		return ScopeScore{}, fmt.Errorf("%w: the distance is not a number (non-finite features)", ErrInvalidScope)
	}
	return ScopeScore{D2: best, Threshold: s.Spec.Threshold, InScope: best <= s.Spec.Threshold, Nearest: s.Spec.Centres[nearest]}, nil
}

func hasNaN(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return true
		}
	}
	return false
}

// short abbreviates a sha256 for a sentence.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
