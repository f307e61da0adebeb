package dicomio

import (
	"github.com/tumortracer/tumortracer/dicomio/codec"
)

// Reduced returns frame i at a lower resolution, as a one-frame Scan of its own, when the frame's codestream holds
// coarser resolutions (JPEG 2000 and HTJ2K: the wavelet's low-pass images, each halving the sides) and the frame
// is at least twice minSide on its shorter side: the coarsest resolution whose shorter side is still minSide or
// more, decoded without decoding the full frame. factor is the number of halvings. The reduced Scan has the same
// metadata, windows and rescale, its own Rows, Columns and PixelSpacing, and its frame 0 decoded; the frame cache
// of s is not touched (a frame the viewer shows stays as it is).
//
// It is what a classifier takes of a frame far larger than its input (fo-dicom/VL5_J2KI.dcm, 2670×3340 RGB,
// holds 107 MB of OpenJPEG's 4-byte planes while it decodes whole; at half size a quarter of that). ok is false,
// and nothing is decoded, for other codecs and smaller frames; it is false too when the reduced decode fails (too
// few levels in the codestream, a corrupt frame), and the frame is then for the full decode to report on.
func (s *Scan) Reduced(i, minSide int) (r *Scan, factor int, ok bool) {
	if s.pixels == nil || s.pixels.fragments == nil || minSide < 1 || i < 0 || i >= s.pixels.frames ||
		!codec.Reduces(s.TransferSyntax) || s.BitsAllocated == 1 {
		return nil, 0, false
	}
	for codec.ReducedSide(min(s.Rows, s.Columns), factor+1) >= minSide {
		factor++
	}
	if factor == 0 {
		return nil, 0, false
	}
	if s.onDecode != nil {
		s.onDecode(i)
	}
	f, p, err := codec.DecodeReduced(s.TransferSyntax, joinFragments(s.pixels.fragments[i]), s.codecParams(), factor)
	if err != nil || len(f.Data) < p.FrameSize() {
		return nil, 0, false
	}
	if f.Photometric == "" {
		f.Photometric = s.StoredPhotometric
	}
	r = new(Scan)
	*r = *s
	r.Rows, r.Columns, r.NumFrames = p.Rows, p.Columns, 1
	scale := float64(int(1) << factor)
	r.PixelSpacing.Row *= scale
	r.PixelSpacing.Column *= scale
	r.onDecode = nil
	e := &cacheEntry{raw: rawFrame{data: f.Data[:p.FrameSize()], photometric: f.Photometric}}
	e.once.Do(func() {})
	r.pixels = &frameSource{frames: 1, decoded: e}
	return r, factor, true
}
