package ui

import (
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
)

// markState is what a slice's mark on the score strip shows.
type markState int

const (
	markPending    markState = iota // not classified yet
	markClassified                  // classified: a bar as high as the score
	markRefused                     // no model may answer it: left out of the series result
	markFailed                      // its classification failed
)

// stripMark is one slice on the strip: its state, its probability for the series label (or, before the series
// has a label, for its own top class), and whether it is the key slice.
type stripMark struct {
	state markState
	p     float64
	key   bool
}

// Colours of the strip.
var (
	colStripBack    = color.NRGBA{0x1a, 0x1a, 0x1a, 0xff}
	colStripPending = color.NRGBA{0x3a, 0x3a, 0x3a, 0xff}
	colStripScore   = color.NRGBA{0x4f, 0x9d, 0xc8, 0xff} // the probability bars' blue
	colStripKey     = color.NRGBA{0x6c, 0xc8, 0x6c, 0xff} // the top class's green
	colStripRefused = color.NRGBA{0xb0, 0x80, 0x20, 0xff}
	colStripFailed  = color.NRGBA{0xc0, 0x40, 0x40, 0xff}
	colStripCursor  = color.NRGBA{0xf0, 0xf0, 0xf0, 0xff}
)

// stripHeight is the strip's height in Fyne units.
const stripHeight = 22

// scoreStrip is the per-slice score strip drawn along the frame slider: one mark per slice of the series in
// acquisition order, as high as the slice's probability for the series label, the key slice green, refused
// slices amber, failed ones red, the slice on screen underlined. Tapping it jumps to the slice under the pointer.
type scoreStrip struct {
	widget.BaseWidget
	marks  []stripMark
	cursor int
	onTap  func(i int)
	raster *canvas.Raster
}

func newScoreStrip(onTap func(int)) *scoreStrip {
	s := &scoreStrip{onTap: onTap, cursor: -1}
	s.raster = canvas.NewRaster(s.draw)
	s.ExtendBaseWidget(s)
	return s
}

// set replaces the marks and the cursor and redraws.
func (s *scoreStrip) set(marks []stripMark, cursor int) {
	s.marks, s.cursor = marks, cursor
	s.raster.Refresh()
}

// CreateRenderer implements fyne.Widget.
func (s *scoreStrip) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(s.raster) }

// MinSize keeps the strip a thin band.
func (s *scoreStrip) MinSize() fyne.Size { return fyne.NewSize(40, stripHeight) }

// Tapped implements fyne.Tappable: jump to the slice under the pointer.
func (s *scoreStrip) Tapped(e *fyne.PointEvent) {
	if i := s.indexAt(e.Position.X); i >= 0 && s.onTap != nil {
		s.onTap(i)
	}
}

// indexAt is the slice whose mark covers x (Fyne units), -1 when there are no marks.
func (s *scoreStrip) indexAt(x float32) int {
	n := len(s.marks)
	w := s.Size().Width
	if n == 0 || w <= 0 {
		return -1
	}
	return max(0, min(n-1, int(float64(x)/float64(w)*float64(n))))
}

// markSpan is the pixel columns [x0, x1) of mark i on a w-pixel strip: marks share the width evenly.
func markSpan(i, n, w int) (int, int) {
	x0 := i * w / n
	x1 := max((i+1)*w/n, x0+1)
	return x0, x1
}

// draw renders the strip at w×h pixels.
func (s *scoreStrip) draw(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	fill := func(x0, y0, x1, y1 int, c color.NRGBA) {
		for y := max(y0, 0); y < min(y1, h); y++ {
			for x := max(x0, 0); x < min(x1, w); x++ {
				img.Set(x, y, c)
			}
		}
	}
	fill(0, 0, w, h, colStripBack)
	n := len(s.marks)
	if n == 0 {
		return img
	}
	cursorH := max(2, h/8)
	barTop := 1
	barH := h - cursorH - 2
	for i, m := range s.marks {
		x0, x1 := markSpan(i, n, w)
		if x1-x0 > 3 {
			x1-- // a gap between marks when they are wide enough to show one
		}
		switch m.state {
		case markPending:
			fill(x0, barTop+barH-2, x1, barTop+barH, colStripPending)
		case markRefused:
			fill(x0, barTop, x1, barTop+barH, colStripRefused)
		case markFailed:
			fill(x0, barTop, x1, barTop+barH, colStripFailed)
		case markClassified:
			c := colStripScore
			if m.key {
				c = colStripKey
			}
			top := barTop + barH - int(math.Round(float64(barH)*max(0.04, min(1, m.p))))
			fill(x0, top, x1, barTop+barH, c)
		}
	}
	if s.cursor >= 0 && s.cursor < n {
		x0, x1 := markSpan(s.cursor, n, w)
		fill(x0, h-cursorH, max(x1, x0+2), h, colStripCursor)
	}
	return img
}
