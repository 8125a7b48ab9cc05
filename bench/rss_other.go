//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package bench

// PeakRSS returns 0: the peak resident set size is not available here.
func PeakRSS() int64 { return 0 }
