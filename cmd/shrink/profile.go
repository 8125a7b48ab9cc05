package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names the environment variable that, when set to a file
// path, makes the process write a Go CPU profile there (a debugging aid for
// finding where calibration, GPTQ and pruning spend their time; not a flag so
// that no command's interface changes).
const cpuProfileEnv = "SHRINK_CPUPROFILE"

// startCPUProfile starts the CPU profile named by SHRINK_CPUPROFILE, if any,
// and returns the function that stops it. A profile that cannot be started is
// reported on errOut and otherwise ignored.
func startCPUProfile(errOut io.Writer) func() {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(errOut, "shrink: %s: %v\n", cpuProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(errOut, "shrink: %s: %v\n", cpuProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
