package codec

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Uncompressed corpus files the generated cases start from: 8- and 16-bit, signed and unsigned, grey and RGB,
// single and multi-frame.
var generatedSources = map[string]string{
	"mono8":        "pydicom-test-files/image_dfl.dcm",                       // 512x512 8/8 unsigned
	"cr16u":        "derived-dcmtk-gdcm/cr_chest_explicitLE.dcm",             // chest CR 440x440 16/10 unsigned, MONOCHROME1
	"ct16s":        "fo-dicom/CT-MONO2-16-ankle",                             // CT 512x512 16/16 signed
	"ct16s14":      "pydicom-data/693_UNCI.dcm",                              // CT 512x512 16/14 signed
	"rgb8":         "pydicom-data/US1_UNCR.dcm",                              // ultrasound 640x480 RGB 8-bit
	"rgb16":        "pydicom-data/SC_rgb_16bit.dcm",                          // 100x100 RGB 16-bit
	"rgb8x2":       "pydicom-data/SC_rgb_2frame.dcm",                         // 100x100 RGB 8-bit, 2 frames
	"rgb8odd":      "pydicom-test-files/examples_rgb_color.dcm",              // 320x240 RGB 8-bit
	"mono16u16":    "fo-dicom/GH1728.dcm",                                    // 652x568 16/16 unsigned
	"mono16s12lut": "pydicom-data/mlut_18.dcm",                               // 512x512 16/12 signed
	"rg1":          "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", // chest CR 1841x1955 16/15
}

// generatedCase compresses a source with a DCMTK or GDCM command line.
type generatedCase struct {
	source string
	cmd    []string // input and output are appended
}

func generatedCases() map[string]generatedCase {
	cases := map[string]generatedCase{}
	for sv := 1; sv <= 7; sv++ {
		for _, src := range []string{"mono8", "cr16u", "ct16s", "rgb8"} {
			cases[fmt.Sprintf("jpeg-lossless-sv%d-%s", sv, src)] = generatedCase{src, []string{"dcmcjpeg", "+el", "+sv", fmt.Sprint(sv)}}
		}
	}
	for name, c := range map[string]generatedCase{
		"jpeg-lossless-sv1-ct16s14":      {"ct16s14", []string{"dcmcjpeg", "+e1"}},
		"jpeg-lossless-sv1-rgb16":        {"rgb16", []string{"dcmcjpeg", "+e1"}},
		"jpeg-lossless-sv1-rgb8x2":       {"rgb8x2", []string{"dcmcjpeg", "+e1"}},
		"jpeg-lossless-sv7-pt2-cr16u":    {"cr16u", []string{"dcmcjpeg", "+el", "+sv", "7", "+pt", "2"}},
		"jpeg-lossless-sv4-mono16u16":    {"mono16u16", []string{"dcmcjpeg", "+el", "+sv", "4"}},
		"jpeg-lossless-sv5-mono16s12lut": {"mono16s12lut", []string{"dcmcjpeg", "+el", "+sv", "5"}},
		"jpeg-lossless-fragments-cr16u":  {"cr16u", []string{"dcmcjpeg", "+e1", "+fs", "8"}},
		"jpeg-baseline-mono8":            {"mono8", []string{"dcmcjpeg", "+eb"}},
		"jpeg-baseline-rgb8-422":         {"rgb8", []string{"dcmcjpeg", "+eb", "+s2"}},
		"jpeg-baseline-rgb8-444":         {"rgb8", []string{"dcmcjpeg", "+eb", "+s4"}},
		"jpeg-baseline-rgb8-411":         {"rgb8", []string{"dcmcjpeg", "+eb", "+n1"}},
		"jpeg-baseline-rgb8odd-422":      {"rgb8odd", []string{"dcmcjpeg", "+eb", "+s2"}},
		"jpeg-baseline-rgb8-rgb":         {"rgb8", []string{"dcmcjpeg", "+eb", "+cr"}},
		"jpeg-baseline-rgb8x2":           {"rgb8x2", []string{"dcmcjpeg", "+eb"}},
		"jpeg-extended-cr16u":            {"cr16u", []string{"dcmcjpeg", "+ee"}},
		"jpeg-extended-rgb8":             {"rgb8", []string{"dcmcjpeg", "+ee", "+n2"}},
		"jpeg-extended-q50-cr16u":        {"cr16u", []string{"dcmcjpeg", "+ee", "+q", "50", "-ho"}},
		"rle-mono8":                      {"mono8", []string{"dcmcrle"}},
		"rle-ct16s":                      {"ct16s", []string{"dcmcrle"}},
		"rle-rgb8":                       {"rgb8", []string{"dcmcrle"}},
		"rle-rgb16":                      {"rgb16", []string{"dcmcrle"}},
		"rle-rgb8x2":                     {"rgb8x2", []string{"dcmcrle"}},
		"rle-gdcm-cr16u":                 {"cr16u", []string{"gdcmconv", "--rle"}},
		"jpegls-cr16u":                   {"cr16u", []string{"dcmcjpls"}},
		"jpegls-ct16s":                   {"ct16s", []string{"dcmcjpls"}},
		"jpegls-mono8":                   {"mono8", []string{"dcmcjpls"}},
		"jpegls-rgb8-line":               {"rgb8", []string{"dcmcjpls", "+il"}},
		"jpegls-rgb8-sample":             {"rgb8", []string{"dcmcjpls", "+is"}},
		"jpegls-rgb8-none":               {"rgb8", []string{"dcmcjpls", "+in"}},
		"jpegls-near3-cr16u":             {"cr16u", []string{"dcmcjpls", "+en", "+md", "3"}},
		"jpegls-near2-rgb8":              {"rgb8", []string{"dcmcjpls", "+en"}},
		"jpegls-gdcm-ct16s14":            {"ct16s14", []string{"gdcmconv", "--jpegls"}},
		"j2k-cr16u":                      {"cr16u", []string{"gdcmconv", "--j2k"}},
		"j2k-ct16s":                      {"ct16s", []string{"gdcmconv", "--j2k"}},
		"j2k-ct16s14":                    {"ct16s14", []string{"gdcmconv", "--j2k"}},
		"j2k-mono8":                      {"mono8", []string{"gdcmconv", "--j2k"}},
		"j2k-rgb8":                       {"rgb8", []string{"gdcmconv", "--j2k"}},
		"j2k-rgb16":                      {"rgb16", []string{"gdcmconv", "--j2k"}},
		"j2k-tiled-cr16u":                {"cr16u", []string{"gdcmconv", "--j2k", "-t", "128,128"}},
		"j2k-irreversible-ct16s":         {"ct16s", []string{"gdcmconv", "--j2k", "--lossy", "--irreversible", "-q", "40"}},
		"j2k-irreversible-rgb8":          {"rgb8", []string{"gdcmconv", "--j2k", "--lossy", "--irreversible", "-q", "40"}},
		"j2k-rg1":                        {"rg1", []string{"gdcmconv", "--j2k"}},
	} {
		cases[name] = c
	}
	return cases
}

// TestGeneratedCases compresses real uncompressed corpus images with DCMTK and GDCM, decodes them with this
// package and compares with the toolkit's own decompression; lossless cases must also give back the original.
func TestGeneratedCases(t *testing.T) {
	if testing.Short() {
		t.Skip("generated cases take a minute; skipped with -short")
	}
	data := dataDir(t)
	needTools(t, "dcmcjpeg", "dcmcrle", "dcmcjpls", "gdcmconv", "dcmdjpeg", "dcmdrle", "dcmdjpls")
	var tally outcome
	t.Run("cases", func(t *testing.T) { generatedRun(t, data, &tally) })
	t.Log(tally.table())
}

func generatedRun(t *testing.T, data string, tally *outcome) {
	for name, c := range generatedCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(data, "dicom", c.source)
			if c.source == "" || generatedSources[c.source] == "" {
				t.Fatalf("unknown source %q", c.source)
			}
			src = filepath.Join(data, "dicom", generatedSources[c.source])
			out := filepath.Join(t.TempDir(), name+".dcm")
			args := append(append([]string{}, c.cmd[1:]...), src, out)
			if msg, err := exec.Command(c.cmd[0], args...).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", c.cmd[0], strings.Join(args, " "), err, msg)
			}
			m, frames := encapsulated(t, out)
			checkFrames(t, out, m.TransferSyntax, m, frames, tally, name)
			if !lossless(m.TransferSyntax) || strings.Contains(name, "-pt") || t.Failed() || t.Skipped() {
				return
			}
			got, _, err := decodeAll(m, frames)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := pixelsOf(t, src)
			if err != nil {
				t.Fatal(err)
			}
			signExtend(orig, m.params())
			if d, md, err := compareSamples(got, orig, m.BitsAllocated, m.PixelRepresentation == 1); err != nil || d > 0 {
				t.Errorf("lossless round trip: %d samples differ from the original by up to %d (%v)", d, md, err)
			}
		})
	}
}
