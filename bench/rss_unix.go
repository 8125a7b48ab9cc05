//go:build linux || darwin || freebsd || netbsd || openbsd

package bench

import (
	"runtime"
	"syscall"
)

// PeakRSS returns the peak resident set size of this process in bytes
// (getrusage ru_maxrss), or 0 when unknown.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) // bytes on macOS
	}
	return int64(ru.Maxrss) * 1024 // kilobytes elsewhere
}
