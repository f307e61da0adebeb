package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// parse reads a written phantom back with an independent DICOM reader.
func parse(t *testing.T, data []byte) dicom.Dataset {
	t.Helper()
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatalf("the written file does not parse as DICOM: %v", err)
	}
	return ds
}

func strTag(t *testing.T, ds dicom.Dataset, tg tag.Tag) string {
	t.Helper()
	e, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("missing %v: %v", tg, err)
	}
	return strings.Join(dicom.MustGetStrings(e.Value), `\`)
}

func num(t *testing.T, ds dicom.Dataset, tg tag.Tag) int {
	t.Helper()
	e, err := ds.FindElementByTag(tg)
	if err != nil {
		t.Fatalf("missing %v: %v", tg, err)
	}
	return dicom.MustGetInts(e.Value)[0]
}

func TestWriteDICOMReadsBack(t *testing.T) {
	for _, tc := range []struct {
		kind     Kind
		modality string
		sopClass string
		center   string
	}{
		{KindCXR, "CR", "1.2.840.10008.5.1.4.1.1.1", "2048"},
		{KindCT, "CT", "1.2.840.10008.5.1.4.1.1.2", "-600"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			p, err := New(tc.kind, 96)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.WriteDICOM(&buf); err != nil {
				t.Fatal(err)
			}
			data := buf.Bytes()
			if string(data[128:132]) != "DICM" {
				t.Fatalf("no DICM marker after the preamble: %q", data[128:132])
			}
			ds := parse(t, data)
			for tg, want := range map[tag.Tag]string{
				tag.Modality:                  tc.modality,
				tag.SOPClassUID:               tc.sopClass,
				tag.MediaStorageSOPClassUID:   tc.sopClass,
				tag.TransferSyntaxUID:         explicitVRLittleEndian,
				tag.PhotometricInterpretation: "MONOCHROME2",
				tag.WindowCenter:              tc.center,
				tag.PatientName:               "Phantom^Synthetic",
			} {
				if got := strTag(t, ds, tg); got != want {
					t.Errorf("%v = %q, want %q", tg, got, want)
				}
			}
			if got := strTag(t, ds, tag.SOPInstanceUID); got != strTag(t, ds, tag.MediaStorageSOPInstanceUID) ||
				!strings.HasPrefix(got, "2.25.") || len(got) > 64 {
				t.Errorf("SOP instance UID %q: want a 2.25 UID of at most 64 characters, equal in meta and dataset", got)
			}
			for tg, want := range map[tag.Tag]int{
				tag.Rows: 96, tag.Columns: 96, tag.BitsAllocated: 16, tag.BitsStored: 12, tag.HighBit: 11,
				tag.SamplesPerPixel: 1, tag.PixelRepresentation: 0,
			} {
				if got := num(t, ds, tg); got != want {
					t.Errorf("%v = %d, want %d", tg, got, want)
				}
			}
			e, err := ds.FindElementByTag(tag.PixelData)
			if err != nil {
				t.Fatal(err)
			}
			info := dicom.MustGetPixelDataInfo(e.Value)
			if len(info.Frames) != 1 {
				t.Fatalf("%d frames, want 1", len(info.Frames))
			}
			nf, err := info.Frames[0].GetNativeFrame()
			if err != nil {
				t.Fatal(err)
			}
			for y := 0; y < p.Rows; y++ {
				for x := 0; x < p.Columns; x++ {
					px, err := nf.GetPixel(x, y)
					if err != nil {
						t.Fatal(err)
					}
					if want := int(p.Stored[y*p.Columns+x]); px[0] != want {
						t.Fatalf("pixel (%d,%d) = %d, want %d", x, y, px[0], want)
					}
				}
			}
		})
	}
}

func TestPhantomsAreReproducible(t *testing.T) {
	write := func(k Kind) []byte {
		p, err := New(k, 64)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.WriteDICOM(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(write(KindCT), write(KindCT)) {
		t.Error("two CT phantoms differ; packages would not be reproducible")
	}
	if bytes.Equal(write(KindCT)[132:], write(KindCXR)[132:]) {
		t.Error("the CT and radiograph phantoms are identical")
	}
}

// mean averages the phantom's modality values over a box given in fractions of the image size.
func mean(p *Phantom, x0, y0, x1, y1 float64) float64 {
	var sum float64
	var n int
	for y := int(y0 * float64(p.Rows)); y < int(y1*float64(p.Rows)); y++ {
		for x := int(x0 * float64(p.Columns)); x < int(x1*float64(p.Columns)); x++ {
			sum += float64(p.Stored[y*p.Columns+x])*p.RescaleSlope + p.RescaleIntercept
			n++
		}
	}
	return sum / float64(n)
}

// The samples are for trying the classifier, so they should look like what they claim to be.
func TestPhantomAnatomy(t *testing.T) {
	cxr, err := New(KindCXR, 256)
	if err != nil {
		t.Fatal(err)
	}
	lung := mean(cxr, 0.26, 0.35, 0.36, 0.45)
	mediastinum := mean(cxr, 0.47, 0.3, 0.53, 0.5)
	outside := mean(cxr, 0, 0, 0.05, 0.05)
	if !(outside < lung && lung+500 < mediastinum) {
		t.Errorf("radiograph: outside %.0f, lung %.0f, mediastinum %.0f; want outside < lung < mediastinum by 500", outside, lung, mediastinum)
	}
	for i, v := range cxr.Stored {
		if v > 4095 {
			t.Fatalf("radiograph pixel %d = %d exceeds 12 bits", i, v)
		}
	}

	ct, err := New(KindCT, 256)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name   string
		x0, y0 float64
		x1, y1 float64
		lo, hi float64
	}{
		{"air", 0, 0, 0.05, 0.05, -1050, -950},
		{"lung", 0.6, 0.5, 0.66, 0.56, -950, -750},
		{"soft tissue", 0.48, 0.3, 0.52, 0.36, 0, 80},
		{"fat", 0.09, 0.49, 0.1, 0.51, -160, -40},
		{"vertebra", 0.48, 0.7, 0.52, 0.74, 500, 900},
		{"nodule", 0.265, 0.395, 0.275, 0.405, -100, 100},
	} {
		if m := mean(ct, r.x0, r.y0, r.x1, r.y1); m < r.lo || m > r.hi || math.IsNaN(m) {
			t.Errorf("CT %s: mean %.0f HU, want %.0f to %.0f", r.name, m, r.lo, r.hi)
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := New("mri", 64); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("New(mri): %v, want ErrUnknownKind", err)
	}
	for _, n := range []int{0, 31, 4097} {
		if _, err := New(KindCT, n); err == nil {
			t.Errorf("New(ct, %d) accepted a size outside 32 to 4096", n)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run(nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "-o FILE.dcm") {
		t.Errorf("no output named: exit %d, %q; want 2 and a usage sentence", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-kind", "pet", "-o", filepath.Join(dir, "x.dcm")}, &stderr); code != 2 {
		t.Errorf("unknown kind: exit %d, want 2", code)
	}
	dcm := filepath.Join(dir, "sub", "ct.dcm")
	if code := run([]string{"-kind", "ct", "-size", "64", "-o", dcm}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(dcm)
	if err != nil {
		t.Fatal(err)
	}
	if got := strTag(t, parse(t, data), tag.Modality); got != "CT" {
		t.Errorf("written file's modality %q, want CT", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Errorf("%d files left in the output folder, want only ct.dcm (no temporary files)", len(entries))
	}
}
