package pipeline

import (
	"context"
	"os"
	"sync"
)

// DefaultDecodeMemory is Options.DecodeMemory's default: room for about three of the largest frames of the test
// corpus (a 2670×3340 RGB JPEG 2000 takes some 180 MB while it decodes: dicomio.Scan.FrameMemory) at once, and for
// every worker at once when files are a few megabytes, as most are.
const DefaultDecodeMemory = 512 << 20

// memoryBudget bounds the bytes Run's decode workers hold at once. A worker reserves a file's size before it opens
// it (Open reads the whole file), then, once the header tells, what decoding and rendering its frame will take
// (decodeMemory), and gives it all back when the file is prepared: what stays until the record is written (the
// display image, the model's small input; rarely the scan, for a model with a window of its own) is bounded by the
// number of files prepared ahead instead. PNG and JPEG are decoded by Open itself, before the header can tell: the
// file's size is all that is reserved for that moment. Requests are
// served in order, so a large one is not passed over for ever by small ones; a request larger than the whole
// budget is cut to it, so such a file is prepared alone. A worker never waits while it holds a reservation, so
// workers cannot wait for each other in a circle.
type memoryBudget struct {
	mu      sync.Mutex
	limit   int64
	held    int64
	waiting []*budgetRequest // in arrival order
	// peak is the most held at once and holders the reservations held now (for tests).
	peak, holders int64
}

type budgetRequest struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newMemoryBudget(limit int64) *memoryBudget { return &memoryBudget{limit: max(limit, 1)} }

// acquire waits until n bytes (at most the whole budget) can be held and returns what it reserved, or 0 and the
// context's error.
func (b *memoryBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.limit)
	b.mu.Lock()
	if len(b.waiting) == 0 && b.held+n <= b.limit {
		b.grant(n)
		b.mu.Unlock()
		return n, nil
	}
	r := &budgetRequest{n: n, ready: make(chan struct{})}
	b.waiting = append(b.waiting, r)
	b.mu.Unlock()
	select {
	case <-r.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-r.ready: // granted meanwhile: give it back
			b.releaseLocked(n)
		default:
			for i, w := range b.waiting {
				if w == r {
					b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
					break
				}
			}
			b.wake()
		}
		return 0, ctx.Err()
	}
}

// grow turns a reservation of held bytes into one of n: at once when the budget has room and nobody waits, else
// by giving held back and waiting for n (never waiting while holding). It returns what is now reserved (0 on the
// context's error, held given back).
func (b *memoryBudget) grow(ctx context.Context, held, n int64) (int64, error) {
	n = min(n, b.limit)
	if n <= held {
		return held, nil
	}
	b.mu.Lock()
	if len(b.waiting) == 0 && b.held+n-held <= b.limit {
		b.held += n - held
		b.peak = max(b.peak, b.held)
		b.mu.Unlock()
		return n, nil
	}
	b.releaseLocked(held)
	b.mu.Unlock()
	return b.acquire(ctx, n)
}

// release gives back a reservation acquire or grow returned.
func (b *memoryBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(n)
}

func (b *memoryBudget) releaseLocked(n int64) {
	b.held -= n
	b.holders--
	b.wake()
}

func (b *memoryBudget) grant(n int64) {
	b.held += n
	b.holders++
	b.peak = max(b.peak, b.held)
}

// wake grants the waiting requests, in order, while the first fits.
func (b *memoryBudget) wake() {
	for len(b.waiting) > 0 && b.held+b.waiting[0].n <= b.limit {
		r := b.waiting[0]
		b.waiting = b.waiting[1:]
		b.grant(r.n)
		close(r.ready)
	}
}

// fileSize is the size of the file at path, 0 when it cannot be told (Open then says why).
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return 0
	}
	return st.Size()
}

// decodeMemory is what preparing frame of s for a model takes at its peak beyond the file's bytes: the frame's
// decode and render (dicomio.Scan.FrameMemory) and, for colour, the grey copy that inference.ModelImage makes.
func decodeMemory(s *Scan) int64 {
	n := s.File.FrameMemory()
	if s.File.SamplesPerPixel == 3 {
		n += int64(s.File.Rows) * int64(s.File.Columns)
	}
	return n
}
