package cli

import (
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
)

func init() {
	register("render", "write the displayed image: tumortracer render [--frame N] [--window C,W | --preset NAME] -o OUT.png FILE", runRender)
}

func runRender(args []string, _ about.Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	frame := fs.Int("frame", 0, "frame to render (0-based)")
	window := fs.String("window", "", "window centre and width, e.g. -600,1500")
	preset := fs.String("preset", "", "window preset: lung, mediastinum, soft-tissue, bone, brain, default (the file's first window, else min–max) or min-max")
	out := fs.String("o", "", "output PNG file")
	invert := fs.Bool("invert", false, "invert the grey scale (on top of MONOCHROME1's inversion)")
	aspect := fs.Bool("aspect", false, "resample to square pixels using the pixel spacing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer render [--frame N] [--window C,W | --preset NAME] [--invert] [--aspect] -o OUT.png FILE")
		fs.PrintDefaults()
	}
	files, ok := parseInterspersed(fs, args)
	if !ok {
		return about.ExitUsage
	}
	if len(files) != 1 || *out == "" || (*window != "" && *preset != "") {
		fs.Usage()
		return about.ExitUsage
	}
	var fixed *dicomio.Window
	if *window != "" {
		w, err := parseWindow(*window)
		if err != nil {
			fmt.Fprintf(stderr, "render: %v\n", err)
			return about.ExitUsage
		}
		fixed = &w
	}
	if p := strings.ToLower(*preset); p != "" && p != "default" && p != "file" && p != "min-max" && p != "minmax" {
		w, ok := dicomio.Preset(p)
		if !ok {
			fmt.Fprintf(stderr, "render: unknown preset %q; use lung, mediastinum, soft-tissue, bone, brain, default or min-max\n", *preset)
			return about.ExitUsage
		}
		fixed = &w
	}

	s, err := dicomio.Open(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return about.ExitFailed
	}
	if *frame < 0 || *frame >= s.NumFrames {
		fmt.Fprintf(stderr, "render: %s has %d frame(s); --frame %d is out of range\n", files[0], s.NumFrames, *frame)
		return about.ExitFailed
	}
	w := s.DefaultWindow(*frame)
	switch {
	case fixed != nil:
		w = *fixed
	case strings.HasPrefix(strings.ToLower(*preset), "min"):
		w = s.MinMaxWindow(*frame)
	}
	img, err := s.Render(*frame, w, dicomio.RenderOptions{Invert: *invert, AspectCorrect: *aspect})
	if err != nil {
		fmt.Fprintf(stderr, "render: %s: %v\n", files[0], err)
		return about.ExitFailed
	}
	// BestSpeed: on a 1841×1955 chest CR it encodes in 0.24 s instead of 1.37 s for a file 15 % larger.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := writeFile(*out, func(f io.Writer) error { return enc.Encode(f, img) }); err != nil {
		fmt.Fprintf(stderr, "render: %v\n", err)
		return about.ExitFailed
	}
	desc := w.String()
	if s.SamplesPerPixel == 3 {
		desc = "colour, full range"
	}
	fmt.Fprintf(stdout, "%s: frame %d, %s → %s (%d×%d)\n", files[0], *frame, desc, *out, img.Bounds().Dx(), img.Bounds().Dy())
	return about.ExitOK
}

// parseWindow reads "C,W" (centre, width) as a LINEAR window.
func parseWindow(s string) (dicomio.Window, error) {
	c, wd, ok := strings.Cut(s, ",")
	if !ok {
		return dicomio.Window{}, fmt.Errorf("--window wants CENTER,WIDTH, e.g. -600,1500; got %q", s)
	}
	center, err1 := strconv.ParseFloat(strings.TrimSpace(c), 64)
	width, err2 := strconv.ParseFloat(strings.TrimSpace(wd), 64)
	if err := errors.Join(err1, err2); err != nil || width < 1 {
		return dicomio.Window{}, fmt.Errorf("--window wants CENTER,WIDTH with a width of at least 1; got %q", s)
	}
	return dicomio.Window{Name: "custom", Center: center, Width: width, Function: dicomio.VOILinear}, nil
}

// writeFile writes through fn into path, removing the file when writing fails.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
