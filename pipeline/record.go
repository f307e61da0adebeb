package pipeline

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/tumortracer/tumortracer/inference"
)

// Record statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// ClassValue is one class's probability in a record.
type ClassValue struct {
	ID          string
	Probability float64
}

// Record is one input's line in the export: the columns are path, status, error, model, version, device, label,
// probability, then p_<class-id> per class, then (only when asked for) patient_id and patient_name.
type Record struct {
	Path                   string
	Status                 string // StatusOK or StatusError
	Error                  string // one sentence; empty when Status is ok
	Model, Version, Device string
	Label                  string
	Probability            float64 // of Label
	Probabilities          []ClassValue
	// PatientID and PatientName are filled only with Options.IncludePatient.
	PatientID, PatientName string
}

// ErrorRecord is the record of an input that could not be classified.
func ErrorRecord(path string, err error) Record {
	return Record{Path: path, Status: StatusError, Error: err.Error()}
}

func (r *Record) fill(m *inference.Model, p *inference.Prediction) {
	r.Status, r.Error = StatusOK, ""
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
	cols := []string{"path", "status", "error", "model", "version", "device", "label", "probability"}
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

// CSVWriter writes records as CSV with a header line.
type CSVWriter struct {
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
	if err := w.w.Write(Columns(w.classes, w.patient)); err != nil {
		return err
	}
	w.w.Flush()
	return w.w.Error()
}

// Write writes one record (after the header) and flushes it.
func (w *CSVWriter) Write(r Record) error {
	if err := w.WriteHeader(); err != nil {
		return err
	}
	row := []string{r.Path, r.Status, r.Error, r.Model, r.Version, r.Device, r.Label, ""}
	if r.Status == StatusOK {
		row[7] = formatP(r.Probability)
	}
	for _, id := range w.classes {
		v := ""
		if p, ok := r.P(id); ok {
			v = formatP(p)
		}
		row = append(row, v)
	}
	if w.patient {
		row = append(row, r.PatientID, r.PatientName)
	}
	if err := w.w.Write(row); err != nil {
		return err
	}
	w.w.Flush()
	return w.w.Error()
}

// JSONWriter writes records as JSON Lines: one object per line with the CSV's columns as fields, in the same
// order; p_<class> fields only for the record's own model; probability is null on error records.
type JSONWriter struct {
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
	field(false, "error", r.Error)
	field(false, "model", r.Model)
	field(false, "version", r.Version)
	field(false, "device", r.Device)
	field(false, "label", r.Label)
	if r.Status == StatusOK {
		field(false, "probability", r.Probability)
	} else {
		field(false, "probability", nil)
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
