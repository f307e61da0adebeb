// Package assets holds TumorTracer's embedded artwork: the application icon, drawn by icongen.
package assets

import _ "embed"

// Icon is the 512×512 application icon (PNG). Regenerate with `go generate ./assets`.
//
//go:embed icon.png
var Icon []byte

//go:generate go run ./icongen -o icon.png
