// Package nativemem tunes the C allocator that ONNX Runtime and the C codecs (OpenJPEG, CharLS, libjpeg-turbo)
// allocate from, where there is one to tune (glibc, on Linux with cgo); importing it is enough.
package nativemem
