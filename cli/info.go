package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tumortracer/tumortracer/about"
	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/dicomio/codec"
)

func init() {
	register("info", "describe scans: tumortracer info [--json] FILE...", runInfo)
}

// infoRecord is one line of `info --json`.
type infoRecord struct {
	Path                string         `json:"path"`
	Status              string         `json:"status"` // "ok" or "error"
	Error               string         `json:"error,omitempty"`
	Format              string         `json:"format,omitempty"`
	TransferSyntax      string         `json:"transfer_syntax,omitempty"`
	TransferSyntaxName  string         `json:"transfer_syntax_name,omitempty"`
	Rows                int            `json:"rows,omitempty"`
	Columns             int            `json:"columns,omitempty"`
	Frames              int            `json:"frames,omitempty"`
	SamplesPerPixel     int            `json:"samples_per_pixel,omitempty"`
	Photometric         string         `json:"photometric,omitempty"`
	StoredPhotometric   string         `json:"stored_photometric,omitempty"`
	BitsAllocated       int            `json:"bits_allocated,omitempty"`
	BitsStored          int            `json:"bits_stored,omitempty"`
	PixelRepresentation int            `json:"pixel_representation"`
	RescaleSlope        float64        `json:"rescale_slope,omitempty"`
	RescaleIntercept    float64        `json:"rescale_intercept"`
	RescaleType         string         `json:"rescale_type,omitempty"`
	PixelSpacing        []float64      `json:"pixel_spacing,omitempty"` // [row, column] in mm
	PixelSpacingSource  string         `json:"pixel_spacing_source,omitempty"`
	Windows             []windowRecord `json:"windows,omitempty"`
	Modality            string         `json:"modality,omitempty"`
	PatientName         string         `json:"patient_name,omitempty"`
	PatientID           string         `json:"patient_id,omitempty"`
	StudyDate           string         `json:"study_date,omitempty"`
	StudyDescription    string         `json:"study_description,omitempty"`
	SeriesDescription   string         `json:"series_description,omitempty"`
	BodyPart            string         `json:"body_part,omitempty"`
	SeriesNumber        string         `json:"series_number,omitempty"`
	InstanceNumber      string         `json:"instance_number,omitempty"`
	SliceLocation       string         `json:"slice_location,omitempty"`
	Manufacturer        string         `json:"manufacturer,omitempty"`
	SOPClassUID         string         `json:"sop_class_uid,omitempty"`
	Warnings            []string       `json:"warnings,omitempty"`
}

type windowRecord struct {
	Name     string  `json:"name"`
	Center   float64 `json:"center"`
	Width    float64 `json:"width"`
	Function string  `json:"function,omitempty"`
	LUT      bool    `json:"lut,omitempty"`
}

func runInfo(args []string, _ about.Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per file (JSON Lines)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tumortracer info [--json] FILE...")
		fs.PrintDefaults()
	}
	files, ok := parseInterspersed(fs, args)
	if !ok {
		return about.ExitUsage
	}
	if len(files) == 0 {
		fs.Usage()
		return about.ExitUsage
	}
	status := about.ExitOK
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, path := range files {
		rec := describe(path)
		if rec.Status != "ok" {
			status = about.ExitFailed
		}
		if *asJSON {
			if err := enc.Encode(rec); err != nil {
				fmt.Fprintf(stderr, "info: %v\n", err)
				return about.ExitFailed
			}
			continue
		}
		printInfo(stdout, rec)
	}
	return status
}

// describe opens one file and checks that every frame decodes, so that "ok" still means every frame can be
// shown now that Open decodes none: uncompressed frames are checked by Open itself (cheap), compressed ones are
// decoded one at a time and dropped (as costly as showing each once, but never more than one frame in memory).
// A file with an undecodable frame gets its metadata and an error naming the frame.
func describe(path string) infoRecord {
	rec := infoRecord{Path: path, Status: "ok"}
	s, err := dicomio.Open(path)
	if err == nil {
		err = s.CheckFrames()
	}
	if err != nil {
		rec.Status, rec.Error = "error", message(err, path)
	}
	if s == nil {
		return rec
	}
	rec.Format = string(s.Format)
	rec.TransferSyntax = s.TransferSyntax
	if s.TransferSyntax != "" {
		rec.TransferSyntaxName = codec.Name(s.TransferSyntax)
	}
	rec.Rows, rec.Columns, rec.Frames, rec.SamplesPerPixel = s.Rows, s.Columns, s.NumFrames, s.SamplesPerPixel
	rec.Photometric, rec.StoredPhotometric = s.Photometric, s.StoredPhotometric
	rec.BitsAllocated, rec.BitsStored, rec.PixelRepresentation = s.BitsAllocated, s.BitsStored, s.PixelRepresentation
	rec.RescaleSlope, rec.RescaleIntercept, rec.RescaleType = s.RescaleSlope, s.RescaleIntercept, s.RescaleType
	if s.PixelSpacing.Row > 0 {
		rec.PixelSpacing = []float64{s.PixelSpacing.Row, s.PixelSpacing.Column}
		rec.PixelSpacingSource = s.PixelSpacing.Source
	}
	for _, w := range s.Windows {
		rec.Windows = append(rec.Windows, windowRecord{Name: w.Name, Center: w.Center, Width: w.Width, Function: string(w.Function), LUT: w.LUT != nil})
	}
	m := s.Meta
	rec.Modality, rec.PatientName, rec.PatientID, rec.StudyDate = m.Modality, m.PatientName, m.PatientID, m.StudyDate
	rec.StudyDescription, rec.SeriesDescription, rec.BodyPart = m.StudyDescription, m.SeriesDescription, m.BodyPart
	rec.SeriesNumber, rec.InstanceNumber, rec.SliceLocation = m.SeriesNumber, m.InstanceNumber, m.SliceLocation
	rec.Manufacturer, rec.SOPClassUID = m.Manufacturer, m.SOPClassUID
	rec.Warnings = s.Warnings
	return rec
}

// message is the error's text without the "open PATH: " prefix the record already shows.
func message(err error, path string) string {
	return strings.TrimPrefix(err.Error(), "open "+path+": ")
}

func printInfo(w io.Writer, r infoRecord) {
	if r.Status != "ok" {
		fmt.Fprintf(w, "%s: error: %s\n", r.Path, r.Error)
		return
	}
	ts := r.TransferSyntaxName
	if ts == "" {
		ts = r.Format
	}
	fmt.Fprintf(w, "%s: %s %s %d×%d", r.Path, r.Format, orDash(r.Modality), r.Columns, r.Rows)
	if r.Frames > 1 {
		fmt.Fprintf(w, "×%d frames", r.Frames)
	}
	fmt.Fprintf(w, ", %s, %d/%d bits, %s", r.StoredPhotometric, r.BitsStored, r.BitsAllocated, ts)
	if len(r.PixelSpacing) == 2 {
		fmt.Fprintf(w, ", spacing %g×%g mm", r.PixelSpacing[0], r.PixelSpacing[1])
	}
	if len(r.Windows) > 0 {
		fmt.Fprintf(w, ", %d window(s), first W%g/L%g", len(r.Windows), r.Windows[0].Width, r.Windows[0].Center)
	}
	if r.PatientID != "" || r.StudyDate != "" {
		fmt.Fprintf(w, ", patient %s, study %s", orDash(r.PatientID), orDash(r.StudyDate))
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseInterspersed parses flags that may come before or after the positional arguments and returns the
// positional ones; ok is false on a usage error (already reported by fs).
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
