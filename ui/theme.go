package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// readingTheme is a dark theme for reading images: a near-black, neutral grey background so the eye stays adapted
// to the image, low-contrast chrome, and one muted accent. It wraps the default theme for fonts, icons and sizes.
type readingTheme struct{}

var _ fyne.Theme = readingTheme{}

// Colours of the reading theme; neutral greys so that nothing tints the perceived image grey levels.
var (
	colBackground = color.NRGBA{R: 0x12, G: 0x12, B: 0x12, A: 0xff}
	colPanel      = color.NRGBA{R: 0x1c, G: 0x1c, B: 0x1c, A: 0xff}
	colInput      = color.NRGBA{R: 0x26, G: 0x26, B: 0x26, A: 0xff}
	colButton     = color.NRGBA{R: 0x2a, G: 0x2a, B: 0x2a, A: 0xff}
	colForeground = color.NRGBA{R: 0xd8, G: 0xd8, B: 0xd8, A: 0xff}
	colDim        = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff}
	colAccent     = color.NRGBA{R: 0x4f, G: 0x9d, B: 0xc8, A: 0xff}
	colSeparator  = color.NRGBA{R: 0x30, G: 0x30, B: 0x30, A: 0xff}
	colHover      = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0x14}
	colSelection  = color.NRGBA{R: 0x4f, G: 0x9d, B: 0xc8, A: 0x50}
	colWarning    = color.NRGBA{R: 0xe0, G: 0xa0, B: 0x40, A: 0xff}
	colError      = color.NRGBA{R: 0xe0, G: 0x60, B: 0x50, A: 0xff}
	colViewport   = color.NRGBA{R: 0x00, G: 0x00, B: 0x00, A: 0xff}
)

func (readingTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNameBackground:
		return colBackground
	case theme.ColorNameHeaderBackground, theme.ColorNameMenuBackground, theme.ColorNameOverlayBackground:
		return colPanel
	case theme.ColorNameInputBackground:
		return colInput
	case theme.ColorNameButton:
		return colButton
	case theme.ColorNameForeground:
		return colForeground
	case theme.ColorNameDisabled, theme.ColorNamePlaceHolder:
		return colDim
	case theme.ColorNamePrimary, theme.ColorNameFocus, theme.ColorNameHyperlink:
		return colAccent
	case theme.ColorNameSeparator, theme.ColorNameInputBorder:
		return colSeparator
	case theme.ColorNameHover:
		return colHover
	case theme.ColorNameSelection:
		return colSelection
	case theme.ColorNameWarning:
		return colWarning
	case theme.ColorNameError:
		return colError
	}
	return theme.DefaultTheme().Color(n, theme.VariantDark)
}

func (readingTheme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

func (readingTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

func (readingTheme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNamePadding:
		return 4
	case theme.SizeNameText:
		return 13
	}
	return theme.DefaultTheme().Size(n)
}
