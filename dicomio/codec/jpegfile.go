package codec

import "fmt"

// libjpegFile is libjpeg-turbo's decoder for JPEG files in builds that link it (libjpeg.go), else nil;
// libjpegVersion is the version of the libjpeg-turbo headers it was built with.
var (
	libjpegFile    func(data []byte, columns, rows, spp int) ([]byte, bool)
	libjpegVersion string
)

// LibjpegTurbo returns the version of libjpeg-turbo this build decodes 8-bit JPEG with ("2.1.5"), or "" when it
// uses only the pure-Go decoder (builds without cgo, Windows, -tags nocgocodecs).
func LibjpegTurbo() string { return libjpegVersion }

// DecodeJPEGFile decodes a JPEG file (JFIF, Exif or bare; not a DICOM frame) of columns×rows with spp samples
// per pixel (1 grey, 3 colour) into 8-bit interleaved samples, as PIL's Image.open(...).convert("RGB" or "L")
// gives them: with libjpeg-turbo where the build links it, which also reads progressive and arithmetic-coded
// files and takes the colour transform from the file's JFIF/Adobe markers; otherwise, and for whatever
// libjpeg-turbo declines, with this package's sequential DCT decoder, which converts three components from YCbCr
// as JFIF prescribes. The error wraps ErrUnsupported for what neither decodes (CMYK, 12-bit, progressive without
// libjpeg-turbo …).
func DecodeJPEGFile(data []byte, columns, rows, spp int) ([]byte, error) {
	if rows <= 0 || columns <= 0 || rows > maxDimension || columns > maxDimension || (spp != 1 && spp != 3) {
		return nil, fmt.Errorf("jpeg: invalid image geometry %dx%dx%d: %w", columns, rows, spp, ErrMismatch)
	}
	if libjpegFile != nil {
		if out, ok := libjpegFile(data, columns, rows, spp); ok {
			return out, nil
		}
	}
	photometric := "MONOCHROME2"
	if spp == 3 {
		photometric = "YBR_FULL_422" // asks decodeJPEG for its libjpeg colour conversion
	}
	f, err := decodeJPEG(data, Params{Rows: rows, Columns: columns, SamplesPerPixel: spp, BitsAllocated: 8, BitsStored: 8, Photometric: photometric})
	if err != nil {
		return nil, err
	}
	if n := rows * columns * spp; len(f.Data) < n || (spp == 3 && f.Photometric != "RGB") {
		return nil, fmt.Errorf("jpeg: decoded %d bytes of %s, want %d: %w", len(f.Data), f.Photometric, n, ErrUnsupported)
	}
	return f.Data, nil
}
