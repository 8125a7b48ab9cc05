//go:build unix

package distill

import "syscall"

// cpuSeconds returns the user+system CPU time of the process so far: on a
// machine shared with other work, tokens per CPU second compare kernels
// more steadily than wall-clock tokens per second.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
