package ui

import (
	"fmt"
	"image"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/disintegration/imaging"

	"github.com/tumortracer/tumortracer/pipeline"
	"github.com/tumortracer/tumortracer/study"
)

// The study browser beside the image: what the library indexed, patient → study → series, each series with a
// thumbnail, its description, modality, slice count and AI state; the folders of pictures (classified per image,
// no series result); and a count of the files outside any series (their rows in the batch table say why).
// Selecting a series shows its key slice (or its middle slice until it has one) and makes it the slider's stack.

// Browser item ids: the tree's UIDs.
func seriesUID(key string) string { return "series/" + key }
func groupUID(i int) string       { return "group/" + strconv.Itoa(i) }

const otherUID = "other"

// browserItem is one node of the tree: a title, a line of facts and, for series, a line with the AI state.
type browserItem struct {
	title, detail, ai string
	series            *study.Series // series items
	group             int           // picture-group items; -1 otherwise
	warn              bool          // the series has problems (gaps, repeats …) or failed
}

// thumbSize is the thumbnails' side in pixels and Fyne units.
const thumbSize = 44

type studyBrowser struct {
	vw       *viewer
	content  fyne.CanvasObject
	header   *widget.Label
	progress *widget.ProgressBar
	tree     *widget.Tree

	items     map[string]browserItem
	children  map[string][]string
	order     []string        // the series and groups a person can switch between, in tree order
	opened    map[string]bool // branches opened once (a person may close them again)
	thumbs    map[string]image.Image
	asked     map[string]bool
	thumbJobs chan thumbJob
	// selecting is set while the viewer selects the item on screen, so that the selection does not load it again.
	selecting bool
}

func newStudyBrowser(vw *viewer) *studyBrowser {
	b := &studyBrowser{vw: vw, items: map[string]browserItem{}, children: map[string][]string{}, opened: map[string]bool{},
		thumbs: map[string]image.Image{}, asked: map[string]bool{}, thumbJobs: make(chan thumbJob, 256)}
	b.header = widget.NewLabel("No studies yet.")
	b.header.Wrapping = fyne.TextWrapWord
	b.progress = widget.NewProgressBar()
	b.progress.Hide()
	b.tree = widget.NewTree(
		func(uid widget.TreeNodeID) []widget.TreeNodeID { return b.children[uid] },
		func(uid widget.TreeNodeID) bool { return len(b.children[uid]) > 0 || uid == "" },
		b.createNode,
		b.updateNode,
	)
	b.tree.OnSelected = b.selected
	b.content = container.NewBorder(container.NewVBox(widget.NewLabelWithStyle("Studies", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), b.header, b.progress), nil, nil, nil, b.tree)
	go b.thumbnails()
	return b
}

func (b *studyBrowser) createNode(branch bool) fyne.CanvasObject {
	title := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: branch})
	title.Truncation = fyne.TextTruncateEllipsis
	detail := widget.NewLabel("")
	detail.Truncation = fyne.TextTruncateEllipsis
	detail.SizeName = theme.SizeNameCaptionText
	ai := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	ai.Truncation = fyne.TextTruncateEllipsis
	ai.SizeName = theme.SizeNameCaptionText
	thumb := canvas.NewImageFromImage(nil)
	thumb.FillMode = canvas.ImageFillContain
	thumb.SetMinSize(fyne.NewSize(thumbSize, thumbSize))
	if branch {
		thumb.Hide()
	}
	return container.NewBorder(nil, nil, thumb, nil, container.New(&tightRows{}, title, detail, ai))
}

// tightRows stacks its objects at their minimum heights without padding, so three lines fit beside a thumbnail.
type tightRows struct{}

func (tightRows) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	y := float32(0)
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		h := o.MinSize().Height - 2*theme.Padding()
		o.Move(fyne.NewPos(0, y-theme.Padding()))
		o.Resize(fyne.NewSize(size.Width, h+2*theme.Padding()))
		y += h
	}
}

func (tightRows) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		m := o.MinSize()
		w, h = max(w, m.Width), h+m.Height-2*theme.Padding()
	}
	return fyne.NewSize(w, h)
}

func (b *studyBrowser) updateNode(uid widget.TreeNodeID, _ bool, o fyne.CanvasObject) {
	c := o.(*fyne.Container)
	texts := c.Objects[0].(*fyne.Container)
	thumb := c.Objects[1].(*canvas.Image)
	it := b.items[uid]
	title, detail, ai := texts.Objects[0].(*widget.Label), texts.Objects[1].(*widget.Label), texts.Objects[2].(*widget.Label)
	title.SetText(it.title)
	detail.SetText(it.detail)
	detail.Importance = widget.LowImportance
	detail.Refresh()
	ai.SetText(it.ai)
	ai.Importance = widget.MediumImportance
	if it.warn {
		ai.Importance = widget.WarningImportance
	}
	ai.Refresh()
	if it.ai == "" {
		ai.Hide()
	} else {
		ai.Show()
	}
	if it.series == nil {
		thumb.Image = nil
		if it.group < 0 {
			thumb.Hide()
			return
		}
	} else {
		thumb.Image = b.thumbs[it.series.Key]
		b.askThumb(it.series)
	}
	thumb.Show()
	thumb.Refresh()
}

// rebuild makes the tree's items from the library's index and the series results (Fyne thread).
func (b *studyBrowser) rebuild() {
	vw := b.vw
	ix := vw.lib.index
	items := map[string]browserItem{}
	children := map[string][]string{}
	var order []string
	for pi, p := range ix.Patients {
		pid := "patient/" + strconv.Itoa(pi)
		children[""] = append(children[""], pid)
		name := strings.TrimSpace(strings.ReplaceAll(p.Name, "^", " "))
		if name == "" {
			name = "Unnamed patient"
		}
		if p.ID != "" {
			name += " (" + p.ID + ")"
		}
		items[pid] = browserItem{title: name, detail: plural(len(p.Studies), "study", "studies"), group: -1}
		for si, st := range p.Studies {
			sid := pid + "/study/" + strconv.Itoa(si)
			children[pid] = append(children[pid], sid)
			desc := st.Description
			if desc == "" {
				desc = "Study"
			}
			items[sid] = browserItem{title: strings.TrimSpace(desc + " " + formatDate(st.Date)), detail: plural(len(st.Series), "series", "series"), group: -1}
			for _, s := range st.Series {
				uid := seriesUID(s.Key)
				children[sid] = append(children[sid], uid)
				items[uid] = b.seriesItem(s)
				if s.Classifiable() {
					order = append(order, uid)
				}
			}
		}
	}
	for gi, g := range ix.Groups {
		uid := groupUID(gi)
		children[""] = append(children[""], uid)
		items[uid] = browserItem{title: "Pictures in " + filepath.Base(g.Folder),
			detail: plural(len(g.Entries), "PNG/JPEG image", "PNG/JPEG images"), ai: "per image, no series result", group: gi}
		order = append(order, uid)
	}
	if n := len(pipeline.LeftoverRecords(ix)) - picturesIn(ix); n > 0 {
		children[""] = append(children[""], otherUID)
		items[otherUID] = browserItem{title: plural(n, "file outside any series", "files outside any series"),
			detail: "unreadable, no series, or a DICOMDIR without files: see the table", group: -1, warn: true}
	}
	b.items, b.children, b.order = items, children, order
	b.tree.Refresh()
	for uid := range children {
		if uid != "" && !b.opened[uid] {
			b.opened[uid] = true
			b.tree.OpenBranch(uid)
		}
	}
	b.refreshProgress()
	b.selectCurrent()
}

// picturesIn counts the pictures among the leftover records (they are listed as groups, not as outsiders).
func picturesIn(ix *study.Index) int {
	n := 0
	for _, g := range ix.Groups {
		n += len(g.Entries)
	}
	return n
}

// seriesItem describes a series: number and description; modality, slices and AI state.
func (b *studyBrowser) seriesItem(s *study.Series) browserItem {
	title := s.Description
	if title == "" {
		title = "Series"
	}
	if s.Number != "" {
		title = s.Number + " · " + title
	}
	parts := []string{}
	if s.Modality != "" {
		parts = append(parts, s.Modality)
	}
	it := browserItem{title: title, series: s, group: -1, warn: len(s.Problems) > 0}
	if !s.Classifiable() {
		parts = append(parts, plural(len(s.Objects), string(s.Kind), string(s.Kind)+"s"))
		it.detail, it.ai = strings.Join(parts, " · "), "listed, not classified"
		return it
	}
	parts = append(parts, plural(len(s.Slices), "slice", "slices"))
	if len(s.Problems) > 0 {
		parts = append(parts, plural(len(s.Problems), "problem", "problems"))
	}
	it.detail, it.ai = strings.Join(parts, " · "), b.aiState(s)
	if r := b.vw.results.of(s.Key); r != nil && r.sum.Status == pipeline.StatusError {
		it.warn = true
	}
	return it
}

// aiState is a series' AI state in a few words: what is being done, or the result.
func (b *studyBrowser) aiState(s *study.Series) string {
	r := b.vw.results.of(s.Key)
	if r == nil {
		return "waiting"
	}
	sum := r.sum
	done := sum.Slices - sum.Pending
	switch {
	case sum.Status == pipeline.StatusOK && sum.Pending == 0 && sum.Reason != "":
		return fmt.Sprintf("%s %.0f%% · out of scope", b.vw.className(sum.Model, sum.Label), 100*sum.Score)
	case sum.Status == pipeline.StatusOK && sum.Pending == 0:
		return fmt.Sprintf("%s %.0f%%", b.vw.className(sum.Model, sum.Label), 100*sum.Score)
	case sum.Status == pipeline.StatusOK:
		return fmt.Sprintf("%d/%d classified · %s %.0f%% so far", done, sum.Slices, b.vw.className(sum.Model, sum.Label), 100*sum.Score)
	case sum.NoSeriesRule():
		return fmt.Sprintf("%d/%d classified, each on its own", sum.Classified, sum.Slices) // no series result: not a refusal
	case sum.Status == pipeline.StatusRefused:
		return "refused"
	case sum.Status == pipeline.StatusError:
		return "failed"
	case done > 0:
		return fmt.Sprintf("%d/%d classified", done, sum.Slices)
	}
	if b.vw.an.Ready() != nil {
		return "classification unavailable"
	}
	return "waiting"
}

// refreshProgress shows the library's summary line and, while indexing runs, its progress.
func (b *studyBrowser) refreshProgress() {
	b.header.SetText(b.vw.lib.summary())
	running, read, total := b.vw.lib.indexing()
	if running && total > 0 {
		b.progress.SetValue(float64(read) / float64(total))
		b.progress.Show()
	} else {
		b.progress.Hide()
	}
}

// selectCurrent selects the item on screen without loading it again.
func (b *studyBrowser) selectCurrent() {
	uid := b.vw.current
	if uid == "" {
		return
	}
	if _, ok := b.items[uid]; !ok {
		return
	}
	b.selecting = true
	b.tree.Select(uid)
	b.tree.ScrollTo(uid)
	b.selecting = false
}

// selected opens a series or a group a person picked.
func (b *studyBrowser) selected(uid widget.TreeNodeID) {
	if b.selecting {
		return
	}
	it, ok := b.items[uid]
	switch {
	case !ok:
	case it.series != nil:
		b.vw.openSeries(it.series.Key)
	case it.group >= 0:
		b.vw.openGroup(it.group)
	}
	b.vw.seriesPanel.refreshFor(uid)
}

// thumbJob is a thumbnail to render: the series' key and the slice that stands for it.
type thumbJob struct {
	key   string
	path  string
	frame int
}

// askThumb queues a series' thumbnail once: its middle slice, or a localizer series' first image.
func (b *studyBrowser) askThumb(s *study.Series) {
	if b.asked[s.Key] {
		return
	}
	job := thumbJob{key: s.Key}
	switch {
	case len(s.Slices) > 0:
		sl := s.Slices[len(s.Slices)/2]
		job.path, job.frame = sl.Path, sl.Frame
	case s.Kind == study.KindLocalizer && len(s.Objects) > 0:
		job.path = b.vw.lib.index.Entries[s.Objects[0]].Path
	default:
		return
	}
	b.asked[s.Key] = true
	select {
	case b.thumbJobs <- job:
	default:
		b.asked[s.Key] = false // the queue is full: asked again on the next refresh
	}
}

// thumbnails renders queued thumbnails one at a time, in their files' own windows.
func (b *studyBrowser) thumbnails() {
	for job := range b.thumbJobs {
		img, err := b.vw.renderSlice(nil, job.path, job.frame, nil)
		if err != nil {
			continue
		}
		thumb := imaging.Fit(img, thumbSize*2, thumbSize*2, imaging.Linear)
		b.vw.onUI(func() {
			b.thumbs[job.key] = thumb
			b.tree.RefreshItem(seriesUID(job.key))
		})
	}
}
