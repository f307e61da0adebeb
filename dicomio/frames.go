package dicomio

import (
	"fmt"
	"math"
	"sync"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// Frames are decoded when they are first asked for, not at Open: showing or classifying one frame of a 96-frame
// file decodes one frame. Open locates every frame and checks what is cheap to check (lengths, the split into
// fragments, the codec's availability); what only decoding can tell (a corrupt compressed frame) is told by the
// first call that needs that frame.
//
// A decoded frame is kept as the codec returned it (for uncompressed frames: a slice of the pixel data, no
// copy). Modality values (4 bytes a sample) are made only for Frame and Pixels (what the viewer shows); Render and
// MinMaxWindow stream over the stored samples chunk by chunk, so classifying a file never holds its frame as
// float32. This is the one frame cache: pipeline.Scan reads its frames from here and keeps none of its own.

// cachedFrames is how many frames a Scan keeps decoded: the frame on screen and the one the classifier took (or
// the previous one while scrolling), so that render-after-classify and scrolling back decode once.
const cachedFrames = 2

// frameSource says where each frame's stored bytes are. It is set by Open and never changed after, except for
// its cache, which has its own lock.
type frameSource struct {
	frames int
	// native holds the uncompressed pixel data of all frames (exactly the bytes they use).
	native []byte
	// fragments holds, for encapsulated pixel data, each frame's fragments (item values, in order).
	fragments [][][]byte
	// decoded is the one frame of a PNG or JPEG, decoded by Open.
	decoded *cacheEntry

	cache frameCache
}

// imageFrame is the frame source of a PNG or JPEG, whose one frame Open decodes.
func imageFrame(vals []float32, lo, hi float32, raw rawFrame) *frameSource {
	e := &cacheEntry{raw: raw, vals: vals, lo: lo, hi: hi, ranged: true}
	e.once.Do(func() {})
	return &frameSource{frames: 1, decoded: e}
}

// frameCache keeps the most recently used frames, most recent first. Concurrent requests for one frame share
// one decode: the entry is published before it is decoded, and sync.Once makes the others wait for it.
type frameCache struct {
	mu      sync.Mutex
	entries []*cacheEntry
}

// entry returns frame i's entry, creating it (and evicting the least recently used one) when it is missing.
func (c *frameCache) entry(i int) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.index == i {
			copy(c.entries[1:k+1], c.entries[:k])
			c.entries[0] = e
			return e
		}
	}
	e := &cacheEntry{index: i}
	if len(c.entries) < cachedFrames {
		c.entries = append(c.entries, nil)
	}
	copy(c.entries[1:], c.entries)
	c.entries[0] = e
	return e
}

// lookup returns frame i's entry when it is cached, without making it the most recent.
func (c *frameCache) lookup(i int) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.index == i {
			return e
		}
	}
	return nil
}

// cacheEntry is one frame: its stored bytes (as the codec returned them, for compressed frames), decoded once,
// and, once someone asks, its modality values (Frame) or only their range (MinMaxWindow, Render).
type cacheEntry struct {
	index int
	once  sync.Once
	raw   rawFrame
	err   error // a frame that failed once fails again: its bytes do not change

	mu      sync.Mutex // guards what follows; held while converting, so that one conversion serves all
	vals    []float32
	lo, hi  float32
	ranged  bool    // lo and hi are known
	px      *Pixels // vals with their range, once Pixels asked
	renders int
}

// stored returns the entry's stored bytes, decoding them unless another call already did (or is doing it).
func (e *cacheEntry) stored(s *Scan) (rawFrame, error) {
	e.once.Do(func() { e.raw, e.err = s.rawFrame(e.index) })
	return e.raw, e.err
}

// values returns the frame's modality values, converting them on first use.
func (e *cacheEntry) values(s *Scan) ([]float32, error) {
	raw, err := e.stored(s)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.vals == nil {
		e.vals, e.lo, e.hi = s.values(raw)
		e.ranged = true
	}
	return e.vals, nil
}

// pixels returns the frame's values with their range as Pixels, converting them on first use.
func (e *cacheEntry) pixels(s *Scan) (*Pixels, error) {
	vals, err := e.values(s)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.px == nil {
		e.px = &Pixels{Values: vals, Rows: s.Rows, Columns: s.Columns, Samples: max(s.SamplesPerPixel, 1),
			Min: e.lo, Max: e.hi, Integral: s.integral}
	}
	return e.px, nil
}

// valueRange returns the frame's smallest and largest value, streaming over the stored samples when the values
// themselves were never asked for.
func (e *cacheEntry) valueRange(s *Scan) (lo, hi float32, err error) {
	raw, err := e.stored(s)
	if err != nil {
		return 0, 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ranged {
		e.lo, e.hi = float32(math.Inf(1)), float32(math.Inf(-1))
		s.eachChunk(raw, func(_ int, vals []float32) { e.lo, e.hi = valueRange(vals, e.lo, e.hi) })
		e.ranged = true
	}
	return e.lo, e.hi, nil
}

// convertedValues returns the frame's values when someone already converted them, else nil.
func (e *cacheEntry) convertedValues() []float32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vals
}

// renderValues returns the frame's values for a render when they are worth keeping: Frame made them, or the
// frame is being rendered again (a window being dragged over it), when converting once beats converting on
// every render. A first render gets nil and streams, so a file that is only classified never holds them.
func (e *cacheEntry) renderValues(s *Scan) []float32 {
	e.mu.Lock()
	e.renders++
	vals, again := e.vals, e.renders > 1
	e.mu.Unlock()
	if vals == nil && again {
		vals, _ = e.values(s) // cannot fail: the frame is decoded
	}
	return vals
}

// checkFrame reports whether frame i can be asked for.
func (s *Scan) checkFrame(i int) error {
	if s.pixels == nil {
		return fmt.Errorf("scan was read without pixels: %w", ErrNoPixelData)
	}
	if i < 0 || i >= s.pixels.frames {
		return fmt.Errorf("frame %d of %d: %w", i, s.pixels.frames, ErrFrameRange)
	}
	return nil
}

// entry returns frame i's entry: the PNG/JPEG frame, else a cached or new entry.
func (s *Scan) entry(i int) (*cacheEntry, error) {
	if err := s.checkFrame(i); err != nil {
		return nil, err
	}
	if s.pixels.decoded != nil {
		return s.pixels.decoded, nil
	}
	return s.pixels.cache.entry(i), nil
}

// storedFrame returns frame i's bytes as stored, or as the codec returns them; a cached decode is reused, else
// the codec runs without filling the cache (StoredAll would only churn it).
func (s *Scan) storedFrame(i int) (rawFrame, error) {
	if err := s.checkFrame(i); err != nil {
		return rawFrame{}, err
	}
	if s.pixels.decoded != nil {
		return s.pixels.decoded.stored(s)
	}
	if e := s.pixels.cache.lookup(i); e != nil {
		return e.stored(s)
	}
	return s.rawFrame(i)
}

// rawFrame slices native frame i from the pixel data, or joins and decodes encapsulated frame i.
func (s *Scan) rawFrame(i int) (rawFrame, error) {
	if s.onDecode != nil {
		s.onDecode(i)
	}
	px := s.pixels
	if px.fragments == nil {
		n := s.storedSamplesPerFrame()
		if s.BitsAllocated == 1 {
			return rawFrame{data: px.native, bitOffset: i * n}, nil
		}
		n *= s.sampleBytes()
		return rawFrame{data: px.native[i*n : (i+1)*n]}, nil
	}
	rf, err := s.decodeEncapsulated(px.fragments[i])
	if err != nil {
		return rawFrame{}, fmt.Errorf("frame %d: %w", i, err)
	}
	return rf, nil
}

// decodeEncapsulated joins one frame's fragments and runs the codec (or inflates, or takes them as they are).
func (s *Scan) decodeEncapsulated(frags [][]byte) (rawFrame, error) {
	data := joinFragments(frags)
	p := s.codecParams()
	frameSize := p.FrameSize()
	if s.BitsAllocated == 1 {
		frameSize = (s.Rows*s.Columns*s.storedSPP + 7) / 8
	}
	var f codec.Frame
	switch s.TransferSyntax {
	case tsEncapsulatedRaw:
		f = codec.Frame{Data: data, Photometric: s.StoredPhotometric}
	case tsDeflatedFrames:
		raw, err := inflate(data, int64(frameSize))
		if err != nil {
			return rawFrame{}, err
		}
		f = codec.Frame{Data: raw, Photometric: s.StoredPhotometric}
	default:
		var err error
		f, err = codec.Decode(s.TransferSyntax, data, p)
		if err != nil {
			return rawFrame{}, classifyCodecError(err)
		}
	}
	if len(f.Data) < frameSize {
		return rawFrame{}, fmt.Errorf("decoded to %d bytes, %d expected: %w", len(f.Data), frameSize, ErrMalformed)
	}
	if f.Photometric == "" {
		f.Photometric = s.StoredPhotometric
	}
	return rawFrame{data: f.Data[:frameSize], photometric: f.Photometric}, nil
}

// joinFragments is one frame's fragments as one codestream (the only fragment itself, uncopied).
func joinFragments(frags [][]byte) []byte {
	if len(frags) == 1 {
		return frags[0]
	}
	n := 0
	for _, f := range frags {
		n += len(f)
	}
	data := make([]byte, 0, n)
	for _, f := range frags {
		data = append(data, f...)
	}
	return data
}

// codecParams is the frame geometry the dataset declares, for the codecs.
func (s *Scan) codecParams() codec.Params {
	return codec.Params{Rows: s.Rows, Columns: s.Columns, SamplesPerPixel: s.storedSPP, BitsAllocated: s.BitsAllocated,
		BitsStored: s.BitsStored, PixelRepresentation: s.PixelRepresentation, Photometric: s.StoredPhotometric,
		PlanarConfiguration: s.PlanarConfiguration}
}

// Frame returns frame i's values in modality units (Hounsfield units for CT), samples interleaved, row-major;
// len = Rows*Columns*SamplesPerPixel. Colour images (RGB, YBR_*, PALETTE COLOR) are RGB. The slice is shared:
// callers must not modify it; it stays valid after the Scan's cache lets the frame go.
//
// The frame is decoded on first use (the last two frames used are kept), so a compressed frame that cannot be
// decoded fails here, not at Open: the error names the frame and wraps ErrMalformed, ErrTruncated or
// ErrUnsupported like Open's errors. Frame is safe to call from several goroutines at once.
func (s *Scan) Frame(i int) ([]float32, error) {
	e, err := s.entry(i)
	if err != nil {
		return nil, err
	}
	return e.values(s)
}

// Pixels returns frame i as Pixels for display: Frame's values (the same shared slice, kept with the frame) and
// their range, measured by the conversion. Integral is the file's: integer samples through an integer rescale or
// a LUT, and PNG/JPEG. It decodes and fails like Frame, and is safe to call from several goroutines at once.
func (s *Scan) Pixels(i int) (*Pixels, error) {
	e, err := s.entry(i)
	if err != nil {
		return nil, err
	}
	return e.pixels(s)
}

// CheckFrames decodes every frame that could still fail, one at a time and keeping none, and returns the first
// failure: what Open no longer finds out by itself. Frames of uncompressed pixel data are checked completely by
// Open and are not decoded again; PNG and JPEG are decoded by Open. `tumortracer info` uses it so that its "ok"
// still means every frame can be shown.
func (s *Scan) CheckFrames() error {
	if s.pixels == nil {
		return fmt.Errorf("scan was read without pixels: %w", ErrNoPixelData)
	}
	if s.pixels.fragments == nil {
		return nil
	}
	for i := range s.pixels.frames {
		if e := s.pixels.cache.lookup(i); e != nil {
			if _, err := e.stored(s); err != nil {
				return err
			}
			continue
		}
		if _, err := s.rawFrame(i); err != nil {
			return err
		}
	}
	return nil
}
