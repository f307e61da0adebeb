//go:build cgo && linux && !nocgocodecs

package codec

/*
#cgo pkg-config: charls
#include <stdint.h>
#include <stdlib.h>
#include <charls/charls.h>

// tt_jls_decode reads the JPEG-LS header, reports the frame through the out parameters and decodes into dst only
// when the frame is exactly want_w x want_h x want_c with samples of at most want_bytes bytes and fits dn bytes,
// so CharLS never writes past Go's buffer and never decodes a frame the dataset did not declare.
static int tt_jls_decode(const void *src, size_t n, void *dst, size_t dn,
                         uint32_t want_w, uint32_t want_h, int32_t want_c, int32_t want_bytes,
                         uint32_t *w, uint32_t *h, int32_t *bits, int32_t *comps, int32_t *ilv, int32_t *near_val,
                         const char **msg) {
	*msg = 0;
	charls_jpegls_decoder *d = charls_jpegls_decoder_create();
	if (!d) { *msg = "out of memory"; return -1; }
	int rc = (int)charls_jpegls_decoder_set_source_buffer(d, src, n);
	if (!rc) rc = (int)charls_jpegls_decoder_read_header(d);
	charls_frame_info fi;
	if (!rc) rc = (int)charls_jpegls_decoder_get_frame_info(d, &fi);
	if (!rc) {
		*w = fi.width; *h = fi.height; *bits = fi.bits_per_sample; *comps = fi.component_count;
		charls_interleave_mode mode;
		rc = (int)charls_jpegls_decoder_get_interleave_mode(d, &mode);
		*ilv = (int32_t)mode;
	}
	if (!rc) rc = (int)charls_jpegls_decoder_get_near_lossless(d, 0, near_val);
	if (!rc) {
		int32_t bytes = fi.bits_per_sample <= 8 ? 1 : 2;
		size_t need = 0;
		if (fi.width != want_w || fi.height != want_h || fi.component_count != want_c || bytes > want_bytes) {
			charls_jpegls_decoder_destroy(d);
			return -2;
		}
		rc = (int)charls_jpegls_decoder_get_destination_size(d, 0, &need);
		if (!rc && need > dn) {
			charls_jpegls_decoder_destroy(d);
			return -2;
		}
		if (!rc) rc = (int)charls_jpegls_decoder_decode_to_buffer(d, dst, need, 0);
	}
	if (rc) *msg = charls_get_error_message((charls_jpegls_errc)rc);
	charls_jpegls_decoder_destroy(d);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func init() {
	decoders["1.2.840.10008.1.2.4.80"] = decodeJPEGLS
	decoders["1.2.840.10008.1.2.4.81"] = decodeJPEGLS
}

// decodeJPEGLS decodes a JPEG-LS frame (ITU-T T.87) with CharLS, lossless or near-lossless, in any interleave
// mode, and returns it pixel-interleaved.
func decodeJPEGLS(data []byte, p Params) (Frame, error) {
	if len(data) < 4 {
		return Frame{}, fmt.Errorf("jpeg-ls: frame is %d bytes: %w", len(data), ErrTruncated)
	}
	// CharLS 2.4.1 loops forever on some streams cut short (measured on a truncated corpus frame); with an
	// end-of-image marker after the data it stops with an error instead. A complete stream ends at its own EOI,
	// so the extra marker is never read.
	data = append(append(make([]byte, 0, len(data)+2), data...), 0xFF, 0xD9)
	bps := (p.BitsAllocated + 7) / 8
	if bps > 2 {
		return Frame{}, fmt.Errorf("jpeg-ls: %d bits allocated is more than JPEG-LS's 16: %w", p.BitsAllocated, ErrMismatch)
	}
	buf := make([]byte, p.FrameSize())
	var w, h C.uint32_t
	var bits, comps, ilv, near C.int32_t
	var msg *C.char
	rc := C.tt_jls_decode(unsafe.Pointer(&data[0]), C.size_t(len(data)), unsafe.Pointer(&buf[0]), C.size_t(len(buf)),
		C.uint32_t(p.Columns), C.uint32_t(p.Rows), C.int32_t(p.SamplesPerPixel), C.int32_t(bps),
		&w, &h, &bits, &comps, &ilv, &near, &msg)
	switch {
	case rc == -2:
		return Frame{}, fmt.Errorf("jpeg-ls: codestream is %dx%d with %d components of %d bits, the dataset says %dx%d with %d of %d bits allocated: %w",
			w, h, comps, bits, p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, ErrMismatch)
	case rc != 0:
		text := "unknown error"
		if msg != nil {
			text = C.GoString(msg)
		}
		return Frame{}, fmt.Errorf("jpeg-ls: CharLS: %s: %w", text, ErrCorrupt)
	}
	inBytes := 1
	if bits > 8 {
		inBytes = 2
	}
	pixels := p.Rows * p.Columns
	n := pixels * p.SamplesPerPixel
	// CharLS writes samples of inBytes each, planes one after another for interleave mode none.
	planar := ilv == 0 && p.SamplesPerPixel > 1
	if !planar && inBytes == bps {
		return Frame{Data: buf, Photometric: p.Photometric}, nil
	}
	src := append([]byte(nil), buf[:n*inBytes]...)
	for i := 0; i < n; i++ {
		j := i
		if planar {
			// Output sample i is pixel i/spp of plane i%spp.
			j = (i%p.SamplesPerPixel)*pixels + i/p.SamplesPerPixel
		}
		var v uint16
		if inBytes == 1 {
			v = uint16(src[j])
		} else {
			v = uint16(src[2*j]) | uint16(src[2*j+1])<<8
		}
		if bps == 1 {
			buf[i] = byte(v)
		} else {
			buf[2*i], buf[2*i+1] = byte(v), byte(v>>8)
		}
	}
	return Frame{Data: buf, Photometric: p.Photometric}, nil
}
