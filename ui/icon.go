package ui

import (
	"fyne.io/fyne/v2"

	"github.com/tumortracer/tumortracer/assets"
)

// appIcon is the window and application icon (assets/icon.png).
var appIcon = fyne.NewStaticResource("icon.png", assets.Icon)
