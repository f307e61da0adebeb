package dicomio

import "strings"

// FrameMemory estimates the bytes one frame of s takes at the peak of its decode and a Render: what the codec
// works in, the decoded frame (which the Scan keeps while it caches the frame) and the 8-bit render (RGBA for
// colour). A caller that decodes many files at once (the pipeline's decode workers) bounds itself by it.
//
//   - Native frames are slices of the file's bytes: only the render is new.
//   - Compressed frames: the codec's output (Rows × Columns × samples × bytes a sample), and for JPEG 2000 and
//     HTJ2K OpenJPEG's planes, 4 bytes a sample in C memory, while it decodes (fo-dicom/VL5_J2KI.dcm, 2670×3340
//     RGB: 107 MB of planes, 27 MB decoded, 36 MB render).
//   - PNG and JPEG are decoded by Open, at once: their 4-byte values and stored samples are already held when the
//     caller asks; they are counted all the same, since they stay until the Scan is dropped.
//
// The file's own bytes (Open reads the whole file) are not included. 0 for a Scan read without pixels.
func (s *Scan) FrameMemory() int64 {
	if s.pixels == nil {
		return 0
	}
	pixels := int64(s.Rows) * int64(s.Columns)
	render := pixels
	if s.SamplesPerPixel == 3 {
		render = 4 * pixels
	}
	samples := pixels * int64(max(s.SamplesPerPixel, 1))
	stored := samples * int64(max(s.BitsAllocated/8, 1))
	switch {
	case s.pixels.decoded != nil:
		return 4*samples + stored + render
	case s.pixels.fragments == nil:
		return render
	case strings.HasPrefix(s.TransferSyntax, "1.2.840.10008.1.2.4.9") || strings.HasPrefix(s.TransferSyntax, "1.2.840.10008.1.2.4.20"):
		return 4*samples + stored + render
	}
	return stored + render
}
