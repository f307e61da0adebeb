//go:build !windows

package inference

/*
#include <stddef.h>
#include <stdint.h>
int tumortracer_run_big_stack(uintptr_t handle, size_t size);
*/
import "C"

import "runtime/cgo"

// bigStackSize is the stack reserved for ONNX Runtime's environment creation. It is address space, committed only
// as touched: ORT 1.29's CreateOrtEnv matches /proc/self/cmdline with a recursive std::regex, about 200 bytes of
// stack per command-line byte, which overflowed the default 8 MiB stack (SIGSEGV) once `tumortracer classify` was
// given ~30 KB of paths. Linux caps a command line at 2 MiB (ARG_MAX), so 1 GiB covers any.
const bigStackSize = 1 << 30

//export tumortracerRunOnThread
func tumortracerRunOnThread(h C.uintptr_t) {
	cgo.Handle(h).Value().(func())()
}

// onBigStack runs f, and the native calls it makes, on a new OS thread with a bigStackSize stack, and waits for
// it; where such a thread cannot be made it runs f here.
func onBigStack(f func()) {
	ran := false
	h := cgo.NewHandle(func() { ran = true; f() })
	defer h.Delete()
	if rc := C.tumortracer_run_big_stack(C.uintptr_t(h), C.size_t(bigStackSize)); rc != 0 && !ran {
		f()
	}
}
