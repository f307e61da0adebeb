package pipeline

import (
	"slices"
	"sync"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Reader is where the pipeline opens files. Files is the program's; a test counts opens through its own, and
// decodes by opening with dicomio.WithDecodeObserver.
type Reader interface {
	Open(path string) (*dicomio.Scan, error)
}

// Files reads with dicomio.
type Files struct{}

// Open implements Reader with dicomio.Open.
func (Files) Open(path string) (*dicomio.Scan, error) { return dicomio.Open(path) }

// Scan is an opened file. The viewer shows frames of it and the pipeline classifies frames of it through its
// dicomio.Scan, whose frame cache is the only one: a frame is decoded once whoever asks first, kept while it is
// among the last two used, and held as float32 values only once someone displays it (Frame); classifying it
// alone streams over its stored samples. It is safe for concurrent use.
type Scan struct {
	Path string
	// File holds the metadata, geometry, windows and the frame cache.
	File *dicomio.Scan

	// reduced holds the last frames analysisFile was asked for, most recent first, with their reduced-resolution
	// copies (nil for a frame that has none): a viewer scrolling through a multi-frame file keeps no more of them
	// than dicomio's frame cache keeps frames.
	mu      sync.Mutex
	reduced []reducedFrame
}

// reducedFrame is a frame of a Scan and its reduced-resolution copy (nil when it has none).
type reducedFrame struct {
	frame int
	scan  *dicomio.Scan
}

// reducedFrames is how many frames' reduced copies a Scan keeps: the one the analysis renders (asked for twice,
// by the gate's window check and by the render) and the one before it.
const reducedFrames = 2

// AnalysisSide is the shortest side the image a model classifies is decoded at: a JPEG 2000 or HTJ2K frame
// at least twice as large on its shorter side is classified from the codestream's coarsest resolution level that
// keeps this side (dicomio.Scan.Reduced: a 3000×3000 film at 1500×1500), never from a smaller one. The largest
// model input is 224 px, so the image resized for a model is still made from four times its size or more; the
// frame's full decode, 4 bytes a sample in OpenJPEG, is what a batch of large JPEG 2000 files no longer holds.
// The viewer shows such frames at full resolution: for them the analysis is a decode of its own.
const AnalysisSide = 1024

// analysisFile is the scan and frame index the analysis of frame i renders from: frame i of a reduced-resolution
// copy (AnalysisSide) when its codestream allows one, else s.File and i. The reduced frame is decoded once while
// it is among the last reducedFrames asked for.
func (s *Scan) analysisFile(i int) (*dicomio.Scan, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := slices.IndexFunc(s.reduced, func(f reducedFrame) bool { return f.frame == i })
	switch {
	case k < 0:
		r, _, _ := s.File.Reduced(i, AnalysisSide)
		s.reduced = append([]reducedFrame{{i, r}}, s.reduced[:min(len(s.reduced), reducedFrames-1)]...)
	case k > 0:
		f := s.reduced[k]
		copy(s.reduced[1:k+1], s.reduced[:k])
		s.reduced[0] = f
	}
	if r := s.reduced[0].scan; r != nil {
		return r, 0
	}
	return s.File, i
}

// Open reads path through r (nil: Files) and returns the scan.
func Open(r Reader, path string) (*Scan, error) {
	if r == nil {
		r = Files{}
	}
	f, err := r.Open(path)
	if err != nil {
		return nil, err
	}
	return NewScan(path, f), nil
}

// NewScan wraps an opened file.
func NewScan(path string, f *dicomio.Scan) *Scan { return &Scan{Path: path, File: f} }

// Frames is the number of frames (at least 1).
func (s *Scan) Frames() int { return max(s.File.NumFrames, 1) }

// Frame returns frame i's values for display, decoding them on first use (see dicomio.Scan.Pixels).
func (s *Scan) Frame(i int) (*dicomio.Pixels, error) { return s.File.Pixels(i) }

// Window is the window a viewer opens a frame of the scan with, given the frame's pixels (see
// dicomio.Scan.WindowFor).
func (s *Scan) Window(px *dicomio.Pixels) dicomio.Window { return s.File.WindowFor(px) }

// AnalysisFrame is the frame a file's record is about: the middle one of a multi-frame file, else the only one.
// The viewer opens a file on it.
func AnalysisFrame(s *Scan) int { return s.Frames() / 2 }
