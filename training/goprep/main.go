// Command goprep runs the Go side of the shared preprocessing contract on image files, so the Python recipe's
// tests can check that training and the application see the same pixels.
//
// Usage: go run ./training/goprep -width W -height H FILE... > out.bin
//
// For each file it decodes the image with the standard library's PNG/JPEG decoders (as the application does), then
// applies inference.Preprocess with mean 0 and std 1/255, so every output value is the 8-bit grey level after the
// PIL-luma conversion and imaging's Linear resize. It writes the values as raw uint8, H×W per file, in order.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"

	"github.com/tumortracer/tumortracer/inference"
)

func main() {
	width := flag.Int("width", 224, "target width")
	height := flag.Int("height", 224, "target height")
	flag.Parse()
	if err := run(*width, *height, flag.Args(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "goprep:", err)
		os.Exit(1)
	}
}

func run(width, height int, files []string, w io.Writer) error {
	out := bufio.NewWriter(w)
	in := inference.InputSpec{Name: "image", Layout: "NCHW", Channels: 1, Height: height, Width: width}
	pre := inference.Preprocessing{Grayscale: "pil-luma", Resize: "linear", Mean: []float64{0}, Std: []float64{1.0 / 255}}
	dst := make([]float32, width*height)
	row := make([]byte, width*height)
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
		if err := inference.Preprocess(img, in, pre, dst); err != nil {
			return fmt.Errorf("preprocess %s: %w", path, err)
		}
		for i, v := range dst {
			row[i] = uint8(math.Round(float64(v)))
		}
		if _, err := out.Write(row); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return out.Flush()
}
