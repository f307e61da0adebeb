package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/internal/testenv"
)

// ctSmall finds pydicom's CT_small.dcm in the shared corpus, or skips (fails under CI: testenv.Missing).
func ctSmall(t *testing.T) string {
	t.Helper()
	return testenv.DataPath(t, "dicom", "pydicom-test-files", "CT_small.dcm")
}

func writePNG(t *testing.T, path string, img image.Image) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInfoJSONLines(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "scan.png")
	writePNG(t, good, image.NewGray(image.Rect(0, 0, 4, 3)))
	bad := filepath.Join(dir, "notes.txt")
	os.WriteFile(bad, []byte("not an image"), 0o644)

	code, stdout, _ := runVerb("info", "--json", good, bad)
	if code != about.ExitFailed {
		t.Errorf("exit %d with one bad file, want %d", code, about.ExitFailed)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per file, got %q", stdout)
	}
	var ok, failed infoRecord
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &failed); err != nil {
		t.Fatal(err)
	}
	if ok.Path != good || ok.Status != "ok" || ok.Format != "PNG" || ok.Rows != 3 || ok.Columns != 4 || ok.Modality != "OT" {
		t.Errorf("png record %+v", ok)
	}
	if failed.Status != "error" || !strings.Contains(failed.Error, "not a DICOM, PNG or JPEG file") || strings.Contains(failed.Error, bad) {
		t.Errorf("text file record %+v", failed)
	}
	if code, _, _ := runVerb("info", good); code != about.ExitOK {
		t.Errorf("plain info exit %d", code)
	}
	if code, _, stderr := runVerb("info"); code != about.ExitUsage || !strings.Contains(stderr, "usage") {
		t.Errorf("no files: exit %d, stderr %q", code, stderr)
	}
}

func TestInfoDICOM(t *testing.T) {
	ct := ctSmall(t)
	code, stdout, stderr := runVerb("info", "--json", ct)
	if code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r infoRecord
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.TransferSyntax != "1.2.840.10008.1.2.1" || r.TransferSyntaxName != "Explicit VR Little Endian" || r.Modality != "CT" ||
		r.Rows != 128 || r.Columns != 128 || r.Frames != 1 || r.PixelRepresentation != 1 || r.RescaleType != "HU" || len(r.PixelSpacing) != 2 {
		t.Errorf("CT record %+v", r)
	}
}

func TestRenderVerb(t *testing.T) {
	ct := ctSmall(t)
	dir := t.TempDir()
	lung := filepath.Join(dir, "lung.png")
	custom := filepath.Join(dir, "custom.png")
	if code, _, stderr := runVerb("render", "--preset", "lung", "-o", lung, ct); code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Flags after the file, and the same window given by hand.
	if code, _, stderr := runVerb("render", ct, "--window", "-600,1500", "-o", custom); code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, b := readPNG(t, lung), readPNG(t, custom)
	s, err := dicomio.Open(ct)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := dicomio.Preset("lung")
	want, _ := s.Render(0, w, dicomio.RenderOptions{})
	if !bytes.Equal(a.(*image.Gray).Pix, want.(*image.Gray).Pix) || !bytes.Equal(a.(*image.Gray).Pix, b.(*image.Gray).Pix) {
		t.Error("render --preset lung, --window -600,1500 and dicomio's lung render differ")
	}
	for _, args := range [][]string{
		{"render", ct},
		{"render", "-o", lung},
		{"render", "--preset", "liver", "-o", lung, ct},
		{"render", "--window", "40", "-o", lung, ct},
		{"render", "--window", "40,80", "--preset", "lung", "-o", lung, ct},
	} {
		if code, _, stderr := runVerb(args...); code != about.ExitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want usage error", args, code, stderr)
		}
	}
	if code, _, stderr := runVerb("render", "--frame", "3", "-o", lung, ct); code != about.ExitFailed || !strings.Contains(stderr, "out of range") {
		t.Errorf("frame 3 of 1: exit %d, stderr %q", code, stderr)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestExportVerb(t *testing.T) {
	ct := ctSmall(t)
	out := filepath.Join(t.TempDir(), "ct.npy")
	if code, _, stderr := runVerb("export", "-o", out, ct); code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.LittleEndian.Uint16(data[8:]))
	header := string(data[10 : 10+hlen])
	if !strings.Contains(header, "'descr': '<i2'") || !strings.Contains(header, "'shape': (128, 128)") {
		t.Errorf("npy header %q", header)
	}
	s, _ := dicomio.Open(ct)
	st, _ := s.Stored(0)
	if !bytes.Equal(data[10+hlen:], st.Data) {
		t.Error("exported values differ from Stored(0)")
	}
	if code, _, _ := runVerb("export", "--frame", "1", "-o", out, ct); code != about.ExitFailed {
		t.Errorf("frame 1 of 1: exit %d", code)
	}
	if code, _, _ := runVerb("export", ct); code != about.ExitUsage {
		t.Errorf("no -o: exit %d", code)
	}
}

// TestVerbsOnCorruptFrame runs the verbs on a 140-frame JPEG file whose frame 13 (and some others) cannot be
// decoded: frames are decoded when used, so the good frames render and export, the bad ones fail with one line
// naming the frame, and info reports the file's metadata with the first bad frame as its error.
func TestVerbsOnCorruptFrame(t *testing.T) {
	path := testenv.DataPath(t, "dicom", "fo-dicom", "multiframe.dcm")
	dir := t.TempDir()

	code, stdout, _ := runVerb("info", "--json", path)
	var r infoRecord
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if code != about.ExitFailed || r.Status != "error" || !strings.HasPrefix(r.Error, "frame 13: ") || r.Frames != 140 || r.Rows != 240 {
		t.Errorf("info: exit %d, record %+v", code, r)
	}

	if code, _, stderr := runVerb("render", "--frame", "70", "-o", filepath.Join(dir, "70.png"), path); code != about.ExitOK {
		t.Errorf("render of a good frame: exit %d: %s", code, stderr)
	}
	code, _, stderr := runVerb("render", "--frame", "13", "-o", filepath.Join(dir, "13.png"), path)
	if code != about.ExitFailed || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, path+": frame 13: ") {
		t.Errorf("render of a bad frame: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "13.png")); err == nil {
		t.Error("render of a bad frame wrote a file")
	}

	if code, _, stderr := runVerb("export", "--frame", "0", "-o", filepath.Join(dir, "0.npy"), path); code != about.ExitOK {
		t.Errorf("export of a good frame: exit %d: %s", code, stderr)
	}
	code, _, stderr = runVerb("export", "-o", filepath.Join(dir, "all.npy"), path)
	if code != about.ExitFailed || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "frame 13: ") {
		t.Errorf("export of every frame: exit %d, stderr %q", code, stderr)
	}
}
