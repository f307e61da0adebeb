package testenv

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// recorder stands in for a test so that Missing's choice can be observed without ending this test.
type recorder struct {
	testing.TB
	skipped, failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = append(r.skipped, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func TestCI(t *testing.T) {
	for _, c := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"FALSE", false}, {" ", false},
		{"true", true}, {"1", true}, {"True", true}, {"yes", true}, {"woodpecker", true},
	} {
		t.Setenv("CI", c.value)
		if got := CI(); got != c.want {
			t.Errorf("CI=%q: CI() = %v, want %v", c.value, got, c.want)
		}
	}
}

func TestMissingSkipsLocallyAndFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Missing(r, "needs %s", "the corpus")
		switch {
		case ci == "" && (len(r.skipped) != 1 || len(r.failed) != 0 || r.skipped[0] != "needs the corpus"):
			t.Errorf("without CI: skipped %q, failed %q; want one skip with the sentence", r.skipped, r.failed)
		case ci != "" && (len(r.failed) != 1 || len(r.skipped) != 0 || !strings.HasSuffix(r.failed[0], "needs the corpus")):
			t.Errorf("CI=%s: skipped %q, failed %q; want one failure with the sentence", ci, r.skipped, r.failed)
		}
	}
}

func TestDataPathNamesTheMissingFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(DataEnv, dir)
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	got := DataPath(r, "dicom", "absent.dcm")
	want := filepath.Join(dir, "dicom", "absent.dcm")
	if got != want || len(r.failed) != 1 || !strings.Contains(r.failed[0], want) {
		t.Errorf("DataPath = %q, failures %q; want %q and one failure naming it", got, r.failed, want)
	}
	r = &recorder{TB: t}
	if got := DataDir(r); got != dir || len(r.failed) != 0 {
		t.Errorf("DataDir = %q, failures %q; want %q and none", got, r.failed, dir)
	}
	t.Setenv(DataEnv, filepath.Join(dir, "nowhere"))
	r = &recorder{TB: t}
	DataDir(r)
	if len(r.failed) != 1 {
		t.Errorf("a missing data folder under CI gave failures %q, want one", r.failed)
	}
}

func TestBinaryRequiresTheVariable(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv(BinaryEnv, "")
	r := &recorder{TB: t}
	Binary(r)
	if len(r.skipped) == 0 || !strings.Contains(r.skipped[0], "make test") {
		t.Errorf("unset %s: skipped %q, want a skip that says make test sets it", BinaryEnv, r.skipped)
	}
	t.Setenv(BinaryEnv, t.TempDir()) // a folder is not a binary
	r = &recorder{TB: t}
	Binary(r)
	if len(r.skipped) != 1 {
		t.Errorf("%s naming a folder: skipped %q, want one skip", BinaryEnv, r.skipped)
	}
}

func TestUserEnvironDropsTheLibraryOverrides(t *testing.T) {
	t.Setenv("TUMORTRACER_ORT_LIB", "/x/libonnxruntime.so.1")
	t.Setenv("LD_LIBRARY_PATH", "/x")
	t.Setenv("TUMORTRACER_KEEP", "1")
	env := UserEnviron()
	for _, kv := range env {
		if strings.HasPrefix(kv, "TUMORTRACER_ORT_LIB=") || strings.HasPrefix(kv, "LD_LIBRARY_PATH=") {
			t.Errorf("UserEnviron kept %s", kv)
		}
	}
	if !slices.Contains(env, "TUMORTRACER_KEEP=1") {
		t.Errorf("UserEnviron dropped an unrelated variable")
	}
}
