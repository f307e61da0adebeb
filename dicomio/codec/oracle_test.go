package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

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
	ts := m.TransferSyntax
	if !Supported(ts) {
		tally.add(ts, 3, fmt.Sprintf("%s: skipped, %s is not in this build", label, Name(ts)))
		t.Skipf("%s is not in this build (missing: %v)", Name(ts), Missing())
	}
	if len(frames) != m.Frames {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %d frames found, %d declared", label, len(frames), m.Frames))
		t.Fatalf("found %d frames, the file declares %d", len(frames), m.Frames)
	}
	got, _, err := decodeAll(m, frames)
	if err != nil {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, %v", label, err))
		t.Fatalf("decode: %v", err)
	}
	want, rm, tool, err := reference(t, path, ts)
	if err != nil {
		tally.add(ts, 3, fmt.Sprintf("%s: decoded, but no reference: %v", label, err))
		t.Skipf("decoded, but no reference decode to compare with: %v", err)
	}
	if rm.BitsAllocated != m.BitsAllocated {
		tally.add(ts, 2, fmt.Sprintf("%s: failed, reference has %d bits allocated, the file %d", label, rm.BitsAllocated, m.BitsAllocated))
		t.Fatalf("reference (%s) has %d bits allocated, the file %d", tool, rm.BitsAllocated, m.BitsAllocated)
	}
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
			checkAgainstReference(t, row.path(data), &tally, label)
		})
	}
	t.Log(tally.table())
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
