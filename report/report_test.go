package report

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/font"

	"github.com/tumortracer/tumortracer/inference"
)

// slice is a 64×48 grey test image: a bright disc on a dark field.
func slice() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			v := uint8(30)
			if (x-40)*(x-40)+(y-20)*(y-20) < 100 {
				v = 220
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	return img
}

func complete() KeySlice {
	return KeySlice{
		Image:    slice(),
		Saliency: &inference.Saliency{Method: inference.SaliencyCAM, Class: "a", Width: 2, Height: 2, Values: []float32{0, 1, 0, 0}},
		Title:    "Chest 1.25 mm — series 2, key 9c5a929e8a70",
		Slice:    "slice 5 of 7, z = 40.0 mm: m.dcm",
		Model:    "Chest CT lung cancer type classifier (ct-lung)", Version: "1.0.0",
		Result:      "Adenocarcinoma, series score 0.884: 8 of 8 slices classified, none refused",
		SliceResult: "Adenocarcinoma 0.951 on this slice",
		Rule:        strings.Repeat("A rule sentence long enough to wrap over more than one line of the report. ", 3),
		Disclaimer:  "Research use only — not for diagnosis.",
	}
}

// TestRenderDrawsTheSliceOverlayAndText: the image is drawn with its overlay (coloured where the map is hot, grey
// where it is cold), the page is white with dark text, and the research-use line is drawn in orange.
func TestRenderDrawsTheSliceOverlayAndText(t *testing.T) {
	page, err := Render(complete())
	if err != nil {
		t.Fatal(err)
	}
	if page.Bounds().Dx() != pageWidth || page.Bounds().Dy() < imageSide*48/64+200 {
		t.Fatalf("page %v", page.Bounds())
	}
	// The image spans the page's width between the margins, 48/64 as high as wide, under the title.
	top := margin + titleSize + 2*lineGap
	h := imageSide * 48 / 64
	isGrey := func(c color.RGBA) bool { return c.R == c.G && c.G == c.B }
	hot := page.RGBAAt(margin+imageSide*3/4, top+h/4)  // the map's hot cell (top right)
	cold := page.RGBAAt(margin+imageSide/8, top+h*3/4) // a cold cell, dark field
	if isGrey(hot) || cold.R > 80 {
		t.Fatalf("hot cell %v should be tinted, cold cell %v dark", hot, cold)
	}
	if c := page.RGBAAt(3, 3); c != (color.RGBA{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("paper %v, want white", c)
	}
	orange, darkText := 0, 0
	for y := top + h; y < page.Bounds().Dy(); y++ {
		for x := 0; x < pageWidth; x++ {
			c := page.RGBAAt(x, y)
			if c.R > 150 && c.B < 60 && c.R-c.G > 60 {
				orange++
			}
			if c.R < 60 && isGrey(c) {
				darkText++
			}
		}
	}
	if orange < 100 || darkText < 1000 {
		t.Fatalf("%d orange and %d dark text pixels below the image: the research-use line or the text is missing", orange, darkText)
	}
	if dir := os.Getenv("TUMORTRACER_REPORT_OUT"); dir != "" {
		var buf bytes.Buffer
		if err := png.Encode(&buf, page); err == nil {
			os.WriteFile(filepath.Join(dir, "report.png"), buf.Bytes(), 0o644)
		}
	}
}

// TestIncompleteReportIsRefused: without the model's version, the rule or the research-use sentence, no report.
func TestIncompleteReportIsRefused(t *testing.T) {
	k := complete()
	k.Version, k.Rule, k.Disclaimer = "", " ", ""
	_, err := Render(k)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err %v, want ErrIncomplete", err)
	}
	for _, want := range []string{"version", "rule", "research-use sentence"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the missing %s", err, want)
		}
	}
	if err := WritePNG(&bytes.Buffer{}, KeySlice{}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("empty report: %v", err)
	}
}

func TestWrap(t *testing.T) {
	fs, err := loadFaces()
	if err != nil {
		t.Fatal(err)
	}
	lines := wrap(fs.text, "one two three four five six seven eight nine ten", 80)
	if len(lines) < 3 || strings.Join(lines, " ") != "one two three four five six seven eight nine ten" {
		t.Fatalf("lines %q", lines)
	}
	for _, l := range lines {
		if w := font.MeasureString(fs.text, l).Ceil(); strings.Contains(l, " ") && w > 80 {
			t.Errorf("line %q is %d px wide, want ≤ 80", l, w)
		}
	}
}
