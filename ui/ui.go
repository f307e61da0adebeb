// Package ui is TumorTracer's viewer window (Fyne).
package ui

import (
	"fmt"
	"os"

	"github.com/tumortracer/tumortracer/cli"
)

// Main opens the viewer window with the given files and folders and returns the process exit status.
func Main(args []string, b cli.Build) int {
	// Replaced by the viewer (issue 5); until then the binary prints its usage.
	cli.Usage(os.Stdout)
	fmt.Fprintln(os.Stderr, "the viewer window is not built yet")
	return cli.ExitUsage
}
