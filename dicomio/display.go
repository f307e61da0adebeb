package dicomio

import (
	"fmt"
	"math"
)

// Display maths, defined once for every renderer: Render here (the image a model classifies and `tumortracer
// render` writes) and the viewer's screen-sized renderer both take their window from DefaultWindow or SpanWindow
// and their 8-bit grey levels from GreyMap. Render streams over a frame's stored samples when no one holds the
// frame's values (see frames.go); the viewer holds them as Pixels.

// Pixels is one decoded frame as display code needs it: its values in modality units and their range.
type Pixels struct {
	// Values holds the samples, interleaved (RGB RGB …), row-major; len = Rows*Columns*Samples.
	Values                 []float32
	Rows, Columns, Samples int
	// Min and Max are the smallest and largest value; Integral is set when every value is a whole number.
	Min, Max float32
	Integral bool
}

// NewPixels wraps values (rows×cols×samples of them) that did not come from a Scan and scans them once for their
// range; a Scan's frames come as Pixels from Scan.Pixels.
func NewPixels(values []float32, rows, cols, samples int) (*Pixels, error) {
	samples = max(samples, 1)
	if rows < 0 || cols < 0 || len(values) < rows*cols*samples {
		return nil, fmt.Errorf("frame has %d values for %d×%d pixels of %d samples: %w", len(values), cols, rows, samples, ErrTruncated)
	}
	p := &Pixels{Values: values[:rows*cols*samples], Rows: rows, Columns: cols, Samples: samples}
	p.Integral = wholeNumbers(p.Values)
	if len(p.Values) > 0 {
		p.Min, p.Max = valueRange(p.Values, float32(math.Inf(1)), float32(math.Inf(-1)))
	}
	return p, nil
}

// wholeNumbers reports whether every value is a whole number.
func wholeNumbers(vals []float32) bool {
	for _, v := range vals {
		if v != float32(math.Trunc(float64(v))) {
			return false
		}
	}
	return true
}

// MinMaxWindow is the window spanning the frame's values (see SpanWindow).
func (p *Pixels) MinMaxWindow() Window { return SpanWindow(float64(p.Min), float64(p.Max)) }

// WindowFor is DefaultWindow for a frame the caller holds as Pixels (the viewer's): the file's first window, else
// p's min–max window, without going back to the frame cache (PNG/JPEG carry a window: their own grey range).
func (s *Scan) WindowFor(p *Pixels) Window {
	if len(s.Windows) > 0 {
		return s.Windows[0]
	}
	return p.MinMaxWindow()
}

// SpanWindow is the LINEAR_EXACT window that maps lo to black and hi to white (width at least 1): the min–max
// window of a frame whose values span lo … hi.
func SpanWindow(lo, hi float64) Window {
	width := math.Max(hi-lo, 1)
	return Window{Name: "min-max", Center: lo + width/2, Width: width, Function: VOILinearExact}
}

// GreyMap turns modality values into 8-bit grey levels through one window: round(Apply(v)·255), half up, and
// 255 minus that when inverted. It picks the fastest way for the frame it was made for: a table indexed by value
// for whole-number frames of modest range (one Apply per distinct value; exact), a line for the LINEAR
// functions (within one grey level of Apply), Window.Apply otherwise (SIGMOID, LUT).
type GreyMap struct {
	w      Window
	invert bool
	// table[v-base] is the grey of whole-number value v when table is set.
	table []uint8
	base  int
	// a, b: grey = clamp(a·v + b, 0, 255.99…) truncated, when linear is set (b includes the rounding half).
	a, b   float32
	linear bool
}

// maxTable is the largest value range mapped through a table.
const maxTable = 1 << 20

// NewGreyMap returns the map of window w (inverted when invert) for values like p's; p may be nil (no table).
func NewGreyMap(w Window, invert bool, p *Pixels) *GreyMap {
	if p == nil {
		return newGreyMap(w, invert, false, 0, 0, 0)
	}
	return newGreyMap(w, invert, p.Integral, p.Min, p.Max, len(p.Values))
}

// newGreyMap returns the map of window w for n values in lo … hi, whole numbers when integral: what NewGreyMap
// knows from Pixels and Render from a frame's streamed range.
func newGreyMap(w Window, invert, integral bool, lo, hi float32, n int) *GreyMap {
	g := &GreyMap{w: w, invert: invert}
	if integral && hi >= lo && hi-lo < maxTable && int(hi-lo)+1 <= max(n, 4096) {
		g.base = int(lo)
		g.table = make([]uint8, int(hi-lo)+1)
		for j := range g.table {
			g.table[j] = g.apply(float64(g.base + j))
		}
		return g
	}
	if a, b, ok := w.affine(); ok {
		// y = clamp(a·v + b) · 255, rounded half up; inversion is 255 − y.
		g.a, g.b, g.linear = float32(a*255), float32(b*255)+0.5, true
		if invert {
			g.a, g.b = -g.a, 255-float32(b*255)+0.5
		}
	}
	return g
}

// apply is the definition every path reproduces.
func (g *GreyMap) apply(v float64) uint8 {
	y := uint8(math.Floor(g.w.Apply(v)*255 + 0.5))
	if g.invert {
		y = 255 - y
	}
	return y
}

// Grey maps one value.
func (g *GreyMap) Grey(v float32) uint8 {
	switch {
	case g.table != nil:
		if i := int(v) - g.base; i >= 0 && i < len(g.table) {
			return g.table[i]
		}
	case g.linear:
		return clampGrey(v*g.a + g.b)
	}
	return g.apply(float64(v))
}

// Map writes the grey of src[i] to dst[i] (len(dst) ≥ len(src)).
func (g *GreyMap) Map(dst []uint8, src []float32) {
	dst = dst[:len(src)]
	switch {
	case g.table != nil:
		for i, v := range src {
			dst[i] = g.table[int(v)-g.base]
		}
	case g.linear:
		for i, v := range src {
			dst[i] = clampGrey(v*g.a + g.b)
		}
	default:
		for i, v := range src {
			dst[i] = g.apply(float64(v))
		}
	}
}

// Gather writes the grey of src[idx[i]] to dst[i]: one row of a resampled view (nearest neighbour).
func (g *GreyMap) Gather(dst []uint8, src []float32, idx []int) {
	dst = dst[:len(idx)]
	switch {
	case g.table != nil:
		for i, j := range idx {
			dst[i] = g.table[int(src[j])-g.base]
		}
	case g.linear:
		for i, j := range idx {
			dst[i] = clampGrey(src[j]*g.a + g.b)
		}
	default:
		for i, j := range idx {
			dst[i] = g.apply(float64(src[j]))
		}
	}
}

// clampGrey truncates y (which carries the rounding half already) to 0 … 255.
func clampGrey(y float32) uint8 {
	if y < 0 {
		return 0
	}
	if y > 255 {
		return 255
	}
	return uint8(y)
}
