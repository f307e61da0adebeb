package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tumortracer/tumortracer/study"
)

// MaxInputs bounds how many files one Expand returns, so that a dropped home folder cannot exhaust memory.
const MaxInputs = 100000

// ErrTooManyFiles means Expand found more than MaxInputs files; the first MaxInputs are kept.
var ErrTooManyFiles = fmt.Errorf("more than %d files; only the first %d were taken", MaxInputs, MaxInputs)

// Input is one file to classify, or a path that could not be listed (Err set), which still gets its record.
type Input struct {
	Path string
	Err  error
	// Scan, when set, is the file already open (its Path is Path): Run classifies it without opening it again,
	// so that the frames of one multi-frame file can go through Run as inputs of their own.
	Scan *Scan
	// Frame is the 1-based frame to classify; 0 means the file's analysis frame (AnalysisFrame).
	Frame int
	// Directory is the DICOMDIR the input comes from: a file it lists, or the DICOMDIR itself when it cannot be
	// read, is damaged or lists nothing (Err set); empty otherwise. See IndexPaths.
	Directory string
}

// Expand turns the paths a person gave — `tumortracer classify PATH…` or a drop on the window, the same rules
// for both — into the files to classify, in a stable order:
//   - each path in the order given; a file is taken whatever its name (a named file always gets its record);
//   - a folder contributes every file below it, recursively, in lexical order, except names starting with "."
//     (.DS_Store, .git …) and files that are certainly not images by their extension (notes.txt, a .zip …;
//     DICOM files often have no extension, so nothing else is skipped); a link to a file counts as the file,
//     links to folders are not followed (no cycles);
//   - a DICOMDIR (a file of that name, as PS3.10 names it) is replaced by the files it lists, in its order, each
//     taken whatever its name (a folder's DICOMDIRs are taken before its other files); a listed file that is missing becomes an input with its error, and the DICOMDIR
//     itself one when it cannot be read, is damaged (the files listed before the damage are still taken) or
//     lists nothing — so a DICOMDIR never gets a "no pixel data" record, and each of its files gets its own;
//   - each file once, where it first appears;
//   - at most MaxInputs files.
//
// A path that does not exist, a folder that cannot be read and the cap each become an Input with Err set.
func Expand(paths []string) []Input {
	var out []Input
	seen := map[string]bool{}
	full := false
	var add func(in Input) bool
	add = func(in Input) bool {
		if in.Err == nil && in.Directory == "" && IsDICOMDIR(in.Path) {
			for _, listed := range listDirectory(in.Path) {
				if !add(listed) {
					return false
				}
			}
			return true
		}
		if in.Err == nil || (in.Directory != "" && in.Path != in.Directory) {
			key := filepath.Clean(in.Path)
			if seen[key] {
				return true
			}
			if len(seen) >= MaxInputs {
				full = true
				return false
			}
			seen[key] = true
		}
		out = append(out, in)
		return true
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			add(Input{Path: p, Err: fmt.Errorf("open %s: %w", p, err)})
			continue
		}
		if !st.IsDir() {
			if !add(Input{Path: p}) {
				break
			}
			continue
		}
		// A folder's DICOMDIRs go first, so that the files they list come in their order and as theirs.
		listed := listFolder(p)
		sort.SliceStable(listed, func(i, j int) bool {
			return listed[i].Err == nil && IsDICOMDIR(listed[i].Path) && !(listed[j].Err == nil && IsDICOMDIR(listed[j].Path))
		})
		for _, in := range listed {
			if !add(in) {
				break
			}
		}
		if full {
			break
		}
	}
	if full {
		out = append(out, Input{Path: paths[len(paths)-1], Err: ErrTooManyFiles})
	}
	return out
}

// IsDICOMDIR reports a DICOMDIR by its name, which PS3.10 fixes.
func IsDICOMDIR(path string) bool { return strings.EqualFold(filepath.Base(path), "DICOMDIR") }

// ErrEmptyDirectory means a DICOMDIR lists no files.
var ErrEmptyDirectory = errors.New("the DICOMDIR lists no files")

// listDirectory is what a DICOMDIR contributes to Expand: the DICOMDIR itself with its error when it cannot be
// read, is damaged or lists nothing, then every file it lists in its order, a missing one with its error. The
// sentences are the series index's (study.ReadListing, study.ListedFileError): the per-file and the per-series
// paths say the same.
func listDirectory(path string) []Input {
	d, err := study.ReadListing(path)
	var out []Input
	switch {
	case err != nil:
		out = append(out, Input{Path: path, Err: &Problem{Sentence: study.Sentence(err), Err: err}, Directory: path})
	case len(d.Files) == 0:
		out = append(out, Input{Path: path, Err: &Problem{Sentence: "This DICOMDIR lists no files.", Err: fmt.Errorf("%s: %w", path, ErrEmptyDirectory)}, Directory: path})
	}
	if d == nil {
		return out
	}
	for i := range d.Files {
		in := Input{Path: d.Files[i].Path, Directory: path}
		if err := study.ListedFileError(&d.Files[i]); err != nil {
			in.Err = &Problem{Sentence: study.Sentence(err), Err: err}
		}
		out = append(out, in)
	}
	return out
}

// IndexPaths are the paths the series index (package study) reads for Expand's inputs, in order: each DICOMDIR
// once, where its first input was, in place of the inputs it gave (study reads it again for its files, and gives
// a listed file that lacks its own Study and Series UIDs those of the DICOMDIR's records, and a missing one its
// entry), and every other input that could be listed. The other inputs with an error are returned apart, for a
// record of their own.
func IndexPaths(inputs []Input) (paths []string, failed []Input) {
	dirs := map[string]bool{}
	for _, in := range inputs {
		switch {
		case in.Directory != "":
			if !dirs[in.Directory] {
				dirs[in.Directory] = true
				paths = append(paths, in.Directory)
			}
		case in.Err != nil:
			failed = append(failed, in)
		default:
			paths = append(paths, in.Path)
		}
	}
	return paths, failed
}

// listFolder lists the files below dir by Expand's rules, sorted by path.
func listFolder(dir string) []Input {
	var files []Input
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			files = append(files, Input{Path: path, Err: fmt.Errorf("read %s: %w", path, err)})
			if d != nil && d.IsDir() && path != dir {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || notAnImage(name) {
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, Input{Path: path})
		} else if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
				files = append(files, Input{Path: path})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.SkipDir) {
		files = append(files, Input{Path: dir, Err: fmt.Errorf("list %s: %w", dir, err)})
	}
	// WalkDir is lexical within a folder; sorting the whole list keeps the order independent of how the walk
	// interleaves folders and files.
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files
}

// notAnImage reports files that are certainly not images by their extension.
func notAnImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".xml", ".html", ".pdf", ".zip", ".gz",
		".tar", ".py", ".go", ".sh", ".exe", ".dll", ".so", ".onnx", ".npy", ".db", ".ini", ".log":
		return true
	}
	return false
}
