//go:build cgo && linux && !nocgocodecs

package codec

import (
	"math/rand"
	"path/filepath"
	"testing"
)

// damageRounds is how many damaged variants of each frame TestCgoCodecsSurviveDamage decodes.
const damageRounds = 300

// TestCgoCodecsSurviveDamage feeds CharLS and OpenJPEG real frames with random bytes overwritten, cut short or
// with the geometry misdeclared. A crash in C would take the test binary down, so reaching the end is the check;
// every decode must also either fail or return exactly FrameSize bytes.
func TestCgoCodecsSurviveDamage(t *testing.T) {
	data := dataDir(t)
	needTools(t)
	rng := rand.New(rand.NewSource(3))
	for _, name := range []string{
		"pydicom-test-files/MR_small_jp2klossless.dcm", "pydicom-test-files/SC_rgb_gdcm_KY.dcm",
		"pydicom-test-files/MR_small_jpeg_ls_lossless.dcm", "pydicom-test-files/SC_rgb_jls_lossy_sample.dcm",
		"pydicom-data/JLSL_RGB_ILV0.dcm",
	} {
		t.Run(name, func(t *testing.T) {
			m, frames := encapsulated(t, filepath.Join(data, "dicom", name))
			good := frames[0]
			p := m.params()
			if _, err := Decode(m.TransferSyntax, good, p); err != nil {
				t.Fatalf("undamaged frame: %v", err)
			}
			failed := 0
			for i := 0; i < damageRounds; i++ {
				bad := append([]byte(nil), good...)
				q := p
				switch i % 4 {
				case 0, 1:
					for k := 0; k < 1+rng.Intn(8); k++ {
						bad[rng.Intn(len(bad))] = byte(rng.Intn(256))
					}
				case 2:
					bad = bad[:rng.Intn(len(bad))]
				case 3:
					q.Rows += rng.Intn(5) - 2
					q.Columns += rng.Intn(5) - 2
					q.BitsAllocated = []int{8, 16}[rng.Intn(2)]
				}
				f, err := Decode(m.TransferSyntax, bad, q)
				if err != nil {
					failed++
					continue
				}
				if len(f.Data) != q.FrameSize() {
					t.Fatalf("damaged frame %d decoded to %d bytes, FrameSize %d", i, len(f.Data), q.FrameSize())
				}
			}
			t.Logf("%d of %d damaged frames were refused", failed, damageRounds)
		})
	}
}
