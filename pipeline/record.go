package pipeline

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/tumortracer/tumortracer/inference"
)

// Record statuses.
const (
	StatusOK = "ok"
	// StatusRefused: no model may answer the input (the Chooser's refusal, or the model's out-of-scope check after
	// its forward run). A refusal is an answer, not a failure: Reason says why, and the exit status stays 0.
	StatusRefused = "refused"
	StatusError   = "error"
)

// ClassValue is one class's probability in a record.
type ClassValue struct {
	ID          string
	Probability float64
}

// Record is one input's line in the export: the columns are path, status, error, reason, out_of_scope, model,
// gate, seen_as, scope_score, version, device, label, probability, frame, then p_<class-id> per class, then (only
// when asked for) patient_id and patient_name.
type Record struct {
	Path   string
	Status string // StatusOK, StatusRefused or StatusError
	Error  string // one sentence for people; set for StatusError only
	// Reason is the refusal's sentence for a refused record, or, for an answer given although it failed a check
	// (Options.AllowOutOfScope: --allow-out-of-scope, the window's "Show anyway"), why it is out of scope; empty
	// otherwise.
	Reason string
	// OutOfScope is set on refused records and on answers given out of scope: the mark every view shows.
	OutOfScope bool
	// Model is the model that answered, or for a refused record the one that was considered (empty when the image
	// fits no model); Version is its version.
	Model, Version, Device string
	// Gate is the gate that looked at the image ("gate@1.1.0"), SeenAs its class and SeenAsProbability that class's
	// probability; empty when no gate ran (none installed, or the input failed before it).
	Gate, SeenAs      string
	SeenAsProbability float64
	// ScopeScore is the squared Mahalanobis distance of the model's pooled features from its training data and
	// ScopeThreshold the model's limit, when Scored (the model has out-of-scope statistics and its forward ran).
	ScopeScore, ScopeThreshold float64
	Scored                     bool
	Label                      string
	Probability                float64 // of Label
	// Frame is the 1-based number of the frame classified (1 for a single-frame file); 0 when the file could not
	// be opened.
	Frame         int
	Probabilities []ClassValue
	// PatientID and PatientName are filled only with Options.IncludePatient.
	PatientID, PatientName string
	// Modality is the file's DICOM Modality ("OT" for PNG/JPEG), for the window's table; not a column.
	Modality string
	// problem is the failure behind Error, or the refusal behind Reason, with the hints of each front end.
	problem *Problem
}

// ErrorRecord is the record of an input that could not be classified.
func ErrorRecord(path string, err error) Record {
	r := Record{Path: path}
	r.fail(err)
	return r
}

// Problem is the failure of an error record or the refusal of a refused record, with each front end's hint (nil
// for an ok record).
func (r *Record) Problem() *Problem { return r.problem }

// Refused reports a record no model was allowed to answer (StatusRefused). An answer given out of scope on request
// is not refused: it is an ok record with OutOfScope set.
func (r *Record) Refused() bool { return r.Status == StatusRefused }

// AnsweredOutOfScope reports an answer given although the image failed a check (Options.AllowOutOfScope): an ok
// record with OutOfScope set. A series result leaves it out unless out-of-scope answers were asked for the series.
func (r *Record) AnsweredOutOfScope() bool { return r.Status == StatusOK && r.OutOfScope }

// Overridable reports a refusal the person may override (Options.AllowOutOfScope: --allow-out-of-scope, "Show
// anyway"): the gate, a tag or the model's scope statistics refused the image. Refusals with no model to ask (no
// model for the modality, a route to a model that is not installed, a gate forced as the model) are not.
func (r *Record) Overridable() bool {
	return r.Refused() && r.problem != nil && (errors.Is(r.problem, ErrOutOfScope) || errors.Is(r.problem, ErrOutsidePopulation))
}

// fail turns the record into an error record for err, keeping what it knows about the file.
func (r *Record) fail(err error) {
	r.problem = Explain(err)
	r.Status, r.Error, r.Reason, r.OutOfScope = StatusError, r.problem.Sentence, "", false
	r.clearAnswer()
	r.Model, r.Version = "", ""
}

// refuse turns the record into a refusal: p says why. The model considered, the gate's view and the scope score
// stay, the answer goes.
func (r *Record) refuse(p *Problem) {
	r.problem = p
	r.Status, r.Error, r.Reason, r.OutOfScope = StatusRefused, "", p.Sentence, true
	r.clearAnswer()
}

// clearAnswer drops the model's answer.
func (r *Record) clearAnswer() {
	r.Device, r.Label, r.Probability, r.Probabilities = "", "", 0, nil
}

func (r *Record) fill(m *inference.Model, p *inference.Prediction) {
	r.Status, r.Error, r.problem = StatusOK, "", nil
	r.Model, r.Version, r.Device = m.Manifest.ID, m.Manifest.Version, p.Device
	r.Label, r.Probability = p.Label, p.Probability
	r.Probabilities = r.Probabilities[:0]
	for _, c := range p.Classes {
		r.Probabilities = append(r.Probabilities, ClassValue{ID: c.ID, Probability: c.Probability})
	}
}

// markOutOfScope marks an answer given although it failed a check, with why.
func (r *Record) markOutOfScope(p *Problem) {
	r.OutOfScope, r.Reason = true, p.Sentence
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
	cols := []string{"path", "status", "error", "reason", "out_of_scope", "model", "gate", "seen_as", "scope_score",
		"version", "device", "label", "probability", "frame"}
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
	if commandLine && r.problem != nil && r.Status == StatusError {
		return r.problem.ForCLI()
	}
	return r.Error
}

// reasonText is the reason cell: the refusal's sentence, for the command line with its hint (how to get the answer
// anyway), or the out-of-scope sentence of an answer given anyway.
func reasonText(r *Record, commandLine bool) string {
	if commandLine && r.problem != nil && r.Status == StatusRefused {
		return r.problem.ForCLI()
	}
	return r.Reason
}

// scopeText is the scope_score cell: empty when the check did not run.
func scopeText(r *Record) string {
	if !r.Scored {
		return ""
	}
	return strconv.FormatFloat(r.ScopeScore, 'f', 3, 64)
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
	prob := ""
	if r.Status == StatusOK {
		prob = formatP(r.Probability)
	}
	row := []string{r.Path, r.Status, errorText(&r, w.CommandLine), reasonText(&r, w.CommandLine),
		strconv.FormatBool(r.OutOfScope), r.Model, r.Gate, r.SeenAs, scopeText(&r), r.Version, r.Device, r.Label, prob,
		frameText(&r)}
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
// order; p_<class> fields only for the record's own model; probability, frame and scope_score are null when
// unknown; out_of_scope is a boolean. Values are written exactly as they are (no spreadsheet quoting).
type JSONWriter struct {
	// CommandLine adds the command line's hints to error fields.
	CommandLine bool

	w       io.Writer
	patient bool
	obj     jsonObject
}

// NewJSONWriter returns a JSON Lines writer.
func NewJSONWriter(w io.Writer, includePatient bool) *JSONWriter {
	return &JSONWriter{w: w, patient: includePatient}
}

// Write writes one record as one line.
func (w *JSONWriter) Write(r Record) error {
	o := &w.obj
	o.start()
	o.field("path", r.Path)
	o.field("status", r.Status)
	o.field("error", errorText(&r, w.CommandLine))
	o.field("reason", reasonText(&r, w.CommandLine))
	o.field("out_of_scope", r.OutOfScope)
	o.field("model", r.Model)
	o.field("gate", r.Gate)
	o.field("seen_as", r.SeenAs)
	if r.Scored {
		o.field("scope_score", json.Number(scopeText(&r)))
	} else {
		o.field("scope_score", nil)
	}
	o.field("version", r.Version)
	o.field("device", r.Device)
	o.field("label", r.Label)
	if r.Status == StatusOK {
		o.field("probability", r.Probability)
	} else {
		o.field("probability", nil)
	}
	if r.Frame > 0 {
		o.field("frame", r.Frame)
	} else {
		o.field("frame", nil)
	}
	for _, c := range r.Probabilities {
		o.field("p_"+c.ID, c.Probability)
	}
	if w.patient {
		o.field("patient_id", r.PatientID)
		o.field("patient_name", r.PatientName)
	}
	_, err := w.w.Write(o.end())
	return err
}
