package codec

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// benchCase is one compressed image decoded by this package and, for comparison, by the DCMTK or GDCM command
// line. The command-line time is the whole process — start-up, reading and parsing the file, decoding, writing
// the uncompressed file — with nothing subtracted; this package's time is the frame decode alone.
type benchCase struct {
	name   string
	file   string   // relative to dicom/, or generated
	source string   // when set: generate file from this uncompressed file with gen
	gen    []string // compressor command line, input and output appended
	tool   []string // reference decompressor, input and output appended
}

var benchCases = []benchCase{
	{name: "cr440/rle", file: "derived-dcmtk-gdcm/cr_chest_rle.dcm", tool: []string{"dcmdrle"}},
	{name: "cr440/jpeg-lossless-sv1", file: "derived-dcmtk-gdcm/cr_chest_jpeg_lossless_sv1.dcm", tool: []string{"dcmdjpeg"}},
	{name: "cr440/jpeg-lossless-sv6", file: "derived-dcmtk-gdcm/cr_chest_jpeg_lossless_p14_sv6.dcm", tool: []string{"dcmdjpeg"}},
	{name: "cr440/jpeg-extended-12bit", file: "derived-dcmtk-gdcm/cr_chest_jpeg_extended_12bit.dcm", tool: []string{"dcmdjpeg"}},
	{name: "cr440/jpeg-baseline-8bit", file: "derived-dcmtk-gdcm/cr_chest_jpeg_baseline_8bit.dcm", tool: []string{"dcmdjpeg"}},
	{name: "cr440/jpegls", file: "derived-dcmtk-gdcm/cr_chest_jpegls_lossless.dcm", tool: []string{"dcmdjpls"}},
	{name: "cr440/j2k-lossless", file: "derived-dcmtk-gdcm/cr_chest_j2k_lossless_gdcm.dcm", tool: []string{"gdcmconv", "--raw"}},
	{name: "cr440/j2k-lossy", file: "derived-dcmtk-gdcm/cr_chest_j2k_lossy_gdcm.dcm", tool: []string{"gdcmconv", "--raw"}},
	{name: "cr1841x1955/j2k-lossy", file: "pydicom-data/RG1_J2KI.dcm", tool: []string{"gdcmconv", "--raw"}},
	{name: "cr1841x1955/rle", source: "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", gen: []string{"dcmcrle"}, tool: []string{"dcmdrle"}},
	{name: "cr1841x1955/jpeg-lossless-sv1", source: "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", gen: []string{"dcmcjpeg", "+e1"}, tool: []string{"dcmdjpeg"}},
	{name: "cr1841x1955/jpegls", source: "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", gen: []string{"dcmcjpls"}, tool: []string{"dcmdjpls"}},
	{name: "cr1841x1955/j2k-lossless", source: "derived-dcmtk-gdcm/rg1_chest_cr_from_j2ki_raw_gdcm.dcm", gen: []string{"gdcmconv", "--j2k"}, tool: []string{"gdcmconv", "--raw"}},
	{name: "ct512/j2k-lossless", file: "pydicom-data/693_J2KR.dcm", tool: []string{"gdcmconv", "--raw"}},
	{name: "ct512/j2k-lossy", file: "pydicom-test-files/693_J2KI.dcm", tool: []string{"gdcmconv", "--raw"}},
	{name: "ct512/rle", source: "pydicom-data/693_UNCI.dcm", gen: []string{"dcmcrle"}, tool: []string{"dcmdrle"}},
	{name: "ct512/jpeg-lossless-sv1", source: "pydicom-data/693_UNCI.dcm", gen: []string{"dcmcjpeg", "+e1"}, tool: []string{"dcmdjpeg"}},
	{name: "ct512/jpeg-extended-12bit", source: "pydicom-data/693_UNCI.dcm", gen: []string{"dcmcjpeg", "+ee"}, tool: []string{"dcmdjpeg"}},
	{name: "ct512/jpegls", source: "pydicom-data/693_UNCI.dcm", gen: []string{"dcmcjpls"}, tool: []string{"dcmdjpls"}},
}

// BenchmarkDecode times each case's frame decode ("go") beside the toolkit's command line ("cli"), e.g.
// go test -run '^$' -bench Decode -benchtime=20x ./dicomio/codec
func BenchmarkDecode(b *testing.B) {
	data := dataDir(b)
	needTools(b, "dcmdjpeg", "dcmdrle", "dcmdjpls", "gdcmconv", "dcmcjpeg", "dcmcrle", "dcmcjpls")
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(data, "dicom", c.file)
			if c.source != "" {
				path = filepath.Join(b.TempDir(), "in.dcm")
				args := append(append([]string{}, c.gen[1:]...), filepath.Join(data, "dicom", c.source), path)
				if out, err := exec.Command(c.gen[0], args...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", c.gen, err, out)
				}
			}
			m, frames := encapsulated(b, path)
			p := m.params()
			b.Run("go", func(b *testing.B) {
				if !Supported(m.TransferSyntax) {
					b.Skipf("%s is not in this build", Name(m.TransferSyntax))
				}
				b.SetBytes(int64(p.FrameSize() * len(frames)))
				b.ReportAllocs()
				for b.Loop() {
					for _, f := range frames {
						if _, err := Decode(m.TransferSyntax, f, p); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.Run("cli", func(b *testing.B) {
				out := filepath.Join(b.TempDir(), "out.dcm")
				args := append(append([]string{}, c.tool[1:]...), path, out)
				b.SetBytes(int64(p.FrameSize() * len(frames)))
				for b.Loop() {
					if msg, err := exec.Command(c.tool[0], args...).CombinedOutput(); err != nil {
						b.Fatalf("%v: %v\n%s", c.tool, err, msg)
					}
				}
			})
		})
	}
}
