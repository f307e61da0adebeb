package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio"
)

// waitFor yields until cond holds: the goroutines it waits on block on the budget, not on time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1_000_000 {
		if cond() {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("never: %s", what)
}

func (b *memoryBudget) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting)
}

// TestMemoryBudget: requests are served in arrival order (a small one that would fit waits behind a large one), a
// request larger than the budget is cut to it and so runs alone, grow takes more at once when there is room and
// otherwise gives back what it holds before it waits, and a cancelled wait leaves nothing held.
func TestMemoryBudget(t *testing.T) {
	ctx := context.Background()
	b := newMemoryBudget(100)
	first, _ := b.acquire(ctx, 60)
	got := make(chan string, 2)
	go func() { n, _ := b.acquire(ctx, 60); got <- fmt.Sprint("large ", n) }()
	waitFor(t, "the large request queued", func() bool { return b.queued() == 1 })
	go func() { n, _ := b.acquire(ctx, 10); got <- fmt.Sprint("small ", n) }()
	waitFor(t, "the small request queued behind it", func() bool { return b.queued() == 2 })
	select {
	case g := <-got:
		t.Fatalf("%s granted while 60 of 100 are held and the large request waits", g)
	default:
	}
	b.release(first)
	if a, c := <-got, <-got; a+c != "large 60small 10" && a+c != "small 10large 60" || b.held != 70 {
		t.Fatalf("after the release: %q and %q, %d held; want both served", a, c, b.held)
	}
	b.release(60)
	b.release(10)

	huge, _ := b.acquire(ctx, 1_000)
	if huge != 100 || b.held != 100 {
		t.Fatalf("a request beyond the budget reserved %d (held %d), want the whole budget", huge, b.held)
	}
	b.release(huge)

	held, _ := b.acquire(ctx, 20)
	if held, _ = b.grow(ctx, held, 50); held != 50 || b.held != 50 || b.holders != 1 {
		t.Fatalf("grow with room: %d reserved, %d held by %d", held, b.held, b.holders)
	}
	other, _ := b.acquire(ctx, 40)
	done := make(chan int64)
	go func() { n, _ := b.grow(ctx, held, 70); done <- n }()
	// Growing to 70 does not fit beside the other 40: the 50 are given back while it waits, so the other holder
	// (or anyone) can go on.
	waitFor(t, "the grow queued", func() bool { return b.queued() == 1 })
	if b.held != 40 {
		t.Fatalf("a waiting grow still holds: %d held", b.held)
	}
	b.release(other)
	if n := <-done; n != 70 || b.held != 70 {
		t.Fatalf("grow after waiting: %d reserved, %d held", n, b.held)
	}
	b.release(70)

	cctx, cancel := context.WithCancel(ctx)
	full, _ := b.acquire(ctx, 100)
	errc := make(chan error)
	go func() { _, err := b.acquire(cctx, 30); errc <- err }()
	waitFor(t, "the request queued", func() bool { return b.queued() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || b.queued() != 0 {
		t.Fatalf("cancelled wait: %v, %d still queued", err, b.queued())
	}
	b.release(full)
	if b.held != 0 || b.holders != 0 || b.peak != 100 {
		t.Fatalf("after all releases: %d held by %d, peak %d", b.held, b.holders, b.peak)
	}
}

// overlapReader opens with dicomio and counts how many frame decodes are under way at once: each decode waits (by
// yielding, up to a bound) for another to begin, so two workers free to decode together are seen together.
type overlapReader struct {
	mu       sync.Mutex
	in, most int
}

func (r *overlapReader) Open(path string) (*dicomio.Scan, error) {
	return dicomio.Open(path, dicomio.WithDecodeObserver(func(int) {
		r.mu.Lock()
		r.in++
		r.most = max(r.most, r.in)
		r.mu.Unlock()
		for i := 0; i < 100_000 && r.count() < 2; i++ {
			runtime.Gosched()
		}
		r.mu.Lock()
		r.in--
		r.mu.Unlock()
	}))
}

func (r *overlapReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.most
}

// TestRunBoundsDecodeMemory: with room for two files' bytes but for one file's bytes and decode (its frame's decode
// and render: decodeMemory) only, eight workers decode the files one at a time, every file still gets its record,
// and the budget never held more than it allows; with the default budget two decodes do overlap.
func TestRunBoundsDecodeMemory(t *testing.T) {
	dir := t.TempDir()
	var inputs []Input
	// 256×256 16-bit frames: two files' bytes fit in the budget, two files' bytes and decodes do not.
	vals := make([]uint16, 256*256)
	for i := range vals {
		vals[i] = uint16(i % 1000)
	}
	for i := range 6 {
		p := filepath.Join(dir, fmt.Sprintf("ct%d.dcm", i))
		writeGrey(t, p, "CT", 256, 256, [][]uint16{vals})
		inputs = append(inputs, Input{Path: p})
	}
	s, err := Open(Files{}, inputs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	one := fileSize(inputs[0].Path) + decodeMemory(s)
	if decodeMemory(s) != 256*256 || 2*fileSize(inputs[0].Path) > one+one/2 {
		t.Fatalf("one file's reservation %d, its frame's %d for a native %d×%d grey frame", one, decodeMemory(s), s.File.Rows, s.File.Columns)
	}
	for _, c := range []struct {
		gate  bool
		limit int64 // 0: the default
	}{{false, one + one/2}, {true, one + one/2}, {true, 0}} {
		cat := tinyCam(t)
		var eng Engine = &countingEngine{}
		if c.gate {
			cat, eng = decisionCatalogue(t), newDecisionEngine(t)
		}
		rd := &overlapReader{}
		clf := New(cat, eng, Options{Reader: rd, Workers: 8, DecodeMemory: c.limit})
		sum, err := clf.Run(context.Background(), inputs, func(Result) error { return nil }, nil)
		if err != nil || sum.Total != len(inputs) || sum.Failed != 0 {
			t.Fatalf("%+v: %+v, %v", c, sum, err)
		}
		b := clf.budget
		if b.held != 0 || b.holders != 0 || b.peak > b.limit {
			t.Errorf("%+v: peak %d of %d; %d still held by %d", c, b.peak, b.limit, b.held, b.holders)
		}
		if want := map[bool]int{true: 1, false: 2}[c.limit > 0]; rd.most != want {
			t.Errorf("%+v: %d decodes at once, want %d", c, rd.most, want)
		}
	}
}
