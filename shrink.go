// Package shrink is the library API of the shrink toolkit: every command of
// the shrink binary is one function here, callable from a Go program with a
// context for cancellation and a progress callback.
//
// The mechanism packages stay small and free of the runtime: quantize holds
// the codecs, GPTQ and the type solver, prune the importance scores and the
// structural cuts, distill the training loop, bench the measurements. None of
// quantize or prune imports the engine (see DESIGN.md); the functions of this
// package are the layer above them that runs the engine over calibration
// text, hands the statistics over, and writes the result. cmd/shrink only
// parses flags into the options structs below, prints, and maps errors to exit
// codes.
//
// Options structs carry JSON tags equal to the command's flag names, so a
// recipe step (package pipeline) is the same options a command line gives.
package shrink

import "time"

// Version is the toolkit version recorded in outputs' provenance.
const Version = "0.1.0-dev"

// Progress reports how far a long step has come.
type Progress struct {
	// Stage names the stage within the step, such as "calibrate",
	// "quantize", "repair" or "write".
	Stage string
	// Done and Total count the stage's units (blocks, tensors, chunks);
	// Total is 0 when unknown.
	Done, Total int
	// Message is a human-readable line for this update, possibly empty.
	Message string
	// Elapsed is the time since the step began.
	Elapsed time.Duration
}

// ProgressFunc receives progress updates. It is called from the goroutine
// that runs the step and must return quickly; nil means no reporting.
type ProgressFunc func(Progress)

// report calls f when it is set.
func (f ProgressFunc) report(p Progress) {
	if f != nil {
		f(p)
	}
}
