package dicomio

import (
	"bytes"
	"cmp"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// FuzzDecode feeds arbitrary bytes to Decode and every frame of everything that succeeds through Frame, Render
// and Stored: nothing may panic, and every error must wrap one of the sentinels. Seeds: the synthetic fixtures and the small (≤ 10 kB, so
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
			checkKnown(t, err)
			return
		}
		// Frames are decoded when first used, so decode every one here: a frame may fail, with a sentinel, and
		// then Render, Stored, StoredAll and CheckFrames must fail with it too.
		var firstErr error
		for i := range s.NumFrames {
			_, ferr := s.Frame(i)
			_, rerr := s.Render(i, s.DefaultWindow(i), RenderOptions{AspectCorrect: true, Invert: i%2 == 1})
			_, serr := s.Stored(i)
			if ferr != nil {
				checkKnown(t, ferr)
				if rerr == nil || serr == nil {
					t.Fatalf("frame %d fails (%v) but render (%v) or stored (%v) does not", i, ferr, rerr, serr)
				}
				firstErr = cmp.Or(firstErr, ferr)
				continue
			}
			if rerr != nil || serr != nil {
				t.Fatalf("frame %d decodes but render fails (%v) or stored fails (%v)", i, rerr, serr)
			}
		}
		if err := s.CheckFrames(); (err == nil) != (firstErr == nil) {
			t.Fatalf("CheckFrames says %v, the frames %v", err, firstErr)
		}
		var npy bytes.Buffer
		st, err := s.StoredAll()
		if (err == nil) != (firstErr == nil) {
			t.Fatalf("stored all: %v, the frames %v", err, firstErr)
		}
		if err == nil && WriteNPY(&npy, st) != nil {
			t.Fatalf("write npy of %s %v", st.Dtype, st.Shape)
		}
	})
}

// checkKnown fails unless err wraps one of the package's sentinels.
func checkKnown(t *testing.T, err error) {
	t.Helper()
	for _, e := range []error{ErrNotImage, ErrUnsupported, ErrTooLarge, ErrTruncated, ErrMalformed, ErrNoPixelData} {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
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
