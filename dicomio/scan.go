// Package dicomio turns a file — DICOM Part 10 (or a bare DICOM dataset), PNG or JPEG, recognised by content —
// into a Scan: pixel values in modality units plus the metadata a viewer shows, and renders it for display with
// the VOI transforms of DICOM PS3.3 C.11.2.1.2. It wraps github.com/suyashkumar/dicom; none of that library's
// types appear in this package's API.
//
// Reading is done in memory and defensively: the whole dataset is first walked by this package, which checks
// every declared length (recursing into sequences) against the bytes that remain and locates the pixel data;
// only then is the dataset before the pixel data handed to the library (behind a synthetic File Meta header that
// names the encoding, with any library panic turned into an error). Pixel data is never parsed by the library:
// Open locates the frames (native ones are slices of the pixel data, encapsulated ones are split into frames by
// the Extended or Basic Offset Table, else one fragment per frame, else start-of-image markers) and keeps only
// the pixel data; each frame is decoded (by package codec when compressed) when it is first used, so a corrupt
// compressed frame is reported by Frame, Render or Stored, not by Open. PNG and JPEG are decoded by Open.
//
// The last two frames decoded are kept, so a Scan holds about its stored pixel data plus two frames of float32
// values, whatever its number of frames; a Scan is safe for concurrent use.
//
// Caps, checked before anything is allocated (ErrTooLarge beyond them): files and inflated Deflate datasets of
// at most MaxFileSize (2 GiB, see WithMaxFileSize); Rows and Columns at most MaxDimension (65535); at most
// MaxFrames (10000) frames; at most MaxSamples (2^28) samples in all frames together; sequences nested at most
// 32 deep; PNG/JPEG headers may not promise more pixels than 2048 per byte of file.
package dicomio

// Format is the container a Scan was read from.
type Format string

// The formats Decode recognises by content.
const (
	FormatDICOM Format = "DICOM"
	FormatPNG   Format = "PNG"
	FormatJPEG  Format = "JPEG"
)

// Scan is one image file: the metadata a viewer needs and its frames, which are decoded to modality units when
// first asked for (Frame, Pixels, Render, Stored, MinMaxWindow). Memory held: the pixel data as stored plus the last two
// frames decoded. A Scan is safe for concurrent use by several goroutines (a viewer rendering while a classifier
// reads the same Scan) as long as no one modifies its exported fields.
type Scan struct {
	Path           string // as given to Open; empty for Decode
	Format         Format
	TransferSyntax string // UID; empty for PNG/JPEG

	Rows, Columns   int
	NumFrames       int
	SamplesPerPixel int // 1 for grey, 3 for colour (after conversion to RGB)
	// Photometric is the interpretation of the decoded pixels: MONOCHROME1, MONOCHROME2 or RGB (YBR_* and
	// PALETTE COLOR are converted to RGB on decode). StoredPhotometric is what the file declared.
	Photometric       string
	StoredPhotometric string

	BitsAllocated, BitsStored, HighBit int
	PixelRepresentation                int // 0 unsigned, 1 two's complement
	PlanarConfiguration                int

	RescaleSlope, RescaleIntercept float64 // 1 and 0 when the file has none
	RescaleType                    string  // "HU" for CT

	PixelSpacing Spacing
	// Windows are the VOI transforms the file carries, in file order: every Window Center/Width pair (with its
	// explanation and VOI LUT Function), then every item of the VOI LUT Sequence.
	Windows []Window

	Meta Metadata

	// Warnings lists problems that were tolerated while reading (a missing transfer syntax, an unreadable
	// private element after the image attributes …); empty for a clean file.
	Warnings []string

	// pixels locates each frame's stored bytes and caches the last frames decoded (nil for MetadataOnly).
	pixels *frameSource
	// integral is set when every value is an integer (integer pixels, integer rescale or a LUT).
	integral bool
	// rawBigEndian is set for native pixel data of an Explicit VR Big Endian file.
	rawBigEndian bool
	// floatPixels is 32 or 64 for Float / Double Float Pixel Data, 0 for integer Pixel Data.
	floatPixels int
	// modalityLUT is the Modality LUT Sequence's first item when the file has one (it replaces rescale).
	modalityLUT *LUT
	// palette holds the red, green and blue Palette Color LUTs; colorMax is the value of full intensity of a
	// colour sample in frames (255 for 8-bit RGB, 65535 for 16-bit …).
	palette  [3]LUT
	colorMax float32
	// storedSPP is the file's Samples per Pixel (1 for PALETTE COLOR, whose frames are RGB).
	storedSPP int
	// onDecode, when set, is told of every frame decoded (WithDecodeObserver).
	onDecode func(frame int)
}

// rawFrame is one frame's bytes; bitOffset is where a 1-bit frame starts within data (frames of 1-bit images
// need not start on a byte boundary).
type rawFrame struct {
	data      []byte
	bitOffset int
	// photometric is the interpretation of data when a codec converted colour (e.g. JPEG YBR to RGB).
	photometric string
}

// Spacing is the physical size of a pixel in millimetres; zero values mean unknown (square pixels assumed).
type Spacing struct {
	Row, Column float64 // distance between rows (vertical) and between columns (horizontal)
	Source      string  // "PixelSpacing", "ImagerPixelSpacing" or ""
}

// Metadata is what a viewer shows about a scan; empty strings where the file has no value.
type Metadata struct {
	PatientName, PatientID string
	StudyDate              string // as stored, YYYYMMDD
	StudyDescription       string
	SeriesDescription      string
	Modality               string // CT, CR, DX, MR …; "OT" for PNG/JPEG
	BodyPart               string
	SeriesNumber           string
	InstanceNumber         string
	SliceLocation          string
	Manufacturer           string
	SOPClassUID            string

	// Identity, geometry and population attributes for series indexing and the gate (read in geometry.go).
	StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, FrameOfReferenceUID string
	ImageType                                                                []string // upper case: ORIGINAL, PRIMARY, AXIAL, LOCALIZER …
	Instance, Acquisition                                                    Optional[int]
	SliceThickness, SpacingBetweenSlices                                     Optional[float64] // mm
	// Plane is where the (first) frame lies; FramePlanes holds every frame's plane of an Enhanced multi-frame
	// object (from its Per-frame / Shared Functional Groups), nil for other files.
	Plane                                                  Plane
	FramePlanes                                            []Plane
	PatientBirthDate, PatientAge, PatientSex, ViewPosition string // as stored (YYYYMMDD, "045Y", "F", "PA")

	// Tags lists the main tags in file order for a metadata panel.
	Tags []Tag
}

// Tag is one displayed attribute.
type Tag struct {
	Tag     string // "(0010,0010)"
	Keyword string // "PatientName"
	Value   string
}

// VOIFunction is the VOI LUT Function (0028,1056).
type VOIFunction string

// The VOI LUT Functions of PS3.3 C.11.2.1.3.
const (
	VOILinear      VOIFunction = "LINEAR"
	VOILinearExact VOIFunction = "LINEAR_EXACT"
	VOISigmoid     VOIFunction = "SIGMOID"
)

// Window is one VOI transform: a window centre/width with its function, or, when LUT is set, a VOI LUT.
type Window struct {
	Name     string // explanation from the file, or the preset name ("lung", "min-max" …)
	Center   float64
	Width    float64
	Function VOIFunction
	LUT      *LUT
}

// LUT is a VOI LUT Sequence item (PS3.3 C.11.2.1.1): input values below FirstMapped map to Data[0], above the
// last entry to Data[len-1]; outputs span 0 … 2^Bits-1.
type LUT struct {
	FirstMapped int
	Bits        int
	Data        []uint16
}

// StoredFrame is one frame's stored values with the dtype and shape pydicom's pixel_array reports.
type StoredFrame struct {
	Dtype string // NumPy dtype string: "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8"; ">" for big endian files
	Shape []int  // (rows, cols) or (rows, cols, samples); (frames, …) in front for StoredAll of a multi-frame file
	Data  []byte // in the dtype's byte order, C order
}
