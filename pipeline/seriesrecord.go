package pipeline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/tumortracer/tumortracer/dicomio"
	"github.com/tumortracer/tumortracer/study"
)

// SeriesRecord is one line of a per-series export (`classify --per series`, the window's series export). Its
// columns are status, error, reason, out_of_scope, model, version, device, series, series_description, slices,
// classified, refused, label, probability, rule, key_slice, then p_<class-id> per class (the series scores), then
// with identifiers study_uid, series_uid, patient_id and patient_name. reason and out_of_scope mean what they mean
// in a per-file record (Record), for the series. A file that is part of no series has a record of its own: no
// series key, its path in key_slice.
type SeriesRecord struct {
	Status string // StatusOK, StatusRefused or StatusError
	// Error is one sentence for people when the series failed (StatusError only).
	Error string
	// Reason is why the series was refused, or why an ok series is out of scope (it counts slices answered out of
	// scope because out-of-scope answers were asked for: SeriesSummary.Reason); empty otherwise.
	Reason string
	// OutOfScope is set on refused series and on series results that count out-of-scope answers.
	OutOfScope                  bool
	Model, Version, Device      string
	Series, Description         string
	Slices, Classified, Refused int
	Label                       string
	Probability                 float64 // the label's series score
	Rule                        string  // the series rule's name ("top-5-mean")
	KeySlice                    string  // the key slice's path, "#N" added for frame N of a multi-frame file
	Scores                      []ClassValue
	StudyUID, SeriesUID         string
	PatientID, PatientName      string
	problem                     *Problem
}

// Problem is why the record is not ok (nil for an ok record).
func (r *SeriesRecord) Problem() *Problem { return r.problem }

// NewSeriesRecord is the record of series s of ix from its summary (SummariseSeries; ignored for a series
// without slices, which is refused with a sentence saying what it holds); identifiers only when includePatient.
func NewSeriesRecord(ix *study.Index, s *study.Series, sum SeriesSummary, includePatient bool) SeriesRecord {
	if !s.Classifiable() {
		sum = notClassifiable(s)
	}
	r := SeriesRecord{
		Status: sum.Status, Model: sum.Model, Version: sum.Version, Device: sum.Device,
		Series: s.Key, Description: s.Description, Slices: len(s.Slices), Classified: sum.Classified, Refused: sum.Refused,
		Label: sum.Label, Probability: sum.Score, Scores: sum.Scores, problem: sum.Problem,
	}
	if r.Status == "" {
		r.Status, r.problem = StatusError, &Problem{Sentence: "The series was not classified.", Err: ErrNoSliceClassified}
	}
	switch {
	case r.Status == StatusError:
		r.Error = r.problem.Sentence
	case r.Status == StatusRefused:
		r.Reason, r.OutOfScope = r.problem.Sentence, true
	case sum.Reason != "":
		r.Reason, r.OutOfScope = sum.Reason, true
	}
	if sum.Rule != nil {
		r.Rule = sum.Rule.Name()
	}
	if sum.Key >= 0 && sum.Key < len(s.Slices) {
		r.KeySlice = SliceName(ix, s.Slices[sum.Key])
	}
	if includePatient {
		r.SeriesUID = s.UID
		if m := seriesMeta(ix, s); m != nil {
			r.StudyUID, r.PatientID, r.PatientName = m.StudyInstanceUID, m.PatientID, m.PatientName
		}
	}
	return r
}

// SliceName names a slice in exports: its path, with "#N" for frame N (1-based) of a multi-frame file.
func SliceName(ix *study.Index, sl study.Slice) string {
	if sl.Entry < len(ix.Entries) && ix.Entries[sl.Entry].Frames > 1 {
		return sl.Path + "#" + strconv.Itoa(sl.Frame+1)
	}
	return sl.Path
}

// seriesMeta is the header of the series' first file (slice, else object); nil when it has none.
func seriesMeta(ix *study.Index, s *study.Series) *dicomio.Metadata {
	i := -1
	if len(s.Slices) > 0 {
		i = s.Slices[0].Entry
	} else if len(s.Objects) > 0 {
		i = s.Objects[0]
	}
	if i < 0 || i >= len(ix.Entries) {
		return nil
	}
	return &ix.Entries[i].Meta
}

// SeriesColumns returns the header of a per-series export for the given class columns (see SeriesRecord).
func SeriesColumns(classIDs []string, includePatient bool) []string {
	cols := []string{"status", "error", "reason", "out_of_scope", "model", "version", "device", "series",
		"series_description", "slices", "classified", "refused", "label", "probability", "rule", "key_slice"}
	for _, id := range classIDs {
		cols = append(cols, "p_"+id)
	}
	if includePatient {
		cols = append(cols, "study_uid", "series_uid", "patient_id", "patient_name")
	}
	return cols
}

// SeriesRecordWriter writes series records one at a time; each is on its way to the underlying writer when Write
// returns.
type SeriesRecordWriter interface {
	Write(SeriesRecord) error
}

// P returns the record's series score for class id and whether it has one.
func (r *SeriesRecord) P(id string) (float64, bool) {
	for _, c := range r.Scores {
		if c.ID == id {
			return c.Probability, true
		}
	}
	return 0, false
}

// errorText is the error cell: the sentence, and for the command line its hint too.
func (r *SeriesRecord) errorText(commandLine bool) string {
	if commandLine && r.problem != nil && r.Status == StatusError {
		return r.problem.ForCLI()
	}
	return r.Error
}

// reasonText is the reason cell: the refusal's sentence, for the command line with its hint.
func (r *SeriesRecord) reasonText(commandLine bool) string {
	if commandLine && r.problem != nil && r.Status == StatusRefused {
		return r.problem.ForCLI()
	}
	return r.Reason
}

// SeriesCSVWriter writes series records as CSV with a header line, quoting cells a spreadsheet would take for a
// formula as CSVWriter does.
type SeriesCSVWriter struct {
	// CommandLine adds the command line's hints to error cells.
	CommandLine bool

	w       *csv.Writer
	classes []string
	patient bool
	started bool
}

// NewSeriesCSVWriter returns a CSV writer whose p_ columns are classIDs (see ClassColumns).
func NewSeriesCSVWriter(w io.Writer, classIDs []string, includePatient bool) *SeriesCSVWriter {
	return &SeriesCSVWriter{w: csv.NewWriter(w), classes: classIDs, patient: includePatient}
}

// WriteHeader writes the header line if it has not been written yet.
func (w *SeriesCSVWriter) WriteHeader() error {
	if w.started {
		return nil
	}
	w.started = true
	return writeLine(w.w, SeriesColumns(w.classes, w.patient))
}

// Write writes one record (after the header) and flushes it.
func (w *SeriesCSVWriter) Write(r SeriesRecord) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	prob := ""
	if r.Status == StatusOK {
		prob = formatP(r.Probability)
	}
	row := []string{r.Status, r.errorText(w.CommandLine), r.reasonText(w.CommandLine), strconv.FormatBool(r.OutOfScope),
		r.Model, r.Version, r.Device, r.Series, r.Description, strconv.Itoa(r.Slices), strconv.Itoa(r.Classified),
		strconv.Itoa(r.Refused), r.Label, prob, r.Rule, r.KeySlice}
	row = append(row, classCells(w.classes, r.P)...)
	if w.patient {
		row = append(row, r.StudyUID, r.SeriesUID, r.PatientID, r.PatientName)
	}
	return writeLine(w.w, row)
}

// SeriesJSONWriter writes series records as JSON Lines with the CSV's columns as fields, in the same order;
// p_<class> fields only for the record's own model; probability null unless ok; out_of_scope a boolean. Values are
// exact.
type SeriesJSONWriter struct {
	// CommandLine adds the command line's hints to error fields.
	CommandLine bool

	w       io.Writer
	patient bool
	obj     jsonObject
}

// NewSeriesJSONWriter returns a JSON Lines writer for series records.
func NewSeriesJSONWriter(w io.Writer, includePatient bool) *SeriesJSONWriter {
	return &SeriesJSONWriter{w: w, patient: includePatient}
}

// Write writes one record as one line.
func (w *SeriesJSONWriter) Write(r SeriesRecord) error {
	o := &w.obj
	o.start()
	o.field("status", r.Status)
	o.field("error", r.errorText(w.CommandLine))
	o.field("reason", r.reasonText(w.CommandLine))
	o.field("out_of_scope", r.OutOfScope)
	o.field("model", r.Model)
	o.field("version", r.Version)
	o.field("device", r.Device)
	o.field("series", r.Series)
	o.field("series_description", r.Description)
	o.field("slices", r.Slices)
	o.field("classified", r.Classified)
	o.field("refused", r.Refused)
	o.field("label", r.Label)
	if r.Status == StatusOK {
		o.field("probability", r.Probability)
	} else {
		o.field("probability", nil)
	}
	o.field("rule", r.Rule)
	o.field("key_slice", r.KeySlice)
	for _, c := range r.Scores {
		o.field("p_"+c.ID, c.Probability)
	}
	if w.patient {
		o.field("study_uid", r.StudyUID)
		o.field("series_uid", r.SeriesUID)
		o.field("patient_id", r.PatientID)
		o.field("patient_name", r.PatientName)
	}
	_, err := w.w.Write(o.end())
	return err
}

// jsonObject builds one JSON Lines object field by field, in the order given, for the per-file and the per-series
// writers: probabilities with formatP's six decimals (as the CSV writes them), nil as null, everything else as
// encoding/json writes it (a json.Number as the number it holds).
type jsonObject struct {
	buf    bytes.Buffer
	fields int
}

func (o *jsonObject) start() { o.buf.Reset(); o.buf.WriteByte('{'); o.fields = 0 }

func (o *jsonObject) field(name string, v any) {
	if o.fields > 0 {
		o.buf.WriteByte(',')
	}
	o.fields++
	k, _ := json.Marshal(name)
	o.buf.Write(k)
	o.buf.WriteByte(':')
	switch x := v.(type) {
	case float64:
		o.buf.WriteString(formatP(x))
	case nil:
		o.buf.WriteString("null")
	default:
		j, _ := json.Marshal(x)
		o.buf.Write(j)
	}
}

// end closes the object and returns the line (valid until the next start).
func (o *jsonObject) end() []byte { o.buf.WriteString("}\n"); return o.buf.Bytes() }
