package ui

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/tumortracer/tumortracer/pipeline"
)

// open queues files and folders (pipeline.Expand: the rules of `tumortracer classify DIR`, a DICOMDIR giving the
// files it lists) in the batch table, shows the first new file and hands the files to the library
// (pipeline.IndexPaths: a DICOMDIR itself), which indexes their headers into series in the background. The viewer
// makes the shown file's record itself from the scan it opened for display (so a dropped file is opened and
// decoded once) and the batch classifies the rest.
func (vw *viewer) open(paths []string) {
	if len(paths) == 0 {
		return
	}
	vw.setStatus("Looking for images…")
	go func() {
		all := pipeline.Expand(paths)
		vw.onUI(func() {
			if len(all) == 0 {
				vw.setStatus("No files found in what was opened.")
				return
			}
			inputs := all
			index, _ := pipeline.IndexPaths(all)
			vw.lib.add(index)
			added := vw.batch.add(inputs)
			first := vw.batch.byPath[inputs[0].Path]
			for _, r := range added {
				if r.status != rowFailed {
					first = r
					break
				}
			}
			switch {
			case first != nil && first.status != rowFailed:
				vw.load(first.Path, false) // reserves the row before the batch can take it
			case first != nil:
				vw.setStatus("Cannot open " + filepath.Base(first.Path) + ". " + first.result.sentence())
			}
			vw.batch.start()
		})
	}()
}

// load opens path off the UI thread and shows its analysis frame (the frame its record is about); keepView keeps
// zoom, pan and window (slice scrolling).
func (vw *viewer) load(path string, keepView bool) { vw.loadAt(path, -1, keepView) }

// loadAt opens path off the UI thread and shows frame (-1: its analysis frame). A file still queued in the batch
// is reserved for the viewer, which makes its record from the scan it opened.
func (vw *viewer) loadAt(path string, frame int, keepView bool) {
	vw.seq++
	seq := vw.seq
	row := vw.batch.byPath[path]
	vw.batch.reserve(row)
	vw.setStatus("Opening " + filepath.Base(path) + "…")
	go func() {
		started := time.Now()
		s, err := vw.an.Open(path)
		var fd *frameData
		if err == nil {
			if frame < 0 || frame >= s.Frames() {
				frame = pipeline.AnalysisFrame(s)
			}
			fd, err = frameDataOf(s, frame)
		}
		vw.onUI(func() {
			if seq != vw.seq {
				vw.batch.release(row) // the person moved on: the batch classifies it
				return
			}
			if err != nil {
				vw.showError("Cannot open "+filepath.Base(path), err)
				rec := pipeline.ErrorRecord(path, err)
				if s != nil {
					rec.Frame, rec.Modality = pipeline.AnalysisFrame(s)+1, s.File.Meta.Modality
				}
				vw.batch.finishReserved(row, &analysis{rec: rec})
				return
			}
			vw.show(s, frame, fd, keepView)
			vw.setStatus(fmt.Sprintf("Opened %s (%s, %d ms).", filepath.Base(path), s.File.Format, time.Since(started).Milliseconds()))
			vw.batch.markViewed(path)
			vw.state.imageShown(vw)
			vw.refreshAnalysis()
		})
	}()
}

// show puts frame of a newly opened scan on screen.
func (vw *viewer) show(s *pipeline.Scan, frame int, fd *frameData, keepView bool) {
	prevWin := vw.view.win
	sameSeries := keepView && vw.sameStack(s.Path)
	if vw.frameCancel != nil {
		vw.frameCancel()
	}
	vw.scan, vw.path, vw.frame = s, s.Path, frame
	vw.stack, vw.stackAt, vw.current = vw.stackFor(s.Path, frame)
	w := s.Window(fd.Pixels)
	if sameSeries && prevWin.Width > 0 {
		w = prevWin
	}
	vw.view.SetFrame(fd, w, sameSeries)
	vw.view.SetSaliency(nil)
	vw.metaTags = s.File.Meta.Tags
	vw.meta.Refresh()
	vw.refreshFrameBar()
	vw.refreshCorners()
	vw.browser.selectCurrent()
	vw.seriesPanel.refresh()
}

// showFrame switches to frame i of the current multi-frame scan.
func (vw *viewer) showFrame(i int) {
	s := vw.scan
	if s == nil {
		return
	}
	vw.seq++
	seq := vw.seq
	go func() {
		fd, err := frameDataOf(s, i)
		vw.onUI(func() {
			if seq != vw.seq || s != vw.scan {
				return
			}
			if err != nil {
				vw.showError(fmt.Sprintf("Cannot show frame %d", i+1), err)
				return
			}
			vw.frame = i
			if len(vw.stack) > 1 && (vw.stack[vw.stackAt] != slicePos{vw.path, i}) {
				_, vw.stackAt, _ = vw.stackFor(vw.path, i)
			}
			vw.view.SetFrame(fd, vw.view.win, true)
			vw.refreshFrameBar()
			vw.refreshCorners()
			vw.refreshAnalysis()
		})
	}()
}

// frameDataOf reads frame i of s for display, through the scan's frame cache (shared with the analysis).
func frameDataOf(s *pipeline.Scan, i int) (*frameData, error) {
	px, err := s.Frame(i)
	if err != nil {
		return nil, err
	}
	f := s.File
	fd := &frameData{Pixels: px, mono1: f.Photometric == "MONOCHROME1", rowSpacing: f.PixelSpacing.Row, colSpacing: f.PixelSpacing.Column}
	if f.Meta.Modality == "CT" || f.RescaleType == "HU" {
		fd.unit = "HU"
	}
	return fd, nil
}
