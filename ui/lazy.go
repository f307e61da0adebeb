package ui

import (
	"context"
	"io"

	"github.com/tumortracer/tumortracer/dicomio"
)

// lazyAnalyser starts the real analyser (model catalogue with checksums, ONNX Runtime) in the background so the
// window draws its first frame without waiting for it. Until it is ready, Models is empty and Ready reports no
// problem; calls that need it wait for it (honouring their context).
type lazyAnalyser struct {
	done chan struct{}
	an   analyser
}

// startAnalyser runs start in a goroutine; onReady runs (on that goroutine) once it has returned.
func startAnalyser(start func() analyser, onReady func()) *lazyAnalyser {
	l := &lazyAnalyser{done: make(chan struct{})}
	go func() {
		l.an = start()
		close(l.done)
		if onReady != nil {
			onReady()
		}
	}()
	return l
}

// now returns the analyser if it has started.
func (l *lazyAnalyser) now() (analyser, bool) {
	select {
	case <-l.done:
		return l.an, true
	default:
		return nil, false
	}
}

// wait returns the analyser once it has started, or ctx's error.
func (l *lazyAnalyser) wait(ctx context.Context) (analyser, error) {
	select {
	case <-l.done:
		return l.an, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *lazyAnalyser) Models() []modelInfo {
	if a, ok := l.now(); ok {
		return a.Models()
	}
	return nil
}

func (l *lazyAnalyser) Ready() error {
	if a, ok := l.now(); ok {
		return a.Ready()
	}
	return nil
}

func (l *lazyAnalyser) Device() string {
	if a, ok := l.now(); ok {
		return a.Device()
	}
	return "starting"
}

func (l *lazyAnalyser) SetDevice(name string) error {
	a, _ := l.wait(context.Background())
	return a.SetDevice(name)
}

func (l *lazyAnalyser) Classify(ctx context.Context, s *dicomio.Scan, frame int, modelID string) (*result, error) {
	a, err := l.wait(ctx)
	if err != nil {
		return nil, err
	}
	return a.Classify(ctx, s, frame, modelID)
}

func (l *lazyAnalyser) Batch(ctx context.Context, paths []string, modelID string, emit func(batchRecord)) {
	a, err := l.wait(ctx)
	if err != nil {
		return
	}
	a.Batch(ctx, paths, modelID, emit)
}

func (l *lazyAnalyser) Export(w io.Writer, format string, recs []batchRecord, includePatient bool) error {
	a, _ := l.wait(context.Background())
	return a.Export(w, format, recs, includePatient)
}
