// Package testenv decides, in one place, what TumorTracer's tests do when something they need is not on this
// machine: the shared data corpus (../shared/data or $TUMORTRACER_DATA), the ONNX Runtime library and the tools
// `make deps` installs, and the binary `make build` produced ($TUMORTRACER_BIN, which `make test` sets).
//
// Locally such a test skips with one sentence saying what is missing and how to get it. When the CI environment
// variable is set (CI systems set CI=true) it fails instead: CI always has all of them, so a green CI run means the
// corpus, the classifiers and the built binary were really checked. Skips for other reasons (-short, CUDA present,
// a codec left out of this build) are not "missing" and stay plain skips.
//
// It is imported by _test.go files only; training/prerequisites.py is its Python twin.
package testenv

import (
	"image"
	_ "image/png" // the chest-ct pictures
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Environment variables the tests read; `make test` sets both.
const (
	// DataEnv names the shared data folder (default: ../shared/data beside the repository).
	DataEnv = "TUMORTRACER_DATA"
	// BinaryEnv names the tumortracer binary `make build` produced, which the end-to-end tests run as it is.
	BinaryEnv = "TUMORTRACER_BIN"
)

// CI reports whether the CI environment variable is set to anything but a false value ("", 0, false).
func CI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	if v == "" {
		return false
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return true // CI=yes, CI=woodpecker, …: set means set
}

// Missing ends tb because a prerequisite is absent: a skip with the sentence locally, a failure under CI.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf("CI is set, so this prerequisite must be present: "+format, args...)
		return
	}
	tb.Skipf(format, args...)
}

var root struct {
	once sync.Once
	dir  string
}

// RepoRoot returns the repository root: the nearest folder above the test's working directory (its package
// folder) that holds go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root.once.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root.dir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if root.dir == "" {
		tb.Fatalf("no go.mod above the test's working directory")
	}
	return root.dir
}

// LookupDataDir returns the shared data folder and whether it exists, for tests that only gain from it (fuzz
// seeds). Tests that need it call DataDir or DataPath.
func LookupDataDir(tb testing.TB) (string, bool) {
	tb.Helper()
	dir := os.Getenv(DataEnv)
	if dir == "" {
		dir = filepath.Join(filepath.Dir(RepoRoot(tb)), "shared", "data")
	}
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// DataDir returns the shared data folder, or ends tb through Missing when it is absent.
func DataDir(tb testing.TB) string {
	tb.Helper()
	dir, ok := LookupDataDir(tb)
	if !ok {
		Missing(tb, "shared data folder %s not found (set %s to it)", dir, DataEnv)
	}
	return dir
}

// DataPath returns the file or folder rel (slash-separated parts) under the shared data folder, or ends tb through
// Missing when it is absent.
func DataPath(tb testing.TB, rel ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{DataDir(tb)}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(tb, "shared data file %s not found (set %s to the shared data folder): %v", p, DataEnv, err)
	}
	return p
}

// Tools ends tb through Missing unless every named program is on PATH; `make deps` installs them all.
func Tools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Missing(tb, "%s is not installed (make deps installs it): %v", n, err)
		}
	}
}

// Binary returns the tumortracer binary that `make build` produced ($TUMORTRACER_BIN, set by `make test`), or ends
// tb through Missing. It never builds one itself: the point is to run the binary the README's commands make.
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		Missing(tb, "%s is not set: run make test, which builds bin/tumortracer with make build and names it", BinaryEnv)
		return ""
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		Missing(tb, "%s=%s is not an executable file (make build writes bin/tumortracer): %v", BinaryEnv, bin, err)
	}
	return bin
}

// UserEnviron is this process's environment without what a user's shell would not have and what could hand the
// binary a library behind its own lookup's back: TUMORTRACER_ORT_LIB (which `make test` exports) and
// LD_LIBRARY_PATH.
func UserEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "TUMORTRACER_ORT_LIB" || name == "LD_LIBRARY_PATH" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Phantom writes the synthetic scan of the given kind ("cxr" or "ct", 512 pixels square) to path with
// packaging/phantom, the program that draws the packages' sample scans: a scan made by our own code, no patient.
func Phantom(tb testing.TB, kind, path string) {
	tb.Helper()
	cmd := exec.Command("go", "run", "./packaging/phantom", "-kind", kind, "-o", path)
	cmd.Dir = RepoRoot(tb)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("draw the %s phantom: %v\n%s", kind, err, out)
	}
}

// ChestCTPictures returns the first n chest CT slices (sorted by name) of the chest-ct train split's adenocarcinoma
// folder, decoded: anatomy for synthetic DICOM series (dicomsynth.CTValues), from the training split, never the test
// split. It ends tb through Missing when the data or the pictures are absent.
func ChestCTPictures(tb testing.TB, n int) []image.Image {
	tb.Helper()
	dir := DataPath(tb, "chest-ct", "train", "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib")
	names, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(names) < n {
		Missing(tb, "want %d PNG slices under %s, found %d", n, dir, len(names))
	}
	sort.Strings(names)
	out := make([]image.Image, n)
	for i, name := range names[:n] {
		f, err := os.Open(name)
		if err != nil {
			tb.Fatal(err)
		}
		out[i], _, err = image.Decode(f)
		f.Close()
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	return out
}
