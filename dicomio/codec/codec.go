// Package codec decodes one compressed DICOM frame (an encapsulated Pixel Data item, fragments joined) into the
// native little-endian layout an uncompressed file would carry. Codecs that need a C library are built only with
// cgo; Supported says what this build can decode and Missing what it lacks.
//
// Pure Go, written from the specifications: RLE Lossless (PS3.5 Annex G), JPEG lossless process 14 with all
// seven predictors (ITU-T T.81 Annex H) and the sequential Huffman DCT processes with 8- and 12-bit samples
// (T.81 Annex F; JPEG Baseline and Extended), whose IDCT, upsampling and YCbCr conversion follow the IJG
// library's arithmetic so results equal DCMTK's. Through cgo (build tags cgo, linux and not nocgocodecs):
// JPEG-LS with CharLS 2.4, JPEG 2000 / HTJ2K with OpenJPEG 2.5, and 8-bit sequential JPEG with libjpeg-turbo,
// which gives the same samples as the pure-Go decoder several times faster and hands it every frame it would
// decode differently or warn about (libjpeg.go). DecodeJPEGFile decodes JPEG files (not DICOM frames) as PIL does.
package codec

import (
	"errors"
	"fmt"

	_ "github.com/tumortracer/tumortracer/internal/nativemem" // decoded frames go back to the system when freed
)

// ErrUnsupported is returned for a transfer syntax this build cannot decode.
var ErrUnsupported = errors.New("transfer syntax is not supported")

// Params describes the frame as the dataset declares it; decoders never allocate beyond
// Rows*Columns*SamplesPerPixel*ceil(BitsAllocated/8) bytes.
type Params struct {
	Rows, Columns       int
	SamplesPerPixel     int
	BitsAllocated       int
	BitsStored          int
	PixelRepresentation int
	Photometric         string
	PlanarConfiguration int
}

// FrameSize is the number of bytes of one decoded frame.
func (p Params) FrameSize() int {
	return p.Rows * p.Columns * p.SamplesPerPixel * ((p.BitsAllocated + 7) / 8)
}

// Frame is a decoded frame: samples interleaved (planar configuration 0), little-endian, BitsAllocated wide.
type Frame struct {
	Data []byte
	// Photometric is the interpretation of Data; a decoder that converts colour (e.g. YBR_FULL_422 JPEG to RGB)
	// says so here.
	Photometric string
}

// decoder decodes one frame of one family of transfer syntaxes.
type decoder func(data []byte, p Params) (Frame, error)

// decoders maps transfer syntax UIDs to their decoder; files of this package add to it in init.
var decoders = map[string]decoder{}

// Supported reports whether this build decodes the transfer syntax.
func Supported(ts string) bool {
	_, ok := decoders[ts]
	return ok
}

// Unsupported returns the error Decode gives for a transfer syntax this build does not decode: one sentence saying
// whether the syntax needs a codec this build leaves out (as the Windows build does) or is not supported at all.
// It wraps ErrUnsupported.
func Unsupported(ts string) error {
	for _, w := range wanted {
		if w == ts {
			return unsupportedError(fmt.Sprintf("transfer syntax %s (%s) needs a codec this build leaves out (CharLS and OpenJPEG are linked only in Linux builds with cgo, without -tags nocgocodecs)", ts, Name(ts)))
		}
	}
	return unsupportedError(fmt.Sprintf("transfer syntax %s (%s) is not supported yet", ts, Name(ts)))
}

type unsupportedError string

func (e unsupportedError) Error() string { return string(e) }
func (e unsupportedError) Unwrap() error { return ErrUnsupported }

// Decode decodes one frame in transfer syntax ts.
func Decode(ts string, data []byte, p Params) (Frame, error) {
	dec, ok := decoders[ts]
	if !ok {
		return Frame{}, Unsupported(ts)
	}
	if err := checkGeometry(ts, p); err != nil {
		return Frame{}, err
	}
	f, err := dec(data, p)
	if err != nil {
		return Frame{}, err
	}
	signExtend(f.Data, p)
	return f, nil
}

// reducer decodes one frame without its factor finest resolution levels and returns the geometry it decoded.
type reducer func(data []byte, p Params, factor int) (Frame, Params, error)

// reducers maps the transfer syntaxes whose codestreams hold their image at several resolutions (JPEG 2000,
// HTJ2K) to a decoder of a coarser one; files of this package add to it in init.
var reducers = map[string]reducer{}

// ErrLevels is returned by DecodeReduced for a codestream with fewer resolution levels than the reduction asks
// for (or one it cannot reduce, such as a frame offset on its canvas): decode it whole instead.
var ErrLevels = errors.New("the codestream cannot be decoded at that resolution")

// Reduces reports whether this build decodes frames of ts at reduced resolutions (DecodeReduced).
func Reduces(ts string) bool {
	_, ok := reducers[ts]
	return ok
}

// DecodeReduced decodes one frame in transfer syntax ts at 1/2^factor of its size, each side rounded up, from the
// codestream's own coarser resolution levels (the wavelet's low-pass image: decoding it costs a fraction of the
// whole frame's time and memory), and returns the frame with its geometry (Params with Rows and Columns
// reduced). It fails with ErrUnsupported for a syntax Reduces rejects and ErrLevels when the codestream has too
// few levels.
func DecodeReduced(ts string, data []byte, p Params, factor int) (Frame, Params, error) {
	dec, ok := reducers[ts]
	if !ok {
		return Frame{}, p, Unsupported(ts)
	}
	if err := checkGeometry(ts, p); err != nil {
		return Frame{}, p, err
	}
	if factor < 1 || factor > 31 {
		return Frame{}, p, fmt.Errorf("decode %s: reduction by %d levels: %w", Name(ts), factor, ErrLevels)
	}
	f, out, err := dec(data, p, factor)
	if err != nil {
		return Frame{}, p, err
	}
	signExtend(f.Data, out)
	return f, out, nil
}

// ReducedSide is a side of n samples after factor halvings, each rounded up, as JPEG 2000 resolutions are and
// DecodeReduced decodes them.
func ReducedSide(n, factor int) int { return (n + 1<<factor - 1) >> factor }

// checkGeometry refuses frame geometry no decoder should allocate for.
func checkGeometry(ts string, p Params) error {
	if p.Rows <= 0 || p.Columns <= 0 || p.SamplesPerPixel <= 0 || p.BitsAllocated <= 0 {
		return fmt.Errorf("decode %s: invalid frame geometry %dx%dx%d, %d bits: %w", Name(ts), p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, ErrMismatch)
	}
	if p.Rows > maxDimension || p.Columns > maxDimension || p.SamplesPerPixel > 4 || p.BitsAllocated > 32 {
		return fmt.Errorf("decode %s: frame geometry %dx%dx%d, %d bits is beyond what DICOM images use: %w", Name(ts), p.Columns, p.Rows, p.SamplesPerPixel, p.BitsAllocated, ErrMismatch)
	}
	return nil
}

// maxDimension is the largest Rows or Columns value (both are 16-bit in DICOM).
const maxDimension = 65535

// signExtend makes signed samples whose Bits Stored is below their width two's complement at full width, as
// pydicom's pixel_array does, whatever the codestream carried in the bits above Bits Stored.
func signExtend(data []byte, p Params) {
	bps := (p.BitsAllocated + 7) / 8
	if p.PixelRepresentation != 1 || p.BitsStored <= 0 || p.BitsStored >= 8*bps {
		return
	}
	shift := uint(32 - p.BitsStored)
	switch bps {
	case 1:
		for i, b := range data {
			data[i] = byte(int32(uint32(b)<<shift) >> shift)
		}
	case 2:
		for i := 0; i+1 < len(data); i += 2 {
			v := int32((uint32(data[i])|uint32(data[i+1])<<8)<<shift) >> shift
			data[i], data[i+1] = byte(v), byte(v>>8)
		}
	case 4:
		for i := 0; i+3 < len(data); i += 4 {
			u := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
			v := int32(u<<shift) >> shift
			data[i], data[i+1], data[i+2], data[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
	}
}

// Name is the transfer syntax's short name for messages ("JPEG 2000 Lossless" …), or the UID when unknown.
func Name(ts string) string {
	if n, ok := names[ts]; ok {
		return n
	}
	return ts
}

var names = map[string]string{
	"1.2.840.10008.1.2":       "Implicit VR Little Endian",
	"1.2.840.10008.1.2.1":     "Explicit VR Little Endian",
	"1.2.840.10008.1.2.1.99":  "Deflated Explicit VR Little Endian",
	"1.2.840.10008.1.2.2":     "Explicit VR Big Endian",
	"1.2.840.10008.1.2.4.50":  "JPEG Baseline",
	"1.2.840.10008.1.2.4.51":  "JPEG Extended",
	"1.2.840.10008.1.2.4.57":  "JPEG Lossless",
	"1.2.840.10008.1.2.4.70":  "JPEG Lossless SV1",
	"1.2.840.10008.1.2.4.80":  "JPEG-LS Lossless",
	"1.2.840.10008.1.2.4.81":  "JPEG-LS Near-Lossless",
	"1.2.840.10008.1.2.4.90":  "JPEG 2000 Lossless",
	"1.2.840.10008.1.2.4.91":  "JPEG 2000",
	"1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
	"1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
	"1.2.840.10008.1.2.4.203": "HTJ2K",
	"1.2.840.10008.1.2.5":     "RLE Lossless",
	"1.2.840.10008.1.2.1.98":  "Encapsulated Uncompressed Explicit VR Little Endian",
	"1.2.840.10008.1.2.4.100": "MPEG2",
	"1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
}
