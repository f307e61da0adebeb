package ui

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"

	"github.com/tumortracer/tumortracer/about"
)

// The corner annotations over the image: patient and study top left, modality, series and frame top right,
// window and zoom bottom left, file, size and the research-use sentence bottom right.

// refreshCorners rewrites the four corners from what is shown.
func (vw *viewer) refreshCorners() {
	s := vw.scan
	if s == nil {
		vw.cornerTL.set()
		vw.cornerTR.set()
		vw.cornerBL.set(vw.hover)
		vw.cornerBR.set(about.Disclaimer)
		return
	}
	m := s.File.Meta
	vw.cornerTL.set(m.PatientName, m.PatientID, formatDate(m.StudyDate), m.StudyDescription)
	series := ""
	if m.SeriesNumber != "" || m.InstanceNumber != "" {
		series = fmt.Sprintf("Se %s  Im %s", orDash(m.SeriesNumber), orDash(m.InstanceNumber))
	}
	frame := ""
	if s.Frames() > 1 {
		frame = fmt.Sprintf("Frame %d/%d", vw.frame+1, s.Frames())
	}
	if len(vw.stack) > 1 && len(vw.stack) != s.Frames() {
		frame = strings.TrimSpace(fmt.Sprintf("Slice %d/%d  %s", vw.stackAt+1, len(vw.stack), frame))
	}
	vw.cornerTR.set(strings.TrimSpace(m.Modality+" "+m.BodyPart), m.SeriesDescription, series, frame)
	w := vw.view.win
	wl := fmt.Sprintf("W %s  L %s", trimFloat(w.Width), trimFloat(w.Center))
	if w.LUT != nil {
		wl = "VOI LUT"
	}
	if w.Name != "" {
		wl += "  (" + w.Name + ")"
	}
	if vw.view.invert {
		wl += "  inverted"
	}
	vw.cornerBL.set(wl, fmt.Sprintf("Zoom %.0f%%", vw.view.zoom()*100/vw.view.scaleToPixels()), vw.hover)
	size := fmt.Sprintf("%d × %d", s.File.Columns, s.File.Rows)
	if sp := s.File.PixelSpacing; sp.Row > 0 {
		size += fmt.Sprintf("  %.3g × %.3g mm", sp.Column, sp.Row)
	}
	vw.cornerBR.set(filepath.Base(s.Path), size, about.Disclaimer)
}

// scaleToPixels converts Fyne units to screen pixels, so zoom reads 100% when one image pixel is one screen pixel.
func (v *imageView) scaleToPixels() float64 {
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil && c.Scale() > 0 {
		return 1 / float64(c.Scale())
	}
	return 1
}

func formatDate(d string) string {
	if len(d) == 8 {
		return d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// trimFloat formats a window value for the corner: whole numbers as they are, others to two decimals at most.
func trimFloat(f float64) string {
	if math.Abs(f) >= 1e9 || (f != 0 && math.Abs(f) < 0.01) {
		return fmt.Sprintf("%.3g", f)
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// cornerText is a stack of small lines drawn over the image, like a viewer's corner annotations.
type cornerText struct {
	box   *fyne.Container
	align fyne.TextAlign
	lines []*canvas.Text
}

func newCornerText(align fyne.TextAlign) *cornerText {
	c := &cornerText{align: align, box: container.NewVBox()}
	return c
}

// text is the lines joined with newlines.
func (c *cornerText) text() string {
	out := make([]string, 0, len(c.box.Objects))
	for _, o := range c.box.Objects {
		out = append(out, o.(*canvas.Text).Text)
	}
	return strings.Join(out, "\n")
}

// set replaces the lines; empty lines are skipped.
func (c *cornerText) set(lines ...string) {
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	for len(c.lines) < len(keep) {
		t := canvas.NewText("", colCornerText)
		t.TextSize = 12
		t.Alignment = c.align
		c.lines = append(c.lines, t)
	}
	objs := make([]fyne.CanvasObject, len(keep))
	for i, l := range keep {
		c.lines[i].Text = l
		c.lines[i].Refresh()
		objs[i] = c.lines[i]
	}
	c.box.Objects = objs
	c.box.Refresh()
}

// colCornerText is light enough to read over the dark parts of an image, where viewers put their annotations.
var colCornerText = color.NRGBA{R: 0xe8, G: 0xe8, B: 0xd0, A: 0xff}

// cornerLayout puts its four children in the top-left, top-right, bottom-left and bottom-right corners.
type cornerLayout struct{}

func (cornerLayout) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	const pad = 6
	for i, o := range objs {
		m := o.MinSize()
		o.Resize(m)
		x, y := float32(pad), float32(pad)
		if i%2 == 1 {
			x = s.Width - m.Width - pad
		}
		if i >= 2 {
			y = s.Height - m.Height - pad
		}
		o.Move(fyne.NewPos(x, y))
	}
}

func (cornerLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(0, 0) }

var _ fyne.Layout = cornerLayout{}
