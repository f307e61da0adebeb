package pipeline

import (
	"sync"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Reader is where the pipeline reads files: Open reads a file's metadata, geometry and windows, Frame decodes one
// frame's values. Files is the program's; a test can count opens and decodes through its own.
type Reader interface {
	Open(path string) (*dicomio.Scan, error)
	Frame(s *dicomio.Scan, i int) ([]float32, error)
}

// Files reads with dicomio.
type Files struct{}

// Open implements Reader with dicomio.Open.
func (Files) Open(path string) (*dicomio.Scan, error) { return dicomio.Open(path) }

// Frame implements Reader with Scan.Frame.
func (Files) Frame(s *dicomio.Scan, i int) ([]float32, error) { return s.Frame(i) }

// keptFrames is how many decoded frames a Scan keeps: the one classified, the one on screen and a couple the
// viewer scrolled past.
const keptFrames = 4

// Scan is an opened file and the frames decoded from it so far. The viewer shows frames from it and the pipeline
// classifies frames of it, so each frame is decoded once whoever asks first (the most recent keptFrames stay).
// It is safe for concurrent use.
type Scan struct {
	Path string
	// File holds the metadata, geometry and windows. Read pixels through Scan.Frame, not through File, so that
	// nothing decodes a frame twice.
	File *dicomio.Scan

	reader Reader
	mu     sync.Mutex
	frames map[int]*frameSlot
	recent []int // frame indices, least recently used first
}

// frameSlot decodes one frame once; callers asking meanwhile wait for the first.
type frameSlot struct {
	once sync.Once
	px   *dicomio.Pixels
	err  error
}

// Open reads path through r (nil: Files) and returns the scan, whose frames are decoded through r on demand.
func Open(r Reader, path string) (*Scan, error) {
	if r == nil {
		r = Files{}
	}
	f, err := r.Open(path)
	if err != nil {
		return nil, err
	}
	return NewScan(path, f, r), nil
}

// NewScan wraps an opened file; frames are decoded through r.
func NewScan(path string, f *dicomio.Scan, r Reader) *Scan {
	return &Scan{Path: path, File: f, reader: r, frames: map[int]*frameSlot{}}
}

// Frames is the number of frames (at least 1).
func (s *Scan) Frames() int { return max(s.File.NumFrames, 1) }

// Frame returns frame i's values, decoding them on first use.
func (s *Scan) Frame(i int) (*dicomio.Pixels, error) {
	s.mu.Lock()
	slot := s.frames[i]
	if slot == nil {
		slot = &frameSlot{}
		s.frames[i] = slot
	}
	s.touch(i)
	s.mu.Unlock()
	slot.once.Do(func() {
		vals, err := s.reader.Frame(s.File, i)
		if err == nil {
			slot.px, err = dicomio.NewPixels(vals, s.File.Rows, s.File.Columns, s.File.SamplesPerPixel)
		}
		slot.err = err
	})
	return slot.px, slot.err
}

// touch marks frame i most recently used and forgets the least recent beyond keptFrames. The caller holds mu.
func (s *Scan) touch(i int) {
	for k, f := range s.recent {
		if f == i {
			s.recent = append(s.recent[:k], s.recent[k+1:]...)
			break
		}
	}
	s.recent = append(s.recent, i)
	for len(s.recent) > keptFrames {
		delete(s.frames, s.recent[0])
		s.recent = s.recent[1:]
	}
}

// Window is the window a viewer opens frame px of the scan with (see dicomio.Scan.WindowFor).
func (s *Scan) Window(px *dicomio.Pixels) dicomio.Window { return s.File.WindowFor(px) }

// AnalysisFrame is the frame a file's record is about: the middle one of a multi-frame file, else the only one.
// The viewer opens a file on it.
func AnalysisFrame(s *Scan) int { return s.Frames() / 2 }
