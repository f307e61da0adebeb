package ui

import "fyne.io/fyne/v2"

// onUI runs f on the Fyne thread. It is the one way goroutines (decode, inference, batches, path walks) hand
// results back: every widget change they cause happens inside f.
func (vw *viewer) onUI(f func()) { fyne.Do(f) }
