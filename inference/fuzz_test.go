package inference

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzManifest feeds arbitrary model.yaml and test_files.txt contents through parsing, validation, the tensor
// check and the evaluation-list reader: none may panic, and a manifest that validates must have what the engine
// indexes by (classes, input size, mean/std).
func FuzzManifest(f *testing.F) {
	for _, id := range []string{"tiny-cam", "tiny-occl"} {
		if data, err := os.ReadFile(filepath.Join("testdata", id, "model.yaml")); err == nil {
			f.Add(data, []byte("a/b.png\talpha\nc.png\tbeta\n"))
		}
	}
	f.Add([]byte(goodYAML), []byte("x\tnormal\n\n"))
	f.Add([]byte("id: [\n"), []byte("\t\t\n"))
	f.Fuzz(func(t *testing.T, yml, files []byte) {
		m, err := ParseManifest(yml)
		if err != nil {
			return
		}
		if m.Validate() != nil {
			return
		}
		if len(m.Classes) < 2 || m.Input.Channels < 1 || m.Input.Height < 1 || len(m.Preprocessing.Std) == 0 {
			t.Fatalf("valid manifest lacks what the engine needs: %+v", m)
		}
		_ = m.CheckTensors([]TensorInfo{{Name: m.Input.Name, Float32: true, Shape: []int64{-1, 1, 2}}}, nil)
		m.Evaluation.Files = "test_files.txt"
		model := &Model{Manifest: *m, fsys: fstest.MapFS{"test_files.txt": {Data: files}}, dir: "."}
		list, err := model.EvalFiles()
		for _, e := range list {
			if e.Path == "" || m.ClassIndex(e.Class) < 0 {
				t.Fatalf("EvalFiles accepted %+v (err %v)", e, err)
			}
		}
		Decide(m, make([]float64, len(m.Classes)))
	})
}
