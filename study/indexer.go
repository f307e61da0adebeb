package study

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Options tune indexing; the zero value is ready to use.
type Options struct {
	// Workers is how many files are read at once (default: the number of CPUs, between 2 and 8).
	Workers int
	// MaxBytesInFlight bounds the size of the files being read at once (default 512 MiB): dicomio reads a whole
	// file even for its header, and a folder of large multi-frame files must not be read all at once. A file
	// larger than the bound is read alone.
	MaxBytesInFlight int64
	// Progress, when set, is called once per entry as soon as it is known, never from two goroutines at once
	// and never after Wait returns. It runs on the indexer's own goroutine: keep it short (a window hands the
	// work to its UI thread).
	Progress func(Progress)
}

// Progress is one step of indexing.
type Progress struct {
	// Done entries of Total known so far; Total grows when a DICOMDIR lists files.
	Done, Total int
	// Entry is the entry just read (its SeriesKey is not set yet: Snapshot groups).
	Entry Entry
}

// Indexer indexes files in the background; see Start.
type Indexer struct {
	done chan struct{}

	mu      sync.Mutex
	entries []ordered
	err     error
}

// ordered is an entry with its place in the final order: the input's position, then its place in the list
// of the DICOMDIR that named it (-1 for the input itself).
type ordered struct {
	input, listed int
	entry         Entry
}

// job is one file to read.
type job struct {
	input, listed int
	path          string
	listedBy      *dicomio.DirectoryFile // the DICOMDIR record that named the file
	listedByPath  string
}

// Build indexes paths (files, not folders: expand folders first) and returns the index; it is Start followed
// by Wait.
func Build(ctx context.Context, paths []string, opt Options) (*Index, error) {
	return Start(ctx, paths, opt).Wait()
}

// Start begins indexing paths in the background. Each path gets an entry, in the order given; a DICOMDIR's
// listed files follow it. Cancelling ctx stops the reading: Wait then returns what was read, every file not
// read as an entry saying so, and ctx's error.
func Start(ctx context.Context, paths []string, opt Options) *Indexer {
	if opt.Workers <= 0 {
		opt.Workers = min(max(runtime.NumCPU(), 2), 8)
	}
	if opt.MaxBytesInFlight <= 0 {
		opt.MaxBytesInFlight = 512 << 20
	}
	ix := &Indexer{done: make(chan struct{})}
	go ix.run(ctx, paths, opt)
	return ix
}

// Wait blocks until indexing ends and returns the index; the error is ctx's when it was cancelled.
func (ix *Indexer) Wait() (*Index, error) {
	<-ix.done
	return ix.Snapshot(), ix.err
}

// Done is closed when indexing has ended.
func (ix *Indexer) Done() <-chan struct{} { return ix.done }

// Snapshot groups the entries read so far; safe to call from any goroutine while indexing runs. Series fill in
// from one snapshot to the next as their files are read.
func (ix *Indexer) Snapshot() *Index {
	ix.mu.Lock()
	es := append([]ordered(nil), ix.entries...)
	ix.mu.Unlock()
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].input != es[j].input {
			return es[i].input < es[j].input
		}
		return es[i].listed < es[j].listed
	})
	entries := make([]Entry, len(es))
	for i, e := range es {
		entries[i] = e.entry
	}
	return Group(entries)
}

// run is the coordinator: it hands jobs to the workers, collects their entries in completion order, queues the
// files a DICOMDIR lists, and reports progress.
func (ix *Indexer) run(ctx context.Context, paths []string, opt Options) {
	defer close(ix.done)
	total, done := len(paths), 0
	add := func(o ordered) {
		ix.mu.Lock()
		ix.entries = append(ix.entries, o)
		ix.mu.Unlock()
		done++
		if opt.Progress != nil {
			opt.Progress(Progress{Done: done, Total: total, Entry: o.entry})
		}
	}
	pending, duplicates, seen := queueInputs(paths)
	for _, o := range duplicates {
		add(o)
	}
	jobs, results := make(chan job), make(chan ordered)
	var wg sync.WaitGroup
	budget := newByteBudget(opt.MaxBytesInFlight)
	for range opt.Workers {
		wg.Go(func() {
			for j := range jobs {
				results <- read(j, budget)
			}
		})
	}
	cancelled := ctx.Done()
	inFlight := 0
	for len(pending) > 0 || inFlight > 0 {
		var send chan job
		var next job
		if len(pending) > 0 && ctx.Err() == nil {
			send, next = jobs, pending[0]
		}
		select {
		case send <- next:
			pending = pending[1:]
			inFlight++
		case o := <-results:
			inFlight--
			var listed directoryListing
			if o.entry.Kind == KindDirectory {
				listed = ix.expandDirectory(&o, seen)
				total += len(listed.jobs) + len(listed.answered)
				pending = append(pending, listed.jobs...)
			}
			add(o)
			for _, l := range listed.answered {
				add(l)
			}
		case <-cancelled:
			cancelled = nil // from now on only in-flight results are awaited
		}
		if ctx.Err() != nil && inFlight == 0 {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		for _, j := range pending {
			e := Entry{Path: j.path, ListedBy: j.listedByPath, Kind: KindUnreadable,
				Err: &EntryError{Sentence: readSentence(err), Err: fmt.Errorf("%s: %w", j.path, err)}}
			add(ordered{j.input, j.listed, e})
		}
		ix.err = err
	}
}

// queueInputs turns the inputs into jobs; a path given again gets its entry at once, saying so. seen holds the
// paths queued, for the DICOMDIRs' files to be checked against.
func queueInputs(paths []string) (pending []job, duplicates []ordered, seen map[string]bool) {
	seen = map[string]bool{}
	for i, p := range paths {
		key := canonicalPath(p)
		if seen[key] {
			duplicates = append(duplicates, ordered{i, -1, Entry{Path: p, Kind: KindUnreadable, Err: &EntryError{
				Sentence: "This file was given more than once; it is indexed once.",
				Err:      fmt.Errorf("%s: %w", p, ErrDuplicateInput),
			}}})
			continue
		}
		seen[key] = true
		pending = append(pending, job{input: i, listed: -1, path: p})
	}
	return pending, duplicates, seen
}

// directoryListing is what a DICOMDIR adds: files to read, and entries already answered (missing files).
type directoryListing struct {
	jobs     []job
	answered []ordered
}

// expandDirectory reads the DICOMDIR of entry o and returns the files it lists that are not indexed yet.
func (ix *Indexer) expandDirectory(o *ordered, seen map[string]bool) (out directoryListing) {
	d, err := ReadListing(o.entry.Path)
	if d == nil {
		o.entry.Err = err
		return out
	}
	o.entry.Listed = len(d.Files)
	if err != nil {
		o.entry.Err = err
	}
	for i := range d.Files {
		f := &d.Files[i]
		key := canonicalPath(f.Path)
		if seen[key] {
			continue // already an input, or listed twice
		}
		seen[key] = true
		if err := ListedFileError(f); err != nil {
			out.answered = append(out.answered, ordered{o.input, i, Entry{Path: f.Path, ListedBy: o.entry.Path,
				Kind: KindUnreadable, Err: err}})
			continue
		}
		out.jobs = append(out.jobs, job{input: o.input, listed: i, path: f.Path, listedBy: f, listedByPath: o.entry.Path})
	}
	return out
}

// ReadListing reads the DICOMDIR at path for the files it lists (pipeline.Expand reads it the same way for the
// per-file path). The directory is nil when it cannot be read; the error, an *EntryError with the sentence for
// a person, is also set when it is damaged, and then the directory holds the files listed before the damage.
func ReadListing(path string) (*dicomio.Directory, error) {
	d, err := dicomio.ReadDirectory(path)
	switch {
	case d == nil:
		return nil, &EntryError{Sentence: "This DICOMDIR cannot be read, so the files it lists were not found through it.", Err: err}
	case err != nil:
		return d, &EntryError{
			Sentence: fmt.Sprintf("This DICOMDIR is cut short or damaged; only the %d files it lists before the damage were taken.", len(d.Files)),
			Err:      err,
		}
	}
	return d, nil
}

// ListedFileError says why a file a DICOMDIR lists cannot be used (an *EntryError: missing, or outside the
// DICOMDIR's folder); nil when it is on disk.
func ListedFileError(f *dicomio.DirectoryFile) error {
	if f.Err == nil {
		return nil
	}
	sentence := "The DICOMDIR lists this file, but it is not on disk."
	if errors.Is(f.Err, dicomio.ErrMalformed) {
		sentence = "The DICOMDIR names a file outside its own folder; it was not opened."
	}
	return &EntryError{Sentence: sentence, Err: f.Err}
}

// read reads one job's header within the byte budget.
func read(j job, budget *byteBudget) ordered {
	var size int64
	if st, err := os.Stat(j.path); err == nil {
		size = st.Size()
	}
	budget.acquire(size)
	e := readEntry(j.path)
	budget.release(size)
	e.ListedBy = j.listedByPath
	if f := j.listedBy; f != nil && e.Format == dicomio.FormatDICOM {
		// A file that lacks its own UIDs takes them from the DICOMDIR records above it.
		if e.Meta.StudyInstanceUID == "" {
			e.Meta.StudyInstanceUID = f.StudyInstanceUID
		}
		if e.Meta.SeriesInstanceUID == "" && f.SeriesInstanceUID != "" {
			e.Meta.SeriesInstanceUID = f.SeriesInstanceUID
			if errors.Is(e.Err, ErrNoSeries) {
				e.Err = nil
			}
		}
	}
	return ordered{j.input, j.listed, e}
}

// canonicalPath is the key that recognises one path given twice: absolute and cleaned. Two links to one file
// stay two entries (their series then says the same image is given twice), as the folder expander keeps them.
func canonicalPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// byteBudget bounds the bytes of the files read at once; a request larger than the whole budget waits until
// nothing else is in flight and then runs alone.
type byteBudget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int64
	used  int64
}

func newByteBudget(limit int64) *byteBudget {
	b := &byteBudget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *byteBudget) acquire(n int64) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.limit {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}
