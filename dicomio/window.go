package dicomio

import (
	"math"
	"strings"
)

// CTPresets are the standard CT windows, in Hounsfield units.
var CTPresets = []Window{
	{Name: "lung", Center: -600, Width: 1500, Function: VOILinear},
	{Name: "mediastinum", Center: 50, Width: 350, Function: VOILinear},
	{Name: "soft-tissue", Center: 40, Width: 400, Function: VOILinear},
	{Name: "bone", Center: 400, Width: 1800, Function: VOILinear},
	{Name: "brain", Center: 40, Width: 80, Function: VOILinear},
}

// Preset returns the CT preset with the given name (case-insensitive; "soft tissue" and "soft_tissue" name
// "soft-tissue").
func Preset(name string) (Window, bool) {
	name = strings.NewReplacer(" ", "-", "_", "-").Replace(strings.ToLower(strings.TrimSpace(name)))
	for _, w := range CTPresets {
		if w.Name == name {
			return w, true
		}
	}
	return Window{}, false
}

// Apply maps a modality value to the VOI output in [0, 1]: through the LUT when the window has one, else by
// the window function of PS3.3 C.11.2.1.2 (LINEAR, LINEAR_EXACT or SIGMOID; an empty Function is LINEAR).
// Widths below the function's minimum (1 for LINEAR, above 0 otherwise) are raised to it.
func (w Window) Apply(v float64) float64 {
	if w.LUT != nil && len(w.LUT.Data) > 0 {
		return w.LUT.lookup(v) / float64(uint32(1)<<max(w.LUT.Bits, 1)-1)
	}
	switch w.Function {
	case VOISigmoid:
		width := math.Max(w.Width, math.SmallestNonzeroFloat64)
		return 1 / (1 + math.Exp(-4*(v-w.Center)/width))
	case VOILinearExact:
		width := math.Max(w.Width, math.SmallestNonzeroFloat64)
		switch {
		case v <= w.Center-width/2:
			return 0
		case v > w.Center+width/2:
			return 1
		}
		return (v-w.Center)/width + 0.5
	default:
		width := math.Max(w.Width, 1)
		switch {
		case v <= w.Center-0.5-(width-1)/2:
			return 0
		case v > w.Center-0.5+(width-1)/2:
			return 1
		}
		if width == 1 {
			return 1 // a one-wide window is a threshold
		}
		return (v-(w.Center-0.5))/(width-1) + 0.5
	}
}

// affine returns a, b such that Apply(v) = clamp(a·v + b, 0, 1) for the linear functions; ok is false for
// SIGMOID and LUT windows.
func (w Window) affine() (a, b float64, ok bool) {
	if w.LUT != nil {
		return 0, 0, false
	}
	switch w.Function {
	case VOISigmoid:
		return 0, 0, false
	case VOILinearExact:
		width := math.Max(w.Width, math.SmallestNonzeroFloat64)
		return 1 / width, 0.5 - w.Center/width, true
	default:
		width := math.Max(w.Width, 1)
		if width == 1 {
			return 0, 0, false
		}
		return 1 / (width - 1), 0.5 - (w.Center-0.5)/(width-1), true
	}
}

// DefaultWindow is the window a viewer opens frame with: the file's first window, else the min–max of the frame
// as LINEAR_EXACT (see MinMaxWindow). PNG/JPEG have a first window: the identity over the sample range. WindowFor
// is the same rule for a frame held as Pixels.
func (s *Scan) DefaultWindow(frame int) Window {
	if len(s.Windows) > 0 {
		return s.Windows[0]
	}
	return s.MinMaxWindow(frame)
}

// MinMaxWindow is the LINEAR_EXACT window spanning frame's smallest to largest value (see SpanWindow). It
// decodes the frame when no one has yet (it is kept for the Render that follows) and streams over its stored
// samples for the range; for a frame that cannot be decoded, or is out of range, it spans 0 to 1, and Render or
// Frame reports the error.
func (s *Scan) MinMaxWindow(frame int) Window {
	lo, hi := 0.0, 1.0
	if e, err := s.entry(frame); err == nil {
		if l, h, err := e.valueRange(s); err == nil {
			lo, hi = float64(l), float64(h)
		}
	}
	return SpanWindow(lo, hi)
}
