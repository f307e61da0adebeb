package codec

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// This file holds the test plumbing shared by the oracle tests, benchmarks and fuzz seeds: finding the corpus,
// pulling encapsulated frames out of a DICOM file and producing reference decodes with DCMTK and GDCM. pydicom
// (scripts/codec_reference.py) does the DICOM parsing so that these tests do not depend on the dicomio package
// they serve.

const python = "/usr/bin/python3"

// dataDir returns the shared corpus root, or skips the test when it is absent (fails under CI: testenv.Missing).
func dataDir(tb testing.TB) string {
	tb.Helper()
	testenv.DataPath(tb, "dicom", "INVENTORY.tsv")
	return testenv.DataDir(tb)
}

// needTools skips the test unless every named program and pydicom are installed (fails under CI).
func needTools(tb testing.TB, tools ...string) {
	tb.Helper()
	testenv.Tools(tb, tools...)
	if out, err := exec.Command(python, "-c", "import pydicom, numpy").CombinedOutput(); err != nil {
		testenv.Missing(tb, "python3-pydicom and python3-numpy are needed for reference decodes (make deps installs them): %v: %s", err, out)
	}
}

// imageMeta is what scripts/codec_reference.py reports about a file.
type imageMeta struct {
	TransferSyntax      string `json:"transfer_syntax"`
	Rows                int    `json:"rows"`
	Columns             int    `json:"columns"`
	SamplesPerPixel     int    `json:"samples_per_pixel"`
	BitsAllocated       int    `json:"bits_allocated"`
	BitsStored          int    `json:"bits_stored"`
	PixelRepresentation int    `json:"pixel_representation"`
	Photometric         string `json:"photometric"`
	PlanarConfiguration int    `json:"planar_configuration"`
	Frames              int    `json:"frames"`
	FramesWritten       int    `json:"frames_written"`
	Dtype               string `json:"dtype"`
}

func (m imageMeta) params() Params {
	return Params{
		Rows: m.Rows, Columns: m.Columns, SamplesPerPixel: m.SamplesPerPixel,
		BitsAllocated: m.BitsAllocated, BitsStored: m.BitsStored, PixelRepresentation: m.PixelRepresentation,
		Photometric: m.Photometric, PlanarConfiguration: m.PlanarConfiguration,
	}
}

var scriptPath = filepath.Join("..", "..", "scripts", "codec_reference.py")

// encapsulated returns the file's description and its frames, fragments joined.
func encapsulated(tb testing.TB, path string) (imageMeta, [][]byte) {
	tb.Helper()
	dir := tb.TempDir()
	if out, err := exec.Command(python, scriptPath, "frames", path, dir).CombinedOutput(); err != nil {
		tb.Fatalf("extract frames of %s: %v\n%s", path, err, out)
	}
	var m imageMeta
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	frames := make([][]byte, m.FramesWritten)
	for i := range frames {
		if frames[i], err = os.ReadFile(filepath.Join(dir, fmt.Sprintf("frame_%04d.bin", i))); err != nil {
			tb.Fatal(err)
		}
	}
	return m, frames
}

// referenceTools lists, per transfer syntax, the command lines that decompress a file (in, out appended), tried in
// order until one succeeds.
func referenceTools(ts string) [][]string {
	dcmtkJPEG := []string{"dcmdjpeg"}
	gdcm := []string{"gdcmconv", "--raw"}
	switch ts {
	case tsRLE:
		return [][]string{{"dcmdrle"}, gdcm}
	case "1.2.840.10008.1.2.4.50", tsJPEGExtended, tsJPEGLossless, tsJPEGLossless1:
		return [][]string{dcmtkJPEG, gdcm}
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return [][]string{{"dcmdjpls"}, gdcm}
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91":
		return [][]string{gdcm}
	}
	return nil
}

// reference decompresses path with the first tool that accepts it and returns pydicom's pixel_array of the
// result (little-endian, all frames), its description and the command used.
func reference(tb testing.TB, path, ts string) ([]byte, imageMeta, string, error) {
	tb.Helper()
	var errs []string
	for i, tool := range referenceTools(ts) {
		out := filepath.Join(tb.TempDir(), fmt.Sprintf("ref%d.dcm", i))
		args := append(append([]string{}, tool[1:]...), path, out)
		cmdline := strings.Join(append([]string{tool[0]}, args...), " ")
		if msg, err := exec.Command(tool[0], args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v: %s", cmdline, err, strings.TrimSpace(string(msg))))
			continue
		}
		bin := out + ".bin"
		msg, err := exec.Command(python, scriptPath, "pixels", out, bin).Output()
		if err != nil {
			errs = append(errs, fmt.Sprintf("pydicom on the output of %s: %v", cmdline, err))
			continue
		}
		var m imageMeta
		if err := json.Unmarshal(msg, &m); err != nil {
			return nil, m, cmdline, err
		}
		data, err := os.ReadFile(bin)
		return data, m, cmdline, err
	}
	if sib, ok := siblings[filepath.Base(path)]; ok {
		sibPath := filepath.Join(filepath.Dir(path), sib)
		sm, _ := encapsulated(tb, sibPath)
		if len(referenceTools(sm.TransferSyntax)) > 0 {
			data, m, tool, err := reference(tb, sibPath, sm.TransferSyntax)
			return data, m, tool + " (same image, other syntax)", err
		}
		data, err := pixelsOf(tb, sibPath)
		if err == nil {
			m, _ := encapsulatedMeta(tb, sibPath)
			return data, m, "pydicom " + sib + " (uncompressed original)", nil
		}
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil, imageMeta{}, "", fmt.Errorf("no reference decoder for %s", Name(ts))
	}
	return nil, imageMeta{}, "", fmt.Errorf("no reference decoder accepted the file: %s", strings.Join(errs, "; "))
}

// siblings names, for files no toolkit here decompresses, the uncompressed file of the same image in the same
// folder: DCMTK and GDCM refuse RLE with 1 bit allocated.
var siblings = map[string]string{
	"liver_rle.dcm":                 "liver.dcm",
	"liver_nonbyte_aligned_rle.dcm": "liver_nonbyte_aligned.dcm",
}

// encapsulatedMeta describes an uncompressed file the way pixelsOf's reference is laid out.
func encapsulatedMeta(tb testing.TB, path string) (imageMeta, error) {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "pixels.bin")
	out, err := exec.Command(python, scriptPath, "pixels", path, bin).Output()
	if err != nil {
		return imageMeta{}, err
	}
	var m imageMeta
	err = json.Unmarshal(out, &m)
	return m, err
}

// inventoryRow is one line of the corpus INVENTORY.tsv.
type inventoryRow struct {
	set, file, syntax, photometric, status string
}

func (r inventoryRow) path(data string) string { return filepath.Join(data, "dicom", r.set, r.file) }

func inventory(tb testing.TB, data string) []inventoryRow {
	tb.Helper()
	f, err := os.Open(filepath.Join(data, "dicom", "INVENTORY.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var rows []inventoryRow
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 13 {
			continue
		}
		rows = append(rows, inventoryRow{set: c[0], file: c[1], syntax: c[3], photometric: c[5], status: c[12]})
	}
	return rows
}

// syntaxByInventoryName maps INVENTORY.tsv's transfer syntax column (pydicom's names, or the UID) to the UID.
func syntaxByInventoryName(name string) string {
	switch {
	case strings.HasPrefix(name, "1.2.840.10008."):
		return name
	case name == "RLE Lossless":
		return tsRLE
	case name == "JPEG Baseline (Process 1)":
		return "1.2.840.10008.1.2.4.50"
	case name == "JPEG Extended (Process 2 and 4)":
		return tsJPEGExtended
	case name == "JPEG Lossless, Non-Hierarchical (Process 14)":
		return tsJPEGLossless
	case strings.HasPrefix(name, "JPEG Lossless, Non-Hierarchical, First-Order"):
		return tsJPEGLossless1
	case name == "JPEG-LS Lossless Image Compression":
		return "1.2.840.10008.1.2.4.80"
	case name == "JPEG-LS Lossy (Near-Lossless) Image Compression":
		return "1.2.840.10008.1.2.4.81"
	case name == "JPEG 2000 Image Compression (Lossless Only)":
		return "1.2.840.10008.1.2.4.90"
	case name == "JPEG 2000 Image Compression":
		return "1.2.840.10008.1.2.4.91"
	}
	return ""
}

// lossless reports whether the transfer syntax promises bit-exact decoding.
func lossless(ts string) bool {
	switch ts {
	case "1.2.840.10008.1.2.4.50", tsJPEGExtended, "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203":
		return false
	}
	return true
}

// tolerance is the largest difference from the reference decode accepted for a lossy syntax: T.81 allows IDCT
// implementations to differ (A.3.3, annex of ISO/IEC 10918-2 accuracy), and JPEG 2000 decoders may differ in
// rounding of the irreversible wavelet; JPEG-LS decoding is exactly specified, so near-lossless must match.
func tolerance(ts string) int64 {
	switch ts {
	case "1.2.840.10008.1.2.4.50", tsJPEGExtended, "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203":
		return 2
	}
	return 0
}

// compareSamples compares two little-endian sample buffers as integers of the given width and signedness and
// returns the number of differing samples and the largest absolute difference.
func compareSamples(got, want []byte, bitsAllocated int, signed bool) (diffs int, maxDiff int64, err error) {
	if len(got) != len(want) {
		return 0, 0, fmt.Errorf("decoded %d bytes, reference has %d", len(got), len(want))
	}
	bps := (bitsAllocated + 7) / 8
	for i := 0; i+bps <= len(got); i += bps {
		a, b := sampleAt(got[i:], bps, signed), sampleAt(want[i:], bps, signed)
		if a != b {
			diffs++
			d := a - b
			if d < 0 {
				d = -d
			}
			maxDiff = max(maxDiff, d)
		}
	}
	return diffs, maxDiff, nil
}

func sampleAt(b []byte, bps int, signed bool) int64 {
	switch bps {
	case 1:
		if signed {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		v := uint16(b[0]) | uint16(b[1])<<8
		if signed {
			return int64(int16(v))
		}
		return int64(v)
	default:
		v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		if signed {
			return int64(int32(v))
		}
		return int64(v)
	}
}

// outcome tallies oracle results per transfer syntax for the summary the test logs.
type outcome struct {
	mu   sync.Mutex
	rows map[string]*[4]int // exact, within tolerance, failed, skipped
	why  []string
}

func (o *outcome) add(ts string, kind int, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rows == nil {
		o.rows = map[string]*[4]int{}
	}
	r := o.rows[ts]
	if r == nil {
		r = new([4]int)
		o.rows[ts] = r
	}
	r[kind]++
	if why != "" {
		o.why = append(o.why, why)
	}
}

func (o *outcome) table() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var keys []string
	for k := range o.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| transfer syntax | files | exact | within tolerance | failed | skipped |\n|---|---|---|---|---|---|\n")
	for _, k := range keys {
		r := o.rows[k]
		fmt.Fprintf(&sb, "| %s (%s) | %d | %d | %d | %d | %d |\n", Name(k), k, r[0]+r[1]+r[2]+r[3], r[0], r[1], r[2], r[3])
	}
	for _, w := range o.why {
		fmt.Fprintf(&sb, "- %s\n", w)
	}
	return sb.String()
}

// pixelsOf returns pydicom's pixel_array of an uncompressed file, little-endian.
func pixelsOf(tb testing.TB, path string) ([]byte, error) {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "pixels.bin")
	if out, err := exec.Command(python, scriptPath, "pixels", path, bin).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pydicom pixel_array of %s: %v: %s", path, err, out)
	}
	return os.ReadFile(bin)
}
