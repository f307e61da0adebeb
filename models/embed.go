// Package models embeds the bundled classifiers: each folder models/<id>/ with model.yaml and model.onnx (plus
// the card's test_files.txt and figures). Folders without both model files are ignored by inference.LoadCatalogue,
// so the binary builds whether or not any model has been trained yet.
package models

import (
	"embed"
	"io/fs"
)

// The pattern "*" always matches at least this file, so the build never fails for want of models; the folders
// it picks up are the model folders (dot- and underscore-prefixed names are left out by go:embed).
//
//go:embed *
var bundle embed.FS

// Bundle returns the embedded model folders as a file system rooted at models/.
func Bundle() fs.FS {
	return bundle
}
