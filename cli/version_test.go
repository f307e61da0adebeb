package cli

import (
	"bytes"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// The version verb names the build and, in a build without the C-library codecs (Windows, or without cgo), which
// compressed transfer syntaxes it cannot decode; the packaging tests match its first line.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"version"}, about.Build{Version: "1.2.3", Commit: "abc1234"}, &out, &errb); code != about.ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	first := regexp.MustCompile(`^tumortracer 1\.2\.3 \(commit abc1234, go[^,]+, ` + runtime.GOOS + `/` + runtime.GOARCH + `\)$`)
	if !first.MatchString(lines[0]) {
		t.Errorf("first line %q does not name version, commit, Go and platform", lines[0])
	}
	missing := codec.Missing()
	switch {
	case len(missing) == 0 && len(lines) != 1:
		t.Errorf("a full build printed %d lines, want 1: %q", len(lines), out.String())
	case len(missing) > 0 && (len(lines) != 2 || !strings.Contains(lines[1], strings.Join(missing, ", "))):
		t.Errorf("a build without %v should list them on a second line: %q", missing, out.String())
	}
}
