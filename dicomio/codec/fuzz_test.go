package codec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// Fuzz targets for the decoders written in this package. Seeds are real frames of the corpus (when it and
// pydicom are present) plus a few hand-made ones; the fuzzer mutates the codestream and the declared geometry.
// The property: no panic, no hang, and a frame that decodes has exactly FrameSize bytes.

// fuzzSeeds adds the frames of the named corpus files (relative to dicom/) with their geometry.
func fuzzSeeds(f *testing.F, files ...string) {
	dir, _ := testenv.LookupDataDir(f) // corpus seeds only add to the hand-made ones
	if _, err := os.Stat(filepath.Join(dir, "dicom")); err != nil {
		return
	}
	if _, err := os.Stat(python); err != nil {
		return
	}
	for _, name := range files {
		m, frames := encapsulated(f, filepath.Join(dir, "dicom", name))
		if len(frames) == 0 {
			continue
		}
		f.Add(frames[0], uint16(m.Rows), uint16(m.Columns), uint8(m.SamplesPerPixel), uint8(m.BitsAllocated),
			uint8(m.BitsStored), m.PixelRepresentation == 1, m.Photometric == "YBR_FULL_422")
	}
}

// fuzzDecode decodes data as ts with the fuzzed geometry, capped so one input stays fast.
func fuzzDecode(t *testing.T, ts string, data []byte, rows, cols uint16, spp, bits, stored uint8, signed, ybr bool) {
	if int(rows)*int(cols) > 1<<18 || spp > 4 {
		return
	}
	p := Params{Rows: int(rows), Columns: int(cols), SamplesPerPixel: int(spp), BitsAllocated: int(bits),
		BitsStored: int(stored), Photometric: "MONOCHROME2"}
	if signed {
		p.PixelRepresentation = 1
	}
	if spp == 3 {
		p.Photometric = "RGB"
		if ybr {
			p.Photometric = "YBR_FULL_422"
		}
	}
	fr, err := Decode(ts, data, p)
	if err == nil && len(fr.Data) != p.FrameSize() {
		t.Fatalf("decoded %d bytes, FrameSize is %d", len(fr.Data), p.FrameSize())
	}
}

func FuzzRLE(f *testing.F) {
	f.Add(append(make([]byte, 64), 0), uint16(1), uint16(1), uint8(1), uint8(8), uint8(8), false, false)
	fuzzSeeds(f, "pydicom-test-files/MR_small_RLE.dcm", "pydicom-test-files/SC_rgb_rle.dcm",
		"pydicom-test-files/SC_rgb_rle_32bit.dcm", "pydicom-data/liver_rle.dcm")
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint16, spp, bits, stored uint8, signed, ybr bool) {
		fuzzDecode(t, tsRLE, data, rows, cols, spp, bits, stored, signed, ybr)
	})
}

func FuzzJPEGLossless(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0, 0xFF, 0xD9}, uint16(1), uint16(1), uint8(1), uint8(8), uint8(8), false, false)
	fuzzSeeds(f, "fo-dicom/GH184.dcm", "pydicom-test-files/SC_rgb_jpeg_gdcm.dcm", "fo-dicom/GH1261.dcm")
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint16, spp, bits, stored uint8, signed, ybr bool) {
		fuzzDecode(t, tsJPEGLossless, data, rows, cols, spp, bits, stored, signed, ybr)
	})
}

func FuzzJPEGDCT(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC1, 0, 11, 12, 0, 8, 0, 8, 1, 1, 0x11, 0, 0xFF, 0xD9}, uint16(8), uint16(8), uint8(1), uint8(16), uint8(12), false, false)
	fuzzSeeds(f, "pydicom-test-files/JPGExtended.dcm", "pydicom-test-files/SC_rgb_dcmtk_+eb+cy+n2.dcm",
		"pydicom-test-files/SC_rgb_dcmtk_+eb+cy+np.dcm", "pydicom-test-files/SC_rgb_small_odd_jpeg.dcm")
	f.Fuzz(func(t *testing.T, data []byte, rows, cols uint16, spp, bits, stored uint8, signed, ybr bool) {
		fuzzDecode(t, tsJPEGExtended, data, rows, cols, spp, bits, stored, signed, ybr)
	})
}
