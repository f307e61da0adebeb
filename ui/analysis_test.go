package ui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"

	"github.com/tumortracer/tumortracer/internal/dicomsynth"
)

// TestDropOpensDecodesAndClassifiesOnce drops a file on the window and counts, through the pipeline's Reader
// and Engine, what it costs: one open, one frame decoded, one model run — for a single-frame PNG and for a
// multi-frame DICOM (whose record is about its middle frame, the one the viewer opens on). The AI panel, the
// table row and the export show that one record.
func TestDropOpensDecodesAndClassifiesOnce(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "film.png")
	writeGreyPNG(t, png, 32, 24, func(x, y int) uint16 { return uint16(x * 900) })
	multi := filepath.Join(dir, "series.dcm")
	var frames [][]uint16
	for f := range 5 {
		vals := make([]uint16, 12*16)
		for i := range vals {
			vals[i] = uint16(200*f + i)
		}
		frames = append(frames, vals)
	}
	ds, err := dicomsynth.GreyFrames("CT", 12, 16, frames)
	if err == nil {
		err = dicomsynth.Write(multi, ds)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file      string
		frame     int    // 0-based frame of the record
		frameNote string // what the panel says about it
	}{
		{png, 0, ""},
		{multi, 2, "Frame 3 of 5 (the file's record)."},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			rd, eng := &countingReader{}, &scriptedEngine{}
			vw := newTestViewer(t, scriptedParts(eng, rd, nil))
			vw.dropped(fyne.NewPos(5, 5), []fyne.URI{storage.NewFileURI(c.file)})
			row := func() *batchRow { return rowOf(vw, filepath.Base(c.file)) }
			waitFor(t, "the record in the panel and the table", func() bool {
				return row() != nil && row().status == rowDone && vw.shown != nil && !vw.batch.running
			})
			opens, frames := rd.counts()
			runs, images := eng.counts()
			if opens != 1 || !slices.Equal(frames, []int{c.frame}) || runs != 1 || images != 1 {
				t.Fatalf("opens %d, frames decoded %v, model runs %d (%d images); want 1, [%d], 1 (1)", opens, frames, runs, images, c.frame)
			}
			r := row()
			if vw.shown != r.result || vw.frame != c.frame || r.result.rec.Frame != c.frame+1 {
				t.Fatalf("the panel shows %p (frame %d on screen), the row %p (record frame %d): want one record, on screen", vw.shown, vw.frame, r.result, r.result.rec.Frame)
			}
			if got := vw.ai.frameLine.Text; got != c.frameNote {
				t.Fatalf("panel frame line %q, want %q", got, c.frameNote)
			}
			pct := vw.batch.cell(r, 4)
			if pct != "70.0%" || !strings.Contains(vw.ai.topLine.Text, "("+pct+")") || vw.batch.cell(r, 5) != fmt.Sprint(c.frame+1) {
				t.Fatalf("table %q (frame %s), panel %q", pct, vw.batch.cell(r, 5), vw.ai.topLine.Text)
			}
			if recs := vw.batch.records(); len(recs) != 1 || recs[0].Frame != c.frame+1 || recs[0].Probability != r.result.rec.Probability {
				t.Fatalf("export records %+v", recs)
			}
			if vw.view.sal == nil || vw.view.sal != r.result.saliency {
				t.Fatal("the overlay's map is not the record's")
			}
			if c.file != multi {
				return
			}
			// Another frame is classified on demand through the same path; its result names its frame and leaves
			// the file's record alone. Back on the record's frame, the record shows again without a run.
			vw.step(1)
			waitFor(t, "frame 4's own analysis", func() bool { return vw.frame == 3 && vw.shown != nil && vw.shown != r.result })
			if got, want := vw.ai.frameLine.Text, "Frame 4 of 5 (the table's record is frame 3)."; got != want {
				t.Fatalf("panel frame line %q, want %q", got, want)
			}
			vw.step(-1)
			waitFor(t, "the record again", func() bool { return vw.frame == 2 && vw.shown == r.result })
			opens, frames = rd.counts()
			runs, _ = eng.counts()
			if opens != 1 || !slices.Equal(frames, []int{2, 3}) || runs != 2 || r.result.rec.Frame != 3 {
				t.Fatalf("after scrolling: opens %d, decodes %v, runs %d, record frame %d", opens, frames, runs, r.result.rec.Frame)
			}
		})
	}
}

// TestDroppedFolderOpensEachFileOnce: the viewer makes the first file's record and the batch the others', and
// nobody opens a file twice (the table no longer re-reads a file for its modality).
func TestDroppedFolderOpensEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 {
		writeGreyPNG(t, filepath.Join(dir, fmt.Sprintf("%d.png", i)), 8+i, 8, func(x, y int) uint16 { return uint16(x * y) })
	}
	rd, eng := &countingReader{}, &scriptedEngine{}
	vw := newTestViewer(t, scriptedParts(eng, rd, nil))
	vw.dropped(fyne.NewPos(5, 5), []fyne.URI{storage.NewFileURI(dir)})
	waitFor(t, "the batch", func() bool {
		done, _, _ := vw.batch.counts()
		return done == 6 && !vw.batch.running && vw.shown != nil
	})
	rd.mu.Lock()
	opened := slices.Clone(rd.opened)
	rd.mu.Unlock()
	slices.Sort(opened)
	if len(opened) != 6 || len(slices.Compact(opened)) != 6 {
		t.Fatalf("opened %v: want each of the 6 files once", opened)
	}
	if _, images := eng.counts(); images != 6 {
		t.Fatalf("%d images classified for 6 files", images)
	}
	for _, r := range vw.batch.rows {
		if r.result.rec.Modality != "OT" || vw.batch.cell(r, 1) != "OT" {
			t.Fatalf("row %s: modality %q", r.Path, vw.batch.cell(r, 1))
		}
	}
}

func TestBadFlagPrintsTheWindowsUsage(t *testing.T) {
	var out strings.Builder
	if _, _, err := parseFlags([]string{"--bogus"}, &out); err == nil {
		t.Fatal("--bogus accepted")
	}
	got := out.String()
	for _, want := range []string{"flag provided but not defined: -bogus", "usage: tumortracer [options] [FILE|FOLDER...]", "-overlay", "-device"} {
		if !strings.Contains(got, want) {
			t.Errorf("usage lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "verbs:") {
		t.Errorf("a bad window flag printed the command line's verb list:\n%s", got)
	}
	f, files, err := parseFlags([]string{"--model", "ct-lung", "a.dcm", "b"}, &out)
	if err != nil || f.modelID != "ct-lung" || !slices.Equal(files, []string{"a.dcm", "b"}) {
		t.Fatalf("parse: %+v %v %v", f, files, err)
	}
}
