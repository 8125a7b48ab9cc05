package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// PlannedStep is what Plan expects of one step.
type PlannedStep struct {
	// ID, Kind and Input are the step's in the recipe.
	ID, Kind, Input string
	// Output is the step's output file, relative to the output folder.
	Output string
	// Run is true when the step will run, false when it will be skipped;
	// Reason says why.
	Run    bool
	Reason string
}

// Plan says which steps Run would run and which it would skip, and why,
// without running any. A step reading the output of a step that runs is
// planned to run: it is skipped after all only if that output comes out
// identical to the recorded one.
func Plan(ctx context.Context, r *Recipe, outDir string, opt RunOptions) ([]PlannedStep, error) {
	steps, err := prepare(r, outDir, opt)
	if err != nil {
		return nil, err
	}
	old, err := ReadManifest(outDir)
	if err != nil {
		return nil, err
	}
	x := &runner{ctx: ctx, outDir: outDir, opt: opt, old: old, steps: steps}
	var plan []PlannedStep
	runs := map[string]bool{}
	for _, ps := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := PlannedStep{ID: ps.ID, Kind: ps.Kind, Input: ps.Input, Output: ps.outName}
		p.Run, p.Reason, err = x.planStep(ps, runs)
		if err != nil {
			return nil, fmt.Errorf("step %q (%s): %w", ps.ID, ps.Kind, err)
		}
		runs[ps.ID] = p.Run
		plan = append(plan, p)
	}
	return plan, nil
}

// planStep decides one step of the plan.
func (x *runner) planStep(ps *prepared, runs map[string]bool) (bool, string, error) {
	if i := slices.IndexFunc(ps.upstream, func(id string) bool { return runs[id] }); i >= 0 {
		return true, fmt.Sprintf("reads the output of %s, which runs", ps.upstream[i]), nil
	}
	inputs, err := x.hashInputs(ps)
	if err != nil {
		return false, "", err
	}
	skip, why := x.valid(ps, x.old.record(ps.ID), inputs)
	if old := x.old.record(ps.ID); skip && old.Passed != nil && !*old.Passed {
		why += "; its recorded verdict FAILED, the chain stops here"
	}
	if !skip && x.resumable(ps, inputs) {
		why += "; continues the interrupted run's work"
	}
	return !skip, why, nil
}

// WritePlan prints a plan as one line per step.
func WritePlan(w io.Writer, plan []PlannedStep) error {
	var b strings.Builder
	for i, p := range plan {
		verb := "skip"
		if p.Run {
			verb = "run "
		}
		fmt.Fprintf(&b, "%2d. %s %-10s %-9s %s -> %s: %s\n", i+1, verb, p.ID, p.Kind, p.Input, p.Output, p.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
