//go:build windows

package main

import (
	"os"
	"syscall"

	"github.com/tumortracer/tumortracer/cli"
)

// The Windows build is linked with -H=windowsgui so that double-clicking it opens the viewer without a console
// window. Such a program starts with no standard output, so a verb typed in a Command Prompt would print nothing;
// when a verb is given, this attaches to the console of the process that started it and points standard output
// and error there. Handles that were already redirected (to a file or pipe) are left alone.
func init() {
	if len(os.Args) < 2 || !cli.IsVerb(os.Args[1]) {
		return
	}
	attachParentConsole()
}

// attachParentProcess is ATTACH_PARENT_PROCESS, (DWORD)-1.
const attachParentProcess = ^uint32(0)

func attachParentConsole() {
	stdout := validHandle(syscall.STD_OUTPUT_HANDLE)
	stderr := validHandle(syscall.STD_ERROR_HANDLE)
	if stdout && stderr {
		return
	}
	kernel32 := syscall.NewLazyDLL("kernel32.dll")
	attach, setStd := kernel32.NewProc("AttachConsole"), kernel32.NewProc("SetStdHandle")
	if attach.Find() != nil || setStd.Find() != nil {
		return
	}
	// Fails when the parent has no console (started from Explorer); then output stays where it was.
	if ok, _, _ := attach.Call(uintptr(attachParentProcess)); ok == 0 {
		return
	}
	con, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	if !stdout {
		os.Stdout = con
		setStdHandle(setStd, syscall.STD_OUTPUT_HANDLE, con)
	}
	if !stderr {
		os.Stderr = con
		setStdHandle(setStd, syscall.STD_ERROR_HANDLE, con)
	}
}

// setStdHandle also tells the OS, because child processes and C code ask it for the standard handles rather than
// reading os.Stdout.
func setStdHandle(proc *syscall.LazyProc, which int, f *os.File) {
	proc.Call(uintptr(which), f.Fd())
}

// validHandle reports whether the standard handle refers to something that can be written (a console, file or
// pipe the parent passed on).
func validHandle(which int) bool {
	h, err := syscall.GetStdHandle(which)
	if err != nil || h == 0 || h == syscall.InvalidHandle {
		return false
	}
	t, err := syscall.GetFileType(h)
	return err == nil && t != 0 // FILE_TYPE_UNKNOWN
}
