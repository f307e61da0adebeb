// Package report draws TumorTracer's key-slice report: one PNG holding a series' key slice with its saliency
// overlay and colour scale, the series and slice it is, the model and version that classified it, the series
// result with the rule that made it (and whether that rule was validated), and the research-use sentence. It is
// pure Go — the Go fonts of golang.org/x/image, imaging for the resize, inference for the overlay — so that any
// front end can write the same report.
package report

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"strings"

	"github.com/disintegration/imaging"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/tumortracer/tumortracer/inference"
)

// KeySlice is what a key-slice report shows. Every text field but SliceResult is required: a report without the
// model, its version, the rule or the research-use sentence is not written.
type KeySlice struct {
	// Image is the key slice as the model saw it (the display image it classified); Saliency, when set, is drawn
	// over it with Opacity (0.45 when zero).
	Image    image.Image
	Saliency *inference.Saliency
	Opacity  float64
	// Title names the series ("Chest 1.25 mm — series 2, key 9c5a929e8a70").
	Title string
	// Slice says which slice this is ("slice 5 of 7, z = 40.0 mm: IM0005").
	Slice string
	// Model names the model and its version ("Chest CT lung cancer type classifier, ct-lung 1.0.0").
	Model, Version string
	// Result is the series result ("Adenocarcinoma, series score 0.884, 8 of 8 slices classified, none refused");
	// SliceResult the key slice's own ("Adenocarcinoma 0.951 on this slice").
	Result, SliceResult string
	// Rule is the series rule in words, saying whether it was validated.
	Rule string
	// Disclaimer is the research-use sentence (about.Disclaimer).
	Disclaimer string
}

// ErrIncomplete means a report lacks something it must show.
var ErrIncomplete = errors.New("the key-slice report is incomplete")

// Layout of the report, in pixels.
const (
	pageWidth  = 760
	margin     = 24
	imageSide  = pageWidth - 2*margin
	scaleH     = 12
	lineGap    = 6
	titleSize  = 20
	textSize   = 15
	labelWidth = 118
)

// Colours of the report: black on white, the research-use sentence in the warning orange of the window.
var (
	paper   = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	ink     = color.NRGBA{0x11, 0x11, 0x11, 0xff}
	muted   = color.NRGBA{0x55, 0x55, 0x55, 0xff}
	warning = color.NRGBA{0xb3, 0x4a, 0x00, 0xff}
)

// check reports every missing part at once.
func (k *KeySlice) check() error {
	var missing []string
	if k.Image == nil || k.Image.Bounds().Empty() {
		missing = append(missing, "image")
	}
	for name, v := range map[string]string{"title": k.Title, "slice": k.Slice, "model": k.Model, "version": k.Version,
		"result": k.Result, "rule": k.Rule, "research-use sentence": k.Disclaimer} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s", ErrIncomplete, strings.Join(missing, ", "))
	}
	return nil
}

// faces are the report's fonts.
type faces struct{ title, text, bold font.Face }

func loadFaces() (faces, error) {
	regular, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return faces{}, err
	}
	boldFont, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return faces{}, err
	}
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	var fs faces
	if fs.title, err = face(boldFont, titleSize); err != nil {
		return fs, err
	}
	if fs.text, err = face(regular, textSize); err != nil {
		return fs, err
	}
	fs.bold, err = face(boldFont, textSize)
	return fs, err
}

// Render draws the report.
func Render(k KeySlice) (*image.RGBA, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	fs, err := loadFaces()
	if err != nil {
		return nil, fmt.Errorf("report fonts: %w", err)
	}
	opacity := k.Opacity
	if opacity == 0 {
		opacity = 0.45
	}
	var shown image.Image = k.Image
	if k.Saliency != nil {
		shown = inference.Overlay(k.Image, k.Saliency, opacity)
	}
	b := shown.Bounds()
	w, h := imageSide, imageSide*b.Dy()/max(b.Dx(), 1)
	if h > imageSide {
		w, h = imageSide*b.Dx()/max(b.Dy(), 1), imageSide
	}
	shown = imaging.Resize(shown, max(w, 1), max(h, 1), imaging.Linear)

	// Lay the text out first, to know the page's height.
	textW := pageWidth - 2*margin - labelWidth
	type row struct {
		label string
		lines []string
		face  font.Face
		col   color.Color
	}
	rows := []row{
		{"Series", wrap(fs.text, k.Title, textW), fs.text, ink},
		{"Key slice", wrap(fs.text, k.Slice, textW), fs.text, ink},
		{"Model", wrap(fs.text, k.Model+" "+k.Version, textW), fs.text, ink},
		{"Series result", wrap(fs.bold, k.Result, textW), fs.bold, ink},
	}
	if k.SliceResult != "" {
		rows = append(rows, row{"This slice", wrap(fs.text, k.SliceResult, textW), fs.text, ink})
	}
	rows = append(rows, row{"Rule", wrap(fs.text, k.Rule, textW), fs.text, muted})
	if k.Saliency != nil {
		rows = append(rows, row{"Overlay", wrap(fs.text, "Where the model pooled evidence for the label ("+k.Saliency.Method+"); not a segmentation of a lesion.", textW), fs.text, muted})
	}
	disclaimer := wrap(fs.bold, k.Disclaimer, pageWidth-2*margin)
	lineH := textSize + lineGap
	height := margin + titleSize + 2*lineGap + h + lineGap + scaleH + textSize + 2*lineGap
	for _, r := range rows {
		height += len(r.lines)*lineH + lineGap
	}
	height += lineGap + len(disclaimer)*lineH + margin

	page := image.NewRGBA(image.Rect(0, 0, pageWidth, height))
	draw.Draw(page, page.Bounds(), image.NewUniform(paper), image.Point{}, draw.Src)
	y := margin + titleSize
	text(page, fs.title, ink, margin, y, "TumorTracer key-slice report")
	y += 2 * lineGap
	x0 := (pageWidth - w) / 2
	draw.Draw(page, image.Rect(x0, y, x0+w, y+h), shown, image.Point{}, draw.Src)
	y += h + lineGap
	if k.Saliency != nil {
		lowW, highW := font.MeasureString(fs.text, "low").Ceil(), font.MeasureString(fs.text, "high").Ceil()
		barX1 := x0 + w - highW - 6
		barX0 := barX1 - 200
		draw.Draw(page, image.Rect(barX0, y, barX1, y+scaleH), inference.ColorScale(barX1-barX0, scaleH), image.Point{}, draw.Src)
		text(page, fs.text, muted, barX0-lowW-6, y+scaleH, "low")
		text(page, fs.text, muted, barX1+6, y+scaleH, "high")
	}
	y += scaleH + textSize + 2*lineGap
	for _, r := range rows {
		text(page, fs.bold, muted, margin, y, r.label)
		for _, l := range r.lines {
			text(page, r.face, r.col, margin+labelWidth, y, l)
			y += lineH
		}
		y += lineGap
	}
	y += lineGap
	for _, l := range disclaimer {
		text(page, fs.bold, warning, margin, y, l)
		y += lineH
	}
	return page, nil
}

// WritePNG renders the report and encodes it as PNG.
func WritePNG(w io.Writer, k KeySlice) error {
	img, err := Render(k)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// text draws s with its baseline at y.
func text(dst draw.Image, face font.Face, c color.Color, x, y int, s string) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// wrap breaks s into lines no wider than width pixels, at spaces (a word wider than a line gets a line of its
// own).
func wrap(face font.Face, s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		next := word
		if line != "" {
			next = line + " " + word
		}
		if line != "" && font.MeasureString(face, next).Ceil() > width {
			lines = append(lines, line)
			line = word
			continue
		}
		line = next
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
