package inference

// onBigStack runs f: on Windows ONNX Runtime does not parse the command line with a recursive regex.
func onBigStack(f func()) { f() }
