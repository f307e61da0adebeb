package dicomio

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestNewPixelsAndSpanWindow(t *testing.T) {
	p, err := NewPixels([]float32{3, -2, 7.5}, 1, 3, 1)
	if err != nil || p.Min != -2 || p.Max != 7.5 || p.Integral {
		t.Fatalf("range %v…%v integral %v (%v)", p.Min, p.Max, p.Integral, err)
	}
	if _, err := NewPixels([]float32{1, 2}, 2, 2, 1); !errors.Is(err, ErrTruncated) {
		t.Fatalf("2 values for 2×2: %v", err)
	}
	// The min–max window maps the smallest value to black and the largest to white.
	q, _ := NewPixels([]float32{0, 255, 100}, 1, 3, 1)
	w := q.MinMaxWindow()
	g := NewGreyMap(w, false, q)
	if g.Grey(0) != 0 || g.Grey(255) != 255 || w.Function != VOILinearExact {
		t.Fatalf("min–max window %v maps 0 → %d, 255 → %d", w, g.Grey(0), g.Grey(255))
	}
	flat := SpanWindow(5, 5)
	if flat.Width != 1 || flat.Center != 5.5 {
		t.Fatalf("span of a constant frame %v, want width 1", flat)
	}
	s := &Scan{Windows: []Window{{Name: "file", Center: 40, Width: 400}}}
	if s.WindowFor(q) != s.Windows[0] || (&Scan{}).WindowFor(q) != w {
		t.Fatal("WindowFor: the file's first window, else the frame's min–max")
	}
}

// TestGreyMapPathsAgree: the table, the line and Apply give the same grey levels (the line within one level), and
// Map, Gather and Grey agree; Render's streamed chunks go through the same Map (TestStreamedRenderEqualsFrame).
func TestGreyMapPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	whole := make([]float32, 5000)
	for i := range whole {
		whole[i] = float32(rng.IntN(4000) - 2000)
	}
	idx := make([]int, 300)
	for i := range idx {
		idx[i] = rng.IntN(len(whole))
	}
	pxTable, _ := NewPixels(whole, 50, 100, 1)
	for _, w := range []Window{
		{Center: -600, Width: 1500, Function: VOILinear},
		{Center: 40, Width: 80, Function: VOILinearExact},
		{Center: 0, Width: 1, Function: VOILinear}, // a threshold: no line, Apply
		{Center: 100, Width: 300, Function: VOISigmoid},
	} {
		for _, inv := range []bool{false, true} {
			table, line := NewGreyMap(w, inv, pxTable), NewGreyMap(w, inv, nil)
			if table.table == nil {
				t.Fatal("a whole-number frame of modest range gets no table")
			}
			a, b := make([]uint8, len(whole)), make([]uint8, len(whole))
			table.Map(a, whole)
			line.Map(b, whole)
			for i, v := range whole {
				want := math.Floor(w.Apply(float64(v))*255 + 0.5)
				if inv {
					want = 255 - want
				}
				if float64(a[i]) != want || math.Abs(float64(b[i])-want) > 1 || table.Grey(v) != a[i] || line.Grey(v) != b[i] {
					t.Fatalf("%v invert=%v: value %v → table %d, line %d, Grey %d/%d, Apply %v", w, inv, v, a[i], b[i], table.Grey(v), line.Grey(v), want)
				}
			}
			g := make([]uint8, len(idx))
			table.Gather(g, whole, idx)
			for i, j := range idx {
				if g[i] != a[j] {
					t.Fatalf("Gather differs from Map at %d", j)
				}
			}
		}
	}
}
