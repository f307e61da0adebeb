package codec

import (
	"image"
	"image/png"
	"os"
	"testing"
)

func TestZZScratch(t *testing.T) {
	path := os.Getenv("SCRATCH")
	m, frames := encapsulated(t, path)
	got, ph, err := decodeAll(m, frames)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ph, m.Photometric)
	img := image.NewRGBA(image.Rect(0, 0, m.Columns, m.Rows))
	for i := 0; i < m.Rows*m.Columns; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = got[3*i], got[3*i+1], got[3*i+2], 255
	}
	f, _ := os.Create("/tmp/ct/scratch.png")
	png.Encode(f, img)
	f.Close()
	os.WriteFile("/tmp/ct/scratch.bin", got, 0o644)
}
