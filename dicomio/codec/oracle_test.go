package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// brokenFiles are corpus files whose frames are damaged; decoding them must fail with the given error.
var brokenFiles = map[string]struct {
	err error
	why string
}{
	"JPEG2000-embedded-sequence-delimiter.dcm": {ErrCorrupt, "bytes of a sequence delimiter overwrite the codestream's SIZ marker (Rsiz and Xsiz), GDCM fails too"},
	"multiframe.dcm": {ErrMismatch, "frame 13 is a 55x240 JPEG in a 240x240 dataset; DCMTK copies its samples into the first rows"},
	"genFile.dcm":    {ErrCorrupt, "the frame holds 512x512 uncompressed bytes under a JPEG Baseline transfer syntax; DCMTK fails too"},
}

// decodeAll decodes every frame of an extracted file and joins them as pixel_array would lay them out.
func decodeAll(m imageMeta, frames [][]byte) ([]byte, string, error) {
	p := m.params()
	var all []byte
	photometric := ""
	for i, f := range frames {
		fr, err := Decode(m.TransferSyntax, f, p)
		if err != nil {
			return nil, "", fmt.Errorf("frame %d: %w", i, err)
		}
		if len(fr.Data) != p.FrameSize() {
			return nil, "", fmt.Errorf("frame %d: decoded %d bytes, FrameSize is %d", i, len(fr.Data), p.FrameSize())
		}
		all = append(all, fr.Data...)
		photometric = fr.Photometric
	}
	return all, photometric, nil
}

// checkAgainstReference decodes path with this package and with the reference toolkit and compares the values.
// It returns 0 for exact, 1 for within the syntax's tolerance; failures are reported on t.
func checkAgainstReference(t *testing.T, path string, tally *outcome, label string) {
	t.Helper()
	m, frames := encapsulated(t, path)
	checkFrames(t, path, m.TransferSyntax, m, frames, tally, label)
}

// checkFrames decodes frames as m.TransferSyntax and compares them with the reference decode of path as ts.
func checkFrames(t *testing.T, path, ts string, m imageMeta, frames [][]byte, tally *outcome, label string) {
	t.Helper()
	if !Supported(ts) {
		tally.add(ts, 3, fmt.Sprintf("%s: skipped, %s is not in this build", label, Name(ts)))
		t.Skipf("%s is not in this build (missing: %v)", Name(ts), Missing())
	}
	if len(frames) != m.Frames {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %d frames found, %d declared", label, len(frames), m.Frames))
		t.Fatalf("found %d frames, the file declares %d", len(frames), m.Frames)
	}
	got, _, err := decodeAll(m, frames)
	if bad, ok := brokenFiles[filepath.Base(path)]; ok {
		if !errors.Is(err, bad.err) {
			t.Fatalf("decode error %v, want %v because %s", err, bad.err, bad.why)
		}
		tally.add(ts, 2, fmt.Sprintf("%s: failed as it should: %s (%v)", label, bad.why, err))
		return
	}
	if err != nil {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %v", label, err))
		t.Fatalf("decode: %v", err)
	}
	want, rm, tool, err := reference(t, path, ts)
	if err != nil {
		tally.add(ts, 3, fmt.Sprintf("%s: decoded, but no reference: %v", label, err))
		t.Skipf("decoded, but no reference decode to compare with: %v", err)
	}
	if m.BitsAllocated == 1 && rm.BitsAllocated == 8 {
		// GDCM writes 1-bit images as 8 bits allocated; this package returns one byte per pixel as well.
		rm.BitsAllocated = 1
	}
	if rm.BitsAllocated != m.BitsAllocated {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, reference has %d bits allocated, the file %d", label, rm.BitsAllocated, m.BitsAllocated))
		t.Fatalf("reference (%s) has %d bits allocated, the file %d", tool, rm.BitsAllocated, m.BitsAllocated)
	}
	// Bits above Bits Stored are not part of a value: the toolkits leave whatever the codestream had there
	// (GDCM keeps J2K_pixelrep_mismatch's unsigned 13-bit values as they are), while this package sign-extends
	// signed samples as pydicom's pixel_array does. Compare values, so extend the reference the same way.
	signExtend(want, m.params())
	signed := strings.HasPrefix(rm.Dtype, "int")
	diffs, maxDiff, err := compareSamples(got, want, m.BitsAllocated, signed)
	switch {
	case err != nil:
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %v", label, err))
		t.Fatalf("against %s: %v", tool, err)
	case diffs == 0:
		tally.add(ts, 0, "")
	case maxDiff <= tolerance(ts):
		tally.add(ts, 1, fmt.Sprintf("%s: %d samples differ by at most %d from %s", label, diffs, maxDiff, tool))
		t.Logf("%d of %d samples differ from %s, by at most %d (tolerance %d)", diffs, len(got)*8/m.BitsAllocated, tool, maxDiff, tolerance(ts))
	default:
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %d samples differ by up to %d from %s", label, diffs, maxDiff, tool))
		t.Errorf("%d samples differ from %s, by up to %d (tolerance %d)", diffs, tool, maxDiff, tolerance(ts))
	}
}

// TestCorpusOracle decodes every compressed file of the shared corpus and compares it with DCMTK's or GDCM's
// decode: bit for bit for lossless syntaxes, within tolerance() for lossy ones.
func TestCorpusOracle(t *testing.T) {
	data := dataDir(t)
	needTools(t, "dcmdjpeg", "dcmdrle", "dcmdjpls", "gdcmconv")
	var tally outcome
	// Subtests run in parallel inside one group so the summary is logged after all of them.
	t.Run("files", func(t *testing.T) { oracleFiles(t, data, &tally) })
	t.Log(tally.table())
}

func oracleFiles(t *testing.T, data string, tally *outcome) {
	for _, row := range inventory(t, data) {
		ts := syntaxByInventoryName(row.syntax)
		if ts == "" || strings.Contains(row.status, "no pixel data") || strings.HasPrefix(ts, "1.2.840.10008.1.2.8") ||
			strings.HasPrefix(ts, "1.2.840.10008.1.2.1") || ts == "1.2.840.10008.1.2" || ts == "1.2.840.10008.1.2.2" {
			continue
		}
		if ts == "1.2.840.10008.1.2.4.50" && !Supported(ts) {
			continue // baseline JPEG is decoded by jpegbaseline.go when present
		}
		label := row.set + "/" + row.file
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			checkAgainstReference(t, row.path(data), tally, label)
		})
	}
}

// TestDerivedChestLossless checks that every lossless encoding of the chest CR in derived-dcmtk-gdcm decodes to
// the same pixels as the uncompressed original.
func TestDerivedChestLossless(t *testing.T) {
	data := dataDir(t)
	needTools(t)
	dir := data + "/dicom/derived-dcmtk-gdcm/"
	want, err := pixelsOf(t, dir+"cr_chest_explicitLE.dcm")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"cr_chest_rle.dcm", "cr_chest_jpeg_lossless_sv1.dcm", "cr_chest_jpeg_lossless_p14_sv6.dcm",
		"cr_chest_jpegls_lossless.dcm", "cr_chest_jpegls_lossless_gdcm.dcm", "cr_chest_j2k_lossless_gdcm.dcm",
	} {
		t.Run(name, func(t *testing.T) {
			m, frames := encapsulated(t, dir+name)
			if !Supported(m.TransferSyntax) {
				t.Skipf("%s is not in this build", Name(m.TransferSyntax))
			}
			got, _, err := decodeAll(m, frames)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				d, md, _ := compareSamples(got, want, 16, false)
				t.Errorf("%d samples differ from the uncompressed original, by up to %d", d, md)
			}
		})
	}
}

// TestHTJ2K checks the two HTJ2K files, which no reference toolkit here decodes (GDCM 3.0 and DCMTK 3.6.7 lack
// HTJ2K): the lossless and the lossy encoding of the same photograph must agree closely (PSNR above 35 dB), which
// garbage or a channel mix-up from a wrong decode would not.
func TestHTJ2K(t *testing.T) {
	data := dataDir(t)
	needTools(t)
	dir := filepath.Join(data, "dicom", "pydicom-data")
	decode := func(name string) []byte {
		m, frames := encapsulated(t, filepath.Join(dir, name))
		if !Supported(m.TransferSyntax) {
			t.Skipf("%s is not in this build", Name(m.TransferSyntax))
		}
		got, photometric, err := decodeAll(m, frames)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if photometric != "RGB" || len(got) != 640*480*3 {
			t.Fatalf("%s: %d bytes of %s, want 640x480 RGB", name, len(got), photometric)
		}
		return got
	}
	lossless, lossy := decode("HTJ2KLossless_08_RGB.dcm"), decode("HTJ2K_08_RGB.dcm")
	var se float64
	for i := range lossless {
		d := float64(lossless[i]) - float64(lossy[i])
		se += d * d
	}
	mse := se / float64(len(lossless))
	psnr := 10 * math.Log10(255*255/mse)
	t.Logf("HTJ2K lossy vs lossless: MSE %.3f, PSNR %.2f dB", mse, psnr)
	if mse == 0 || psnr < 35 {
		t.Errorf("lossy and lossless HTJ2K decodes differ with PSNR %.2f dB (MSE %.3f), want a close but not identical pair", psnr, mse)
	}
}
