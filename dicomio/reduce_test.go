package dicomio

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// TestReducedJPEG2000 decodes every JPEG 2000 and HTJ2K frame of the corpus that Open takes at half size (one
// level left out) and checks it against the full decode: the geometry (sides halved, rounded up; spacing doubled),
// and the values, which are the codestream's low-pass image: close to the 2×2 means of the full frame (within 5 %
// of the frame's range on average, 0.1–4.4 % in the corpus), and closer to them than the same image moved by one
// pixel along either axis is (a transposed, shifted, flipped or mis-coloured decode is not). 1-bit frames (a
// segmentation) are not reduced.
func TestReducedJPEG2000(t *testing.T) {
	root, rows := readInventory(t)
	checked := 0
	for _, r := range rows {
		if !strings.Contains(r.ts, "2000") && !strings.Contains(r.ts, "HTJ2K") && !strings.Contains(r.ts, "High-Throughput") {
			continue
		}
		s, err := Open(filepath.Join(root, r.set, r.file))
		if err != nil || s.pixels == nil || min(s.Rows, s.Columns) < 16 || s.BitsAllocated == 1 {
			continue
		}
		full, err := s.Frame(0)
		if err != nil {
			continue // a corrupt frame: TestCorpusSweep says why
		}
		name := r.set + "/" + r.file
		if _, _, err := codec.DecodeReduced(s.TransferSyntax, joinFragments(s.pixels.fragments[0]), s.codecParams(), 31); !errors.Is(err, codec.ErrLevels) {
			t.Errorf("%s: 31 levels left out: %v, want ErrLevels", name, err)
		}
		red, factor, ok := s.Reduced(0, (min(s.Rows, s.Columns)+3)/4+1)
		if !ok || factor != 1 {
			t.Errorf("%s: no half-size decode (factor %d, ok %v)", name, factor, ok)
			continue
		}
		if red.Rows != (s.Rows+1)/2 || red.Columns != (s.Columns+1)/2 || red.NumFrames != 1 {
			t.Errorf("%s: reduced to %dx%d (%d frames), want %dx%d", name, red.Columns, red.Rows, red.NumFrames, (s.Columns+1)/2, (s.Rows+1)/2)
			continue
		}
		if red.PixelSpacing.Row != 2*s.PixelSpacing.Row || red.PixelSpacing.Column != 2*s.PixelSpacing.Column {
			t.Errorf("%s: spacing %v, want twice %v", name, red.PixelSpacing, s.PixelSpacing)
		}
		half, err := red.Frame(0)
		if err != nil {
			t.Errorf("%s: reduced frame: %v", name, err)
			continue
		}
		d := meanBoxDifference(full, half, s.Rows, s.Columns, s.SamplesPerPixel)
		if d > 0.05 {
			t.Errorf("%s: reduced frame differs from the 2×2 means of the full one by %.1f %% of the range on average", name, 100*d)
		}
		for _, move := range [][2]int{{0, 1}, {1, 0}} {
			moved := shifted(half, red.Rows, red.Columns, s.SamplesPerPixel, move[0], move[1])
			if m := meanBoxDifference(full, moved, s.Rows, s.Columns, s.SamplesPerPixel); m < d {
				t.Errorf("%s: reduced frame moved by %v matches the full one better (%.2f %%) than in place (%.2f %%)", name, move, 100*m, 100*d)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d JPEG 2000 files checked", checked)
	}
	t.Logf("%d JPEG 2000 / HTJ2K files decoded at half size", checked)
}

// meanBoxDifference is the mean absolute difference between half (rows/2 × cols/2, rounded up) and the 2×2 means of
// full, as a fraction of full's range.
func meanBoxDifference(full, half []float32, rows, cols, spp int) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range full {
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	hc := (cols + 1) / 2
	var sum float64
	var n int
	for y := 0; y+1 < rows; y += 2 {
		for x := 0; x+1 < cols; x += 2 {
			for c := range spp {
				at := func(yy, xx int) float64 { return float64(full[(yy*cols+xx)*spp+c]) }
				mean := (at(y, x) + at(y, x+1) + at(y+1, x) + at(y+1, x+1)) / 4
				sum += math.Abs(float64(half[((y/2)*hc+x/2)*spp+c]) - mean)
				n++
			}
		}
	}
	if n == 0 || hi <= lo {
		return 0
	}
	return sum / float64(n) / (hi - lo)
}

// shifted is img (rows × cols × spp) moved down by dy and right by dx pixels, wrapping around.
func shifted(img []float32, rows, cols, spp, dy, dx int) []float32 {
	out := make([]float32, len(img))
	for y := range rows {
		for x := range cols {
			copy(out[(((y+dy)%rows)*cols+(x+dx)%cols)*spp:][:spp], img[(y*cols+x)*spp:][:spp])
		}
	}
	return out
}
