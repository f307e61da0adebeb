package ui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxQueued bounds how many files one open or drop may queue, so a dropped home folder cannot exhaust memory.
const maxQueued = 100000

// errTooManyFiles means an open or drop found more files than maxQueued; the first maxQueued are queued.
var errTooManyFiles = fmt.Errorf("more than %d files; only the first %d were queued", maxQueued, maxQueued)

// expandPaths turns files and folders into the list of files to queue: folders are walked recursively in
// lexical order, hidden files and folders (".name") and obvious non-images (by extension) are skipped, and each
// file appears once. Unreadable items are reported together in the error; the rest are still returned.
func expandPaths(paths []string) ([]string, error) {
	var out []string
	var errs []error
	seen := map[string]bool{}
	add := func(p string) bool {
		if seen[p] {
			return true
		}
		if len(out) >= maxQueued {
			errs = append(errs, errTooManyFiles)
			return false
		}
		seen[p] = true
		out = append(out, p)
		return true
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s: %w", p, err))
			continue
		}
		if !info.IsDir() {
			if !add(p) {
				break
			}
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s: %w", q, err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			name := d.Name()
			if q != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if skippedExtension(name) {
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, q)
			} else if d.Type()&fs.ModeSymlink != 0 {
				// A link to a file counts as the file (links to folders are not followed: no cycles).
				if st, err := os.Stat(q); err == nil && st.Mode().IsRegular() {
					files = append(files, q)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("walk %s: %w", p, err))
		}
		sort.Strings(files)
		for _, f := range files {
			if !add(f) {
				break
			}
		}
	}
	return out, errors.Join(errs...)
}

// skippedExtension reports files that are certainly not images (DICOM files often have no extension at all, so
// only known non-image types are skipped).
func skippedExtension(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".md", ".csv", ".json", ".yaml", ".yml", ".xml", ".html", ".pdf", ".zip", ".gz", ".tar",
		".py", ".go", ".sh", ".exe", ".dll", ".so", ".onnx", ".npy", ".db", ".ini", ".log":
		return true
	}
	return false
}
