package dicomio

import (
	"fmt"
	"sync"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// Frames are decoded when they are first asked for, not at Open: showing or classifying one frame of a 96-frame
// file decodes one frame. Open locates every frame and checks what is cheap to check (lengths, the split into
// fragments, the codec's availability); what only decoding can tell (a corrupt compressed frame) is told by the
// first call that needs that frame.

// cachedFrames is how many decoded frames a Scan keeps: the frame on screen and the one the classifier took (or
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
	decoded *decodedFrame

	cache frameCache
}

// decodedFrame is one frame in modality units with its value range, and its stored bytes for Stored.
type decodedFrame struct {
	vals   []float32
	lo, hi float32
	raw    rawFrame
}

// frameCache keeps the most recently used decoded frames, most recent first. Concurrent requests for one frame
// share one decode: the entry is published before it is decoded, and sync.Once makes the others wait for it.
type frameCache struct {
	mu      sync.Mutex
	entries []*cacheEntry
}

type cacheEntry struct {
	index int
	once  sync.Once
	frame *decodedFrame
	err   error // a frame that failed once fails again: its bytes do not change
}

// get returns the entry's frame, decoding it unless another call already did (or is doing it).
func (e *cacheEntry) get(s *Scan) (*decodedFrame, error) {
	e.once.Do(func() { e.frame, e.err = s.decodeFrame(e.index) })
	return e.frame, e.err
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

// decoded returns frame i decoded, from the cache or decoded now.
func (s *Scan) decoded(i int) (*decodedFrame, error) {
	if err := s.checkFrame(i); err != nil {
		return nil, err
	}
	if s.pixels.decoded != nil {
		return s.pixels.decoded, nil
	}
	return s.pixels.cache.entry(i).get(s)
}

// decodeFrame converts frame i's stored bytes to modality values.
func (s *Scan) decodeFrame(i int) (*decodedFrame, error) {
	rf, err := s.rawFrame(i)
	if err != nil {
		return nil, err
	}
	vals, lo, hi := s.values(rf)
	return &decodedFrame{vals: vals, lo: lo, hi: hi, raw: rf}, nil
}

// storedFrame returns frame i's bytes as stored, or as the codec returns them; a cached decode is reused, else
// the codec runs without filling the cache (StoredAll would only churn it).
func (s *Scan) storedFrame(i int) (rawFrame, error) {
	if err := s.checkFrame(i); err != nil {
		return rawFrame{}, err
	}
	if s.pixels.decoded != nil {
		return s.pixels.decoded.raw, nil
	}
	if s.pixels.fragments != nil {
		if e := s.pixels.cache.lookup(i); e != nil {
			f, err := e.get(s)
			if err != nil {
				return rawFrame{}, err
			}
			return f.raw, nil
		}
	}
	return s.rawFrame(i)
}

// rawFrame slices native frame i from the pixel data, or joins and decodes encapsulated frame i.
func (s *Scan) rawFrame(i int) (rawFrame, error) {
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
	data := frags[0]
	if len(frags) > 1 {
		n := 0
		for _, f := range frags {
			n += len(f)
		}
		data = make([]byte, 0, n)
		for _, f := range frags {
			data = append(data, f...)
		}
	}
	p := codec.Params{Rows: s.Rows, Columns: s.Columns, SamplesPerPixel: s.storedSPP, BitsAllocated: s.BitsAllocated,
		BitsStored: s.BitsStored, PixelRepresentation: s.PixelRepresentation, Photometric: s.StoredPhotometric,
		PlanarConfiguration: s.PlanarConfiguration}
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

// Frame returns frame i's values in modality units (Hounsfield units for CT), samples interleaved, row-major;
// len = Rows*Columns*SamplesPerPixel. Colour images (RGB, YBR_*, PALETTE COLOR) are RGB. The slice is shared:
// callers must not modify it; it stays valid after the Scan's cache lets the frame go.
//
// The frame is decoded on first use (the last two frames used are kept), so a compressed frame that cannot be
// decoded fails here, not at Open: the error names the frame and wraps ErrMalformed, ErrTruncated or
// ErrUnsupported like Open's errors. Frame is safe to call from several goroutines at once.
func (s *Scan) Frame(i int) ([]float32, error) {
	f, err := s.decoded(i)
	if err != nil {
		return nil, err
	}
	return f.vals, nil
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
			if _, err := e.get(s); err != nil {
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
