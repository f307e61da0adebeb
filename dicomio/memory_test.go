package dicomio

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// TestFrameMemory: a native frame costs only its render; a PNG its decoded values and samples (4 + 1 bytes a
// sample) and its render (RGBA for colour); a JPEG 2000 frame OpenJPEG's 4-byte planes, the decoded frame and the
// render — for the corpus' largest image, the 2670×3340 RGB fo-dicom/VL5_J2KI.dcm, some 170 MB, what its decode
// was measured to add to the process's peak (dicomio NOTES: 140 MB over the baseline). Without pixels: 0.
func TestFrameMemory(t *testing.T) {
	f := fixture{ts: tsImplicitLE, preamble: true}
	f.elems = sortElems(append(f.imageElems(2, 3, 1, 16, 16, 0, "MONOCHROME2"), pixelElem(f.us(0, 1, 2, 3, 4, 5), "OW")))
	if got := decodeBytes(t, f.bytes()).FrameMemory(); got != 6 {
		t.Errorf("native 3×2 grey frame: %d bytes, want 6 (the render)", got)
	}
	meta, err := Decode(bytes.NewReader(f.bytes()), int64(len(f.bytes())), MetadataOnly())
	if err != nil || meta.FrameMemory() != 0 {
		t.Errorf("metadata only: %d (%v)", meta.FrameMemory(), err)
	}
	for _, c := range []struct {
		img  image.Image
		want int64
	}{
		{image.NewGray(image.Rect(0, 0, 10, 7)), 70*4 + 70 + 70},
		{image.NewNRGBA(image.Rect(0, 0, 5, 4)), 60*4 + 60 + 20*4},
	} {
		var b bytes.Buffer
		if err := png.Encode(&b, c.img); err != nil {
			t.Fatal(err)
		}
		s, err := Decode(&b, int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.FrameMemory(); got != c.want {
			t.Errorf("%T PNG %v: %d bytes, want %d", c.img, c.img.Bounds().Size(), got, c.want)
		}
	}
	s, err := Open(testenv.DataPath(t, "dicom", "fo-dicom", "VL5_J2KI.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	px := int64(s.Rows) * int64(s.Columns)
	if got, want := s.FrameMemory(), 4*3*px+3*px+4*px; got != want || got < 160<<20 || got > 180<<20 {
		t.Errorf("%s (%d×%d, %d samples, %s): %d bytes, want %d", s.Path, s.Columns, s.Rows, s.SamplesPerPixel, s.TransferSyntax, got, want)
	}
}
