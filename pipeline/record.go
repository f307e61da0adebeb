package pipeline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/tumortracer/tumortracer/inference"
)

// Record statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
	// StatusRefused: no model may answer (a Chooser's refusal); a refusal is an answer, not a failure.
	StatusRefused = "refused"
)

// ClassValue is one class's probability in a record.
type ClassValue struct {
	ID          string
	Probability float64
}

// Record is one input's line in the export: the columns are path, status, error, model, version, device, label,
// probability, frame, then p_<class-id> per class, then (only when asked for) patient_id and patient_name.
type Record struct {
	Path                   string
	Status                 string // StatusOK or StatusError
	Error                  string // one sentence for people; empty when Status is ok
	Model, Version, Device string
	Label                  string
	Probability            float64 // of Label
	// Frame is the 1-based number of the frame classified (1 for a single-frame file); 0 when the file could not
	// be opened.
	Frame         int
	Probabilities []ClassValue
	// PatientID and PatientName are filled only with Options.IncludePatient.
	PatientID, PatientName string
	// Modality is the file's DICOM Modality ("OT" for PNG/JPEG), for the window's table; not a column.
	Modality string
	// problem is the failure behind Error, with the hints of each front end.
	problem *Problem
	// refused marks a record whose Chooser refused the scan (see Refused).
	refused bool
}

// Refused reports a record no model was allowed to answer: a refusal by the Chooser, whether the record carries
// it as StatusRefused or as an error record made from the refusal. Series results leave refused slices out.
func (r *Record) Refused() bool { return r.Status == StatusRefused || r.refused }

// ErrorRecord is the record of an input that could not be classified.
func ErrorRecord(path string, err error) Record {
	r := Record{Path: path}
	r.fail(err)
	return r
}

// Problem is the failure of an error record (nil for an ok record).
func (r *Record) Problem() *Problem { return r.problem }

// fail turns the record into an error record for err, keeping what it knows about the file.
func (r *Record) fail(err error) {
	r.problem = Explain(err)
	r.Status, r.Error = StatusError, r.problem.Sentence
	r.Model, r.Version, r.Device, r.Label, r.Probability, r.Probabilities = "", "", "", "", 0, nil
}

func (r *Record) fill(m *inference.Model, p *inference.Prediction) {
	r.Status, r.Error, r.problem, r.refused = StatusOK, "", nil, false
	r.Model, r.Version, r.Device = m.Manifest.ID, m.Manifest.Version, p.Device
	r.Label, r.Probability = p.Label, p.Probability
	r.Probabilities = r.Probabilities[:0]
	for _, c := range p.Classes {
		r.Probabilities = append(r.Probabilities, ClassValue{ID: c.ID, Probability: c.Probability})
	}
}

// P returns the record's probability for class id and whether the record has it.
func (r *Record) P(id string) (float64, bool) {
	for _, c := range r.Probabilities {
		if c.ID == id {
			return c.Probability, true
		}
	}
	return 0, false
}

// ClassColumns returns the class ids that get a p_<id> column for a set of models: every class of every model,
// first appearance first.
func ClassColumns(models []*inference.Model) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range models {
		for _, c := range m.Manifest.Classes {
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c.ID)
			}
		}
	}
	return out
}

// Columns returns the header for the given class columns.
func Columns(classIDs []string, includePatient bool) []string {
	cols := []string{"path", "status", "error", "model", "version", "device", "label", "probability", "frame"}
	for _, id := range classIDs {
		cols = append(cols, "p_"+id)
	}
	if includePatient {
		cols = append(cols, "patient_id", "patient_name")
	}
	return cols
}

// RecordWriter writes records one at a time; each is on its way to the underlying writer when Write returns.
type RecordWriter interface {
	Write(Record) error
}

func formatP(p float64) string { return strconv.FormatFloat(p, 'f', 6, 64) }

// errorText is the error cell: the sentence, and for the command line its hint too.
func errorText(r *Record, commandLine bool) string {
	if commandLine && r.problem != nil {
		return r.problem.ForCLI()
	}
	return r.Error
}

// frameText is the frame cell: empty when no frame was reached.
func frameText(r *Record) string {
	if r.Frame < 1 {
		return ""
	}
	return strconv.Itoa(r.Frame)
}

// CSVWriter writes records as CSV with a header line. Cells that a spreadsheet would take for a formula (they
// start with =, +, -, @, a tab or a carriage return: file names and DICOM text are anyone's) get a leading '
// so that they show as text; JSON Lines keep every value exact.
type CSVWriter struct {
	// CommandLine adds the command line's hints to error cells ("Give --model …").
	CommandLine bool

	w       *csv.Writer
	classes []string
	patient bool
	started bool
}

// NewCSVWriter returns a CSV writer whose p_ columns are classIDs (see ClassColumns).
func NewCSVWriter(w io.Writer, classIDs []string, includePatient bool) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w), classes: classIDs, patient: includePatient}
}

// WriteHeader writes the header line if it has not been written yet.
func (w *CSVWriter) WriteHeader() error {
	if w.started {
		return nil
	}
	w.started = true
	return writeLine(w.w, Columns(w.classes, w.patient))
}

// Write writes one record (after the header) and flushes it.
func (w *CSVWriter) Write(r Record) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	row := []string{r.Path, r.Status, errorText(&r, w.CommandLine), r.Model, r.Version, r.Device, r.Label, "", frameText(&r)}
	if r.Status == StatusOK {
		row[7] = formatP(r.Probability)
	}
	row = append(row, classCells(w.classes, r.P)...)
	if w.patient {
		row = append(row, r.PatientID, r.PatientName)
	}
	return writeLine(w.w, row)
}

// classCells are the p_ cells of classes: the probability p gives, empty where it has none.
func classCells(classes []string, p func(id string) (float64, bool)) []string {
	out := make([]string, len(classes))
	for i, id := range classes {
		if v, ok := p(id); ok {
			out[i] = formatP(v)
		}
	}
	return out
}

// writeLine writes one CSV line, each cell as spreadsheet text (AsSpreadsheetText), and flushes it.
func writeLine(w *csv.Writer, row []string) error {
	for i, cell := range row {
		row[i] = AsSpreadsheetText(cell)
	}
	if err := w.Write(row); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}

// AsSpreadsheetText returns cell with a leading ' when a spreadsheet would read it as a formula (OWASP's CSV
// injection advice: =, +, -, @, tab, carriage return), unchanged otherwise.
func AsSpreadsheetText(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// JSONWriter writes records as JSON Lines: one object per line with the CSV's columns as fields, in the same
// order; p_<class> fields only for the record's own model; probability and frame are null when unknown. Values
// are written exactly as they are (no spreadsheet quoting).
type JSONWriter struct {
	// CommandLine adds the command line's hints to error fields.
	CommandLine bool

	w       io.Writer
	patient bool
	buf     bytes.Buffer
}

// NewJSONWriter returns a JSON Lines writer.
func NewJSONWriter(w io.Writer, includePatient bool) *JSONWriter {
	return &JSONWriter{w: w, patient: includePatient}
}

// Write writes one record as one line.
func (w *JSONWriter) Write(r Record) error {
	b := &w.buf
	b.Reset()
	field := func(first bool, name string, v interface{}) {
		if !first {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		switch x := v.(type) {
		case float64:
			b.WriteString(formatP(x))
		case nil:
			b.WriteString("null")
		default:
			j, _ := json.Marshal(x)
			b.Write(j)
		}
	}
	b.WriteByte('{')
	field(true, "path", r.Path)
	field(false, "status", r.Status)
	field(false, "error", errorText(&r, w.CommandLine))
	field(false, "model", r.Model)
	field(false, "version", r.Version)
	field(false, "device", r.Device)
	field(false, "label", r.Label)
	if r.Status == StatusOK {
		field(false, "probability", r.Probability)
	} else {
		field(false, "probability", nil)
	}
	if r.Frame > 0 {
		field(false, "frame", r.Frame)
	} else {
		field(false, "frame", nil)
	}
	for _, c := range r.Probabilities {
		field(false, "p_"+c.ID, c.Probability)
	}
	if w.patient {
		field(false, "patient_id", r.PatientID)
		field(false, "patient_name", r.PatientName)
	}
	b.WriteString("}\n")
	_, err := w.w.Write(b.Bytes())
	return err
}
