//go:build !unix

package distill

import "time"

var start = time.Now()

// cpuSeconds falls back to wall-clock time where getrusage is missing.
func cpuSeconds() float64 { return time.Since(start).Seconds() }
