package inference

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
)

// Model is one validated model folder: its manifest and where its model.onnx lives. The ONNX bytes are read when
// a session is created, so a catalogue of models costs little memory.
type Model struct {
	Manifest Manifest
	// Source is "bundled" for models embedded in the binary, else the folder the model was loaded from.
	Source string
	fsys   fs.FS
	dir    string

	// scope caches LoadScope's answer (see Scope): the statistics are read and checked once per process.
	scopeOnce sync.Once
	scope     *Scope
	scopeErr  error
}

// Files of a model folder.
const (
	ManifestFile = "model.yaml"
	ONNXFile     = "model.onnx"
)

// LoadModel reads dir/model.yaml from fsys, validates it and checks dir/model.onnx against its SHA-256. source is
// recorded in Model.Source.
func LoadModel(fsys fs.FS, dir, source string) (*Model, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(source, dir, ManifestFile), err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path.Join(source, dir), err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", path.Join(source, dir), err)
	}
	f, err := fsys.Open(path.Join(dir, ONNXFile))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.ID, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("model %s: read %s: %w", m.ID, ONNXFile, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return nil, fmt.Errorf("model %s: %w (file %s, manifest %s); the model is refused — reinstall it", m.ID, ErrChecksum, got, m.SHA256)
	}
	return &Model{Manifest: *m, Source: source, fsys: fsys, dir: dir}, nil
}

// ONNX returns the model file's bytes after checking them against the manifest's SHA-256 again, so the bytes a
// session runs are the ones verified.
func (m *Model) ONNX() ([]byte, error) {
	data, err := fs.ReadFile(m.fsys, path.Join(m.dir, ONNXFile))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Manifest.ID, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.Manifest.SHA256 {
		return nil, fmt.Errorf("model %s: %w (file %s, manifest %s); the model is refused — reinstall it", m.Manifest.ID, ErrChecksum, got, m.Manifest.SHA256)
	}
	return data, nil
}

// EvalFile is one line of the evaluation file list: a path relative to the data root and its true class id.
type EvalFile struct {
	Path  string `json:"path"`
	Class string `json:"class"`
}

// EvalFiles reads the model folder's evaluation file list (Evaluation.Files); nil when the manifest names none.
func (m *Model) EvalFiles() ([]EvalFile, error) {
	name := m.Manifest.Evaluation.Files
	if name == "" {
		return nil, nil
	}
	data, err := fs.ReadFile(m.fsys, path.Join(m.dir, name))
	if err != nil {
		return nil, fmt.Errorf("model %s: read evaluation files: %w", m.Manifest.ID, err)
	}
	var out []EvalFile
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		p, class, ok := strings.Cut(text, "\t")
		if !ok || p == "" || m.Manifest.ClassIndex(class) < 0 {
			return nil, fmt.Errorf("model %s: %s line %d: %w: want \"path<TAB>class-id\" with a known class", m.Manifest.ID, name, line, ErrInvalidManifest)
		}
		out = append(out, EvalFile{Path: p, Class: class})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("model %s: read %s: %w", m.Manifest.ID, name, err)
	}
	return out, nil
}

// Catalogue is every model available to this process: the bundled ones plus user folders.
type Catalogue struct {
	models []*Model
	// Problems lists the folders that were skipped (invalid manifest, wrong checksum …), for the log and the
	// `models` command.
	Problems []error
}

// LoadCatalogue loads the bundled models (every folder of bundled holding both model.yaml and model.onnx; nil
// for none) and then the user folders in dirs: each DIR may itself be a model folder or hold model folders. A
// user model replaces a bundled one with the same id. Broken models are left out and listed in Problems; the error
// is non-nil only when a user folder cannot be read at all.
func LoadCatalogue(bundled fs.FS, dirs ...string) (*Catalogue, error) {
	c := &Catalogue{}
	if bundled != nil {
		c.addFolders(bundled, "bundled")
	}
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			return c, fmt.Errorf("models folder %s: %w", d, err)
		}
		if !st.IsDir() {
			return c, fmt.Errorf("models folder %s: %w", d, errors.New("not a folder"))
		}
		c.addFolders(os.DirFS(d), d)
	}
	return c, nil
}

// addFolders adds "." and every immediate subfolder of fsys that has both model files.
func (c *Catalogue) addFolders(fsys fs.FS, source string) {
	var dirs []string
	if hasModelFiles(fsys, ".") {
		dirs = append(dirs, ".")
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		c.Problems = append(c.Problems, fmt.Errorf("models folder %s: %w", source, err))
	}
	for _, e := range entries {
		if e.IsDir() && hasModelFiles(fsys, e.Name()) {
			dirs = append(dirs, e.Name())
		}
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		m, err := LoadModel(fsys, d, source)
		if err != nil {
			c.Problems = append(c.Problems, err)
			continue
		}
		c.add(m)
	}
}

func hasModelFiles(fsys fs.FS, dir string) bool {
	for _, n := range []string{ManifestFile, ONNXFile} {
		st, err := fs.Stat(fsys, path.Join(dir, n))
		if err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

func (c *Catalogue) add(m *Model) {
	for i, old := range c.models {
		if old.Manifest.ID == m.Manifest.ID {
			c.models[i] = m
			return
		}
	}
	c.models = append(c.models, m)
}

// Models returns the available models in load order (bundled first, sorted by folder).
func (c *Catalogue) Models() []*Model {
	return append([]*Model(nil), c.models...)
}

// Classifiers returns the models that answer (every model but gates; see Manifest.IsGate), in load order: what a
// person may pick or force, what the gate routes to (or the modality rule chooses without a gate), and whose classes
// become p_ columns.
func (c *Catalogue) Classifiers() []*Model {
	var out []*Model
	for _, m := range c.models {
		if !m.Manifest.IsGate() {
			out = append(out, m)
		}
	}
	return out
}

// Gate returns the gate that decides which classifier may answer an image (Manifest.IsGate), or nil when none is
// installed. With several, the last loaded wins, so that a gate given with --models replaces the bundled one.
func (c *Catalogue) Gate() *Model {
	var g *Model
	for _, m := range c.models {
		if m.Manifest.IsGate() {
			g = m
		}
	}
	return g
}

// Get returns the model with the given id, or an error wrapping ErrModelNotFound that lists the ids available.
func (c *Catalogue) Get(id string) (*Model, error) {
	for _, m := range c.models {
		if m.Manifest.ID == id {
			return m, nil
		}
	}
	ids := make([]string, len(c.models))
	for i, m := range c.models {
		ids[i] = m.Manifest.ID
	}
	avail := "none"
	if len(ids) > 0 {
		avail = strings.Join(ids, ", ")
	}
	return nil, fmt.Errorf("model %q: %w (available: %s)", id, ErrModelNotFound, avail)
}
