package dicomio

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// FuzzDecode feeds arbitrary bytes to Decode and everything that succeeds through Render and Stored: nothing may
// panic, and every error must wrap one of the sentinels. Seeds: the synthetic fixtures and the small (≤ 10 kB, so
// that minimisation stays quick) files of the corpus, when present.
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	data, _ := testenv.LookupDataDir(f) // corpus seeds only add to the synthetic ones
	root := filepath.Join(data, "dicom")
	for _, rel := range []string{
		"pydicom-test-files/MR_small_bigendian.dcm",
		"pydicom-test-files/image_dfl.dcm", "pydicom-test-files/SC_rgb_small_odd.dcm",
		"pydicom-test-files/SC_rgb_small_odd_jpeg.dcm", "pydicom-test-files/rtdose_1frame.dcm",
		"pydicom-test-files/nested_priv_SQ.dcm",
		"pydicom-test-files/no_meta_group_length.dcm", "pydicom-test-files/meta_missing_tsyntax.dcm",
		"pydicom-test-files/ExplVR_BigEndNoMeta.dcm",
		"fo-dicom/GH1301.dcm", "fo-dicom/1403-OB.dcm", "fo-dicom/charset/chrH31.dcm",
		"pydicom-test-files/dicomdirtests/77654033/CR1/6154",
	} {
		if b, err := os.ReadFile(filepath.Join(root, rel)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			known := false
			for _, e := range []error{ErrNotImage, ErrUnsupported, ErrTooLarge, ErrTruncated, ErrMalformed, ErrNoPixelData} {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for i := range s.NumFrames {
			if _, err := s.Render(i, s.DefaultWindow(i), RenderOptions{AspectCorrect: true, Invert: i%2 == 1}); err != nil {
				t.Fatalf("render frame %d: %v", i, err)
			}
			if _, err := s.Stored(i); err != nil {
				t.Fatalf("stored frame %d: %v", i, err)
			}
		}
		var npy bytes.Buffer
		if st, err := s.StoredAll(); err != nil || WriteNPY(&npy, st) != nil {
			t.Fatalf("stored all: %v", err)
		}
	})
}

// fuzzSeeds are small valid files of every kind the package reads.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, ts := range []string{tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflatedLE} {
		f := fixture{ts: ts, preamble: true}
		es := f.imageElems(2, 2, 1, 16, 12, 1, "MONOCHROME1")
		es = append(es, fxElem{group: 0x0028, elem: 0x1050, vr: "DS", val: text("100\\40")},
			fxElem{group: 0x0028, elem: 0x1051, vr: "DS", val: text("400\\80")},
			pixelElem(f.us(1, 2, 0x0FFF, 4), "OW"))
		f.elems = sortElems(es)
		seeds = append(seeds, f.bytes())
	}
	f := fixture{ts: tsExplicitLE, preamble: true}
	es := f.imageElems(1, 2, 3, 8, 8, 0, "RGB")
	es = append(es, fxElem{group: 0x0028, elem: 0x0006, vr: "US", val: f.us(1)}, pixelElem([]byte{1, 2, 3, 4, 5, 6}, "OB"))
	f.elems = sortElems(es)
	seeds = append(seeds, f.bytes())

	g := image.NewGray(image.Rect(0, 0, 2, 2))
	var b bytes.Buffer
	png.Encode(&b, g)
	seeds = append(seeds, b.Bytes())
	return seeds
}
