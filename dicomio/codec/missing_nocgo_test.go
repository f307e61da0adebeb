//go:build !cgo || !linux || nocgocodecs

package codec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestMissing: a build without the C libraries still decodes the pure-Go syntaxes and names what it lacks.
func TestMissing(t *testing.T) {
	m := Missing()
	for _, want := range []string{"JPEG 2000", "JPEG 2000 Lossless", "JPEG-LS Lossless", "JPEG-LS Near-Lossless", "HTJ2K"} {
		if !slices.Contains(m, want) {
			t.Errorf("Missing() = %v, lacks %q", m, want)
		}
	}
	for _, ts := range []string{tsRLE, tsJPEGBaseline, tsJPEGExtended, tsJPEGLossless, tsJPEGLossless1} {
		if !Supported(ts) {
			t.Errorf("%s should be decoded without cgo", Name(ts))
		}
	}
	_, err := Decode("1.2.840.10008.1.2.4.90", []byte{0xFF, 0x4F}, Params{Rows: 1, Columns: 1, SamplesPerPixel: 1, BitsAllocated: 8})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "leaves out") {
		t.Errorf("JPEG 2000 without cgo: %v", err)
	}
}
