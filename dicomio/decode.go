package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	dicom "github.com/suyashkumar/dicom"
)

// Caps applied before anything is allocated; files beyond them fail with ErrTooLarge.
const (
	// MaxFileSize is the default largest file (and largest inflated Deflate dataset) read: 2 GiB.
	MaxFileSize = 2 << 30
	// MaxDimension is the largest Rows or Columns (the DICOM US maximum).
	MaxDimension = 65535
	// MaxFrames is the largest Number of Frames.
	MaxFrames = 10000
	// MaxSamples is the largest total of samples (rows × columns × samples per pixel × frames) in a file: 2^28.
	// Frames are decoded one at a time, but StoredAll returns them all, and Open keeps all the stored samples.
	MaxSamples = 1 << 28
)

// Transfer syntax UIDs this package handles itself.
const (
	tsImplicitLE      = "1.2.840.10008.1.2"
	tsExplicitLE      = "1.2.840.10008.1.2.1"
	tsDeflatedLE      = "1.2.840.10008.1.2.1.99"
	tsExplicitBE      = "1.2.840.10008.1.2.2"
	tsJPEGBaseline    = "1.2.840.10008.1.2.4.50"
	tsEncapsulatedRaw = "1.2.840.10008.1.2.1.98"
	tsDeflatedFrames  = "1.2.840.10008.1.2.8.1" // Deflated Image Frame Compression: each frame raw-deflated
)

// Option adjusts Decode and Open.
type Option func(*options)

type options struct {
	metadataOnly bool
	maxFileSize  int64
	onDecode     func(frame int)
}

// MetadataOnly leaves the pixels out: the Scan has its metadata, geometry and windows but no frames (Frame,
// Stored and Render return ErrNoPixelData). Open then reads a DICOM file only up to its pixel data, whose declared
// length it checks against the file's size without reading it (so a file whose pixel data is corrupt can still
// describe itself). Decode, which cannot seek, reads everything.
func MetadataOnly() Option { return func(o *options) { o.metadataOnly = true } }

// WithMaxFileSize replaces the MaxFileSize cap.
func WithMaxFileSize(n int64) Option { return func(o *options) { o.maxFileSize = n } }

// WithDecodeObserver has fn called with a frame's index each time the Scan decodes that frame from the file's
// pixel data: the codec's run for a compressed frame, the slicing out of an uncompressed one, Open's decode of a
// PNG or JPEG. A frame among those the Scan keeps decoded is not decoded again, so fn sees how often each frame
// really was (what the pipeline's tests count); fn may be called from several goroutines at once.
func WithDecodeObserver(fn func(frame int)) Option { return func(o *options) { o.onDecode = fn } }

func newOptions(opts []Option) options {
	o := options{maxFileSize: MaxFileSize}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// headerPrefix is the first read of a MetadataOnly Open: most DICOM headers end well before 64 kB.
const headerPrefix = 64 << 10

// errPrefixShort says that the bytes read so far end before the pixel data (or before what decides the answer):
// Open reads more. It never leaves the package.
var errPrefixShort = errors.New("header runs past the bytes read")

// Open reads the file at path and locates its frames (decoded when first used: see Scan); errors name the path.
// Like Decode, it returns the Scan's metadata together with an ErrNoPixelData error for a DICOM file without an
// image. With MetadataOnly it reads only the header.
func Open(path string, opts ...Option) (*Scan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("open %s: is a folder, not a file: %w", path, ErrNotImage)
	}
	var s *Scan
	if o := newOptions(opts); o.metadataOnly {
		s, err = readHeader(f, info.Size(), o)
	} else {
		s, err = Decode(f, info.Size(), opts...)
	}
	if s != nil {
		s.Path = path
	}
	if err != nil {
		return s, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// Decode reads size bytes from r, reads the header and locates the frames (decoded when first used: see Scan);
// the format is recognised by content (see Sniff). Every error wraps one of the package's sentinel errors. For a
// DICOM file without pixel data it returns the Scan (metadata only) together with an error wrapping
// ErrNoPixelData; for every other error the Scan is nil.
func Decode(r io.Reader, size int64, opts ...Option) (*Scan, error) {
	o := newOptions(opts)
	if err := checkSize(size, o); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		return nil, readError(n, size, err)
	}
	s, err := decodeBuffer(buf, size, o)
	if s != nil && o.onDecode != nil {
		s.onDecode = o.onDecode
		if s.pixels != nil && s.pixels.decoded != nil {
			o.onDecode(0) // a PNG or JPEG, decoded just now
		}
	}
	return s, err
}

func checkSize(size int64, o options) error {
	if size < 0 {
		return fmt.Errorf("negative size %d: %w", size, ErrMalformed)
	}
	if size > o.maxFileSize {
		return fmt.Errorf("file is %d bytes, more than the %d-byte limit: %w", size, o.maxFileSize, ErrTooLarge)
	}
	return nil
}

func readError(n int, size int64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("read %d of %d bytes: %w", n, size, ErrTruncated)
	}
	return fmt.Errorf("read: %w", err)
}

// readHeader reads a prefix of the file and decodes its header, reading a larger prefix while the header runs
// past it; the last try reads the whole file and so gives Decode's answer.
func readHeader(f io.ReaderAt, size int64, o options) (*Scan, error) {
	if err := checkSize(size, o); err != nil {
		return nil, err
	}
	var buf []byte
	for n := min(size, headerPrefix); ; n = min(size, 4*n) {
		have := len(buf)
		buf = append(buf, make([]byte, int(n)-have)...)
		if got, err := f.ReadAt(buf[have:], int64(have)); got < len(buf)-have {
			return nil, readError(have+got, size, err)
		}
		s, err := decodeBuffer(buf, size, o)
		if !errors.Is(err, errPrefixShort) {
			return s, err
		}
	}
}

// decodeBuffer decodes buf, which holds the first len(buf) of size bytes (all of them, except for a
// MetadataOnly Open).
func decodeBuffer(buf []byte, size int64, o options) (*Scan, error) {
	prefix := int64(len(buf)) < size
	format, ok := Sniff(buf)
	if !ok {
		return nil, ErrNotImage // Sniff needs 132 bytes at most, and a prefix has more
	}
	switch format {
	case FormatPNG, FormatJPEG:
		s, err := decodeImage(buf, format, o)
		if err != nil && prefix {
			return nil, errPrefixShort // the header may end past the prefix, and the size checks want the file
		}
		return s, err
	}
	return decodeDICOM(buf, size, o)
}

// decodeDICOM decodes a Part 10 file or a bare dataset held in buf: the file's first len(buf) of size bytes. A
// prefix (MetadataOnly) is decoded up to the pixel data; errPrefixShort asks for more bytes.
func decodeDICOM(buf []byte, size int64, o options) (*Scan, error) {
	prefix := int64(len(buf)) < size
	start := 0
	if len(buf) >= 132 && string(buf[128:132]) == "DICM" {
		start = 132
	}
	meta, err := readFileMeta(buf, start)
	if prefix && (err != nil || meta.end+8 > len(buf)) {
		return nil, errPrefixShort
	}
	if err != nil {
		return nil, err
	}
	data := buf[meta.end:]
	ts := meta.transferSyntax
	var warnings []string
	enc := encodingOf(ts)
	if ts == tsDeflatedLE {
		if prefix {
			return nil, errPrefixShort
		}
		data, err = inflate(data, o.maxFileSize)
		if err != nil {
			return nil, err
		}
	}
	if ts == "" {
		enc = guessEncoding(data)
		if enc == encUnknown {
			if len(data) == 0 {
				return nil, fmt.Errorf("file has a file meta header but no dataset: %w", ErrNoPixelData)
			}
			return nil, fmt.Errorf("file has no transfer syntax and its dataset encoding cannot be recognised: %w", ErrMalformed)
		}
		ts = map[encoding]string{encImplicitLE: tsImplicitLE, encExplicitLE: tsExplicitLE, encExplicitBE: tsExplicitBE}[enc]
		warnings = append(warnings, "no transfer syntax in the file; read as "+tsName(ts))
	} else if len(data) >= 8 {
		// Some writers declare one VR style and use the other; trust the first element.
		if guess := bareDataset(data); guess != encUnknown && guess != enc && (guess == encImplicitLE) != (enc == encImplicitLE) && sameByteOrder(guess, enc) {
			warnings = append(warnings, fmt.Sprintf("transfer syntax says %s but the dataset is %s", encName(enc), encName(guess)))
			enc = guess
		}
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if enc == encExplicitBE {
		bo = binary.BigEndian
	}
	implicit := enc == encImplicitLE

	var top topLevel
	if prefix {
		top, err = walkHeader(data, int64(len(data))+size-int64(len(buf)), bo, implicit)
	} else {
		top, err = walkTop(data, bo, implicit)
	}
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, top.warnings...)

	ds, perr := parseDataset(visible(data[:top.cut], top.hidden), enc)
	if perr != nil {
		if !hasDatasetElements(ds) {
			return nil, perr
		}
		warnings = append(warnings, perr.Error())
	}
	s, err := newScan(ds, ts, meta.sopClass)
	if err != nil {
		return nil, err
	}
	s.Warnings = warnings
	if top.pixel == nil {
		return s, fmt.Errorf("%s file has no pixel data: %w", sopOrModality(s), ErrNoPixelData)
	}
	if err := s.readPixelModule(ds, top.pixel.elem); err != nil {
		if perr != nil {
			return nil, perr // the image attributes were lost to the parse error
		}
		return nil, err
	}
	if top.pixel.length == 0 {
		return s, fmt.Errorf("pixel data element is empty: %w", ErrNoPixelData)
	}
	if o.metadataOnly {
		return s, nil
	}
	if err := s.locatePixels(top, bo == binary.BigEndian); err != nil {
		return nil, err
	}
	// The frames keep slices of buf; when the pixel data is a small part of it (large private elements, an
	// icon, data after the pixels), a copy of the pixel data lets the rest go.
	if kept := s.pixels.retained(); len(data)-kept > max(compactWaste, kept/8) {
		s.pixels.compact()
	}
	return s, nil
}

// compactWaste is how many bytes of a file beside its pixel data a Scan may keep alive to avoid copying them.
const compactWaste = 256 << 10

// hasDatasetElements reports whether the library read anything beyond the synthetic File Meta group.
func hasDatasetElements(ds dicom.Dataset) bool {
	for _, e := range ds.Elements {
		if e.Tag.Group != 0x0002 {
			return true
		}
	}
	return false
}

// guessEncoding recognises the encoding of a dataset whose file meta names no transfer syntax from its first
// element: a valid VR means explicit (big endian when the group reads smaller that way), else implicit.
func guessEncoding(data []byte) encoding {
	if enc := bareDataset(data); enc != encUnknown {
		return enc
	}
	if len(data) < 8 {
		return encUnknown
	}
	if validVR(data[4:6]) {
		if binary.BigEndian.Uint16(data) < binary.LittleEndian.Uint16(data) {
			return encExplicitBE
		}
		return encExplicitLE
	}
	return encImplicitLE
}

func sopOrModality(s *Scan) string {
	if s.Meta.Modality != "" {
		return s.Meta.Modality
	}
	return "this"
}

func encodingOf(ts string) encoding {
	switch ts {
	case "":
		return encUnknown
	case tsImplicitLE:
		return encImplicitLE
	case tsExplicitBE:
		return encExplicitBE
	}
	return encExplicitLE
}

func sameByteOrder(a, b encoding) bool { return (a == encExplicitBE) == (b == encExplicitBE) }

func encName(e encoding) string {
	return map[encoding]string{encImplicitLE: "implicit VR little endian", encExplicitLE: "explicit VR little endian", encExplicitBE: "explicit VR big endian"}[e]
}

// inflate decompresses a Deflated Explicit VR Little Endian dataset, refusing more than limit bytes.
func inflate(data []byte, limit int64) ([]byte, error) {
	zr := flate.NewReader(bytes.NewReader(data))
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("inflate deflated dataset: %v: %w", err, ErrMalformed)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("deflated dataset inflates to more than %d bytes: %w", limit, ErrTooLarge)
	}
	return out, nil
}

// parseDataset runs the DICOM library on a dataset that holds no top-level pixel data, behind a synthetic File
// Meta header that names the encoding, and turns a library panic into an error.
func parseDataset(data [][]byte, enc encoding) (ds dicom.Dataset, err error) {
	ts := map[encoding]string{encImplicitLE: tsImplicitLE, encExplicitLE: tsExplicitLE, encExplicitBE: tsExplicitBE}[enc]
	header := syntheticMeta(ts)
	defer func() {
		if r := recover(); r != nil {
			ds, err = dicom.Dataset{}, fmt.Errorf("the DICOM parser failed on this file (%v): %w", r, ErrMalformed)
		}
	}()
	readers := []io.Reader{bytes.NewReader(header)}
	size := int64(len(header))
	for _, d := range data {
		readers = append(readers, bytes.NewReader(d))
		size += int64(len(d))
	}
	ds, err = dicom.Parse(io.MultiReader(readers...), size, nil,
		dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet(), dicom.AllowMismatchPixelDataLength())
	if err != nil {
		err = fmt.Errorf("parse dataset: %v: %w", strings.TrimPrefix(err.Error(), "readElement: "), ErrMalformed)
	}
	return ds, err
}

// visible returns data without the hidden ranges, as segments (no copy).
func visible(data []byte, hidden [][2]int) [][]byte {
	var out [][]byte
	pos := 0
	for _, h := range hidden {
		if h[0] >= len(data) {
			break
		}
		out = append(out, data[pos:h[0]])
		pos = min(h[1], len(data))
	}
	return append(out, data[pos:])
}

// syntheticMeta is a preamble, "DICM" and a File Meta group holding only its length and the transfer syntax.
func syntheticMeta(ts string) []byte {
	uid := []byte(ts)
	if len(uid)%2 == 1 {
		uid = append(uid, 0)
	}
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	le := binary.LittleEndian
	el := func(elem uint16, vr string, val []byte) {
		b.Write(le.AppendUint16(nil, 0x0002))
		b.Write(le.AppendUint16(nil, elem))
		b.WriteString(vr)
		b.Write(le.AppendUint16(nil, uint16(len(val))))
		b.Write(val)
	}
	el(0x0000, "UL", le.AppendUint32(nil, uint32(8+len(uid))))
	el(0x0010, "UI", uid)
	return b.Bytes()
}
