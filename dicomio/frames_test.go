package dicomio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// jpegFrames is a three-frame 8×8 JPEG Baseline file whose frames are uniform grey 40, 120 and 200, with frame
// bad (if 0 … 2) replaced by a fragment of zeros that no decoder accepts; extra elements are added.
func jpegFrames(t *testing.T, bad int, extra ...fxElem) []byte {
	t.Helper()
	var frags [][]byte
	for i, v := range []uint8{40, 120, 200} {
		g := image.NewGray(image.Rect(0, 0, 8, 8))
		for k := range g.Pix {
			g.Pix[k] = v
		}
		frag := jpegBytes(t, g)
		if i == bad {
			frag = make([]byte, len(frag)+len(frag)%2)
		}
		frags = append(frags, frag)
	}
	f := fixture{ts: tsJPEGBaseline, preamble: true}
	es := f.imageElems(8, 8, 1, 8, 8, 0, "MONOCHROME2")
	es = append(es, fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("3")},
		fxElem{group: 0x7FE0, elem: 0x0010, vr: "OB", val: encapsulate(true, frags...), undefined: true})
	f.elems = sortElems(append(es, extra...))
	return f.bytes()
}

// TestCorruptFrameFailsWhenUsed checks that Open no longer decodes frames: a file with one corrupt compressed
// frame opens, its good frames show, and every call that needs the bad frame fails with one sentence naming it.
func TestCorruptFrameFailsWhenUsed(t *testing.T) {
	s := decodeBytes(t, jpegFrames(t, 1))
	for _, i := range []int{0, 2} {
		v, err := s.Frame(i)
		if err != nil || !approx(float64(v[0]), []float64{40, 120, 200}[i], 2) {
			t.Errorf("frame %d: %v…, %v", i, v[:1], err)
		}
	}
	_, errFrame := s.Frame(1)
	_, errRender := s.Render(1, s.DefaultWindow(1), RenderOptions{})
	_, errStored := s.Stored(1)
	_, errAll := s.StoredAll()
	errCheck := s.CheckFrames()
	for name, err := range map[string]error{"Frame": errFrame, "Render": errRender, "Stored": errStored, "StoredAll": errAll, "CheckFrames": errCheck} {
		if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "frame 1: ") {
			t.Errorf("%s: %v, want a malformed-frame error naming frame 1", name, err)
			continue
		}
		checkSentence(t, err)
	}
	if w := s.MinMaxWindow(1); w.Center != 0.5 || w.Width != 1 {
		t.Errorf("min-max window of the bad frame: %v, want the 0…1 fallback", w)
	}
	if err := decodeBytes(t, jpegFrames(t, -1)).CheckFrames(); err != nil {
		t.Errorf("CheckFrames on a good file: %v", err)
	}
	if _, err := Decode(bytes.NewReader(jpegFrames(t, 1)), int64(len(jpegFrames(t, 1))), MetadataOnly()); err != nil {
		t.Errorf("metadata of a file with a corrupt frame: %v", err)
	}
}

// TestFrameCache checks that a frame used again is not decoded again while it is among the last two used, and
// that the cache keeps no more than two.
func TestFrameCache(t *testing.T) {
	s := decodeBytes(t, jpegFrames(t, -1))
	first := func(i int) *float32 {
		v, err := s.Frame(i)
		if err != nil {
			t.Fatal(err)
		}
		return &v[0]
	}
	f0 := first(0)
	if first(0) != f0 {
		t.Fatal("frame 0 decoded twice in a row")
	}
	img, _ := s.Render(0, s.MinMaxWindow(0), RenderOptions{})
	if first(0) != f0 || img.(*image.Gray).Pix[0] != 0 {
		t.Fatal("render after frame decoded frame 0 again")
	}
	f1 := first(1)
	if first(0) != f0 || first(1) != f1 {
		t.Fatal("scrolling between two frames decoded one again")
	}
	first(2) // evicts frame 0, the least recently used
	if n := len(s.pixels.cache.entries); n != cachedFrames {
		t.Fatalf("cache holds %d frames, want %d", n, cachedFrames)
	}
	if first(1) != f1 {
		t.Error("frame 1, among the last two used, was decoded again")
	}
	if again := first(0); again == f0 {
		t.Error("frame 0 should have been evicted after frames 1 and 2 were used")
	}
}

// TestPixelsShareTheFrameCache: Pixels is Frame's values (the same slice, not a copy) with the range the
// conversion measured; a stream render, MinMaxWindow, Frame and Pixels of one frame decode it once (the observer
// counts decodes), and the file's window rule (DefaultWindow) falls back on the frame's min–max.
func TestPixelsShareTheFrameCache(t *testing.T) {
	data := jpegFrames(t, -1)
	var mu sync.Mutex
	var decoded []int
	s, err := Decode(bytes.NewReader(data), int64(len(data)), WithDecodeObserver(func(i int) {
		mu.Lock()
		decoded = append(decoded, i)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	w := s.DefaultWindow(1) // no file window: the min–max of frame 1, streamed
	if _, err := s.Render(1, w, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	px, err := s.Pixels(1)
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := s.Frame(1)
	if &px.Values[0] != &vals[0] || px.Rows != 8 || px.Columns != 8 || px.Samples != 1 || !px.Integral {
		t.Fatalf("Pixels %dx%dx%d integral %v, shares Frame's slice %v", px.Columns, px.Rows, px.Samples, px.Integral, &px.Values[0] == &vals[0])
	}
	if px.Min < 110 || px.Max > 130 || px.MinMaxWindow() != w {
		t.Fatalf("frame 1 (grey 120) range %v…%v, min–max window %v, streamed %v", px.Min, px.Max, px.MinMaxWindow(), w)
	}
	again, _ := s.Pixels(1)
	if again != px || fmt.Sprint(decoded) != "[1]" {
		t.Fatalf("frame 1 decoded %v times (want [1]); same Pixels again: %v", decoded, again == px)
	}
	if _, err := s.Pixels(3); !errors.Is(err, ErrFrameRange) || fmt.Sprint(decoded) != "[1]" {
		t.Fatalf("frame 3 of 3: %v, decodes %v", err, decoded)
	}
}

// TestConcurrentFrames has several goroutines render, read and export frames of one Scan at once (a viewer and
// a classifier sharing a scan); run with -race. Every result must equal the one-goroutine answer.
func TestConcurrentFrames(t *testing.T) {
	data := jpegFrames(t, -1)
	ref := decodeBytes(t, data)
	var want [3][]float32
	for i := range want {
		want[i], _ = ref.Frame(i)
	}
	s := decodeBytes(t, data)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 30 {
				i := (g + k) % 3
				v, err := s.Frame(i)
				if err != nil || !reflect.DeepEqual(v, want[i]) {
					errs <- errors.New("frame differs under concurrency")
					return
				}
				if _, err := s.Render(i, s.MinMaxWindow(i), RenderOptions{}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Stored(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// countingReader counts the bytes a MetadataOnly read asks for.
type countingReader struct {
	r    io.ReaderAt
	read int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// TestMetadataOnlyReadsHeader checks that a MetadataOnly Open reads the header and not the pixel data, yet gives
// the same metadata as a full read, and the same error for a file truncated inside its pixel data.
func TestMetadataOnlyReadsHeader(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(512, 512, 1, 16, 16, 0, "MONOCHROME2")
	es = append(es, fxElem{group: 0x0008, elem: 0x0020, vr: "DA", val: text("20240102")},
		fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("4")},
		pixelElem(make([]byte, 4*512*512*2), "OW"))
	f.elems = sortElems(es)
	good := f.bytes()

	c := &countingReader{r: bytes.NewReader(good)}
	head, err := readHeader(c, int64(len(good)), newOptions([]Option{MetadataOnly()}))
	if err != nil {
		t.Fatal(err)
	}
	if c.read > headerPrefix {
		t.Errorf("read %d bytes of a %d-byte file for its header", c.read, len(good))
	}
	full := decodeBytes(t, good)
	if head.Rows != 512 || head.NumFrames != 4 || head.Meta.StudyDate != "20240102" ||
		!reflect.DeepEqual(head.Meta, full.Meta) || head.BitsStored != full.BitsStored {
		t.Errorf("header-only metadata %+v differs from the full read's", head.Meta)
	}
	if _, err := head.Frame(0); !errors.Is(err, ErrNoPixelData) {
		t.Errorf("frame of a metadata-only scan: %v", err)
	}

	// Truncated inside the pixel data: the header read reaches the end and reports what Decode reports.
	cut := good[:len(good)-100]
	_, errHead := readHeader(bytes.NewReader(cut), int64(len(cut)), newOptions([]Option{MetadataOnly()}))
	_, errFull := Decode(bytes.NewReader(cut), int64(len(cut)))
	if !errors.Is(errHead, ErrTruncated) || errHead.Error() != errFull.Error() {
		t.Errorf("truncated file: header read says %v, full read %v", errHead, errFull)
	}

	// Open with MetadataOnly takes that path.
	path := filepath.Join(t.TempDir(), "ct.dcm")
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, MetadataOnly())
	if err != nil || s.Path != path || s.Columns != 512 {
		t.Fatalf("Open MetadataOnly: %v", err)
	}
}

// TestPixelDataKeptAlone checks that a Scan does not keep a large file buffer alive for a small image: the pixel
// data is copied out when the rest of the file is large, and left in place (no copy) when it is most of it.
func TestPixelDataKeptAlone(t *testing.T) {
	build := func(private int) []byte {
		f := fixture{ts: tsExplicitLE, preamble: true}
		es := f.imageElems(64, 64, 1, 16, 16, 0, "MONOCHROME2")
		es = append(es, fxElem{group: 0x0009, elem: 0x0010, vr: "LO", val: text("PRIVATE")},
			fxElem{group: 0x0009, elem: 0x1001, vr: "OB", val: make([]byte, private)},
			pixelElem(make([]byte, 64*64*2), "OW"),
			fxElem{group: 0xFFFC, elem: 0xFFFC, vr: "OB", val: make([]byte, 8)}) // padding after the pixels
		f.elems = sortElems(es)
		return f.bytes()
	}
	big := decodeBytes(t, build(4<<20))
	if n := cap(big.pixels.native); n != 64*64*2 {
		t.Errorf("pixel data beside 4 MB of private data keeps %d bytes alive, want %d", n, 64*64*2)
	}
	small := decodeBytes(t, build(16))
	if n := cap(small.pixels.native); n == 64*64*2 {
		t.Errorf("pixel data that is most of the file was copied")
	}
	if v, err := big.Frame(0); err != nil || len(v) != 64*64 {
		t.Errorf("frame after compaction: %d values, %v", len(v), err)
	}

	// Encapsulated: the fragments move into one block of their own, and the frames still decode.
	s := decodeBytes(t, jpegFrames(t, -1, fxElem{group: 0x0009, elem: 0x0010, vr: "LO", val: text("PRIVATE")},
		fxElem{group: 0x0009, elem: 0x1001, vr: "OB", val: make([]byte, 4<<20)}))
	kept := 0
	for _, g := range s.pixels.fragments {
		for _, frag := range g {
			kept += cap(frag)
		}
	}
	if kept != s.pixels.retained() || kept > 4096 {
		t.Errorf("fragments keep %d bytes alive, want their own %d", kept, s.pixels.retained())
	}
	for i, want := range []float64{40, 120, 200} {
		if v, err := s.Frame(i); err != nil || !approx(float64(v[0]), want, 2) {
			t.Errorf("frame %d after compaction: %v", i, err)
		}
	}
}

// TestStreamedRenderEqualsFrame checks that Render and MinMaxWindow, which stream over the stored samples when
// Frame was never called, give exactly what they give from Frame's values, for every stored layout, on frames
// larger than one conversion chunk with an odd number of pixels (YBR_FULL_422's unpaired last pixel, 1-bit
// frames that start mid-byte).
func TestStreamedRenderEqualsFrame(t *testing.T) {
	const rows, cols = 129, 131 // 16899 pixels: more than convertChunk, odd
	n := rows * cols
	noise := func(k int, seed uint64) []byte {
		rng := rand.New(rand.NewPCG(seed, 7))
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	lut := func(f fixture, k int, scale int) []byte {
		v := make([]int, k)
		for i := range v {
			v[i] = (i * scale) % 65536
		}
		return f.us(v...)
	}
	cases := map[string]func() []byte{
		"CT 12-bit signed, rescaled, 2 frames": func() []byte {
			f := fixture{ts: tsExplicitLE, preamble: true}
			es := append(f.imageElems(rows, cols, 1, 16, 12, 1, "MONOCHROME2"),
				fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("2")},
				fxElem{group: 0x0028, elem: 0x1052, vr: "DS", val: text("-1024")},
				fxElem{group: 0x0028, elem: 0x1053, vr: "DS", val: text("1")},
				pixelElem(noise(2*2*n, 1), "OW"))
			f.elems = sortElems(es)
			return f.bytes()
		},
		"MONOCHROME1 big endian, fractional slope": func() []byte {
			f := fixture{ts: tsExplicitBE, preamble: true}
			es := append(f.imageElems(rows, cols, 1, 16, 16, 0, "MONOCHROME1"),
				fxElem{group: 0x0028, elem: 0x1052, vr: "DS", val: text("0.25")},
				fxElem{group: 0x0028, elem: 0x1053, vr: "DS", val: text("0.5")},
				pixelElem(noise(2*n, 2), "OW"))
			f.elems = sortElems(es)
			return f.bytes()
		},
		"RGB planar": func() []byte {
			f := fixture{ts: tsExplicitLE, preamble: true}
			es := append(f.imageElems(rows, cols, 3, 8, 8, 0, "RGB"),
				fxElem{group: 0x0028, elem: 0x0006, vr: "US", val: f.us(1)}, pixelElem(noise(3*n+1, 3), "OB"))
			f.elems = sortElems(es)
			return f.bytes()
		},
		"YBR_FULL_422": func() []byte {
			f := fixture{ts: tsExplicitLE, preamble: true}
			es := append(f.imageElems(rows, cols, 3, 8, 8, 0, "YBR_FULL_422"), pixelElem(noise(2*n, 4), "OB"))
			f.elems = sortElems(es)
			return f.bytes()
		},
		"PALETTE COLOR 8-bit": func() []byte {
			f := fixture{ts: tsExplicitLE, preamble: true}
			es := append(f.imageElems(rows, cols, 1, 8, 8, 0, "PALETTE COLOR"),
				fxElem{group: 0x0028, elem: 0x1101, vr: "US", val: f.us(256, 0, 16)},
				fxElem{group: 0x0028, elem: 0x1102, vr: "US", val: f.us(256, 0, 16)},
				fxElem{group: 0x0028, elem: 0x1103, vr: "US", val: f.us(256, 0, 16)},
				fxElem{group: 0x0028, elem: 0x1201, vr: "OW", val: lut(f, 256, 257)},
				fxElem{group: 0x0028, elem: 0x1202, vr: "OW", val: lut(f, 256, 101)},
				fxElem{group: 0x0028, elem: 0x1203, vr: "OW", val: lut(f, 256, 3)},
				pixelElem(noise(n+1, 5), "OB"))
			f.elems = sortElems(es)
			return f.bytes()
		},
		"1-bit, 3 frames": func() []byte {
			f := fixture{ts: tsExplicitLE, preamble: true}
			es := append(f.imageElems(rows, cols, 1, 1, 1, 0, "MONOCHROME2"),
				fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("3")}, pixelElem(noise((3*n+7)/8+1, 6), "OB"))
			f.elems = sortElems(es)
			return f.bytes()
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			data := build()
			windows := []Window{{Center: 100, Width: 300, Function: VOILinear}, {Center: 40, Width: 80, Function: VOISigmoid}}
			for frame := range decodeBytes(t, data).NumFrames {
				for k, w := range append(windows, Window{}) {
					streamed := decodeBytes(t, data)
					if k == len(windows) {
						w = streamed.MinMaxWindow(frame) // streamed range
					}
					a, err := streamed.Render(frame, w, RenderOptions{Invert: k == 1})
					if err != nil {
						t.Fatal(err)
					}
					if streamed.pixels.cache.entry(frame).convertedValues() != nil {
						t.Fatal("render converted the whole frame to float32")
					}
					converted := decodeBytes(t, data)
					if _, err := converted.Frame(frame); err != nil {
						t.Fatal(err)
					}
					if k == len(windows) {
						if mm := converted.MinMaxWindow(frame); mm != w {
							t.Errorf("frame %d: streamed min-max window %v, from Frame's values %v", frame, w, mm)
						}
					}
					b, _ := converted.Render(frame, w, RenderOptions{Invert: k == 1})
					if !reflect.DeepEqual(a, b) {
						t.Errorf("frame %d window %v: streamed render differs from the render of Frame's values", frame, w)
					}
				}
			}
		})
	}
}

// TestRenderKeepsValuesWhenRenderedAgain checks the trade between memory and speed: one render (classifying a
// file) streams and keeps no float32 frame; a second render of the same frame (a window being dragged) keeps
// them, and so does Frame.
func TestRenderKeepsValuesWhenRenderedAgain(t *testing.T) {
	s := decodeBytes(t, jpegFrames(t, -1))
	w := Window{Center: 100, Width: 200}
	first, _ := s.Render(0, w, RenderOptions{})
	if s.pixels.cache.lookup(0).convertedValues() != nil {
		t.Fatal("a single render kept the frame's values")
	}
	second, _ := s.Render(0, w, RenderOptions{})
	if s.pixels.cache.lookup(0).convertedValues() == nil {
		t.Fatal("a second render of the frame did not keep its values")
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatal("the render from kept values differs from the streamed one")
	}
}
