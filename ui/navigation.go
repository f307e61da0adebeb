package ui

import (
	"fmt"
	"path/filepath"
)

// frameCount is how many positions the frame slider has: the frames of a multi-frame file, else the slices of
// the series (the shown file's folder).
func (vw *viewer) frameCount() int {
	if vw.scan != nil && vw.scan.Frames() > 1 {
		return vw.scan.Frames()
	}
	return max(1, len(vw.series))
}

func (vw *viewer) frameIndex() int {
	if vw.scan != nil && vw.scan.Frames() > 1 {
		return vw.frame
	}
	return vw.seriesAt
}

// step moves d frames (or slices) forward, clamped.
func (vw *viewer) step(d int) { vw.goToIndex(vw.frameIndex() + d) }

// goToIndex shows frame i of a multi-frame file, or slice i of the series.
func (vw *viewer) goToIndex(i int) {
	n := vw.frameCount()
	i = max(0, min(n-1, i))
	if i == vw.frameIndex() {
		return
	}
	if vw.scan != nil && vw.scan.Frames() > 1 {
		vw.showFrame(i)
		return
	}
	if i < len(vw.series) {
		vw.seriesAt = i
		vw.load(vw.series[i], true)
	}
}

func (vw *viewer) refreshFrameBar() {
	n := vw.frameCount()
	vw.frameSlider.Max = float64(max(0, n-1))
	vw.frameSlider.Value = float64(vw.frameIndex())
	vw.frameSlider.Refresh()
	what := "frame"
	if vw.scan == nil || vw.scan.Frames() <= 1 {
		what = "slice"
	}
	vw.frameLabel.SetText(fmt.Sprintf("%s %d / %d", what, vw.frameIndex()+1, n))
	if n <= 1 {
		vw.frameSlider.Disable()
	} else {
		vw.frameSlider.Enable()
	}
}

// seriesOf lists the batch's files in path's folder, in the order they were queued (not the table's sort
// order: sorting the table changes neither what is analysed nor the order of slices), and path's position
// among them.
func (vw *viewer) seriesOf(path string) ([]string, int) {
	dir := filepath.Dir(path)
	var out []string
	at := 0
	for _, r := range vw.batch.queue {
		if filepath.Dir(r.Path) == dir {
			if r.Path == path {
				at = len(out)
			}
			out = append(out, r.Path)
		}
	}
	if len(out) == 0 {
		return []string{path}, 0
	}
	return out, at
}
