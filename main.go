// Command tumortracer is a desktop viewer for chest CT and chest X-ray scans with an on-device classifier.
//
// With no arguments, or with file arguments, it opens the viewer window; with a verb (info, render, export,
// classify, models, version) it runs that command and exits. Research use only — not for diagnosis.
package main

import (
	"os"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/cli"
	"github.com/tumortracer/tumortracer/ui"
)

// Set by the Makefile's -ldflags.
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	build := about.Build{Version: version, Commit: commit}
	args := os.Args[1:]
	if len(args) > 0 && cli.IsVerb(args[0]) {
		os.Exit(cli.Run(args, build, os.Stdout, os.Stderr))
	}
	os.Exit(ui.Main(args, build))
}
