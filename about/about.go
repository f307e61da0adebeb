// Package about says what this program is, for both of its front ends (the window in package ui and the verbs in
// package cli): the build's identity, the research-use sentence every surface that shows a result carries, and
// the exit statuses. It imports nothing of the project, so either front end can use it without the other.
package about

// Build identifies the binary; main sets it from the linker flags.
type Build struct {
	Version string
	Commit  string
}

// Disclaimer is printed by every surface that shows a result.
const Disclaimer = "Research use only — not for diagnosis."

// Exit statuses of the process, shared by the window and every verb.
const (
	// ExitOK: no input failed — a refusal ("no model may answer this image", with the reason) is an answer — or the
	// window closed normally.
	ExitOK = 0
	// ExitFailed: some input failed; its record was still written.
	ExitFailed = 1
	// ExitUsage: the command line was wrong; nothing was done.
	ExitUsage = 2
)
