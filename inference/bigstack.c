//go:build !windows

// A thread with a large, lazily committed stack for ONNX Runtime's environment creation; see bigstack_unix.go.
#include <pthread.h>
#include <stdint.h>
#include "_cgo_export.h"

static void *tumortracer_trampoline(void *arg) {
	tumortracerRunOnThread((uintptr_t)arg);
	return NULL;
}

int tumortracer_run_big_stack(uintptr_t handle, size_t size) {
	pthread_attr_t attr;
	pthread_t thread;
	int rc = pthread_attr_init(&attr);
	if (rc != 0) return rc;
	rc = pthread_attr_setstacksize(&attr, size);
	if (rc == 0) rc = pthread_create(&thread, &attr, tumortracer_trampoline, (void *)handle);
	pthread_attr_destroy(&attr);
	if (rc != 0) return rc;
	return pthread_join(thread, NULL);
}
