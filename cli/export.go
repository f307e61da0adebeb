package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
)

func init() {
	register("export", "write stored pixel values as NumPy: tumortracer export [--frame N] -o OUT.npy FILE", runExport)
}

func runExport(args []string, _ about.Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	frame := fs.Int("frame", -1, "export only this frame (0-based); default: every frame, shaped like pydicom's pixel_array")
	out := fs.String("o", "", "output .npy file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer export [--frame N] -o OUT.npy FILE")
		fs.PrintDefaults()
	}
	files, ok := parseInterspersed(fs, args)
	if !ok {
		return about.ExitUsage
	}
	if len(files) != 1 || *out == "" || *frame < -1 {
		fs.Usage()
		return about.ExitUsage
	}
	s, err := dicomio.Open(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return about.ExitFailed
	}
	var f dicomio.StoredFrame
	if *frame >= 0 {
		f, err = s.Stored(*frame)
	} else {
		f, err = s.StoredAll()
	}
	if err != nil {
		fmt.Fprintf(stderr, "export: %s: %v\n", files[0], err)
		return about.ExitFailed
	}
	if err := writeFile(*out, func(w io.Writer) error { return dicomio.WriteNPY(w, f) }); err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return about.ExitFailed
	}
	fmt.Fprintf(stdout, "%s: %s %v → %s\n", files[0], f.Dtype, f.Shape, *out)
	return about.ExitOK
}
