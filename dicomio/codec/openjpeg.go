//go:build cgo && linux && !nocgocodecs

package codec

/*
#cgo pkg-config: libopenjp2
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <openjpeg.h>

typedef struct {
	const uint8_t *data;
	size_t len, pos;
	char err[256];
} tt_src;

static OPJ_SIZE_T tt_read(void *buf, OPJ_SIZE_T n, void *user) {
	tt_src *s = (tt_src *)user;
	if (s->pos >= s->len) return (OPJ_SIZE_T)-1;
	size_t left = s->len - s->pos;
	if (n > left) n = left;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return n;
}

static OPJ_OFF_T tt_skip(OPJ_OFF_T n, void *user) {
	tt_src *s = (tt_src *)user;
	if (n < 0) {
		if ((size_t)(-n) > s->pos) return -1;
		s->pos -= (size_t)(-n);
		return n;
	}
	size_t left = s->len - s->pos;
	if ((size_t)n > left) n = (OPJ_OFF_T)left;
	s->pos += (size_t)n;
	return n;
}

static OPJ_BOOL tt_seek(OPJ_OFF_T n, void *user) {
	tt_src *s = (tt_src *)user;
	if (n < 0 || (size_t)n > s->len) return OPJ_FALSE;
	s->pos = (size_t)n;
	return OPJ_TRUE;
}

static void tt_error(const char *msg, void *user) {
	tt_src *s = (tt_src *)user;
	if (s->err[0] == 0) {
		strncpy(s->err, msg, sizeof(s->err) - 1);
		size_t l = strlen(s->err);
		while (l > 0 && (s->err[l-1] == '\n' || s->err[l-1] == '\r')) s->err[--l] = 0;
	}
}

static void tt_quiet(const char *msg, void *user) { (void)msg; (void)user; }

// Results of tt_j2k_decode besides OpenJPEG's own failures.
enum { TT_OK = 0, TT_FAIL = 1, TT_MISMATCH = 2, TT_LEVELS = 3 };

// tt_j2k_decode decodes a JPEG 2000 (or HTJ2K) codestream, or a JP2 file when jp2 is set, into dst as
// little-endian samples of bps bytes, pixel-interleaved. The header is checked against the dataset's geometry
// (want_w x want_h, want_c full-resolution components of at most bps bytes) before any tile is decoded, so
// OpenJPEG allocates only for the frame the dataset declares. With reduce > 0 the reduce finest resolution
// levels are not decoded (each halves the sides, rounded up): OpenJPEG then allocates for the smaller frame only,
// and TT_LEVELS says the codestream cannot be decoded that way. info receives width, height, components,
// precision, signedness and whether a multi-component transform was applied.
static int tt_j2k_decode(const uint8_t *data, size_t len, int jp2, int threads, int reduce,
                         uint8_t *dst, size_t dn, uint32_t want_w, uint32_t want_h, uint32_t want_c, int bps,
                         uint32_t *info, char *err) {
	tt_src src = {data, len, 0, {0}};
	opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	if (!codec) { strcpy(err, "cannot create decoder"); return TT_FAIL; }
	opj_set_error_handler(codec, tt_error, &src);
	opj_set_warning_handler(codec, tt_quiet, NULL);
	opj_set_info_handler(codec, tt_quiet, NULL);
	opj_dparameters_t params;
	opj_set_default_decoder_parameters(&params);
	int rc = TT_FAIL;
	opj_image_t *img = NULL;
	opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
	if (!stream || !opj_setup_decoder(codec, &params)) goto done;
	if (threads > 1 && opj_has_thread_support()) opj_codec_set_threads(codec, threads);
	opj_stream_set_user_data(stream, &src, NULL);
	opj_stream_set_user_data_length(stream, len);
	opj_stream_set_read_function(stream, tt_read);
	opj_stream_set_skip_function(stream, tt_skip);
	opj_stream_set_seek_function(stream, tt_seek);
	if (!opj_read_header(stream, codec, &img) || !img) goto done;
	info[0] = img->x1 - img->x0; info[1] = img->y1 - img->y0; info[2] = img->numcomps;
	info[3] = img->numcomps ? img->comps[0].prec : 0; info[4] = img->numcomps ? img->comps[0].sgnd : 0;
	if (info[0] != want_w || info[1] != want_h || img->numcomps != want_c) { rc = TT_MISMATCH; goto done; }
	for (uint32_t c = 0; c < img->numcomps; c++) {
		opj_image_comp_t *cp = &img->comps[c];
		if (cp->dx != 1 || cp->dy != 1 || cp->prec == 0 || cp->prec > (uint32_t)(8 * bps) || cp->prec > 31) {
			info[3] = cp->prec;
			rc = TT_MISMATCH;
			goto done;
		}
	}
	uint32_t out_w = want_w, out_h = want_h;
	if (reduce > 0) {
		if (img->x0 != 0 || img->y0 != 0) { rc = TT_LEVELS; goto done; }
		out_w = (uint32_t)(((uint64_t)want_w + (1u << reduce) - 1) >> reduce);
		out_h = (uint32_t)(((uint64_t)want_h + (1u << reduce) - 1) >> reduce);
	}
	if ((size_t)out_w * out_h * want_c * bps > dn) { rc = TT_MISMATCH; goto done; }
	opj_codestream_info_v2_t *cinfo = opj_get_cstr_info(codec);
	if (cinfo) {
		info[5] = cinfo->m_default_tile_info.mct;
		uint32_t levels = 33;
		for (uint32_t c = 0; cinfo->m_default_tile_info.tccp_info && c < cinfo->nbcomps; c++) {
			if (cinfo->m_default_tile_info.tccp_info[c].numresolutions < levels) levels = cinfo->m_default_tile_info.tccp_info[c].numresolutions;
		}
		opj_destroy_cstr_info(&cinfo);
		if (reduce > 0 && (uint32_t)reduce >= levels) { rc = TT_LEVELS; goto done; }
	} else if (reduce > 0) {
		rc = TT_LEVELS;
		goto done;
	}
	if (reduce > 0 && !opj_set_decoded_resolution_factor(codec, (OPJ_UINT32)reduce)) { rc = TT_LEVELS; goto done; }
	if (!opj_decode(codec, stream, img) || !opj_end_decompress(codec, stream)) goto done;
	for (uint32_t c = 0; c < want_c; c++) {
		opj_image_comp_t *cp = &img->comps[c];
		if (!cp->data || cp->w != out_w || cp->h != out_h) { strcpy(err, "decoded component has the wrong size"); goto done; }
		const OPJ_INT32 *in = cp->data;
		size_t n = (size_t)out_w * out_h;
		uint8_t *o = dst + (size_t)c * bps;
		size_t stride = (size_t)want_c * bps;
		for (size_t i = 0; i < n; i++, o += stride) {
			uint32_t v = (uint32_t)in[i];
			o[0] = (uint8_t)v;
			if (bps > 1) o[1] = (uint8_t)(v >> 8);
			if (bps > 2) { o[2] = (uint8_t)(v >> 16); o[3] = (uint8_t)(v >> 24); }
		}
	}
	rc = TT_OK;
done:
	if (rc == TT_FAIL && err[0] == 0) {
		if (src.err[0]) strcpy(err, src.err); else strcpy(err, "decoding failed");
	}
	if (img) opj_image_destroy(img);
	if (stream) opj_stream_destroy(stream);
	opj_destroy_codec(codec);
	return rc;
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

func init() {
	for _, ts := range []string{
		"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
		"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
	} {
		decoders[ts] = decodeJPEG2000
		reducers[ts] = decodeJ2K
	}
}

// jp2Signature starts a JP2 file (a box-wrapped codestream), which some encoders put in DICOM frames.
var jp2Signature = []byte{0, 0, 0, 12, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A}

// openjpegThreads caps the threads OpenJPEG uses for one frame; frames of a series are decoded concurrently
// by the caller anyway.
const openjpegThreads = 4

// decodeJPEG2000 decodes a JPEG 2000 Part 1 or HTJ2K (Part 15) frame with OpenJPEG. A reversible or irreversible
// colour transform in the codestream is undone by OpenJPEG, so YBR_RCT/YBR_ICT frames come back as RGB.
func decodeJPEG2000(data []byte, p Params) (Frame, error) {
	f, _, err := decodeJ2K(data, p, 0)
	return f, err
}

// decodeJ2K decodes the frame without its factor finest resolution levels (0: the whole frame; each level halves
// the sides, rounded up: the wavelet's low-pass image) and returns the geometry it decoded.
func decodeJ2K(data []byte, p Params, factor int) (Frame, Params, error) {
	if len(data) < 2 {
		return Frame{}, p, fmt.Errorf("jpeg 2000: frame is %d bytes: %w", len(data), ErrTruncated)
	}
	jp2 := 0
	if bytes.HasPrefix(data, jp2Signature) {
		jp2 = 1
	} else if data[0] != 0xFF || data[1] != 0x4F {
		return Frame{}, p, fmt.Errorf("jpeg 2000: frame does not start with a codestream or JP2 signature: %w", ErrCorrupt)
	}
	out := p
	if factor > 0 {
		out.Rows, out.Columns = ReducedSide(p.Rows, factor), ReducedSide(p.Columns, factor)
	}
	bps := (p.BitsAllocated + 7) / 8
	buf := make([]byte, out.FrameSize())
	var info [6]C.uint32_t
	var errBuf [256]C.char
	threads := min(runtime.GOMAXPROCS(0), openjpegThreads)
	rc := C.tt_j2k_decode((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.int(jp2), C.int(threads),
		C.int(factor), (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), C.uint32_t(p.Columns),
		C.uint32_t(p.Rows), C.uint32_t(p.SamplesPerPixel), C.int(bps), &info[0], &errBuf[0])
	switch rc {
	case 0:
	case 2:
		return Frame{}, p, fmt.Errorf("jpeg 2000: codestream is %dx%d with %d components of %d bits, the dataset says %dx%d with %d of %d bits allocated: %w",
			info[0], info[1], info[2], info[3], p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, ErrMismatch)
	case 3:
		return Frame{}, p, fmt.Errorf("jpeg 2000: cannot leave out %d resolution levels of this codestream: %w", factor, ErrLevels)
	default:
		return Frame{}, p, fmt.Errorf("jpeg 2000: OpenJPEG: %s: %w", strings.TrimSpace(C.GoString(&errBuf[0])), ErrCorrupt)
	}
	photometric := p.Photometric
	if info[5] != 0 && p.SamplesPerPixel == 3 {
		photometric = "RGB"
	}
	return Frame{Data: buf, Photometric: photometric}, out, nil
}
