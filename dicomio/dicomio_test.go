package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

func decodeBytes(t *testing.T, b []byte) *Scan {
	t.Helper()
	s, err := Decode(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return s
}

func frame0(t *testing.T, s *Scan) []float32 {
	t.Helper()
	v, err := s.Frame(0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestImplicitLittleEndianRescale(t *testing.T) {
	f := fixture{ts: tsImplicitLE, preamble: true}
	es := f.imageElems(2, 3, 1, 16, 16, 0, "MONOCHROME2")
	es = append(es,
		fxElem{group: 0x0028, elem: 0x1052, vr: "DS", val: text("-100")},
		fxElem{group: 0x0028, elem: 0x1053, vr: "DS", val: text("2")},
		fxElem{group: 0x0028, elem: 0x0030, vr: "DS", val: text("0.5\\0.25")},
		fxElem{group: 0x0010, elem: 0x0010, vr: "PN", val: text("Doe^Jane")},
		pixelElem(f.us(0, 1, 50, 100, 1000, 65535), "OW"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	want := []float32{-100, -98, 0, 100, 1900, 65535*2 - 100}
	if got := frame0(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	if s.TransferSyntax != tsImplicitLE || s.Meta.PatientName != "Doe^Jane" || s.Rows != 2 || s.Columns != 3 {
		t.Errorf("metadata: ts %q name %q %dx%d", s.TransferSyntax, s.Meta.PatientName, s.Columns, s.Rows)
	}
	if s.PixelSpacing != (Spacing{Row: 0.5, Column: 0.25, Source: "PixelSpacing"}) {
		t.Errorf("spacing %+v", s.PixelSpacing)
	}
	st, err := s.Stored(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dtype != "<u2" || !reflect.DeepEqual(st.Shape, []int{2, 3}) || binary.LittleEndian.Uint16(st.Data[8:]) != 1000 {
		t.Errorf("stored %s %v %v", st.Dtype, st.Shape, st.Data)
	}
	// Rows 0.5 mm apart, columns 0.25 mm apart: pixels are twice as tall as wide, so square pixels need twice
	// the rows.
	img, err := s.Render(0, s.DefaultWindow(0), RenderOptions{AspectCorrect: true})
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 3 || b.Dy() != 4 {
		t.Errorf("aspect-corrected size %v, want 3×4", b.Size())
	}
}

func TestExplicitBigEndianSigned12(t *testing.T) {
	f := fixture{ts: tsExplicitBE, preamble: true}
	es := f.imageElems(1, 4, 1, 16, 12, 1, "MONOCHROME2")
	// 12-bit two's complement in 16 bits; the last word has garbage in the unused high bits.
	es = append(es, pixelElem(f.us(0x0FFF, 0x0800, 0x07FF, 0xF005), "OW"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	want := []float32{-1, -2048, 2047, 5}
	if got := frame0(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	st, _ := s.Stored(0)
	// pydicom 2.3 gives the words as stored, big endian, unmasked.
	if st.Dtype != ">i2" || !bytes.Equal(st.Data, f.us(0x0FFF, 0x0800, 0x07FF, 0xF005)) {
		t.Errorf("stored %s %x", st.Dtype, st.Data)
	}
}

func TestDeflatedMonochrome1RendersInverted(t *testing.T) {
	f := fixture{ts: tsDeflatedLE, preamble: true}
	es := f.imageElems(2, 2, 1, 8, 8, 0, "MONOCHROME1")
	es = append(es, pixelElem([]byte{0, 85, 170, 255}, "OB"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	if s.Photometric != "MONOCHROME1" {
		t.Fatalf("photometric %q", s.Photometric)
	}
	img, err := s.Render(0, s.DefaultWindow(0), RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.Gray)
	if want := []uint8{255, 170, 85, 0}; !bytes.Equal(g.Pix, want) {
		t.Errorf("MONOCHROME1 render %v, want %v", g.Pix, want)
	}
	img, _ = s.Render(0, s.DefaultWindow(0), RenderOptions{Invert: true})
	if want := []uint8{0, 85, 170, 255}; !bytes.Equal(img.(*image.Gray).Pix, want) {
		t.Errorf("user-inverted MONOCHROME1 render %v, want %v", img.(*image.Gray).Pix, want)
	}
}

func TestPlanarRGBAndYBR(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 2, 3, 8, 8, 0, "RGB")
	es = append(es, fxElem{group: 0x0028, elem: 0x0006, vr: "US", val: f.us(1)},
		pixelElem([]byte{10, 11, 20, 21, 30, 31}, "OB"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	if got, want := frame0(t, s), []float32{10, 20, 30, 11, 21, 31}; !reflect.DeepEqual(got, want) {
		t.Errorf("planar RGB %v, want %v", got, want)
	}
	st, _ := s.Stored(0)
	if !bytes.Equal(st.Data, []byte{10, 20, 30, 11, 21, 31}) || !reflect.DeepEqual(st.Shape, []int{1, 2, 3}) {
		t.Errorf("stored %v %v", st.Data, st.Shape)
	}
	img, _ := s.Render(0, Window{}, RenderOptions{})
	if c := img.(*image.RGBA).RGBAAt(1, 0); c != (color.RGBA{11, 21, 31, 255}) {
		t.Errorf("rendered pixel %v", c)
	}

	f = fixture{ts: tsExplicitLE, preamble: true}
	es = f.imageElems(1, 2, 3, 8, 8, 0, "YBR_FULL")
	// Grey (128,128,128) and pure red in YCbCr (76, 85, 255).
	es = append(es, pixelElem([]byte{128, 128, 128, 76, 85, 255}, "OB"))
	f.elems = sortElems(es)
	s = decodeBytes(t, f.bytes())
	got := frame0(t, s)
	want := []float64{128, 128, 128, 255, 0, 0}
	for i := range want {
		if !approx(float64(got[i]), want[i], 1.5) {
			t.Fatalf("YBR_FULL → RGB %v, want ≈ %v", got, want)
		}
	}
	if s.Photometric != "RGB" || s.StoredPhotometric != "YBR_FULL" {
		t.Errorf("photometric %q / %q", s.Photometric, s.StoredPhotometric)
	}
}

func TestYBRFull422Native(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 2, 3, 8, 8, 0, "YBR_FULL_422")
	es = append(es, pixelElem([]byte{100, 200, 128, 128}, "OB")) // Y1 Y2 Cb Cr
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	if got, want := frame0(t, s), []float32{100, 100, 100, 200, 200, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("YBR_FULL_422 → RGB %v, want %v", got, want)
	}
	st, _ := s.Stored(0)
	if want := []byte{100, 128, 128, 200, 128, 128}; !bytes.Equal(st.Data, want) {
		t.Errorf("stored %v, want pydicom's expansion %v", st.Data, want)
	}
}

func TestPaletteColor(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 3, 1, 8, 8, 0, "PALETTE COLOR")
	lut := func(v ...int) []byte { return f.us(v...) }
	es = append(es,
		fxElem{group: 0x0028, elem: 0x1101, vr: "US", val: f.us(3, 0, 16)},
		fxElem{group: 0x0028, elem: 0x1102, vr: "US", val: f.us(3, 0, 16)},
		fxElem{group: 0x0028, elem: 0x1103, vr: "US", val: f.us(3, 0, 16)},
		fxElem{group: 0x0028, elem: 0x1201, vr: "OW", val: lut(0, 65535, 0)},
		fxElem{group: 0x0028, elem: 0x1202, vr: "OW", val: lut(0, 0, 65535)},
		fxElem{group: 0x0028, elem: 0x1203, vr: "OW", val: lut(65535, 0, 0)},
		pixelElem([]byte{0, 1, 2, 0}, "OB"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	if s.SamplesPerPixel != 3 || s.Photometric != "RGB" {
		t.Fatalf("palette scan has %d samples, %q", s.SamplesPerPixel, s.Photometric)
	}
	img, _ := s.Render(0, Window{}, RenderOptions{})
	rgba := img.(*image.RGBA)
	for x, want := range []color.RGBA{{0, 0, 255, 255}, {255, 0, 0, 255}, {0, 255, 0, 255}} {
		if c := rgba.RGBAAt(x, 0); c != want {
			t.Errorf("pixel %d: %v, want %v", x, c, want)
		}
	}
	st, _ := s.Stored(0)
	if st.Dtype != "|u1" || !bytes.Equal(st.Data, []byte{0, 1, 2}) || !reflect.DeepEqual(st.Shape, []int{1, 3}) {
		t.Errorf("stored palette indices %s %v %v", st.Dtype, st.Data, st.Shape)
	}
}

func TestBareDatasetMultiFrameOneBit(t *testing.T) {
	f := fixture{ts: ""} // no preamble, no File Meta: implicit VR little endian guessed from the first element
	es := f.imageElems(3, 3, 1, 1, 1, 0, "MONOCHROME2")
	es = append(es, fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("2")},
		// 18 bits, frame 2 starts at bit 9 (not on a byte boundary): 1,0,0 0,1,0 0,0,1 | 1,1,1 0,0,0 1,1,1
		pixelElem([]byte{0b00010001, 0b10001111, 0b00000011, 0}, "OB"))
	f.elems = sortElems(es)
	b := f.bytes()
	if fm, ok := Sniff(b); !ok || fm != FormatDICOM {
		t.Fatalf("bare dataset not recognised")
	}
	s := decodeBytes(t, b)
	if s.NumFrames != 2 {
		t.Fatalf("frames %d", s.NumFrames)
	}
	v1, _ := s.Frame(1)
	if want := []float32{1, 1, 1, 0, 0, 0, 1, 1, 1}; !reflect.DeepEqual(v1, want) {
		t.Errorf("frame 1 %v, want %v", v1, want)
	}
	all, _ := s.StoredAll()
	if !reflect.DeepEqual(all.Shape, []int{2, 3, 3}) || all.Dtype != "|u1" || all.Data[0] != 1 || all.Data[4] != 1 {
		t.Errorf("stored all %v %s %v", all.Shape, all.Dtype, all.Data)
	}
	if _, err := s.Frame(2); !errors.Is(err, ErrFrameRange) {
		t.Errorf("frame 2 of 2: %v", err)
	}
}

func jpegBytes(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestJPEGBaselineFrames(t *testing.T) {
	grey := func(v uint8) image.Image {
		g := image.NewGray(image.Rect(0, 0, 8, 8))
		for i := range g.Pix {
			g.Pix[i] = v
		}
		return g
	}
	for _, withBOT := range []bool{true, false} {
		f := fixture{ts: "1.2.840.10008.1.2.4.50", preamble: true}
		es := f.imageElems(8, 8, 1, 8, 8, 0, "MONOCHROME2")
		es = append(es, fxElem{group: 0x0028, elem: 0x0008, vr: "IS", val: text("2")},
			fxElem{group: 0x7FE0, elem: 0x0010, vr: "OB", val: encapsulate(withBOT, jpegBytes(t, grey(40)), jpegBytes(t, grey(200))), undefined: true})
		// The undefined length is written in the header; the items follow as the value.
		f.elems = sortElems(es)
		s := decodeBytes(t, f.bytes())
		for i, want := range []float64{40, 200} {
			v, _ := s.Frame(i)
			if !approx(float64(v[0]), want, 2) || !approx(float64(v[63]), want, 2) {
				t.Errorf("BOT %v frame %d: %v…, want ≈ %v", withBOT, i, v[0], want)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(4, 4, 1, 16, 16, 0, "MONOCHROME2")
	es = append(es, pixelElem(make([]byte, 32), "OW"))
	f.elems = sortElems(es)
	good := f.bytes()

	huge := fixture{ts: tsExplicitLE, preamble: true}
	hes := huge.imageElems(40000, 40000, 3, 16, 16, 0, "RGB")
	hes = append(hes, pixelElem(make([]byte, 16), "OW"))
	huge.elems = sortElems(hes)

	// MPEG-2 video is outside what TumorTracer will ever decode.
	j2k := fixture{ts: "1.2.840.10008.1.2.4.100", preamble: true}
	jes := j2k.imageElems(4, 4, 1, 16, 16, 0, "MONOCHROME2")
	jes = append(jes, fxElem{group: 0x7FE0, elem: 0x0010, vr: "OB", val: encapsulate(false, []byte{0xFF, 0x4F, 0xFF, 0x51}), undefined: true})
	j2k.elems = sortElems(jes)

	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"text", []byte("hello, this is not an image at all"), ErrNotImage},
		{"empty", nil, ErrNotImage},
		{"truncated pixel data", good[:len(good)-10], ErrTruncated},
		{"huge", huge.bytes(), ErrTooLarge},
		{"mpeg2", j2k.bytes(), ErrUnsupported},
		{"png header only", pngMagic, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(c.data), int64(len(c.data)))
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			checkSentence(t, err)
		})
	}
	_, err := Decode(bytes.NewReader(j2k.bytes()), int64(len(j2k.bytes())))
	if !errors.Is(err, codec.ErrUnsupported) || !strings.Contains(err.Error(), "is not supported yet") {
		t.Errorf("MPEG-2 error %q should be codec's \"not supported yet\"", err)
	}
	if _, err := Decode(bytes.NewReader(good), int64(len(good))+5); !errors.Is(err, ErrTruncated) {
		t.Errorf("short reader: %v", err)
	}
}

func TestPNGAndJPEGInputs(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 1))
	g.Pix = []uint8{0, 100, 255}
	var b bytes.Buffer
	png.Encode(&b, g)
	s := decodeBytes(t, b.Bytes())
	if s.Format != FormatPNG || s.Meta.Modality != "OT" || s.SamplesPerPixel != 1 {
		t.Fatalf("png scan %s %s %d", s.Format, s.Meta.Modality, s.SamplesPerPixel)
	}
	img, _ := s.Render(0, s.DefaultWindow(0), RenderOptions{})
	if !bytes.Equal(img.(*image.Gray).Pix, g.Pix) {
		t.Errorf("8-bit PNG through its default window %v, want identity %v", img.(*image.Gray).Pix, g.Pix)
	}

	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 1000})
	g16.SetGray16(1, 0, color.Gray16{Y: 65535})
	b.Reset()
	png.Encode(&b, g16)
	s = decodeBytes(t, b.Bytes())
	if got := frame0(t, s); !reflect.DeepEqual(got, []float32{1000, 65535}) || s.BitsStored != 16 {
		t.Errorf("16-bit PNG values %v, %d bits", got, s.BitsStored)
	}

	rgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	rgba.Pix = []uint8{10, 20, 30, 0} // fully transparent: alpha is ignored
	b.Reset()
	png.Encode(&b, rgba)
	s = decodeBytes(t, b.Bytes())
	if got := frame0(t, s); !reflect.DeepEqual(got, []float32{10, 20, 30}) {
		t.Errorf("RGBA PNG values %v", got)
	}

	col := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(col.Pix); i += 4 {
		col.Pix[i], col.Pix[i+1], col.Pix[i+2], col.Pix[i+3] = 200, 50, 50, 255
	}
	s = decodeBytes(t, jpegBytes(t, col))
	if got := frame0(t, s); s.Format != FormatJPEG || s.SamplesPerPixel != 3 || !approx(float64(got[0]), 200, 4) || !approx(float64(got[1]), 50, 4) {
		t.Errorf("JPEG %s %d samples, first pixel %v", s.Format, s.SamplesPerPixel, got[:3])
	}
}

func TestWindowApply(t *testing.T) {
	lin := Window{Center: 40, Width: 400, Function: VOILinear}
	// PS3.3 C.11.2.1.2.1: 0 at or below c − 0.5 − (w−1)/2, 1 above c − 0.5 + (w−1)/2.
	cases := []struct {
		w    Window
		v    float64
		want float64
	}{
		{lin, -160, 0},
		{lin, 239, (239-39.5)/399 + 0.5},
		{lin, 239.6, 1},
		{lin, 40, (40-39.5)/399 + 0.5},
		{Window{Center: 40, Width: 400, Function: VOILinearExact}, -160, 0},
		{Window{Center: 40, Width: 400, Function: VOILinearExact}, 140, 0.75},
		{Window{Center: 40, Width: 400, Function: VOILinearExact}, 240.1, 1},
		{Window{Center: 40, Width: 400, Function: VOISigmoid}, 40, 0.5},
		{Window{Center: 40, Width: 400, Function: VOISigmoid}, 140, 1 / (1 + math.Exp(-1))},
		{Window{LUT: &LUT{FirstMapped: -2, Bits: 8, Data: []uint16{0, 51, 255}}}, -5, 0},
		{Window{LUT: &LUT{FirstMapped: -2, Bits: 8, Data: []uint16{0, 51, 255}}}, -1, 0.2},
		{Window{LUT: &LUT{FirstMapped: -2, Bits: 8, Data: []uint16{0, 51, 255}}}, 99, 1},
	}
	for _, c := range cases {
		if got := c.w.Apply(c.v); !approx(got, c.want, 1e-12) {
			t.Errorf("%v.Apply(%v) = %v, want %v", c.w, c.v, got, c.want)
		}
	}
	if w, ok := Preset("Soft Tissue"); !ok || w.Center != 40 || w.Width != 400 {
		t.Errorf("soft tissue preset %v %v", w, ok)
	}
	if w, ok := Preset("lung"); !ok || w.Center != -600 || w.Width != 1500 {
		t.Errorf("lung preset %v %v", w, ok)
	}
	if _, ok := Preset("liver"); ok {
		t.Error("unknown preset found")
	}
}

func TestWriteNPY(t *testing.T) {
	var b bytes.Buffer
	f := StoredFrame{Dtype: "<i2", Shape: []int{2, 3}, Data: make([]byte, 12)}
	if err := WriteNPY(&b, f); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	hlen := int(binary.LittleEndian.Uint16(out[8:]))
	header := string(out[10 : 10+hlen])
	if string(out[:8]) != "\x93NUMPY\x01\x00" || (10+hlen)%64 != 0 || !strings.HasSuffix(header, "\n") {
		t.Errorf("bad npy preamble %q, header length %d", out[:10], hlen)
	}
	if !strings.Contains(header, "'descr': '<i2'") || !strings.Contains(header, "'shape': (2, 3)") || len(out) != 10+hlen+12 {
		t.Errorf("header %q, total %d", header, len(out))
	}
}

func TestSniff(t *testing.T) {
	cases := map[string]struct {
		head []byte
		want Format
		ok   bool
	}{
		"png":        {append(append([]byte{}, pngMagic...), 0, 0), FormatPNG, true},
		"jpeg":       {[]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0, 0}, FormatJPEG, true},
		"part10":     {append(make([]byte, 128), []byte("DICM....")...), FormatDICOM, true},
		"explicitLE": {[]byte{0x08, 0x00, 0x05, 0x00, 'C', 'S', 0x0A, 0x00, 'I', 'S', 'O'}, FormatDICOM, true},
		"explicitBE": {[]byte{0x00, 0x08, 0x00, 0x16, 'U', 'I', 0x00, 0x1A}, FormatDICOM, true},
		"gzip":       {[]byte{0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0}, "", false},
		"text":       {[]byte("#!/bin/sh\necho hi\n"), "", false},
	}
	for name, c := range cases {
		if got, ok := Sniff(c.head); got != c.want || ok != c.ok {
			t.Errorf("%s: Sniff = %q %v, want %q %v", name, got, ok, c.want, c.ok)
		}
	}
}

func TestModalityAndVOILUTSequences(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 4, 1, 16, 12, 1, "MONOCHROME2")
	mlut := f.sequence([]fxElem{
		{group: 0x0028, elem: 0x3002, vr: "US", val: f.us(3, 0xFFFF, 16)}, // 3 entries from −1
		{group: 0x0028, elem: 0x3004, vr: "LO", val: text("HU")},
		{group: 0x0028, elem: 0x3006, vr: "US", val: f.us(100, 200, 300)},
	})
	mlut.group, mlut.elem = 0x0028, 0x3000
	vlut := f.sequence([]fxElem{
		{group: 0x0028, elem: 0x3002, vr: "US", val: f.us(2, 150, 8)}, // 2 entries from 150
		{group: 0x0028, elem: 0x3003, vr: "LO", val: text("steep")},
		{group: 0x0028, elem: 0x3006, vr: "US", val: f.us(0, 255)},
	})
	vlut.group, vlut.elem = 0x0028, 0x3010
	es = append(es, mlut, vlut, pixelElem(f.us(0x0FFF, 0, 1, 5), "OW")) // −1, 0, 1, 5 (clamped to the last entry)
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	if got, want := frame0(t, s), []float32{100, 200, 300, 300}; !reflect.DeepEqual(got, want) {
		t.Errorf("modality LUT values %v, want %v", got, want)
	}
	w := s.DefaultWindow(0)
	if w.LUT == nil || w.Name != "steep" {
		t.Fatalf("default window %v, want the file's VOI LUT", w)
	}
	img, _ := s.Render(0, w, RenderOptions{})
	if want := []uint8{0, 255, 255, 255}; !bytes.Equal(img.(*image.Gray).Pix, want) {
		t.Errorf("VOI LUT render %v, want %v", img.(*image.Gray).Pix, want)
	}
}

func TestSegmentedPalette(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 5, 1, 8, 8, 0, "PALETTE COLOR")
	// Discrete 0, 10; linear to 40 over 3 entries (20, 30, 40); 5 entries in all.
	seg := f.us(0, 2, 0, 10, 1, 3, 40)
	for i, el := range []uint16{0x1101, 0x1102, 0x1103} {
		es = append(es, fxElem{group: 0x0028, elem: el, vr: "US", val: f.us(5, 0, 8)},
			fxElem{group: 0x0028, elem: 0x1221 + uint16(i), vr: "OW", val: seg})
	}
	es = append(es, pixelElem([]byte{0, 1, 2, 3, 4, 0}, "OB"))
	f.elems = sortElems(es)
	s := decodeBytes(t, f.bytes())
	got := frame0(t, s)
	for p, want := range []float32{0, 10, 20, 30, 40} {
		if got[3*p] != want || got[3*p+1] != want || got[3*p+2] != want {
			t.Fatalf("segmented palette %v, want greys 0 10 20 30 40", got)
		}
	}
}

func TestEnhancedFunctionalGroups(t *testing.T) {
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 2, 1, 16, 16, 1, "MONOCHROME2")
	measures := f.sequence([]fxElem{{group: 0x0028, elem: 0x0030, vr: "DS", val: text("0.7\\0.7")}})
	measures.group, measures.elem = 0x0028, 0x9110
	transform := f.sequence([]fxElem{
		{group: 0x0028, elem: 0x1052, vr: "DS", val: text("-1024")},
		{group: 0x0028, elem: 0x1053, vr: "DS", val: text("1")},
	})
	transform.group, transform.elem = 0x0028, 0x9145
	shared := f.sequence([]fxElem{measures, transform})
	shared.group, shared.elem = 0x5200, 0x9229
	es = append(es, shared, pixelElem(f.us(1024, 0), "OW"))
	f.elems = sortElems(es)
	before := runtime.NumGoroutine()
	s := decodeBytes(t, f.bytes())
	if got := frame0(t, s); !reflect.DeepEqual(got, []float32{0, -1024}) {
		t.Errorf("values %v, want rescale from the shared functional groups", got)
	}
	if s.PixelSpacing.Row != 0.7 {
		t.Errorf("spacing %+v, want 0.7 from the pixel measures", s.PixelSpacing)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after decoding, %d before", after, before)
	}
}
