package ui

import (
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"

	"github.com/tumortracer/tumortracer/inference"
)

// The saliency overlay. The map stays on its own small grid and is sampled per screen pixel by inference's
// sampler, and blended by inference's formula, so the viewer and `tumortracer classify --saliency` draw the same
// overlay; the viewer only chooses whether, and how opaque.

// SetSaliency sets (or with nil clears) the overlay's map.
func (v *imageView) SetSaliency(s *inference.Saliency) {
	v.sal = s
	v.raster.Refresh()
}

// SetOverlay turns the overlay on or off and sets its opacity (0…1).
func (v *imageView) SetOverlay(on bool, opacity float64) {
	v.salOn, v.salOpacity = on, math.Max(0, math.Min(1, opacity))
	v.raster.Refresh()
}

// overlayMap is the map to draw, nil when the overlay is off or there is none.
func (v *imageView) overlayMap() *inference.Saliency {
	if !v.salOn || v.sal == nil || v.sal.Width < 1 || v.sal.Height < 1 {
		return nil
	}
	return v.sal
}

// newColourScale draws the overlay's colour scale, low to high: inference's, stretched to the legend.
func newColourScale() fyne.CanvasObject {
	img := canvas.NewImageFromImage(inference.ColorScale(256, 1))
	img.FillMode = canvas.ImageFillStretch
	img.ScaleMode = canvas.ImageScaleSmooth
	img.SetMinSize(fyne.NewSize(120, 12))
	return img
}
