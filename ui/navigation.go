package ui

import (
	"fmt"
	"path/filepath"
)

// Navigation. The frame slider, the arrow and page keys and the score strip move through a stack: the slices of
// the shown file's series in acquisition order (study: along the slice normal — never the batch table's sort
// order), or the pictures of its folder, or else the frames of a multi-frame file. Until the library has indexed
// the shown file, its own frames are the stack.

// frameCount is how many positions the frame slider has.
func (vw *viewer) frameCount() int {
	if len(vw.stack) > 1 {
		return len(vw.stack)
	}
	if vw.scan != nil && vw.scan.Frames() > 1 {
		return vw.scan.Frames()
	}
	return 1
}

func (vw *viewer) frameIndex() int {
	if len(vw.stack) > 1 {
		return vw.stackAt
	}
	if vw.scan != nil && vw.scan.Frames() > 1 {
		return vw.frame
	}
	return 0
}

// step moves d frames (or slices) forward, clamped.
func (vw *viewer) step(d int) { vw.goToIndex(vw.frameIndex() + d) }

// goToIndex shows position i of the stack: a frame of the file on screen, or another file (keeping the view).
func (vw *viewer) goToIndex(i int) {
	n := vw.frameCount()
	i = max(0, min(n-1, i))
	if i == vw.frameIndex() {
		return
	}
	if len(vw.stack) > 1 {
		vw.stackAt = i
		p := vw.stack[i]
		if vw.scan != nil && p.path == vw.path {
			vw.showFrame(p.frame)
		} else {
			vw.loadAt(p.path, p.frame, true)
		}
		vw.refreshFrameBar()
		return
	}
	if vw.scan != nil && vw.scan.Frames() > 1 {
		vw.showFrame(i)
	}
}

func (vw *viewer) refreshFrameBar() {
	n := vw.frameCount()
	vw.frameSlider.Max = float64(max(0, n-1))
	vw.frameSlider.Value = float64(vw.frameIndex())
	vw.frameSlider.Refresh()
	what := "frame"
	if len(vw.stack) > 1 || vw.scan == nil || vw.scan.Frames() <= 1 {
		what = "slice"
	}
	vw.frameLabel.SetText(fmt.Sprintf("%s %d / %d", what, vw.frameIndex()+1, n))
	if n <= 1 {
		vw.frameSlider.Disable()
	} else {
		vw.frameSlider.Enable()
	}
	vw.refreshStrip()
}

// stackFor is the stack of frame of path, its position in it, and the browser item it belongs to ("" for none).
func (vw *viewer) stackFor(path string, frame int) ([]slicePos, int, string) {
	if s := vw.lib.seriesOf(path); s != nil {
		stack := make([]slicePos, len(s.Slices))
		at := -1
		for i, sl := range s.Slices {
			stack[i] = slicePos{sl.Path, sl.Frame}
			if sl.Path == path && sl.Frame == frame {
				at = i
			}
		}
		for i := 0; at < 0 && i < len(stack); i++ {
			if stack[i].path == path {
				at = i // a frame of the file that is not a slice: its file's first slice
			}
		}
		return stack, max(at, 0), seriesUID(s.Key)
	}
	if g, gi := vw.lib.groupOf(path); g != nil {
		stack := make([]slicePos, len(g.Entries))
		at := 0
		for i, e := range g.Entries {
			stack[i] = slicePos{vw.lib.index.Entries[e].Path, 0}
			if stack[i].path == path {
				at = i
			}
		}
		return stack, at, groupUID(gi)
	}
	return nil, 0, ""
}

// restack recomputes the shown file's stack after the library regrouped (series fill in as files are indexed).
func (vw *viewer) restack() {
	if vw.scan == nil {
		return
	}
	vw.stack, vw.stackAt, vw.current = vw.stackFor(vw.path, vw.frame)
	vw.refreshFrameBar()
	vw.refreshCorners()
	vw.browser.selectCurrent()
	vw.seriesPanel.refresh()
}

// sameStack reports whether path is in the stack on screen, or, before the library knows it, in the shown
// file's folder: scrolling through it keeps zoom, pan and window.
func (vw *viewer) sameStack(path string) bool {
	if vw.scan == nil {
		return false
	}
	for _, p := range vw.stack {
		if p.path == path {
			return true
		}
	}
	return len(vw.stack) == 0 && filepath.Dir(vw.path) == filepath.Dir(path)
}
