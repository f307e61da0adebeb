package dicomio

import (
	"strings"

	dcmuid "github.com/suyashkumar/dicom/pkg/uid"
)

// SOPClassName is the name of a SOP Class ("CT Image", "X-Ray Radiation Dose SR") for sentences a person
// reads; the UID itself when the dictionary does not know it.
func SOPClassName(uid string) string {
	info, err := dcmuid.Lookup(uid)
	if err != nil || info.Name == "" {
		return uid
	}
	return strings.TrimSuffix(info.Name, " Storage")
}
