//go:build cgo && linux

package nativemem

/*
#include <malloc.h>
#include <stdlib.h>

static void tt_fix_mmap_threshold(void) {
#ifdef M_MMAP_THRESHOLD
	if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}
*/
import "C"

// init fixes glibc's mmap threshold at its default, 128 KiB. glibc serves a request that large with a mapping of
// its own, returned to the system on free, until the first such block is freed: from then on it raises the
// threshold to the size of the block freed (up to 32 MiB), and blocks below it come from the heap, where freed
// memory stays resident. A process that decodes image after image of tens of megabytes (OpenJPEG's planes are 4
// bytes a sample) and runs models with buffers as large then keeps its peaks resident long after them: in a drop
// of 1,000 DICOM files, 75 MB of the resident set (dicomio/NOTES.md). MALLOC_MMAP_THRESHOLD_ in the environment,
// when set, is glibc's own setting and wins.
func init() { C.tt_fix_mmap_threshold() }
