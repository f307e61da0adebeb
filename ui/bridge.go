package ui

import "fyne.io/fyne/v2"

// uiDo and uiDoAndWait hand work to the Fyne thread. Tests replace them with a queue that the test goroutine
// drains, because Fyne's test driver would otherwise run the work on the calling goroutine.
var (
	uiDo        = fyne.Do
	uiDoAndWait = fyne.DoAndWait
)

// onUI runs f on the Fyne thread. It is the one way goroutines (decode, inference, batches, path walks) hand
// results back: every widget change they cause happens inside f.
func (vw *viewer) onUI(f func()) { uiDo(f) }

// onUIWait runs f on the Fyne thread and returns when it has run.
func (vw *viewer) onUIWait(f func()) { uiDoAndWait(f) }
