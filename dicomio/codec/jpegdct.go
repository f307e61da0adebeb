package codec

import (
	"fmt"
	"strings"
)

// The sequential Huffman DCT decoder (T.81 Annex F, processes 1, 2 and 4) with 8- and 12-bit samples. Its
// arithmetic — the accurate integer IDCT, "fancy" triangle upsampling of 2:1 chroma and the fixed-point YCbCr to
// RGB conversion — follows the IJG library that DCMTK decodes with, so results match DCMTK exactly on the
// corpus rather than within the IDCT tolerance T.81 permits.

// startDCT sizes each component's plane: whole MCUs, so blocks never fall outside it.
func (d *jpegDecoder) startDCT() error {
	h := &d.h
	mcuX := (h.width + 8*h.hmax - 1) / (8 * h.hmax)
	mcuY := (h.height + 8*h.vmax - 1) / (8 * h.vmax)
	for i := range h.comps {
		c := &h.comps[i]
		c.planeW = mcuX * c.h * 8
		c.planeH = mcuY * c.v * 8
		c.plane = make([]int16, c.planeW*c.planeH)
	}
	d.lossless = &losslessState{done: make([]bool, len(h.comps))}
	return nil
}

func (d *jpegDecoder) dctComplete() bool { return d.lossless.complete() }

// compSize is the size of component c in samples (T.81 A.1.1).
func (d *jpegDecoder) compSize(c *jpegComponent) (int, int) {
	return (d.h.width*c.h + d.h.hmax - 1) / d.h.hmax, (d.h.height*c.v + d.h.vmax - 1) / d.h.vmax
}

func (d *jpegDecoder) decodeDCTScan(sc jpegScan) error {
	h := &d.h
	// Sequential scans should say Ss=0, Se=63, Ah=Al=0; some encoders write other values, which IJG (and so
	// DCMTK) ignores with a warning, decoding the scan as sequential anyway. So do we.
	for _, ci := range sc.comps {
		c := &h.comps[ci]
		if d.lossless.done[ci] {
			return fmt.Errorf("component %d is coded in two scans: %w", c.id, ErrCorrupt)
		}
		if !h.quantSet[c.tq] {
			return fmt.Errorf("component %d uses quantisation table %d, which was not defined: %w", c.id, c.tq, ErrCorrupt)
		}
		c.pred = 0
	}
	br := bitReader{data: d.data, pos: d.pos}
	maxVal := int32(1)<<h.precision - 1
	center := int32(1) << (h.precision - 1)
	pass1 := 2
	if h.precision == 12 {
		pass1 = 1
	}
	var coef [64]int32

	block := func(c *jpegComponent, bx, by int) error {
		coef = [64]int32{}
		q := &h.quant[c.tq]
		t, err := br.decode(h.dc[c.dcSel])
		if err != nil {
			return err
		}
		if t > 15 {
			return fmt.Errorf("DC difference category %d is above 15: %w", t, ErrCorrupt)
		}
		c.pred += br.receiveExtend(int(t))
		coef[0] = int32(int16(c.pred)) * q[0]
		ac := h.ac[c.acSel]
		for k := 1; k < 64; {
			rs, err := br.decode(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int(rs&15)
			if s == 0 {
				if r != 15 {
					break
				}
				k += 16
				continue
			}
			k += r
			if k > 63 {
				return fmt.Errorf("AC coefficient index %d is past 63: %w", k, ErrCorrupt)
			}
			z := zigzag[k]
			coef[z] = int32(int16(br.receiveExtend(s))) * q[z]
			k++
		}
		off := by*8*c.planeW + bx*8
		idctISlow(&coef, c.plane[off:], c.planeW, pass1, center, maxVal)
		return nil
	}

	interval := h.restart
	left, rst := interval, 0
	restart := func() error {
		if interval == 0 {
			return nil
		}
		if left == 0 {
			if err := br.restart(rst); err != nil {
				return err
			}
			rst++
			left = interval
			for _, ci := range sc.comps {
				h.comps[ci].pred = 0
			}
		}
		left--
		return nil
	}

	if len(sc.comps) == 1 {
		// Non-interleaved: the component's own blocks in raster order, padding blocks excluded (T.81 A.2.2).
		c := &h.comps[sc.comps[0]]
		cw, ch := d.compSize(c)
		bw, bh := (cw+7)/8, (ch+7)/8
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				if err := restart(); err != nil {
					return err
				}
				if err := block(c, bx, by); err != nil {
					return fmt.Errorf("block %d,%d: %w", bx, by, err)
				}
			}
			if br.overrun() {
				return fmt.Errorf("entropy-coded data ends at block row %d of %d: %w", by, bh, ErrTruncated)
			}
		}
	} else {
		mcuX := (h.width + 8*h.hmax - 1) / (8 * h.hmax)
		mcuY := (h.height + 8*h.vmax - 1) / (8 * h.vmax)
		for my := 0; my < mcuY; my++ {
			for mx := 0; mx < mcuX; mx++ {
				if err := restart(); err != nil {
					return err
				}
				for _, ci := range sc.comps {
					c := &h.comps[ci]
					for v := 0; v < c.v; v++ {
						for u := 0; u < c.h; u++ {
							if err := block(c, mx*c.h+u, my*c.v+v); err != nil {
								return fmt.Errorf("MCU %d,%d: %w", mx, my, err)
							}
						}
					}
				}
			}
			if br.overrun() {
				return fmt.Errorf("entropy-coded data ends at MCU row %d of %d: %w", my, mcuY, ErrTruncated)
			}
		}
	}
	for _, ci := range sc.comps {
		d.lossless.done[ci] = true
	}
	d.pos = br.endPos()
	return nil
}

// Fixed-point constants of the IJG accurate integer IDCT (jidctint.c), scaled by 2^13.
const (
	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
	constBits      = 13
)

// idctISlow is the separable Loeffler–Ligtenberg–Moschytz IDCT of jidctint.c: columns into a workspace scaled by
// 2^pass1, then rows, then level shift and clamp to [0, maxVal].
func idctISlow(in *[64]int32, out []int16, stride, pass1 int, center, maxVal int32) {
	var ws [64]int32
	for c := 0; c < 8; c++ {
		if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[32+c] == 0 && in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
			dc := in[c] << pass1
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dc
			}
			continue
		}
		t10, t11, t12, t13, t0, t1, t2, t3 := idctCore(in[c], in[8+c], in[16+c], in[24+c], in[32+c], in[40+c], in[48+c], in[56+c])
		n := constBits - pass1
		rnd := int32(1) << (n - 1)
		ws[c] = (t10 + t3 + rnd) >> n
		ws[56+c] = (t10 - t3 + rnd) >> n
		ws[8+c] = (t11 + t2 + rnd) >> n
		ws[48+c] = (t11 - t2 + rnd) >> n
		ws[16+c] = (t12 + t1 + rnd) >> n
		ws[40+c] = (t12 - t1 + rnd) >> n
		ws[24+c] = (t13 + t0 + rnd) >> n
		ws[32+c] = (t13 - t0 + rnd) >> n
	}
	n := constBits + pass1 + 3
	rnd := int32(1) << (n - 1)
	clamp := func(v int32) int16 {
		v += center
		if v < 0 {
			return 0
		}
		if v > maxVal {
			return int16(maxVal)
		}
		return int16(v)
	}
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8]
		o := out[r*stride : r*stride+8]
		t10, t11, t12, t13, t0, t1, t2, t3 := idctCore(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
		o[0] = clamp((t10 + t3 + rnd) >> n)
		o[7] = clamp((t10 - t3 + rnd) >> n)
		o[1] = clamp((t11 + t2 + rnd) >> n)
		o[6] = clamp((t11 - t2 + rnd) >> n)
		o[2] = clamp((t12 + t1 + rnd) >> n)
		o[5] = clamp((t12 - t1 + rnd) >> n)
		o[3] = clamp((t13 + t0 + rnd) >> n)
		o[4] = clamp((t13 - t0 + rnd) >> n)
	}
}

// idctCore is one 8-point pass of jidctint.c before descaling: the even part's four sums and the odd part's four.
func idctCore(x0, x1, x2, x3, x4, x5, x6, x7 int32) (t10, t11, t12, t13, t0, t1, t2, t3 int32) {
	z2, z3 := x2, x6
	z1 := (z2 + z3) * fix0_541196100
	tmp2 := z1 + z3*-fix1_847759065
	tmp3 := z1 + z2*fix0_765366865
	tmp0 := (x0 + x4) << constBits
	tmp1 := (x0 - x4) << constBits
	t10, t13 = tmp0+tmp3, tmp0-tmp3
	t11, t12 = tmp1+tmp2, tmp1-tmp2

	t0, t1, t2, t3 = x7, x5, x3, x1
	z1 = t0 + t3
	z2 = t1 + t2
	z3 = t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * fix1_175875602
	t0 *= fix0_298631336
	t1 *= fix2_053119869
	t2 *= fix3_072711026
	t3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 *= -fix1_961570560
	z4 *= -fix0_390180644
	z3 += z5
	z4 += z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4
	return
}

// finishDCT upsamples subsampled components, converts YCbCr to RGB when the dataset says the frame is YBR_FULL
// or YBR_FULL_422 (as DCMTK does by default), and packs the samples.
func (d *jpegDecoder) finishDCT() (Frame, error) {
	h := &d.h
	if !d.lossless.complete() {
		return Frame{}, fmt.Errorf("codestream ends before every component was decoded: %w", ErrTruncated)
	}
	w, ht, nf := h.width, h.height, len(h.comps)
	full := make([][]int16, nf)
	for i := range h.comps {
		full[i] = d.upsample(&h.comps[i])
	}
	photometric := d.p.Photometric
	maxVal := int32(1)<<h.precision - 1
	if nf == 3 && strings.HasPrefix(photometric, "YBR_FULL") {
		yccToRGB(full[0], full[1], full[2], h.precision, maxVal)
		photometric = "RGB"
	}
	out := make([]byte, d.p.FrameSize())
	bps := (d.p.BitsAllocated + 7) / 8
	for y := 0; y < ht; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < nf; c++ {
				v := full[c][y*w+x]
				i := (y*w+x)*nf + c
				if bps == 1 {
					out[i] = byte(v)
				} else {
					out[bps*i], out[bps*i+1] = byte(v), byte(v>>8)
				}
			}
		}
	}
	return Frame{Data: out, Photometric: photometric}, nil
}

// upsample returns component c at full image size, width × height. 2:1 horizontal (and 2:1 both ways) use IJG's
// triangle filter when the component is wider than two samples; other factors replicate samples, as IJG does.
func (d *jpegDecoder) upsample(c *jpegComponent) []int16 {
	h := &d.h
	w, ht := h.width, h.height
	out := make([]int16, w*ht)
	cw, ch := d.compSize(c)
	fx, fy := h.hmax/c.h, h.vmax/c.v
	if h.hmax%c.h != 0 || h.vmax%c.v != 0 {
		fx, fy = 0, 0 // non-integral ratios: nearest sample below
	}
	switch {
	case fx == 1 && fy == 1:
		for y := 0; y < ht; y++ {
			copy(out[y*w:y*w+w], c.plane[y*c.planeW:])
		}
	case fx == 2 && fy == 1 && cw > 2:
		row := make([]int16, 2*cw)
		for y := 0; y < ht; y++ {
			fancyRow(row, c.plane[y*c.planeW:y*c.planeW+cw], nil)
			copy(out[y*w:y*w+w], row)
		}
	case fx == 2 && fy == 2 && cw > 2:
		row := make([]int16, 2*cw)
		for y := 0; y < ht; y++ {
			cy := y / 2
			ny := cy - 1
			if y%2 == 1 {
				ny = cy + 1
			}
			ny = min(max(ny, 0), ch-1)
			fancyRow(row, c.plane[cy*c.planeW:cy*c.planeW+cw], c.plane[ny*c.planeW:ny*c.planeW+cw])
			copy(out[y*w:y*w+w], row)
		}
	default:
		for y := 0; y < ht; y++ {
			var sy int
			if fy > 0 {
				sy = y / fy
			} else {
				sy = y * c.v / h.vmax
			}
			for x := 0; x < w; x++ {
				var sx int
				if fx > 0 {
					sx = x / fx
				} else {
					sx = x * c.h / h.hmax
				}
				out[y*w+x] = c.plane[sy*c.planeW+sx]
			}
		}
	}
	return out
}

// fancyRow doubles one row horizontally with IJG's h2v1 filter, or, given the nearer neighbouring row, with its
// h2v2 filter (near is the row above for the upper output row of a pair, the row below for the lower).
func fancyRow(out, in, near []int16) {
	n := len(in)
	if near == nil {
		out[0] = in[0]
		out[1] = int16((int32(in[0])*3 + int32(in[1]) + 2) >> 2)
		for i := 1; i < n-1; i++ {
			v := int32(in[i]) * 3
			out[2*i] = int16((v + int32(in[i-1]) + 1) >> 2)
			out[2*i+1] = int16((v + int32(in[i+1]) + 2) >> 2)
		}
		out[2*n-2] = int16((int32(in[n-1])*3 + int32(in[n-2]) + 1) >> 2)
		out[2*n-1] = in[n-1]
		return
	}
	col := func(i int) int32 { return int32(in[i])*3 + int32(near[i]) }
	this, next := col(0), col(1)
	out[0] = int16((this*4 + 8) >> 4)
	out[1] = int16((this*3 + next + 7) >> 4)
	last := this
	this = next
	for i := 1; i < n-1; i++ {
		next = col(i + 1)
		out[2*i] = int16((this*3 + last + 8) >> 4)
		out[2*i+1] = int16((this*3 + next + 7) >> 4)
		last, this = this, next
	}
	out[2*n-2] = int16((this*3 + last + 8) >> 4)
	out[2*n-1] = int16((this*4 + 7) >> 4)
}

// yccToRGB converts in place with jdcolor.c's 16-bit fixed-point tables.
func yccToRGB(yp, cbp, crp []int16, precision int, maxVal int32) {
	const scale = 16
	const half = 1 << (scale - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scale) + 0.5) }
	center := int32(1) << (precision - 1)
	clamp := func(v int32) int16 { return int16(min(max(v, 0), maxVal)) }
	for i := range yp {
		y := int32(yp[i])
		cb := int32(cbp[i]) - center
		cr := int32(crp[i]) - center
		r := y + (fix(1.40200)*cr+half)>>scale
		g := y + ((-fix(0.34414))*cb+half+(-fix(0.71414))*cr)>>scale
		b := y + (fix(1.77200)*cb+half)>>scale
		yp[i], cbp[i], crp[i] = clamp(r), clamp(g), clamp(b)
	}
}
