// Package inference runs TumorTracer's bundled and user-supplied ONNX classifiers with ONNX Runtime: it finds and
// initialises the runtime library, loads and validates model manifests, turns an 8-bit display image into the
// model's input tensor, runs the model and turns its logits into per-class probabilities and a saliency map. It also
// reads a gate's routes (task gate), a classifier's declared population (Manifest.Population, checked against DICOM
// tags by package pipeline, which imports both this package and dicomio) and scores a model's pooled features
// against its out-of-scope statistics (scope.yaml, Model.Scope and Scope.Score).
//
// It imports neither Fyne nor dicomio: callers hand it a standard image.Image (the display image) and get plain
// Go values back; no ONNX Runtime type crosses the package boundary.
package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Sentinel errors; every error this package returns wraps one of them (or an I/O error).
var (
	// ErrRuntimeMissing means no usable ONNX Runtime library was found; viewing still works without it.
	ErrRuntimeMissing = errors.New("classification needs the ONNX Runtime library: put " + libraryFileName() +
		" in lib/ beside the tumortracer executable (in a source checkout, make build does this) or give its path with --ort-lib or TUMORTRACER_ORT_LIB")
	// ErrDeviceUnavailable means the requested execution provider (e.g. CUDA) cannot be used.
	ErrDeviceUnavailable = errors.New("the requested device is not available")
	// ErrInvalidManifest means a model.yaml is malformed or disagrees with its model.onnx.
	ErrInvalidManifest = errors.New("invalid model manifest")
	// ErrChecksum means model.onnx does not match the SHA-256 in its manifest; the model is refused.
	ErrChecksum = errors.New("model file does not match its manifest's sha256")
	// ErrModelNotFound means no model has the requested id.
	ErrModelNotFound = errors.New("no such model")
	// ErrBadImage means the image cannot be turned into the model's input (e.g. it is empty).
	ErrBadImage = errors.New("image cannot be used as model input")
)

// LibraryEnv is the environment variable naming the ONNX Runtime shared library.
const LibraryEnv = "TUMORTRACER_ORT_LIB"

// libraryFileName is the platform's name for the ONNX Runtime shared library.
func libraryFileName() string {
	switch runtime.GOOS {
	case "windows":
		return "onnxruntime.dll"
	case "darwin":
		return "libonnxruntime.dylib"
	}
	return "libonnxruntime.so.1"
}

// LibraryCandidates lists, in search order, where the ONNX Runtime library is looked for: explicit (the --ort-lib
// flag) or else $TUMORTRACER_ORT_LIB, then lib/ beside the executable and ../lib/tumortracer/, then bare names that
// the system's dynamic loader resolves. When explicit or the variable is set, only that path is returned, so a
// wrong path is reported rather than silently replaced.
func LibraryCandidates(explicit string) []string {
	if explicit == "" {
		explicit = os.Getenv(LibraryEnv)
	}
	if explicit != "" {
		return []string{explicit}
	}
	var out []string
	names := []string{libraryFileName()}
	switch runtime.GOOS {
	case "windows", "darwin":
	default:
		names = append(names, "libonnxruntime.so")
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dir := filepath.Dir(exe)
		for _, sub := range []string{"lib", filepath.Join("..", "lib", "tumortracer")} {
			for _, n := range names {
				out = append(out, filepath.Join(dir, sub, n))
			}
		}
	}
	// Bare names: dlopen / LoadLibrary search the system's paths.
	return append(out, names...)
}

var runtimeState struct {
	sync.Mutex
	path string // library in use once initialised
	err  error  // last failure, for the log
}

// InitRuntime finds and initialises the ONNX Runtime library once per process and returns the path in use.
// Later calls return the same path whatever they ask for. The error wraps ErrRuntimeMissing when no candidate
// loads; its detail (what each candidate said) follows the sentence for the log.
func InitRuntime(explicit string) (string, error) {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.path != "" {
		return runtimeState.path, nil
	}
	var tried []error
	for _, cand := range LibraryCandidates(explicit) {
		if filepath.IsAbs(cand) || filepath.Base(cand) != cand {
			if _, err := os.Stat(cand); err != nil {
				tried = append(tried, fmt.Errorf("%s: %w", cand, err))
				continue
			}
		}
		ort.SetSharedLibraryPath(cand)
		var err error
		onBigStack(func() { err = ort.InitializeEnvironment(ort.WithLogLevelError()) })
		if err != nil {
			tried = append(tried, fmt.Errorf("%s: %w", cand, err))
			continue
		}
		runtimeState.path = cand
		return cand, nil
	}
	runtimeState.err = errors.Join(tried...)
	return "", fmt.Errorf("%w (%v)", ErrRuntimeMissing, runtimeState.err)
}

// RuntimeVersion returns the initialised ONNX Runtime's version, or "" before InitRuntime succeeds.
func RuntimeVersion() string {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.path == "" {
		return ""
	}
	return ort.GetVersion()
}

// runtimeLibrary returns the library path in use ("" before InitRuntime succeeds).
func runtimeLibrary() string {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	return runtimeState.path
}
