// Command icongen draws TumorTracer's application icon: a dark rounded tile with two lung fields and a
// highlighted finding in a tracking ring. It is drawn from shapes (signed distances, 4×4 supersampled) so the
// PNG can be regenerated exactly.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

func main() {
	out := flag.String("o", "icon.png", "output PNG")
	size := flag.Int("size", 512, "width and height in pixels")
	flag.Parse()
	if err := write(*out, draw(*size)); err != nil {
		fmt.Fprintln(os.Stderr, "icongen:", err)
		os.Exit(1)
	}
}

func write(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

type rgba struct{ r, g, b, a float64 }

// over composites c over dst with coverage k.
func over(dst rgba, c rgba, k float64) rgba {
	a := c.a * k
	return rgba{dst.r*(1-a) + c.r*a, dst.g*(1-a) + c.g*a, dst.b*(1-a) + c.b*a, dst.a*(1-a) + a}
}

// Signed distances in unit coordinates (0…1 across the icon); negative inside.
func roundedBox(x, y, cx, cy, hw, hh, r float64) float64 {
	dx := math.Abs(x-cx) - hw + r
	dy := math.Abs(y-cy) - hh + r
	return math.Hypot(math.Max(dx, 0), math.Max(dy, 0)) + math.Min(math.Max(dx, dy), 0) - r
}

func ellipse(x, y, cx, cy, rx, ry, rot float64) float64 {
	s, c := math.Sincos(rot)
	u := ((x-cx)*c + (y-cy)*s) / rx
	v := (-(x-cx)*s + (y-cy)*c) / ry
	return (math.Hypot(u, v) - 1) * math.Min(rx, ry)
}

func shade(x, y float64) rgba {
	px := rgba{}
	tile := rgba{0.09, 0.10, 0.12, 1}
	if roundedBox(x, y, 0.5, 0.5, 0.46, 0.46, 0.11) < 0 {
		// Slight vertical gradient on the tile.
		g := 0.03 * (1 - y)
		px = over(px, rgba{tile.r + g, tile.g + g, tile.b + g, 1}, 1)
	} else {
		return px
	}
	lung := rgba{0.78, 0.80, 0.82, 1}
	inLeft := ellipse(x, y, 0.36, 0.53, 0.13, 0.27, 0.10) < 0
	inRight := ellipse(x, y, 0.64, 0.53, 0.13, 0.27, -0.10) < 0
	if inLeft || inRight {
		// Lungs darker at the bottom, like a radiograph's lung fields.
		k := 0.55 + 0.35*(1-y)
		px = over(px, rgba{lung.r * k, lung.g * k, lung.b * k, 1}, 1)
	}
	// Trachea.
	if roundedBox(x, y, 0.5, 0.24, 0.025, 0.12, 0.02) < 0 {
		px = over(px, rgba{0.55, 0.57, 0.60, 1}, 1)
	}
	accent := rgba{0.31, 0.62, 0.78, 1}
	hot := rgba{0.95, 0.55, 0.20, 1}
	// Finding and tracking ring.
	d := math.Hypot(x-0.64, y-0.60)
	if d < 0.05 {
		px = over(px, hot, 1)
	}
	if math.Abs(d-0.11) < 0.018 {
		px = over(px, accent, 1)
	}
	// Crosshair ticks on the ring.
	for _, t := range [][4]float64{{0.64, 0.445, 0.008, 0.03}, {0.64, 0.755, 0.008, 0.03}, {0.485, 0.60, 0.03, 0.008}, {0.795, 0.60, 0.03, 0.008}} {
		if math.Abs(x-t[0]) < t[2] && math.Abs(y-t[1]) < t[3] {
			px = over(px, accent, 1)
		}
	}
	return px
}

func draw(n int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	const ss = 4
	for j := range n {
		for i := range n {
			var acc rgba
			for sy := range ss {
				for sx := range ss {
					x := (float64(i) + (float64(sx)+0.5)/ss) / float64(n)
					y := (float64(j) + (float64(sy)+0.5)/ss) / float64(n)
					p := shade(x, y)
					acc.r += p.r * p.a
					acc.g += p.g * p.a
					acc.b += p.b * p.a
					acc.a += p.a
				}
			}
			if acc.a == 0 {
				continue
			}
			c := color.NRGBA{
				R: uint8(255*acc.r/acc.a + 0.5), G: uint8(255*acc.g/acc.a + 0.5), B: uint8(255*acc.b/acc.a + 0.5),
				A: uint8(255*acc.a/(ss*ss) + 0.5),
			}
			img.SetNRGBA(i, j, c)
		}
	}
	return img
}
