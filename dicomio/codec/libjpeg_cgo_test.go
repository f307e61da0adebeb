//go:build cgo && linux && !nocgocodecs

package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// libjpegCase is one codestream decoded by both paths: libjpeg-turbo (which must accept it) and decodeJPEG.
type libjpegCase struct {
	name        string
	data        []byte
	p           Params
	file        bool // also decode it as a JPEG file (DecodeJPEGFile's libjpeg-turbo mode)
	wantDecline bool // libjpeg-turbo must leave it to the pure-Go decoder
}

// checkLibjpegCase decodes c both ways and fails on any differing sample.
func checkLibjpegCase(t *testing.T, c libjpegCase) {
	t.Helper()
	goFrame, goErr := decodeJPEG(c.data, c.p)
	mode, _ := dicomMode(c.p)
	cOut, ok := libjpegDecode(c.data, c.p.Columns, c.p.Rows, c.p.SamplesPerPixel, mode)
	if c.wantDecline {
		if ok {
			t.Errorf("%s: libjpeg-turbo took a frame it should leave to the pure-Go decoder", c.name)
		}
		return
	}
	if goErr != nil {
		t.Fatalf("%s: pure Go: %v", c.name, goErr)
	}
	if !ok {
		t.Fatalf("%s: libjpeg-turbo declined a clean %dx%dx%d frame", c.name, c.p.Columns, c.p.Rows, c.p.SamplesPerPixel)
	}
	if n, at := differences(cOut, goFrame.Data); n > 0 {
		t.Errorf("%s: %d of %d samples differ between libjpeg-turbo and the pure-Go decoder (first at %d: %d vs %d)",
			c.name, n, len(cOut), at, cOut[at], goFrame.Data[at])
	}
	if !c.file {
		return
	}
	fileOut, ok := decodeLibjpegFile(c.data, c.p.Columns, c.p.Rows, c.p.SamplesPerPixel)
	if !ok {
		t.Fatalf("%s: libjpeg-turbo declined the file", c.name)
	}
	if n, at := differences(fileOut, goFrame.Data); n > 0 {
		t.Errorf("%s as a file: %d samples differ from the pure-Go decoder (first at %d)", c.name, n, at)
	}
}

func differences(a, b []byte) (n, first int) {
	if len(a) != len(b) {
		return max(len(a), len(b)), 0
	}
	first = -1
	for i := range a {
		if a[i] != b[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return n, max(first, 0)
}

// syntheticPhoto is a w×h image with smooth gradients, edges and noise, so that every DCT coefficient and both
// chroma channels carry signal.
func syntheticPhoto(w, h int, seed int64) *image.NRGBA {
	rng := rand.New(rand.NewSource(seed))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			r := uint8((x*255)/max(w, 1)) ^ uint8(rng.Intn(24))
			g := uint8((y*255)/max(h, 1)) + uint8(rng.Intn(16))
			b := uint8(128)
			if (x/5+y/3)%2 == 0 {
				b = uint8(rng.Intn(256))
			}
			img.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	return img
}

// TestLibjpegMatchesGo checks that libjpeg-turbo and the pure-Go DCT decoder give identical samples: on JPEGs
// written by image/jpeg (grey and 4:2:0 colour; sizes that are and are not whole MCUs; qualities 1 to 100), on
// DC-only codestreams with restart intervals, and — when the shared data is present — on chest X-ray JPEGs and
// every frame of the corpus's 8-bit JPEG Baseline DICOM files.
func TestLibjpegMatchesGo(t *testing.T) {
	var cases []libjpegCase
	for _, size := range [][2]int{{1, 1}, {7, 5}, {8, 8}, {16, 16}, {17, 9}, {64, 48}, {223, 131}} {
		for _, q := range []int{1, 50, 90, 100} {
			photo := syntheticPhoto(size[0], size[1], int64(size[0]*1000+q))
			grey := image.NewGray(photo.Bounds())
			for i := range grey.Pix {
				grey.Pix[i] = photo.Pix[4*i+1]
			}
			for _, img := range []image.Image{photo, grey} {
				var buf bytes.Buffer
				if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
					t.Fatal(err)
				}
				spp, kind := 3, "ycc420"
				photometric := "YBR_FULL_422"
				if _, ok := img.(*image.Gray); ok {
					spp, kind, photometric = 1, "grey", "MONOCHROME2"
				}
				name := fmt.Sprintf("image-jpeg/%s-%dx%d-q%d", kind, size[0], size[1], q)
				p := Params{Rows: size[1], Columns: size[0], SamplesPerPixel: spp, BitsAllocated: 8, BitsStored: 8, Photometric: photometric}
				cases = append(cases, libjpegCase{name: name, data: buf.Bytes(), p: p, file: true})
				if spp == 3 {
					// The same codestream declared as already RGB: both pass the components through unconverted.
					p.Photometric = "RGB"
					cases = append(cases, libjpegCase{name: name + "-as-stored", data: buf.Bytes(), p: p})
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(3))
	dc := make([]int32, 7*5)
	for i := range dc {
		dc[i] = int32(rng.Intn(256)) - 128
	}
	for _, ri := range []int{1, 3, 7, 11} {
		p := Params{Rows: 40, Columns: 56, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"}
		cases = append(cases, libjpegCase{name: fmt.Sprintf("restart-%d", ri), data: baselineDCTable(encodeFlatDCT(dc, 7, 5, 8, ri)), p: p})
	}
	// What libjpeg-turbo must leave to the pure-Go decoder: a truncated scan (libjpeg warns and pads; decodeJPEG
	// reports it), a frame of another size, 12-bit samples and lossless coding.
	good := cases[len(cases)-1]
	cases = append(cases,
		libjpegCase{name: "truncated", data: good.data[:len(good.data)*2/3], p: good.p, wantDecline: true},
		libjpegCase{name: "other-size", data: good.data, p: Params{Rows: 40, Columns: 48, SamplesPerPixel: 1, BitsAllocated: 8}, wantDecline: true},
		libjpegCase{name: "12-bit", data: encodeFlatDCT(dc, 7, 5, 12, 0), p: Params{Rows: 40, Columns: 56, SamplesPerPixel: 1, BitsAllocated: 8}, wantDecline: true},
		libjpegCase{name: "lossless", data: encodeLossless(make([]uint16, 64), 8, 8, 1, 8, 1, 0), p: Params{Rows: 8, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 8}, wantDecline: true},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkLibjpegCase(t, c) })
	}
	t.Run("pil", func(t *testing.T) {
		for _, c := range pilCases(t) {
			checkLibjpegCase(t, c)
		}
	})
	t.Run("chest-xray", func(t *testing.T) {
		for _, c := range chestXrayCases(t) {
			checkLibjpegCase(t, c)
		}
	})
	t.Run("corpus", func(t *testing.T) {
		data := dataDir(t)
		needTools(t)
		n := 0
		for _, row := range inventory(t, data) {
			if syntaxByInventoryName(row.syntax) != tsJPEGBaseline || strings.Contains(row.status, "no pixel data") {
				continue
			}
			if _, broken := brokenFiles[row.file]; broken {
				continue
			}
			m, frames := encapsulated(t, row.path(data))
			p := m.params()
			if p.BitsAllocated != 8 {
				continue
			}
			for i, f := range frames {
				c := libjpegCase{name: fmt.Sprintf("%s/%s frame %d", row.set, row.file, i), data: f, p: p}
				// Sampling other than 1x1 and 2:1 chroma (4:1:1 …) is left to decodeJPEG, which replicates as IJG 6b
				// and so DCMTK do.
				c.wantDecline = !libjpegSampling(f)
				checkLibjpegCase(t, c)
				n++
			}
		}
		t.Logf("%d JPEG Baseline frames compared", n)
	})
}

// baselineDCTable replaces encodeFlatDCT's DC table, whose symbol 16 only lossless coding may use (libjpeg refuses
// the table; decodeJPEG never meets the symbol), with the same codes for symbols 0 to 15.
func baselineDCTable(stream []byte) []byte {
	seg := flatHuffman(0, 0)
	seg[1+4] = 16
	return bytes.Replace(stream, marker(mDHT, flatHuffman(0, 0)), marker(mDHT, seg[:len(seg)-1]), 1)
}

// libjpegSampling reports whether a codestream's sampling is one libjpeg-turbo decodes like decodeJPEG.
func libjpegSampling(data []byte) bool {
	d := jpegDecoder{data: data, pos: 2}
	for {
		m, err := d.nextMarker()
		if err != nil || m == mSOS || m == mEOI {
			return true
		}
		seg, err := d.segment(m)
		if err != nil {
			return true
		}
		if m != mSOF0 && m != mSOF1 {
			continue
		}
		if len(seg) < 6 || seg[5] != 3 || len(seg) < 15 {
			return true
		}
		y, cb, cr := seg[7], seg[10], seg[13]
		return cb == 0x11 && cr == 0x11 && (y == 0x11 || y == 0x21 || y == 0x22)
	}
}

// chestXrayCases reads every 25th JPEG of chest-xray/train (224×224 4:2:0 colour), the images the cxr model reads.
func chestXrayCases(t *testing.T) []libjpegCase {
	dir := testenv.DataPath(t, "chest-xray", "train")
	var files []string
	for _, class := range []string{"NORMAL", "PNEUMONIA"} {
		m, _ := filepath.Glob(filepath.Join(dir, class, "*.jpeg"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		testenv.Missing(t, "no chest X-ray JPEGs under %s (set %s to the shared data folder)", dir, testenv.DataEnv)
	}
	sort.Strings(files)
	var cases []libjpegCase
	for i := 0; i < len(files); i += 25 {
		data, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", files[i], err)
		}
		spp, photometric := 3, "YBR_FULL_422"
		if cfg.ColorModel == color.GrayModel {
			spp, photometric = 1, "MONOCHROME2"
		}
		p := Params{Rows: cfg.Height, Columns: cfg.Width, SamplesPerPixel: spp, BitsAllocated: 8, BitsStored: 8, Photometric: photometric}
		cases = append(cases, libjpegCase{name: filepath.Base(files[i]), data: data, p: p, file: true})
	}
	return cases
}

// pilCases are the JPEGs scripts/jpeg_variants.py writes with PIL (grey, 4:4:4, 4:2:2, 4:2:0, odd sizes, optimised
// tables); its progressive files must be declined as DICOM frames, which DICOM's sequential syntaxes cannot carry.
func pilCases(t *testing.T) []libjpegCase {
	if err := exec.Command(python, "-c", "import PIL, numpy").Run(); err != nil {
		testenv.Missing(t, "python3-pil and python3-numpy are needed (make deps installs them): %v", err)
	}
	out, err := exec.Command(python, filepath.Join("..", "..", "scripts", "jpeg_variants.py"), t.TempDir()).Output()
	if err != nil {
		t.Fatalf("jpeg_variants.py: %v", err)
	}
	var cases []libjpegCase
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Path, Mode string
			Shape      []int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		p := Params{Rows: r.Shape[0], Columns: r.Shape[1], SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, Photometric: "MONOCHROME2"}
		if r.Mode == "RGB" {
			p.SamplesPerPixel, p.Photometric = 3, "YBR_FULL_422"
		}
		name := strings.TrimSuffix(filepath.Base(r.Path), ".jpg")
		cases = append(cases, libjpegCase{name: "pil/" + name, data: data, p: p, file: true,
			wantDecline: strings.Contains(name, "progressive")})
	}
	return cases
}
