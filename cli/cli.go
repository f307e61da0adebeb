// Package cli implements tumortracer's command-line verbs. Each verb prints one record per input and exits with
// 0 when no input failed (classify's refusals are answers), 1 when some failed (their records are still printed)
// and 2 for a usage error.
package cli

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// verb runs one command with its arguments (without the verb itself).
type verb struct {
	summary string
	run     func(args []string, b about.Build, stdout, stderr io.Writer) int
}

// verbs is filled by each verb's file in init, so that each command lives in its own file.
var verbs = map[string]verb{}

func register(name, summary string, run func(args []string, b about.Build, stdout, stderr io.Writer) int) {
	verbs[name] = verb{summary: summary, run: run}
}

func init() {
	register("version", "print the version", func(_ []string, b about.Build, stdout, _ io.Writer) int {
		fmt.Fprintf(stdout, "tumortracer %s (commit %s, %s, %s/%s)\n", b.Version, b.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		// The Windows build leaves out the codecs that need C libraries; say so where people look first.
		if missing := codec.Missing(); len(missing) > 0 {
			fmt.Fprintf(stdout, "this build cannot decode DICOM compressed as %s (those codecs are not linked in)\n", strings.Join(missing, ", "))
		}
		return about.ExitOK
	})
	register("help", "show this help", func(_ []string, _ about.Build, stdout, _ io.Writer) int {
		Usage(stdout)
		return about.ExitOK
	})
}

// IsVerb reports whether name is a command-line verb rather than a file to open in the viewer.
func IsVerb(name string) bool {
	switch name {
	case "-h", "-help", "--help":
		return true
	}
	_, ok := verbs[name]
	return ok
}

// Run runs the verb args[0] with the rest of args.
func Run(args []string, b about.Build, stdout, stderr io.Writer) int {
	v, ok := verbs[args[0]]
	if !ok {
		Usage(stdout)
		return about.ExitOK
	}
	return v.run(args[1:], b, stdout, stderr)
}

// Usage prints the list of verbs.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tumortracer [FILE|FOLDER...]      open the viewer")
	fmt.Fprintln(w, "       tumortracer VERB [options] ...     run a command")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nverbs:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, verbs[n].summary)
	}
	fmt.Fprintln(w, "\n"+strings.TrimSpace(about.Disclaimer))
}
