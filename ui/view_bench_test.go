package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/tumortracer/tumortracer/dicomio"
)

// BenchmarkWindowLevelDrag is one step of a right-drag: change the window, then repaint a 1600×1000 view. The
// cost is dicomio's GreyMap rebuild (a table over the frame's value range) plus one pass over the screen's
// pixels, whatever the image size.
func BenchmarkWindowLevelDrag(b *testing.B) {
	for _, sz := range []struct {
		name       string
		cols, rows int
	}{{"ct-512x512", 512, 512}, {"cr-2048x2500", 2048, 2500}} {
		b.Run(sz.name, func(b *testing.B) {
			test.NewTempApp(b)
			f := ramp(b, sz.cols, sz.rows)
			v := newImageView()
			w := test.NewTempWindow(b, v)
			w.SetPadded(false)
			w.Resize(fyne.NewSize(1600, 1000))
			v.Resize(fyne.NewSize(1600, 1000))
			v.SetFrame(f, dicomio.Window{Center: 40, Width: 400, Function: dicomio.VOILinear}, false)
			b.ReportAllocs()
			for b.Loop() {
				v.adjustWindow(1, 1)
				v.render(1600, 1000)
			}
		})
	}
}

// BenchmarkWindowLevelDragFloat is the same for fractional values, where each pixel goes through the window's line.
func BenchmarkWindowLevelDragFloat(b *testing.B) {
	test.NewTempApp(b)
	f := ramp(b, 512, 512)
	for i := range f.Values {
		f.Values[i] += 0.5
	}
	f = frameOf(b, f.Values, 512, 512)
	v := newImageView()
	w := test.NewTempWindow(b, v)
	w.SetPadded(false)
	w.Resize(fyne.NewSize(1600, 1000))
	v.Resize(fyne.NewSize(1600, 1000))
	v.SetFrame(f, dicomio.Window{Center: 40, Width: 400, Function: dicomio.VOILinear}, false)
	b.ReportAllocs()
	for b.Loop() {
		v.adjustWindow(1, 1)
		v.render(1600, 1000)
	}
}
