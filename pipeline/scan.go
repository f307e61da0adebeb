package pipeline

import (
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
