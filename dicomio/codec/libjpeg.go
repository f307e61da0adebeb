//go:build cgo && linux && !nocgocodecs

package codec

/*
#cgo pkg-config: libjpeg
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <jpeglib.h>

// The IJG libjpeg 7+ "DCT scaling" upsampling differs from the triangle filter the pure-Go decoder, DCMTK and PIL
// use; libjpeg-turbo keeps the triangle filter whatever API version it emulates, so only it is accepted.
#ifndef LIBJPEG_TURBO_VERSION
#error "TumorTracer decodes JPEG with libjpeg-turbo; install libjpeg-turbo's development files (libjpeg-dev)"
#endif

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	int warnings;
} tt_jerr;

static void tt_error_exit(j_common_ptr c) { longjmp(((tt_jerr *)c->err)->jump, 1); }

// Warnings (level -1) mean libjpeg met damaged or unusual data and carried on; the caller then leaves the frame to
// the pure-Go decoder, which either reproduces libjpeg's recovery or says what is wrong.
static void tt_emit_message(j_common_ptr c, int level) {
	if (level < 0) ((tt_jerr *)c->err)->warnings++;
}

static void tt_output_message(j_common_ptr c) { (void)c; }

enum { TT_DICOM_GREY = 0, TT_DICOM_YCC_TO_RGB = 1, TT_DICOM_AS_STORED = 2, TT_FILE = 3 };

// tt_jpeg_decode decodes one 8-bit sequential JPEG into dst (w*h*c bytes, interleaved) and returns 0, or returns
// 1 when it declines: an error, any warning, a geometry other than want_w x want_h x want_c, a precision other
// than 8, or a process or sampling it leaves to the pure-Go decoder. mode says how colour is treated:
// TT_DICOM_GREY one component; TT_DICOM_YCC_TO_RGB YCbCr converted to RGB; TT_DICOM_AS_STORED three components
// passed through; TT_FILE libjpeg's own guess from the JFIF/Adobe markers, as PIL decodes (progressive and
// arithmetic-coded allowed, any sampling).
static int tt_jpeg_decode(const unsigned char *src, unsigned long n, unsigned char *dst, size_t dn,
                          int want_w, int want_h, int want_c, int mode) {
	struct jpeg_decompress_struct ci;
	tt_jerr err;
	volatile int created = 0;
	ci.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = tt_error_exit;
	err.pub.emit_message = tt_emit_message;
	err.pub.output_message = tt_output_message;
	err.warnings = 0;
	if (setjmp(err.jump)) {
		if (created) jpeg_destroy_decompress(&ci);
		return 1;
	}
	jpeg_create_decompress(&ci);
	created = 1;
	jpeg_mem_src(&ci, src, n);
	int ok = jpeg_read_header(&ci, TRUE) == JPEG_HEADER_OK && !err.warnings &&
	         (int)ci.image_width == want_w && (int)ci.image_height == want_h && ci.num_components == want_c &&
	         ci.data_precision == 8 && (size_t)want_w * want_h * want_c <= dn;
	if (ok && mode != TT_FILE) {
		ok = !ci.progressive_mode && !ci.arith_code;
		if (ok && want_c == 3) {
			// Upsampling both libraries do alike: none, or 2:1 horizontally (and vertically) for the chroma.
			jpeg_component_info *k = ci.comp_info;
			int h0 = k[0].h_samp_factor, v0 = k[0].v_samp_factor;
			for (int i = 1; i < 3; i++) ok = ok && k[i].h_samp_factor == 1 && k[i].v_samp_factor == 1;
			ok = ok && ((h0 == 1 && v0 == 1) || (h0 == 2 && v0 == 1) || (h0 == 2 && v0 == 2));
		}
	}
	if (ok) {
		switch (mode) {
		case TT_DICOM_GREY:
			ok = want_c == 1;
			ci.jpeg_color_space = ci.out_color_space = JCS_GRAYSCALE;
			break;
		case TT_DICOM_YCC_TO_RGB:
			ok = want_c == 3;
			ci.jpeg_color_space = JCS_YCbCr;
			ci.out_color_space = JCS_RGB;
			break;
		case TT_DICOM_AS_STORED:
			ok = want_c == 3;
			ci.jpeg_color_space = ci.out_color_space = JCS_RGB;
			break;
		default:
			if (want_c == 1)
				ok = ci.jpeg_color_space == JCS_GRAYSCALE;
			else
				ok = want_c == 3 && (ci.jpeg_color_space == JCS_YCbCr || ci.jpeg_color_space == JCS_RGB);
			ci.out_color_space = want_c == 1 ? JCS_GRAYSCALE : JCS_RGB;
		}
	}
	if (ok) {
		ci.dct_method = JDCT_ISLOW;
		ci.do_fancy_upsampling = TRUE;
		jpeg_start_decompress(&ci);
		ok = !err.warnings && (int)ci.output_width == want_w && (int)ci.output_height == want_h &&
		     ci.output_components == want_c;
	}
	if (ok) {
		size_t stride = (size_t)want_w * want_c;
		while (ci.output_scanline < ci.output_height) {
			JSAMPROW rows[16];
			int k = 0;
			for (; k < 16 && ci.output_scanline + k < ci.output_height; k++)
				rows[k] = dst + (size_t)(ci.output_scanline + k) * stride;
			if (jpeg_read_scanlines(&ci, rows, k) == 0) { ok = 0; break; }
		}
	}
	if (ok) {
		jpeg_finish_decompress(&ci);
		ok = !err.warnings;
	}
	jpeg_destroy_decompress(&ci);
	return ok ? 0 : 1;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// libjpeg-turbo decodes 8-bit sequential JPEG about eight times faster than the pure-Go DCT decoder; both use the
// IJG accurate integer IDCT, triangle upsampling and fixed-point YCbCr conversion, so they agree sample for sample
// (TestLibjpegMatchesGo). libjpeg-turbo takes a frame only when it decodes it without a single warning and in a
// configuration both implement alike; everything else — 12-bit, lossless, damaged streams, missing EOI, unusual
// sampling — goes to the pure-Go decoder, whose errors and recoveries stay the reference.
func init() {
	decoders[tsJPEGBaseline] = decodeJPEGFast
	decoders[tsJPEGExtended] = decodeJPEGFast
	libjpegFile = decodeLibjpegFile
	v := int(C.LIBJPEG_TURBO_VERSION_NUMBER) // e.g. 2001005
	libjpegVersion = fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

// libjpegMode is how tt_jpeg_decode treats colour.
type libjpegMode C.int

const (
	modeGrey     libjpegMode = C.TT_DICOM_GREY
	modeYCCToRGB libjpegMode = C.TT_DICOM_YCC_TO_RGB
	modeAsStored libjpegMode = C.TT_DICOM_AS_STORED
	modeFile     libjpegMode = C.TT_FILE
)

// dicomMode is the colour treatment of a DICOM frame described by p, and the photometric interpretation of the
// result: as finishDCT, YBR_FULL and YBR_FULL_422 are converted to RGB and anything else is passed through.
func dicomMode(p Params) (libjpegMode, string) {
	switch {
	case p.SamplesPerPixel == 1:
		return modeGrey, p.Photometric
	case strings.HasPrefix(p.Photometric, "YBR_FULL"):
		return modeYCCToRGB, "RGB"
	}
	return modeAsStored, p.Photometric
}

// decodeJPEGFast decodes a DICOM JPEG Baseline or Extended frame with libjpeg-turbo when it can, else with
// decodeJPEG.
func decodeJPEGFast(data []byte, p Params) (Frame, error) {
	if p.BitsAllocated == 8 && (p.SamplesPerPixel == 1 || p.SamplesPerPixel == 3) {
		mode, photometric := dicomMode(p)
		if out, ok := libjpegDecode(data, p.Columns, p.Rows, p.SamplesPerPixel, mode); ok {
			return Frame{Data: out, Photometric: photometric}, nil
		}
	}
	return decodeJPEG(data, p)
}

// decodeLibjpegFile decodes a JPEG file the way PIL does (colour transform from the file's markers); false when
// libjpeg-turbo declines it.
func decodeLibjpegFile(data []byte, columns, rows, spp int) ([]byte, bool) {
	return libjpegDecode(data, columns, rows, spp, modeFile)
}

func libjpegDecode(data []byte, w, h, c int, mode libjpegMode) ([]byte, bool) {
	if len(data) == 0 || w <= 0 || h <= 0 || c <= 0 {
		return nil, false
	}
	out := make([]byte, w*h*c)
	rc := C.tt_jpeg_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&out[0])),
		C.size_t(len(out)), C.int(w), C.int(h), C.int(c), C.int(mode))
	return out, rc == 0
}
