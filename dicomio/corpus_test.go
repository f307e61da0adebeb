package dicomio

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/tumortracer/tumortracer/internal/testenv"
)

// corpusFile finds a file of the DICOM corpus (rel is slash-separated under dicom/), or skips the test when the
// corpus is absent (fails under CI: testenv.Missing).
func corpusFile(t testing.TB, rel string) string {
	t.Helper()
	return testenv.DataPath(t, "dicom", filepath.FromSlash(rel))
}

type inventoryRow struct {
	set, file, ts, photometric, status string
}

func readInventory(t *testing.T) (string, []inventoryRow) {
	root := filepath.Join(testenv.DataDir(t), "dicom")
	f, err := os.Open(filepath.Join(root, "INVENTORY.tsv"))
	if err != nil {
		testenv.Missing(t, "DICOM corpus not found (set TUMORTRACER_DATA to the shared data folder): %v", err)
	}
	defer f.Close()
	var rows []inventoryRow
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		c := strings.Split(sc.Text(), "\t")
		if first || len(c) < 13 {
			continue
		}
		rows = append(rows, inventoryRow{set: c[0], file: c[1], ts: c[3], photometric: c[5], status: c[12]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return root, rows
}

// nativeUndecodable lists the uncompressed corpus files with pixel data that pydicom reads but we refuse, and why.
var nativeUndecodable = map[string]string{
	"fo-dicom/GH1146.dcm":                                  "its Pixel Data element is empty",
	"fo-dicom/GH1376.dcm":                                  "File Meta says Explicit VR Little Endian but the pixel data is JPEG-encapsulated",
	"fo-dicom/GH340.dcm":                                   "12 bits allocated (pydicom cannot read it either)",
	"fo-dicom/GH179A.dcm":                                  "its Pixel Data is lost after an element with a blank VR",
	"fo-dicom/GH179B.dcm":                                  "an element with a blank VR and then a length that runs past the end",
	"pydicom-test-files/MR_truncated.dcm":                  "truncated inside the Pixel Data",
	"derived-dcmtk-gdcm/cr_chest_explicitLE_truncated.dcm": "truncated inside the Pixel Data",
	"pydicom-test-files/nested_priv_SQ.dcm":                "two bytes of Pixel Data and no Rows or Columns",
}

// checkSentence fails unless err is one lower-case sentence wrapping one of the package's sentinels.
func checkSentence(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error spans lines: %q", msg)
	}
	if r := []rune(msg); len(r) == 0 || unicode.IsUpper(r[0]) {
		t.Errorf("error does not start lower-case: %q", msg)
	}
	known := false
	for _, s := range []error{ErrNotImage, ErrUnsupported, ErrTooLarge, ErrTruncated, ErrMalformed, ErrNoPixelData} {
		known = known || errors.Is(err, s)
	}
	if !known {
		t.Errorf("error wraps none of the sentinels: %q", msg)
	}
}

func TestCorpusSweep(t *testing.T) {
	root, rows := readInventory(t)
	type outcome struct{ ok, failed int }
	byTS := map[string]*outcome{}
	reasons := map[string]map[string]int{}
	var native []string // uncompressed files that decoded, for the pydicom comparison
	for _, r := range rows {
		rel := r.set + "/" + r.file
		t.Run(rel, func(t *testing.T) {
			// A file decodes when it opens and every frame decodes: frames are decoded when first used.
			s, err := Open(filepath.Join(root, r.set, r.file))
			if err == nil {
				err = decodeEveryFrame(s)
			}
			o := byTS[r.ts]
			if o == nil {
				o = &outcome{}
				byTS[r.ts] = o
			}
			if err != nil {
				o.failed++
				checkSentence(t, err)
				key := classOf(err)
				if reasons[r.ts] == nil {
					reasons[r.ts] = map[string]int{}
				}
				reasons[r.ts][key]++
				isNative := strings.Contains(r.ts, "Explicit VR") || strings.Contains(r.ts, "Implicit VR") || strings.HasPrefix(r.ts, "(none")
				if isNative && !strings.Contains(r.status, "no pixel data") && r.photometric != "" && nativeUndecodable[rel] == "" {
					t.Errorf("uncompressed file with pixel data failed: %v", err)
				}
				return
			}
			o.ok++
			if why := nativeUndecodable[rel]; why != "" {
				t.Errorf("decodes now although listed as undecodable (%s); update the list", why)
			}
			if _, err := s.Render(0, s.DefaultWindow(0), RenderOptions{AspectCorrect: true}); err != nil {
				t.Errorf("render: %v", err)
			}
			if nativeSyntax(s.TransferSyntax) {
				native = append(native, rel)
			}
		})
	}
	var names []string
	for ts := range byTS {
		names = append(names, ts)
	}
	sort.Strings(names)
	for _, ts := range names {
		var rs []string
		for k, n := range reasons[ts] {
			rs = append(rs, fmt.Sprintf("%d× %s", n, k))
		}
		sort.Strings(rs)
		t.Logf("%-60s decoded %3d, failed %3d  %s", ts, byTS[ts].ok, byTS[ts].failed, strings.Join(rs, "; "))
	}
	t.Run("pydicom", func(t *testing.T) { comparePydicom(t, root, native) })
}

// decodeEveryFrame decodes each frame of s, checks its length, and returns the first frame's error.
func decodeEveryFrame(s *Scan) error {
	for i := range s.NumFrames {
		vals, err := s.Frame(i)
		if err != nil {
			return err
		}
		if want := s.Rows * s.Columns * s.SamplesPerPixel; len(vals) != want {
			return fmt.Errorf("frame %d has %d values, want %d: %w", i, len(vals), want, errWrongLength)
		}
	}
	if _, err := s.Frame(s.NumFrames); !errors.Is(err, ErrFrameRange) {
		return fmt.Errorf("frame %d of %d gave %v: %w", s.NumFrames, s.NumFrames, err, errWrongLength)
	}
	return nil
}

// errWrongLength marks a test failure that is the package's fault, not the file's: checkSentence rejects it.
var errWrongLength = errors.New("decoded frame has the wrong shape")

// classOf names an error's class for the summary.
func classOf(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrNoPixelData):
		return "no pixel data"
	case errors.Is(err, ErrUnsupported):
		if i := strings.Index(msg, "transfer syntax "); i >= 0 {
			return "unsupported: " + strings.SplitN(msg[i:], ":", 2)[0]
		}
		return "unsupported: " + lastClause(msg)
	case errors.Is(err, ErrNotImage):
		return "not DICOM/PNG/JPEG"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	}
	return "malformed"
}

func lastClause(msg string) string {
	parts := strings.Split(msg, ": ")
	if len(parts) >= 2 {
		return parts[len(parts)-2]
	}
	return msg
}

// comparePydicom checks that StoredAll equals pydicom's pixel_array (dtype, shape and bytes) for every
// uncompressed file we decoded.
func comparePydicom(t *testing.T, root string, files []string) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import pydicom, numpy").Run(); err != nil {
		testenv.Missing(t, "python3-pydicom and python3-numpy are needed for the reference values (make deps installs them): %v", err)
	}
	script := filepath.Join("..", "scripts", "pydicom_ref.py")
	args := []string{script}
	for _, f := range files {
		args = append(args, filepath.Join(root, f))
	}
	out, err := exec.Command(python, args...).Output()
	if err != nil {
		t.Fatalf("pydicom reference script: %v", err)
	}
	type ref struct {
		Path   string `json:"path"`
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Dtype  string `json:"dtype"`
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
		RGB    string `json:"rgb_sha256"`
		HU     string `json:"modality_sha256"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	compared, paletteCompared, modalityCompared := 0, 0, 0
	for dec.More() {
		var r ref
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, r.Path)
		t.Run(rel, func(t *testing.T) {
			if !r.OK {
				t.Skipf("pydicom cannot read it either: %s", r.Error)
			}
			s, err := Open(r.Path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.StoredAll()
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(got.Data)
			if got.Dtype != r.Dtype || !reflect.DeepEqual(got.Shape, r.Shape) || hex.EncodeToString(sum[:]) != r.SHA256 {
				t.Errorf("stored values differ from pydicom: got %s %v %x, pydicom %s %v %s", got.Dtype, got.Shape, sum[:6], r.Dtype, r.Shape, r.SHA256[:12])
			}
			compared++
			if r.HU != "" {
				h := sha256.New()
				var b [4]byte
				for i := range s.NumFrames {
					vals, _ := s.Frame(i)
					for _, v := range vals {
						binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
						h.Write(b[:])
					}
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != r.HU {
					t.Errorf("modality values differ from pydicom's apply_modality_lut")
				}
				modalityCompared++
			}
			if r.RGB != "" {
				h := sha256.New()
				for i := range s.NumFrames {
					vals, _ := s.Frame(i)
					for _, v := range vals {
						h.Write([]byte{byte(uint16(v)), byte(uint16(v) >> 8)})
					}
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != r.RGB {
					t.Errorf("palette colours differ from pydicom's apply_color_lut")
				}
				paletteCompared++
			}
		})
	}
	t.Logf("%d uncompressed files compared with pydicom's pixel_array, %d monochrome ones with apply_modality_lut, %d palettes with apply_color_lut",
		compared, modalityCompared, paletteCompared)
	if compared < 50 {
		t.Errorf("only %d files compared; the corpus has more than 50 uncompressed images", compared)
	}
}

// TestDeflatedImageFramesMatchNative checks Deflated Image Frame Compression against the same segmentations
// stored uncompressed (the 510×510 one has frames that do not end on a byte boundary when packed natively).
func TestDeflatedImageFramesMatchNative(t *testing.T) {
	for deflated, native := range map[string]string{
		"pydicom-data/liver_deflate.dcm":                 "pydicom-data/liver.dcm",
		"pydicom-data/liver_nonbyte_aligned_deflate.dcm": "pydicom-data/liver_nonbyte_aligned.dcm",
	} {
		a, err := Open(corpusFile(t, deflated))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(corpusFile(t, native))
		if err != nil {
			t.Fatal(err)
		}
		if a.NumFrames != b.NumFrames || a.NumFrames < 2 {
			t.Fatalf("%s: %d frames, native %d", deflated, a.NumFrames, b.NumFrames)
		}
		for i := range a.NumFrames {
			fa, _ := a.Frame(i)
			fb, _ := b.Frame(i)
			if !reflect.DeepEqual(fa, fb) {
				t.Errorf("%s frame %d differs from %s", deflated, i, native)
			}
		}
		sa, _ := a.StoredAll()
		sb, _ := b.StoredAll()
		if !reflect.DeepEqual(sa, sb) {
			t.Errorf("%s: stored %s %v differs from the native file's %s %v", deflated, sa.Dtype, sa.Shape, sb.Dtype, sb.Shape)
		}
	}
}

// TestImagesMatchPIL checks that PNG and JPEG training images decode to exactly the grey levels PIL's
// convert("L") gives (the first step of the models' preprocessing), using the PIL luma formula on RGB.
func TestImagesMatchPIL(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import PIL, numpy").Run(); err != nil {
		testenv.Missing(t, "python3-pil and python3-numpy are needed for the reference values (make deps installs them): %v", err)
	}
	var files []string
	for _, dir := range []string{"chest-xray/train/NORMAL", "chest-xray/train/PNEUMONIA", "chest-ct/train/normal",
		"chest-ct/train/adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib"} {
		matches, _ := filepath.Glob(filepath.Join(testenv.DataDir(t), dir, "*"))
		sort.Strings(matches)
		files = append(files, matches[:min(len(matches), 12)]...)
	}
	if len(files) == 0 {
		testenv.Missing(t, "chest-xray and chest-ct training images not found (set TUMORTRACER_DATA)")
	}
	out, err := exec.Command(python, append([]string{filepath.Join("..", "scripts", "pydicom_ref.py"), "--pil-luma"}, files...)...).Output()
	if err != nil {
		t.Fatalf("reference script: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r struct {
			Path  string `json:"path"`
			Shape []int  `json:"shape"`
			SHA   string `json:"luma_sha256"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		s, err := Open(r.Path)
		if err != nil || r.Error != "" {
			t.Errorf("%s: ours %v, PIL %s", r.Path, err, r.Error)
			continue
		}
		vals, _ := s.Frame(0)
		luma := make([]byte, s.Rows*s.Columns)
		for i := range luma {
			if s.SamplesPerPixel == 1 {
				luma[i] = byte(vals[i])
				continue
			}
			r, g, b := uint32(vals[3*i]), uint32(vals[3*i+1]), uint32(vals[3*i+2])
			luma[i] = byte((19595*r + 38470*g + 7471*b + 0x8000) >> 16)
		}
		sum := sha256.Sum256(luma)
		if hex.EncodeToString(sum[:]) != r.SHA || !reflect.DeepEqual(r.Shape, []int{s.Rows, s.Columns}) {
			t.Errorf("%s: grey levels differ from PIL's convert(\"L\")", r.Path)
		}
	}
}
