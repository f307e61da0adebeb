package ui

import (
	"context"
	"io"

	"github.com/tumortracer/tumortracer/dicomio"
)

// unavailable is the analyser used when classification cannot run at all (no ONNX Runtime, no models): viewing
// still works and the AI panel shows the reason.
type unavailable struct {
	reason error
	models []modelInfo
}

func (u unavailable) Models() []modelInfo                                 { return u.models }
func (u unavailable) Ready() error                                        { return u.reason }
func (u unavailable) Device() string                                      { return "none" }
func (u unavailable) SetDevice(string) error                              { return u.reason }
func (u unavailable) Export(io.Writer, string, []batchRecord, bool) error { return u.reason }

func (u unavailable) Classify(context.Context, *dicomio.Scan, int, string) (*result, error) {
	return nil, u.reason
}

func (u unavailable) Batch(_ context.Context, paths []string, _ string, emit func(batchRecord)) {
	for _, p := range paths {
		emit(batchRecord{Path: p, Err: sentence(u.reason)})
	}
}
