package codec

import (
	"errors"
	"sort"
)

// Errors every decoder wraps, so callers can tell a damaged file from an unsupported one.
var (
	// ErrCorrupt is returned when a codestream breaks its format's rules.
	ErrCorrupt = errors.New("compressed frame is corrupt")
	// ErrTruncated is returned when a codestream ends before the frame is complete.
	ErrTruncated = errors.New("compressed frame is truncated")
	// ErrMismatch is returned when the codestream's image does not match the dataset's declared geometry, which
	// would make the decoded bytes a different size or meaning than the caller expects.
	ErrMismatch = errors.New("compressed frame does not match the dataset's image description")
)

// wanted lists the compressed transfer syntaxes TumorTracer decodes when built with everything.
var wanted = []string{
	"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
	"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
	"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
	"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
	"1.2.840.10008.1.2.5",
}

// Missing lists, by name and sorted, the compressed transfer syntaxes this build cannot decode — those whose
// codec needs a C library when the program was built without cgo or with the nocgocodecs tag. It is empty for a
// full build.
func Missing() []string {
	var out []string
	for _, ts := range wanted {
		if !Supported(ts) {
			out = append(out, Name(ts))
		}
	}
	sort.Strings(out)
	return out
}
