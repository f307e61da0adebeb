//go:build cgo && linux && !nocgocodecs

package codec

import "testing"

// TestMissing: a full build decodes every compressed syntax TumorTracer wants.
func TestMissing(t *testing.T) {
	if m := Missing(); len(m) != 0 {
		t.Errorf("a cgo build lacks %v", m)
	}
	for _, ts := range wanted {
		if !Supported(ts) {
			t.Errorf("%s is not registered", Name(ts))
		}
	}
}
