package dicomio

import (
	"errors"

	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// Sentinel errors; every error Decode and Open return wraps one of these (test with errors.Is).
var (
	// ErrNotImage means the content is neither DICOM nor PNG nor JPEG.
	ErrNotImage = errors.New("not a DICOM, PNG or JPEG file")
	// ErrUnsupported means the file is valid but uses an encoding this build cannot decode.
	ErrUnsupported = errors.New("encoding is not supported")
	// ErrTooLarge means the file or its pixel data exceeds the documented caps.
	ErrTooLarge = errors.New("image exceeds the size limits")
	// ErrTruncated means the file ends before the data it declares.
	ErrTruncated = errors.New("file is truncated")
	// ErrMalformed means the file's structure or its pixel description is invalid.
	ErrMalformed = errors.New("file is malformed")
	// ErrNoPixelData means the DICOM file carries no image (a structured report, a plan, a DICOMDIR …).
	ErrNoPixelData = errors.New("file has no pixel data")
	// ErrFrameRange means a frame index outside 0 … NumFrames-1 was asked for.
	ErrFrameRange = errors.New("frame index is out of range")
	// ErrNotDirectory means ReadDirectory was given a file that is not a DICOMDIR.
	ErrNotDirectory = errors.New("file is not a DICOMDIR")
)

// unsupportedError keeps a codec's own message and makes it match both codec.ErrUnsupported and ErrUnsupported.
type unsupportedError struct{ err error }

func (e unsupportedError) Error() string   { return e.err.Error() }
func (e unsupportedError) Unwrap() []error { return []error{e.err, ErrUnsupported} }

// classifyCodecError marks codec failures: unsupported syntaxes as ErrUnsupported, anything else as
// ErrMalformed (the compressed stream could not be decoded).
func classifyCodecError(err error) error {
	if errors.Is(err, codec.ErrUnsupported) {
		return unsupportedError{err}
	}
	if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) {
		return err
	}
	return malformedError{err}
}

// malformedError keeps a message and makes it match ErrMalformed.
type malformedError struct{ err error }

func (e malformedError) Error() string   { return e.err.Error() }
func (e malformedError) Unwrap() []error { return []error{e.err, ErrMalformed} }

// sentenceError is a complete message that matches several sentinels.
type sentenceError struct {
	msg  string
	errs []error
}

func (e sentenceError) Error() string   { return e.msg }
func (e sentenceError) Unwrap() []error { return e.errs }
