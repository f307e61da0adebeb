package ui

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
	"github.com/tumortracer/tumortracer/pipeline"
)

// meanGrey is the scripted engine's answer in these tests: P(pneumonia) is an image's mean grey level / 255, so a
// brighter slice scores higher and the test knows which slice must be the key slice.
func meanGrey(img image.Image) float64 {
	b := img.Bounds()
	sum := 0.0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
			sum += float64(c.Y)
		}
	}
	return sum / float64(b.Dx()*b.Dy()) / 255
}

// twoSeriesFolder writes into dir a 6-slice chest CT series with shuffled names and Instance Numbers that run
// against the positions, its slice at z = 30 the brightest (HU below, P(pneumonia) 0.57 to 0.9 in the lung window); a 3-slice second series; a PNG picture and
// a file that is no image. modality, when set, replaces CT in the first series' slices at z ≥ 40. It returns the
// first series' file names in position order.
func twoSeriesFolder(t *testing.T, dir string, modality string) []string {
	t.Helper()
	one := dicomsynth.Series{Description: "Chest 1.25", SeriesNumber: 2}
	two := dicomsynth.Series{Description: "Chest soft tissue", SeriesNumber: 3}
	hu := []int{-300, -500, -200, 0, -400, -350}
	names := []string{"f.dcm", "b.dcm", "e.dcm", "a.dcm", "d.dcm", "c.dcm"}
	instances := []int{3, 6, 1, 5, 2, 4} // neither the positions' order nor its reverse
	for i, h := range hu {
		z := float64(10 * i)
		ds := one.CTSlice(dicomsynth.Slice{Position: [3]float64{-175, -175, z}, Instance: instances[i], Values: dicomsynth.FlatValues(256, h)})
		if modality != "" && z >= 40 {
			ds = append(dicomsynth.Without(ds, dicomsynth.TagModality), dicomsynth.Text(dicomsynth.TagModality, "CS", modality))
		}
		if err := dicomsynth.Write(filepath.Join(dir, names[i]), ds); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range dicomsynth.Axial(3, 0, 5) {
		ds := two.CTSlice(dicomsynth.Slice{Position: p, Instance: i + 1, Values: dicomsynth.FlatValues(256, -950)})
		if err := dicomsynth.Write(filepath.Join(dir, fmt.Sprintf("z%d.dcm", i)), ds); err != nil {
			t.Fatal(err)
		}
	}
	writeGreyPNG(t, filepath.Join(dir, "photo.png"), 8, 8, func(x, y int) uint16 { return uint16(x * 4000) })
	if err := os.WriteFile(filepath.Join(dir, "junk.dcm"), []byte("no image"), 0o644); err != nil {
		t.Fatal(err)
	}
	return names
}

// settled reports that indexing, the batch, the frame jobs and the series results are all done.
func settled(vw *viewer) bool {
	running, _, _ := vw.lib.indexing()
	if running || vw.batch.running || vw.frames.running || vw.results.scheduled || len(vw.lib.index.Entries) == 0 {
		return false
	}
	for _, s := range vw.lib.index.AllSeries() {
		if r := vw.results.of(s.Key); s.Classifiable() && (r == nil || r.sum.Pending > 0) {
			return false
		}
	}
	return true
}

// TestStudyBrowserAndSeriesResult drops a folder holding two CT series, a picture and a file that is no image: the
// browser lists both series, the picture folder and the outsider; the first series' slices are in position order
// whatever the file names and Instance Numbers say; its series result is the rule applied to the batch rows' own
// records, with the brightest slice as key slice; the strip has one mark per slice and jumps where it is tapped;
// K, arrows and [ ] move as the help says; the series export and the key-slice report are written.
func TestStudyBrowserAndSeriesResult(t *testing.T) {
	dir := t.TempDir()
	names := twoSeriesFolder(t, dir, "")
	eng := &scriptedEngine{pneumonia: meanGrey}
	vw := newTestViewer(t, scriptedParts(eng, nil, nil))
	vw.dropped(fyne.NewPos(5, 5), []fyne.URI{storage.NewFileURI(dir)})
	waitFor(t, "indexing, the batch and the series results", func() bool { return settled(vw) && vw.scan != nil })

	all := vw.lib.index.AllSeries()
	if len(all) != 2 {
		t.Fatalf("%d series, want 2", len(all))
	}
	one, two := all[0], all[1]
	if one.Description != "Chest 1.25" || two.Description != "Chest soft tissue" {
		t.Fatalf("series %q, %q", one.Description, two.Description)
	}
	for _, uid := range []string{seriesUID(one.Key), seriesUID(two.Key), groupUID(0), otherUID} {
		if _, ok := vw.browser.items[uid]; !ok {
			t.Errorf("the browser lacks %s; it has %v", uid, vw.browser.children)
		}
	}
	if it := vw.browser.items[seriesUID(one.Key)]; it.detail != "CT · 6 slices" || !strings.HasPrefix(it.ai, "Pneumonia ") {
		t.Errorf("series lines %q — %q — %q", it.title, it.detail, it.ai)
	}
	var order []string
	for _, sl := range one.Slices {
		order = append(order, filepath.Base(sl.Path))
	}
	if !slices.Equal(order, names) {
		t.Fatalf("slices in order %v, want the position order %v", order, names)
	}

	// The series result is the rule (top-2 mean) applied to the records in the batch rows.
	r := vw.results.of(one.Key)
	var ps []float64
	for _, sl := range one.Slices {
		p, _ := rowOf(vw, filepath.Base(sl.Path)).result.rec.P("pneumonia")
		ps = append(ps, p)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(ps)))
	if r.sum.Status != pipeline.StatusOK || r.sum.Label != "pneumonia" || math.Abs(r.sum.Score-(ps[0]+ps[1])/2) > 1e-12 ||
		r.sum.Classified != 6 || filepath.Base(one.Slices[r.sum.Key].Path) != "a.dcm" {
		t.Fatalf("series result %+v (key %s), want pneumonia at the top-2 mean of %v, key slice a.dcm", r.sum, one.Slices[max(r.sum.Key, 0)].Path, ps)
	}

	// Opening the series shows its key slice; the strip has one mark per slice, the key slice's green.
	vw.openSeries(one.Key)
	waitFor(t, "the key slice", func() bool { return filepath.Base(vw.path) == "a.dcm" && vw.current == seriesUID(one.Key) })
	if len(vw.stack) != 6 || vw.stackAt != 3 || len(vw.strip.marks) != 6 || !vw.strip.marks[3].key {
		t.Fatalf("stack %d at %d, %d marks (key %v)", len(vw.stack), vw.stackAt, len(vw.strip.marks), vw.strip.marks)
	}
	for i, m := range vw.strip.marks {
		if m.state != markClassified || math.Abs(m.p-probabilityOf(r.analyses[i], "pneumonia")) > 1e-12 {
			t.Errorf("mark %d %+v", i, m)
		}
	}
	img := vw.strip.draw(120, stripHeight)
	x0, x1 := markSpan(3, 6, 120)
	if c := color.NRGBAModel.Convert(img.At((x0+x1)/2, stripHeight-6)).(color.NRGBA); c != colStripKey {
		t.Errorf("key slice's mark drawn %v, want %v", c, colStripKey)
	}
	if !strings.Contains(vw.seriesPanel.rule.Text, "not validated") || !strings.Contains(vw.seriesPanel.result.Text, "Pneumonia — series score") {
		t.Errorf("series panel: %q / %q", vw.seriesPanel.result.Text, vw.seriesPanel.rule.Text)
	}
	select {
	case <-vw.seriesPanel.keyRendered:
	default:
		waitFor(t, "the key slice's CAM image", func() bool { return vw.seriesPanel.keyImage.Image != nil })
	}

	// Tap the strip on the first mark; the arrows step; K comes back to the key slice.
	vw.strip.Resize(fyne.NewSize(120, stripHeight))
	vw.strip.Tapped(&fyne.PointEvent{Position: fyne.NewPos(5, 5)})
	waitFor(t, "the first slice", func() bool { return filepath.Base(vw.path) == names[0] })
	vw.typedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	waitFor(t, "the second slice", func() bool { return filepath.Base(vw.path) == names[1] && vw.stackAt == 1 })
	vw.typedRune('k')
	waitFor(t, "the key slice again", func() bool { return filepath.Base(vw.path) == "a.dcm" && vw.stackAt == 3 })
	vw.typedRune(']')
	waitFor(t, "the next series", func() bool {
		return vw.current == seriesUID(two.Key) && vw.scan != nil && strings.HasPrefix(filepath.Base(vw.path), "z")
	})
	vw.typedRune('[')
	waitFor(t, "back to the first series", func() bool { return vw.current == seriesUID(one.Key) })

	// Export per series: the two series, then the picture and the outsider, with the command line's columns.
	recs := vw.seriesRecords(false)
	var buf bytes.Buffer
	if err := vw.an.ExportSeries(&buf, "csv", recs, false); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("export rows %v, %v", rows, err)
	}
	if got := strings.Join(rows[0], ","); got != "status,error,reason,out_of_scope,model,version,device,series,series_description,slices,classified,refused,label,probability,rule,key_slice,p_normal,p_pneumonia" {
		t.Fatalf("export header %s", got)
	}
	if rows[1][0] != "ok" || rows[1][3] != "false" || rows[1][7] != one.Key || rows[1][14] != "top-2-mean" || filepath.Base(rows[1][15]) != "a.dcm" {
		t.Fatalf("first series' export row %v", rows[1])
	}

	// The export dialog offers both.
	vw.showExport()
	dlg := vw.win.Canvas().Overlays().Top()
	if dlg == nil || !strings.Contains(test.RenderObjectToMarkup(dlg), "One record per series (2 series, then the files outside any series)") {
		t.Fatal("the export dialog does not offer the per-series export")
	}
	vw.win.Canvas().Overlays().Remove(dlg)

	// The key-slice report.
	buf.Reset()
	if err := vw.writeReport(&buf, r, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := png.Decode(&buf)
	if err != nil || rep.Bounds().Dx() != 760 {
		t.Fatalf("report %v, %v", rep.Bounds(), err)
	}
}

// TestRefusedSlicesInTheWindow: slices no model may answer (here MR slices, which the test model does not accept,
// in a CT series) are marked refused on the strip and left out of the series result; a series whose slices are all
// refused says so.
func TestRefusedSlicesInTheWindow(t *testing.T) {
	dir := t.TempDir()
	twoSeriesFolder(t, dir, "MR")
	vw := newTestViewer(t, scriptedParts(&scriptedEngine{pneumonia: meanGrey}, nil, nil))
	vw.open([]string{dir})
	waitFor(t, "the series results", func() bool { return settled(vw) })
	one := vw.lib.index.AllSeries()[0]
	r := vw.results.of(one.Key)
	if r.sum.Status != pipeline.StatusOK || r.sum.Classified != 4 || r.sum.Refused != 2 || filepath.Base(one.Slices[r.sum.Key].Path) != "a.dcm" {
		t.Fatalf("summary %+v", r.sum)
	}
	vw.openSeries(one.Key)
	waitFor(t, "the series on screen", func() bool { return vw.current == seriesUID(one.Key) && len(vw.strip.marks) == 6 })
	var states []markState
	for _, m := range vw.strip.marks {
		states = append(states, m.state)
	}
	if !slices.Equal(states, []markState{markClassified, markClassified, markClassified, markClassified, markRefused, markRefused}) {
		t.Fatalf("marks %v, want the two MR slices refused", states)
	}
	if !strings.Contains(vw.seriesPanel.counts.Text, "4 of 6 slices classified, 2 refused (left out)") {
		t.Fatalf("counts line %q", vw.seriesPanel.counts.Text)
	}
}

// TestDICOMDIRDropOpensItsSeries: a DICOMDIR dropped alone is indexed, not classified: the files it lists are
// queued, the first is shown, and its series gets a result.
func TestDICOMDIRDropOpensItsSeries(t *testing.T) {
	dir := t.TempDir()
	var sl []dicomsynth.Slice
	for i, p := range dicomsynth.Axial(4, 0, 2) {
		sl = append(sl, dicomsynth.Slice{Position: p, Instance: i + 1, Values: dicomsynth.FlatValues(256, -300+100*i)})
	}
	paths, err := dicomsynth.WriteFileSet(dir, []dicomsynth.Series{{Description: "On the CD"}}, [][]dicomsynth.Slice{sl})
	if err != nil {
		t.Fatal(err)
	}
	vw := newTestViewer(t, scriptedParts(&scriptedEngine{pneumonia: meanGrey}, nil, nil))
	vw.dropped(fyne.NewPos(5, 5), []fyne.URI{storage.NewFileURI(filepath.Join(dir, "DICOMDIR"))})
	waitFor(t, "the DICOMDIR's series", func() bool { return settled(vw) && vw.scan != nil })
	all := vw.lib.index.AllSeries()
	if len(all) != 1 || all[0].Description != "On the CD" || len(all[0].Slices) != 4 {
		t.Fatalf("series %+v", all)
	}
	if len(vw.batch.rows) != 4 || vw.batch.byPath[filepath.Join(dir, "DICOMDIR")] != nil {
		t.Fatalf("%d rows (want the 4 listed files, not the DICOMDIR itself)", len(vw.batch.rows))
	}
	if r := vw.results.of(all[0].Key); r.sum.Status != pipeline.StatusOK || r.sum.Classified != 4 || all[0].Slices[r.sum.Key].Path != paths[3] {
		t.Fatalf("summary %+v", r.sum)
	}
	if !slices.Contains(paths, vw.path) {
		t.Fatalf("showing %s, want one of the listed files", vw.path)
	}
}

// TestEnhancedCTSeriesInWindow: an Enhanced CT is one file holding a series; its record's frame comes from the
// batch row and every other frame is classified once through one more open of the file; the slider moves through
// the frames in position order.
func TestEnhancedCTSeriesInWindow(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "Enhanced chest"}
	frames := []dicomsynth.Slice{{Position: [3]float64{0, 0, 10}}, {Position: [3]float64{0, 0, 20}}, {Position: [3]float64{0, 0, 30}}, {Position: [3]float64{0, 0, 0}}}
	path := filepath.Join(dir, "enhanced.dcm")
	if err := dicomsynth.Write(path, s.EnhancedCT(frames)); err != nil {
		t.Fatal(err)
	}
	rd, eng := &countingReader{}, &scriptedEngine{}
	vw := newTestViewer(t, scriptedParts(eng, rd, nil))
	vw.open([]string{path})
	waitFor(t, "the series result", func() bool { return settled(vw) && vw.scan != nil })
	se := vw.lib.index.AllSeries()[0]
	r := vw.results.of(se.Key)
	if _, images := eng.counts(); images != 4 || r.sum.Classified != 4 {
		t.Fatalf("%d images classified, summary %+v; want each of the 4 frames once", images, r.sum)
	}
	opens, _ := rd.counts()
	if opens > 3 {
		t.Fatalf("%d opens: want the viewer's, the frame jobs' and the thumbnail's at most (the key slice's CAM image uses the viewer's scan)", opens)
	}
	var got []int
	for _, p := range vw.stack {
		got = append(got, p.frame)
	}
	if !slices.Equal(got, []int{3, 0, 1, 2}) {
		t.Fatalf("stack frames %v, want position order [3 0 1 2]", got)
	}
}

// TestSeriesRuleOnTheCard: the model card dialog states the series rule and that it is not validated.
func TestSeriesRuleOnTheCard(t *testing.T) {
	vw, _ := newScriptedViewer(t)
	m, ok := vw.an.model("cxr-test")
	if !ok || !strings.Contains(m.Card, "Series rule (top-2-mean)") || !strings.Contains(m.Card, "not validated") || !strings.Contains(m.Card, "A test rule.") {
		t.Fatalf("card:\n%s", m.Card)
	}
}

// TestStripTapAndMarks checks the strip on its own: one mark per slice, each state drawn in its colour, taps mapped
// to the slice under the pointer.
func TestStripTapAndMarks(t *testing.T) {
	test.NewTempApp(t)
	var tapped []int
	s := newScoreStrip(func(i int) { tapped = append(tapped, i) })
	s.Resize(fyne.NewSize(100, stripHeight))
	s.set([]stripMark{{state: markClassified, p: 1}, {state: markRefused}, {state: markFailed}, {state: markPending}, {state: markClassified, p: 0.5, key: true}}, 0)
	img := s.draw(100, stripHeight)
	want := []color.NRGBA{colStripScore, colStripRefused, colStripFailed, colStripBack, colStripKey}
	for i, c := range want {
		x0, x1 := markSpan(i, 5, 100)
		if got := color.NRGBAModel.Convert(img.At((x0+x1)/2, stripHeight/2+2)).(color.NRGBA); got != c {
			t.Errorf("mark %d drawn %v, want %v", i, got, c)
		}
	}
	for _, x := range []float32{1, 35, 99} {
		s.Tapped(&fyne.PointEvent{Position: fyne.NewPos(x, 5)})
	}
	if !slices.Equal(tapped, []int{0, 1, 4}) {
		t.Fatalf("taps went to %v, want [0 1 4]", tapped)
	}
}

// TestSeriesShowAnyway: in a series behind the gate, the slices outside the model's population (adults, for a
// children's model) are refused and left out; the AI panel's "Show anyway" on one of them gives that slice's answer
// and leaves the series result as it was; the series panel's "Show anyway" makes the refused slices again with
// their answers, counts them, and marks the series result out of scope with the reason, in the panel and the
// export. Each slice file is opened once for its record (the thumbnail and the key slice's picture add one open
// each at most) and the gate runs once per record made.
func TestSeriesShowAnyway(t *testing.T) {
	dir := t.TempDir()
	s := dicomsynth.Series{Description: "Chest, mixed ages", PatientAge: "003Y"}
	for i := range 5 {
		ds := s.CTSlice(dicomsynth.Slice{Position: [3]float64{0, 0, float64(10 * i)}, Instance: i + 1, Values: dicomsynth.FlatValues(256, -600+100*i)})
		if i >= 3 { // the two brightest slices: an adult's, so outside cxr-test's population
			ds = append(dicomsynth.Without(ds, dicomsynth.TagPatientAge), dicomsynth.Text(dicomsynth.TagPatientAge, "AS", "045Y"))
		}
		if err := dicomsynth.Write(filepath.Join(dir, fmt.Sprintf("s%d.dcm", i)), ds); err != nil {
			t.Fatal(err)
		}
	}
	rd, eng := &countingReader{}, &scriptedEngine{pneumonia: meanGrey}
	parts := scriptedParts(eng, rd, nil)
	parts.catalogue = gateCatalogue
	vw := newTestViewer(t, parts)
	vw.open([]string{dir})
	waitFor(t, "the series result", func() bool { return settled(vw) && vw.scan != nil })
	se := vw.lib.index.AllSeries()[0]
	r := vw.results.of(se.Key)
	if r.sum.Status != pipeline.StatusOK || r.sum.Classified != 3 || r.sum.Refused != 2 || r.sum.Reason != "" || filepath.Base(se.Slices[r.sum.Key].Path) != "s2.dcm" {
		t.Fatalf("before: %+v", r.sum)
	}
	opened := map[string]int{}
	for _, p := range rd.opened {
		opened[filepath.Base(p)]++
	}
	extra := 0
	for i := range 5 {
		n := opened[fmt.Sprintf("s%d.dcm", i)]
		if n < 1 {
			t.Errorf("s%d.dcm never opened", i)
		}
		extra += n - 1
	}
	if extra > 2 {
		t.Errorf("%d opens beyond one per slice, want the browser's thumbnail and the key slice's picture at most (opens %v)", extra, rd.opened)
	}
	if eng.gateImages != 5 {
		t.Errorf("%d images through the gate for 5 slices", eng.gateImages)
	}

	vw.openSeries(se.Key)
	waitFor(t, "the series on screen", func() bool { return vw.current == seriesUID(se.Key) && vw.seriesPanel.uid == vw.current })
	p := vw.seriesPanel
	if !p.anyway.Visible() || p.outMark.Visible() {
		t.Fatalf("series panel: Show anyway visible %v, mark visible %v", p.anyway.Visible(), p.outMark.Visible())
	}
	// One slice answered anyway from the AI panel: the series leaves it out.
	vw.showSlice(se.Slices[4])
	waitFor(t, "the adult slice's refusal", func() bool { return vw.path == se.Slices[4].Path && vw.shown != nil && vw.shown.refused() })
	test.Tap(vw.ai.anyway)
	waitFor(t, "that slice answered", func() bool {
		row := vw.batch.byPath[se.Slices[4].Path]
		return row.final() && row.result.rec.AnsweredOutOfScope() && !vw.results.scheduled
	})
	r = vw.results.of(se.Key)
	if r.sum.Classified != 3 || r.sum.Refused != 2 || r.sum.OutOfScope != 1 || r.sum.Reason != "" ||
		!strings.Contains(p.counts.Text, "2 refused (left out; 1 of them answered anyway one by one)") {
		t.Fatalf("after one slice's Show anyway: %+v, counts %q", r.sum, p.counts.Text)
	}
	if vw.strip.marks[4].state != markRefused {
		t.Errorf("the slice answered anyway is marked %v on the strip, want refused (not counted)", vw.strip.marks[4].state)
	}

	test.Tap(p.anyway)
	waitFor(t, "the series counting its out-of-scope slices", func() bool {
		r := vw.results.of(se.Key)
		return settled(vw) && r.sum.Classified == 5
	})
	r = vw.results.of(se.Key)
	if r.sum.Refused != 0 || r.sum.OutOfScope != 2 || filepath.Base(se.Slices[r.sum.Key].Path) != "s4.dcm" ||
		!strings.HasPrefix(r.sum.Reason, "2 of the 5 slices in this result were answered although they are out of scope") ||
		!strings.Contains(r.sum.Reason, "PatientAge 045Y") {
		t.Fatalf("after the series' Show anyway: %+v", r.sum)
	}
	if it := vw.browser.items[seriesUID(se.Key)]; !strings.HasSuffix(it.ai, "· out of scope") {
		t.Errorf("the browser's line %q does not mark the result out of scope", it.ai)
	}
	if !p.outMark.Visible() || p.outMark.Text != "OUT OF SCOPE — shown anyway: "+r.sum.Reason || p.anyway.Visible() {
		t.Errorf("series panel: mark %q (visible %v), Show anyway visible %v", p.outMark.Text, p.outMark.Visible(), p.anyway.Visible())
	}
	if vw.strip.marks[3].state != markClassified || vw.strip.marks[4].state != markClassified || !vw.strip.marks[4].key {
		t.Errorf("strip marks %+v", vw.strip.marks)
	}
	var buf bytes.Buffer
	if err := vw.an.ExportSeries(&buf, "csv", vw.seriesRecords(false), false); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "ok" || rows[1][1] != "" || rows[1][2] != r.sum.Reason || rows[1][3] != "true" || rows[1][10] != "5" {
		t.Fatalf("export %q, %v", rows, err)
	}
	// s4 was made with its answer allowed already (the AI panel's Show anyway): only s3 was made again.
	opened = map[string]int{}
	for _, p := range rd.opened {
		opened[filepath.Base(p)]++
	}
	if eng.gateImages != 7 || opened["s3.dcm"] != 2 {
		t.Errorf("%d images through the gate in all, s3 opened %d times; want s3 made again once, the rest not (opens %v)", eng.gateImages, opened["s3.dcm"], rd.opened)
	}
}
