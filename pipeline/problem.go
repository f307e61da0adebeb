package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/inference"
)

// Problem is an error a person reads. Sentence says what failed and, where both front ends would say the same,
// what to do; WindowHint and CLIHint add what to do in each front end's own words (the window never shows the
// command line's "--model …" advice, the command line never mentions the Model list). Err is the cause, for the
// log and for errors.Is.
type Problem struct {
	Sentence   string
	WindowHint string
	CLIHint    string
	Err        error
}

// Error is the sentence followed by the cause, for logs.
func (p *Problem) Error() string {
	if p.Err == nil {
		return p.Sentence
	}
	return p.Sentence + " (" + p.Err.Error() + ")"
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Err }

// ForWindow is what the window shows: the sentence and the window's hint.
func (p *Problem) ForWindow() string { return joinSentences(p.Sentence, p.WindowHint) }

// ForCLI is what the command line prints: the sentence and the command line's hint.
func (p *Problem) ForCLI() string { return joinSentences(p.Sentence, p.CLIHint) }

func joinSentences(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

// Explain returns the Problem err is or wraps, else the Problem for the sentinel it wraps: each failure a person can
// meet gets its sentence here, in one place. An error nobody anticipated keeps its own text as the sentence.
func Explain(err error) *Problem {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	for _, k := range known {
		if errors.Is(err, k.sentinel) {
			return &Problem{Sentence: k.sentence, WindowHint: k.window, CLIHint: k.cli, Err: err}
		}
	}
	return &Problem{Sentence: asSentence(err.Error()), Err: err}
}

// known maps sentinel errors to what a person reads, most specific first.
var known = []struct {
	sentinel    error
	sentence    string
	window, cli string
}{
	{context.Canceled, "Cancelled.", "", ""},
	{fs.ErrNotExist, "There is no such file.", "", "Check the path."},
	{fs.ErrPermission, "The file cannot be read: permission denied.", "", ""},
	{dicomio.ErrNotImage, "This file is not a DICOM, PNG or JPEG file, so it cannot be shown or classified.", "", ""},
	{dicomio.ErrNoPixelData, "This DICOM file has no pixel data: it is not an image (a report, a plan, a DICOMDIR …).", "", ""},
	{dicomio.ErrUnsupported, "This file's image encoding is not supported by this build of TumorTracer.", "", "`tumortracer version` lists the encodings it lacks."},
	{dicomio.ErrTooLarge, "This image exceeds the size limits TumorTracer reads (2 GiB, 65535 pixels a side, 10000 frames).", "", ""},
	{dicomio.ErrTruncated, "This file is truncated: it ends before the image it declares; copy it again from its source.", "", ""},
	{dicomio.ErrMalformed, "This file is malformed: its structure or its image description is invalid.", "", ""},
	{dicomio.ErrFrameRange, "That frame does not exist in this file.", "", ""},
	{inference.ErrRuntimeMissing, "Classification needs the ONNX Runtime library, which was not found beside TumorTracer: reinstall it, or run `make deps` in a source checkout.",
		"", "Or give its path with --ort-lib or $" + inference.LibraryEnv + "."},
	{inference.ErrDeviceUnavailable, "The requested device is not available.", "Choose auto or cpu in the Device list.", "Use --device auto or --device cpu."},
	{inference.ErrChecksum, "The model file does not match its manifest, so the model is refused; reinstall TumorTracer or the model folder.", "", ""},
	{inference.ErrInvalidManifest, "The model's manifest is invalid, so the model cannot be used.", "", "`tumortracer models` lists the models that load."},
	{inference.ErrModelNotFound, "No installed model has that id.", "", "`tumortracer models` lists them."},
	{inference.ErrScopeMismatch, "The model's out-of-scope statistics were fitted for other weights, so its answers cannot be checked and are withheld: reinstall the model or refit them (make scope).", "", ""},
	{inference.ErrInvalidScope, "The model's out-of-scope statistics are invalid, so its answers cannot be checked and are withheld: reinstall the model.", "", ""},
	{inference.ErrBadImage, "This image cannot be used as model input (it is empty).", "", ""},
}

// asSentence makes a message a sentence: capitalised, ending in a full stop. The message is kept whole.
func asSentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "Something went wrong."
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
