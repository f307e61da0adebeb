package ui

import "errors"

// newPipelineAnalyser connects the viewer to the classification pipeline.
func newPipelineAnalyser(ortLib, device string) analyser {
	return unavailable{reason: errors.New("classification is not connected yet")}
}
