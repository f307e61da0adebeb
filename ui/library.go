package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/tumortracer/tumortracer/study"
)

// library is what the window has indexed: every opened file's header, grouped patient → study → series (package
// study), read in the background while the first image is already on screen. Each open starts an indexer for the
// paths not indexed yet; the library's index groups the entries of all of them, so series that span two drops are
// one series. Refreshes are throttled: thousands of files regroup a few times a second, not once per file.
type library struct {
	vw *viewer

	// Fyne thread only.
	finished []study.Entry // entries of indexers that have ended
	running  []*study.Indexer
	seen     map[string]bool // paths handed to an indexer
	index    *study.Index    // the latest grouping
	byPath   map[string]int  // entry index by path, in index

	// Shared with the indexers' goroutines.
	mu        sync.Mutex
	read      int  // entries read by running indexers
	total     int  // entries known to running indexers
	scheduled bool // a refresh is queued on the Fyne thread
	last      time.Time
}

// refreshEvery is the shortest time between two regroupings while indexers run.
const refreshEvery = 150 * time.Millisecond

func newLibrary(vw *viewer) *library {
	return &library{vw: vw, seen: map[string]bool{}, index: &study.Index{}, byPath: map[string]int{}}
}

// add starts indexing the paths not indexed yet (Fyne thread).
func (l *library) add(paths []string) {
	var todo []string
	for _, p := range paths {
		key := filepath.Clean(p)
		if !l.seen[key] {
			l.seen[key] = true
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return
	}
	l.mu.Lock()
	l.total += len(todo)
	l.mu.Unlock()
	ix := study.Start(context.Background(), todo, study.Options{Progress: l.progress})
	l.running = append(l.running, ix)
	l.vw.browser.refreshProgress()
	go func() {
		<-ix.Done()
		l.vw.onUI(func() { l.ended(ix) })
	}()
}

// progress runs on an indexer's goroutine for every entry: it counts, and asks for a refresh when the last one is
// old enough.
func (l *library) progress(p study.Progress) {
	l.mu.Lock()
	l.read++
	if p.Entry.ListedBy != "" {
		l.total++ // the indexer's Total grew by the files the DICOMDIR listed
	}
	schedule := !l.scheduled && (time.Since(l.last) >= refreshEvery || p.Done == 1)
	if schedule {
		l.scheduled = true
	}
	l.mu.Unlock()
	if schedule {
		l.vw.onUI(l.refresh)
	}
}

// ended moves a finished indexer's entries into the library and regroups.
func (l *library) ended(ix *study.Indexer) {
	for i, r := range l.running {
		if r == ix {
			done, _ := ix.Wait()
			l.finished = append(l.finished, done.Entries...)
			l.running = append(l.running[:i], l.running[i+1:]...)
			l.mu.Lock()
			l.read -= len(done.Entries)
			l.total -= len(done.Entries)
			l.mu.Unlock()
			break
		}
	}
	l.refresh()
	if len(l.running) == 0 {
		l.vw.state.indexed(l.vw)
	}
}

// indexing reports whether indexers run, with the files read and known so far.
func (l *library) indexing() (bool, int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.running) > 0, l.read, l.total
}

// refresh regroups every entry read so far and tells the browser, the series results and the navigation (Fyne
// thread). A DICOMDIR's files are in the batch already: pipeline.Expand lists them.
func (l *library) refresh() {
	l.mu.Lock()
	l.scheduled, l.last = false, time.Now()
	l.mu.Unlock()

	entries := append([]study.Entry(nil), l.finished...)
	for _, ix := range l.running {
		entries = append(entries, ix.Snapshot().Entries...)
	}
	l.index = study.Group(entries)
	l.byPath = make(map[string]int, len(entries))
	for i, e := range l.index.Entries {
		if _, ok := l.byPath[e.Path]; !ok {
			l.byPath[e.Path] = i
		}
	}
	l.vw.indexChanged()
}

// entry returns the indexed entry of path.
func (l *library) entry(path string) (*study.Entry, bool) {
	i, ok := l.byPath[path]
	if !ok {
		return nil, false
	}
	return &l.index.Entries[i], true
}

// seriesOf returns the series path belongs to when it has slices, else nil.
func (l *library) seriesOf(path string) *study.Series {
	e, ok := l.entry(path)
	if !ok || e.SeriesKey == "" {
		return nil
	}
	if s := l.index.Series(e.SeriesKey); s != nil && s.Classifiable() {
		return s
	}
	return nil
}

// groupOf returns the picture group path belongs to, and its index.
func (l *library) groupOf(path string) (*study.ImageGroup, int) {
	i, ok := l.byPath[path]
	if !ok {
		return nil, -1
	}
	for gi, g := range l.index.Groups {
		for _, e := range g.Entries {
			if e == i {
				return g, gi
			}
		}
	}
	return nil, -1
}

// summary is the browser's header line: what is indexed, and the progress while indexers run.
func (l *library) summary() string {
	running, read, total := l.indexing()
	ix := l.index
	studies, series := 0, 0
	for _, p := range ix.Patients {
		studies += len(p.Studies)
		for _, st := range p.Studies {
			series += len(st.Series)
		}
	}
	s := fmt.Sprintf("%s in %s of %s", plural(series, "series", "series"), plural(studies, "study", "studies"), plural(len(ix.Patients), "patient", "patients"))
	if len(ix.Groups) > 0 {
		s += ", " + plural(len(ix.Groups), "folder of pictures", "folders of pictures")
	}
	if running {
		s = fmt.Sprintf("Indexing: %d of %d files read. ", read, total) + s
	}
	return s
}

// plural writes n with the noun's singular or plural form.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
