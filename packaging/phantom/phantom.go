package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
)

// Kind names a phantom.
type Kind string

// The phantoms this program draws.
const (
	KindCXR Kind = "cxr" // a frontal chest radiograph, modality CR, 12-bit MONOCHROME2
	KindCT  Kind = "ct"  // an axial chest CT slice, modality CT, Hounsfield units through a rescale intercept
)

// Phantom is one synthetic greyscale image with the DICOM attributes that describe it.
type Phantom struct {
	Kind     Kind
	Modality string
	Rows     int
	Columns  int
	// Stored holds the stored pixel values, row-major, unsigned, BitsStored bits.
	Stored     []uint16
	BitsStored int
	// RescaleIntercept and RescaleSlope map stored values to modality units (HU for CT).
	RescaleIntercept, RescaleSlope float64
	RescaleType                    string
	// WindowCenter and WindowWidth are the file's VOI window, in modality units.
	WindowCenter, WindowWidth float64
	PixelSpacing              float64 // millimetres, square pixels
	SOPClassUID               string
	Description               string
}

// ErrUnknownKind is returned for a phantom kind this program does not draw.
var ErrUnknownKind = fmt.Errorf("unknown phantom kind")

// New draws the phantom of the given kind at size×size pixels. The drawing is deterministic: the same kind and
// size always give the same pixels, so packages built twice carry byte-identical samples.
func New(kind Kind, size int) (*Phantom, error) {
	if size < 32 || size > 4096 {
		return nil, fmt.Errorf("phantom size %d: want 32 to 4096 pixels", size)
	}
	switch kind {
	case KindCXR:
		return newCXR(size), nil
	case KindCT:
		return newCT(size), nil
	}
	return nil, fmt.Errorf("phantom %q: %w (want %q or %q)", kind, ErrUnknownKind, KindCXR, KindCT)
}

// ellipse reports how far inside the ellipse centred at (cx, cy) with radii (rx, ry) the point (x, y) lies:
// values below 1 are inside.
func ellipse(x, y, cx, cy, rx, ry float64) float64 {
	dx, dy := (x-cx)/rx, (y-cy)/ry
	return dx*dx + dy*dy
}

// smoothstep is 1 well inside (d < 1-edge), 0 outside (d > 1) and a smooth ramp between, so that organ borders
// are soft like on a real image rather than aliased.
func smoothstep(d, edge float64) float64 {
	switch {
	case d <= 1-edge:
		return 1
	case d >= 1:
		return 0
	}
	t := (1 - d) / edge
	return t * t * (3 - 2*t)
}

// seeded returns a generator whose sequence depends only on the phantom kind.
func seeded(kind Kind) *rand.Rand {
	sum := sha256.Sum256([]byte("tumortracer phantom " + string(kind)))
	var a, b uint64
	for i := 0; i < 8; i++ {
		a = a<<8 | uint64(sum[i])
		b = b<<8 | uint64(sum[8+i])
	}
	return rand.New(rand.NewPCG(a, b))
}

// newCXR draws a frontal chest radiograph: bright where the body attenuates most (mediastinum, heart, spine,
// ribs, below the diaphragm), dark over the aerated lungs, black outside the body.
func newCXR(n int) *Phantom {
	p := &Phantom{
		Kind: KindCXR, Modality: "CR", Rows: n, Columns: n, BitsStored: 12,
		RescaleSlope: 1, WindowCenter: 2048, WindowWidth: 4096,
		PixelSpacing: 350.0 / float64(n), SOPClassUID: "1.2.840.10008.5.1.4.1.1.1",
		Description: "synthetic chest radiograph phantom",
	}
	p.Stored = make([]uint16, n*n)
	rng := seeded(KindCXR)
	s := float64(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			fx, fy := float64(x)/s, float64(y)/s
			v := 300.0 // direct exposure outside the body
			body := smoothstep(ellipse(fx, fy, 0.5, 0.58, 0.44, 0.52), 0.08)
			v += 1700 * body
			// Lungs subtract attenuation; the diaphragm domes cut them off from below.
			left := smoothstep(ellipse(fx, fy, 0.32, 0.45, 0.14, 0.3), 0.15)
			right := smoothstep(ellipse(fx, fy, 0.68, 0.45, 0.14, 0.3), 0.15)
			v -= 1100 * math.Max(left, right)
			// Mediastinum and heart, the heart bulging to the patient's left (image right).
			v += 700 * smoothstep(ellipse(fx, fy, 0.5, 0.42, 0.07, 0.3), 0.3)
			v += 600 * smoothstep(ellipse(fx, fy, 0.57, 0.62, 0.15, 0.12), 0.3)
			// Spine behind the mediastinum.
			v += 400 * smoothstep(ellipse(fx, fy, 0.5, 0.55, 0.035, 0.5), 0.2)
			// Ribs: arcs across each lung field.
			if math.Max(left, right) > 0.05 {
				for k := 0; k < 8; k++ {
					cy := 0.22 + 0.065*float64(k) + 0.05*math.Pow(math.Abs(fx-0.5)/0.25, 2)
					v += 260 * math.Max(left, right) * math.Exp(-math.Pow((fy-cy)/0.008, 2))
				}
			}
			v += rng.NormFloat64() * 25
			p.Stored[y*n+x] = uint16(math.Round(math.Min(math.Max(v, 0), 4095)))
		}
	}
	return p
}

// newCT draws an axial chest CT slice in Hounsfield units: air outside, a subcutaneous fat ring, soft tissue,
// two lungs with vessels, the heart, the spine with its vertebral body, and one small nodule in the right lung.
func newCT(n int) *Phantom {
	p := &Phantom{
		Kind: KindCT, Modality: "CT", Rows: n, Columns: n, BitsStored: 12,
		RescaleIntercept: -1024, RescaleSlope: 1, RescaleType: "HU",
		WindowCenter: -600, WindowWidth: 1500,
		PixelSpacing: 380.0 / float64(n), SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
		Description: "synthetic chest CT phantom",
	}
	p.Stored = make([]uint16, n*n)
	rng := seeded(KindCT)
	s := float64(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			fx, fy := float64(x)/s, float64(y)/s
			hu := -1000.0
			body := smoothstep(ellipse(fx, fy, 0.5, 0.5, 0.42, 0.3), 0.03)
			inner := smoothstep(ellipse(fx, fy, 0.5, 0.5, 0.39, 0.27), 0.03)
			hu += body * 900  // fat, -100 HU
			hu += inner * 140 // soft tissue, +40 HU
			left := smoothstep(ellipse(fx, fy, 0.32, 0.47, 0.15, 0.2), 0.05)
			right := smoothstep(ellipse(fx, fy, 0.68, 0.47, 0.15, 0.2), 0.05)
			lung := math.Max(left, right)
			hu -= lung * 900 // aerated lung, about -860 HU
			// Vessels: a few bright dots in each lung.
			for k := 0; k < 6; k++ {
				a := float64(k) * math.Pi / 3
				for _, cx := range []float64{0.32, 0.68} {
					d := ellipse(fx, fy, cx+0.08*math.Cos(a), 0.47+0.1*math.Sin(a), 0.008, 0.008)
					hu += lung * 880 * smoothstep(d, 0.5)
				}
			}
			// A 10 mm-ish solid nodule in the right lung (image left).
			hu += left * 880 * smoothstep(ellipse(fx, fy, 0.27, 0.4, 0.018, 0.018), 0.3)
			hu += 10 * smoothstep(ellipse(fx, fy, 0.52, 0.5, 0.1, 0.09), 0.1)   // heart, contrast-free
			hu += 660 * smoothstep(ellipse(fx, fy, 0.5, 0.72, 0.05, 0.05), 0.1) // vertebral body
			hu += 400 * smoothstep(ellipse(fx, fy, 0.5, 0.72, 0.06, 0.06), 0.1) * (1 - smoothstep(ellipse(fx, fy, 0.5, 0.72, 0.045, 0.045), 0.1))
			hu += rng.NormFloat64() * 12
			stored := math.Round(hu - p.RescaleIntercept)
			p.Stored[y*n+x] = uint16(math.Min(math.Max(stored, 0), 4095))
		}
	}
	return p
}

// uidFor derives a DICOM UID under the 2.25 root (PS3.5 B.2: a UUID written as one decimal integer) from a name,
// so that every build of a phantom carries the same UIDs.
func uidFor(name string) string {
	sum := sha256.Sum256([]byte("tumortracer phantom uid " + name))
	sum[6] = sum[6]&0x0f | 0x50 // UUID version 5 (name-based), as far as the bits go
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(sum[:16]).String()
}
