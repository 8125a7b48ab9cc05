package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// ErrGateFailed is wrapped by the error of a chain stopped by a failed gate.
var ErrGateFailed = errors.New("gate failed")

// RunOptions configure Run and Plan.
type RunOptions struct {
	// Inputs replace the recipe's inputs by name; their paths are
	// relative to the working folder.
	Inputs map[string]string
	// Kinds are the step kinds by name; nil means Kinds().
	Kinds map[string]Kind
	// Ollama writes an Ollama Modelfile beside the chain's final GGUF
	// (also set by the recipe's "ollama").
	Ollama bool
	// Progress receives every step's progress.
	Progress func(Progress)
}

// Progress reports a step's progress within a run.
type Progress struct {
	// Step and Kind name the step; Index (0-based) and Steps place it in
	// the chain.
	Step, Kind   string
	Index, Steps int
	// Skipped is set on the one update of a skipped step; Message says
	// why it is skipped.
	Skipped bool
	// Progress is the step's own progress. Stage "start" and "done" open
	// and close a step that runs.
	shrink.Progress
}

// Run runs the recipe's steps in order into outDir, skipping those whose
// record in outDir's manifest is still valid, and returns the manifest. A
// failed gate returns the manifest and an error wrapping ErrGateFailed;
// cancelling ctx stops the running step, whose output is then discarded.
func Run(ctx context.Context, r *Recipe, outDir string, opt RunOptions) (*Manifest, error) {
	steps, err := prepare(r, outDir, opt)
	if err != nil {
		return nil, err
	}
	old, err := ReadManifest(outDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	release, err := lockDir(outDir)
	if err != nil {
		return nil, err
	}
	defer release()
	x := &runner{ctx: ctx, outDir: outDir, opt: opt, old: old, steps: steps, reports: map[string]*bench.Report{}, checks: map[string][]bench.Check{}}
	x.m = &Manifest{Schema: ManifestSchema, Shrink: shrink.Version, Name: r.Name, Recipe: r.Path, Started: time.Now().UTC()}
	for i, ps := range steps {
		if err := ctx.Err(); err != nil {
			return x.m, err
		}
		rec, err := x.step(i, ps)
		if err != nil {
			return x.m, fmt.Errorf("step %q (%s): %w", ps.ID, ps.Kind, err)
		}
		x.m.Steps = append(x.m.Steps, *rec)
		if err := x.writeManifest(i); err != nil {
			return x.m, err
		}
		if rec.Passed != nil && !*rec.Passed {
			return x.m, x.finish(r, i, fmt.Errorf("step %q: %w: %s", ps.ID, ErrGateFailed, firstFailed(rec.Checks)))
		}
	}
	return x.m, x.finish(r, len(steps)-1, nil)
}

// runner holds the state of one Run.
type runner struct {
	ctx     context.Context
	outDir  string
	opt     RunOptions
	old     *Manifest
	steps   []*prepared
	m       *Manifest
	h       hasher
	reports map[string]*bench.Report
	checks  map[string][]bench.Check // the verdict steps run this time
}

// writeManifest writes the records so far, followed by the old records of
// the steps not reached yet (so an interruption forgets none of them).
func (x *runner) writeManifest(done int) error {
	m := *x.m
	m.Steps = slices.Clone(m.Steps)
	for _, ps := range x.steps[done+1:] {
		if rec := x.old.record(ps.ID); rec != nil {
			m.Steps = append(m.Steps, *rec)
		}
	}
	return m.write(x.outDir)
}

// finish writes the chain's HTML report, on success the Modelfile and the
// model card, and the final manifest (keeping the old records of the steps
// after a failed gate at step done).
func (x *runner) finish(r *Recipe, done int, runErr error) error {
	x.m.Final, x.m.Ended = finalModel(x.steps), time.Now().UTC()
	if err := writeChainHTML(filepath.Join(x.outDir, "report.html"), x.m, x.steps, x.reports); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr == nil && (x.opt.Ollama || r.Ollama) && x.m.Final != "" {
		mf, err := writeModelfile(filepath.Join(x.outDir, x.m.Final))
		if err != nil {
			return err
		}
		x.m.Modelfile = filepath.Base(mf)
	}
	if runErr == nil && x.m.Final != "" {
		if err := x.writeCard(r); err != nil {
			return err
		}
		x.m.Card = CardName
	}
	if err := x.writeManifest(done); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// finalModel returns the output name of the last step that makes a model.
func finalModel(steps []*prepared) string {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].kind.Produces == Model {
			return steps[i].outName
		}
	}
	return ""
}

// step runs or skips one step and returns its record.
func (x *runner) step(i int, ps *prepared) (*StepRecord, error) {
	inputs, err := x.hashInputs(ps)
	if err != nil {
		return nil, err
	}
	old := x.old.record(ps.ID)
	if skip, why := x.valid(ps, old, inputs); skip {
		x.progress(i, ps, Progress{Skipped: true, Progress: shrink.Progress{Stage: "skip", Message: why}})
		rec := *old
		rec.Reused = true
		return &rec, x.loadReport(ps)
	}
	return x.execute(i, ps, inputs)
}

// hashInputs hashes the files the step reads.
func (x *runner) hashInputs(ps *prepared) ([]FileRecord, error) {
	var out []FileRecord
	for _, r := range ps.refs {
		fr, err := x.h.file(r.role, r.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.role, err)
		}
		out = append(out, fr)
	}
	return out, nil
}

// valid reports whether old still describes the step, or why not.
func (x *runner) valid(ps *prepared, old *StepRecord, inputs []FileRecord) (bool, string) {
	switch {
	case old == nil:
		return false, "no record in the manifest"
	case old.Kind != ps.Kind:
		return false, fmt.Sprintf("kind changed from %s", old.Kind)
	case !sameJSON(old.Options, ps.record):
		return false, "options changed"
	}
	if why := changedInput(old.Inputs, inputs); why != "" {
		return false, why
	}
	for _, o := range old.Outputs {
		fr, err := x.h.file(o.Role, filepath.Join(x.outDir, o.Path))
		switch {
		case err != nil:
			return false, fmt.Sprintf("output %s is missing", o.Path)
		case fr.SHA256 != o.SHA256:
			return false, fmt.Sprintf("output %s changed since it was recorded", o.Path)
		}
	}
	return true, fmt.Sprintf("unchanged since %s", old.Ended.Format(time.RFC3339))
}

// changedInput names the first input that differs from the record.
func changedInput(old, now []FileRecord) string {
	for i, n := range now {
		if i >= len(old) || old[i].Role != n.Role {
			return fmt.Sprintf("inputs changed (%s is new)", n.Role)
		}
		if old[i].SHA256 != n.SHA256 {
			return fmt.Sprintf("%s %s changed", n.Role, n.Path)
		}
	}
	if len(old) > len(now) {
		return fmt.Sprintf("inputs changed (%s is gone)", old[len(now)].Role)
	}
	return ""
}

// sameJSON compares two JSON texts ignoring layout.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// loadReport reads a skipped report step's output for the HTML page.
func (x *runner) loadReport(ps *prepared) error {
	if ps.kind.Produces != Report {
		return nil
	}
	rep, err := bench.ReadReport(ps.output)
	if err != nil {
		return err
	}
	x.reports[ps.ID] = rep
	return nil
}

// execute runs the step into a temporary file and records it.
func (x *runner) execute(i int, ps *prepared, inputs []FileRecord) (*StepRecord, error) {
	partial := filepath.Join(x.outDir, "."+ps.ID+".partial"+ps.kind.Ext)
	resume, err := x.begin(ps, inputs)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	x.progress(i, ps, Progress{Progress: shrink.Progress{Stage: "start"}})
	call := &Call{Step: ps.ID, Input: ps.input, Output: partial, Options: ps.opts, Resume: resume,
		Progress: func(p shrink.Progress) { x.progress(i, ps, Progress{Progress: p}) }}
	res, err := ps.kind.Run(x.ctx, call)
	if err == nil {
		err = x.ctx.Err() // a step that ignored the cancellation still does not count
	}
	if err != nil {
		os.RemoveAll(partial)
		if x.ctx.Err() == nil {
			x.clean(ps.ID) // a failure, not an interruption: nothing to resume
		}
		return nil, err
	}
	if res == nil {
		res = &Result{}
	}
	x.h.forget(ps.output)
	if err := os.Rename(partial, ps.output); err != nil {
		return nil, fmt.Errorf("step wrote no output: %w", err)
	}
	x.clean(ps.ID)
	end := time.Now()
	rec := &StepRecord{ID: ps.ID, Kind: ps.Kind, Input: ps.Input, Options: ps.record, Inputs: inputs,
		Started: start.UTC(), Ended: end.UTC(), Seconds: end.Sub(start).Seconds(), Figures: res.Figures, Resumed: resume}
	out, err := x.h.file("output", ps.output)
	if err != nil {
		return nil, err
	}
	out.Path = ps.outName
	rec.Outputs = []FileRecord{out}
	x.record(ps, rec, res)
	x.progress(i, ps, Progress{Progress: shrink.Progress{Stage: "done", Elapsed: end.Sub(start)}})
	return rec, nil
}

// pending is what OUT/.ID.pending.json holds while step ID runs: what it
// runs on, so that a run interrupted in it can resume its work.
type pending struct {
	Options json.RawMessage `json:"options"`
	Inputs  []FileRecord    `json:"inputs"`
}

// begin prepares the step's temporary files. It reports whether an
// interrupted run of the same step (same options and inputs) left state
// to resume from; otherwise it removes whatever an earlier run left.
func (x *runner) begin(ps *prepared, inputs []FileRecord) (bool, error) {
	path := filepath.Join(x.outDir, "."+ps.ID+".pending.json")
	now := pending{ps.record, inputs}
	resume := x.resumable(ps, inputs)
	if !resume {
		x.clean(ps.ID)
		for _, f := range ps.scratch {
			os.Remove(f)
		}
	}
	os.RemoveAll(filepath.Join(x.outDir, "."+ps.ID+".partial"+ps.kind.Ext))
	data, err := json.Marshal(now)
	if err != nil {
		return false, err
	}
	return resume, format.WriteFileAtomic(path, data)
}

// resumable reports whether an interrupted run of the step with the same
// options and inputs left its pending record.
func (x *runner) resumable(ps *prepared, inputs []FileRecord) bool {
	var was pending
	data, err := os.ReadFile(filepath.Join(x.outDir, "."+ps.ID+".pending.json"))
	return err == nil && json.Unmarshal(data, &was) == nil &&
		sameJSON(was.Options, ps.record) && changedInput(was.Inputs, inputs) == ""
}

// clean removes a step's temporary files: .ID.* and the atomic writers'
// ..ID.*.
func (x *runner) clean(id string) {
	for _, pattern := range []string{"." + id + ".*", ".." + id + ".*"} {
		files, _ := filepath.Glob(filepath.Join(x.outDir, pattern))
		for _, f := range files {
			os.RemoveAll(f)
		}
	}
}

// record adds the result's figures, report and checks to rec.
func (x *runner) record(ps *prepared, rec *StepRecord, res *Result) {
	if ps.kind.Produces == Model {
		if rec.Figures == nil {
			rec.Figures = map[string]float64{}
		}
		rec.Figures["bytes"] = float64(rec.Outputs[0].Bytes)
		if n, ok := ggufParams(ps.output); ok {
			rec.Figures["params"] = float64(n)
		}
	}
	if res.Report != nil {
		x.reports[ps.ID] = res.Report
	}
	if ps.kind.Produces == Verdict {
		x.checks[ps.ID] = res.Checks
		pass := true
		for _, c := range res.Checks {
			rec.Checks = append(rec.Checks, checkRecord(c))
			pass = pass && c.Pass
		}
		rec.Passed = &pass
	}
}

// checkRecord converts a gate check for the manifest.
func checkRecord(c bench.Check) CheckRecord {
	r := CheckRecord{Check: c.Name(), Value: c.Value, Pass: c.Pass, Detail: c.Failure}
	if c.Missing {
		r.Detail = "missing from the report"
		if c.Note != "" {
			r.Detail += ": " + c.Note
		}
	}
	return r
}

// firstFailed describes the first failed check.
func firstFailed(checks []CheckRecord) string {
	for _, c := range checks {
		if !c.Pass {
			if c.Detail != "" {
				return fmt.Sprintf("%s (%s)", c.Check, c.Detail)
			}
			return fmt.Sprintf("%s (value %.6g)", c.Check, c.Value)
		}
	}
	return "no check passed"
}

// ggufParams counts the elements of a GGUF file's tensors.
func ggufParams(path string) (int64, bool) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var n int64
	for _, t := range f.TensorInfos {
		n += t.NumElements()
	}
	return n, true
}

// progress sends p, completed with the step's place, to the callback.
func (x *runner) progress(i int, ps *prepared, p Progress) {
	if x.opt.Progress == nil {
		return
	}
	p.Step, p.Kind, p.Index, p.Steps = ps.ID, ps.Kind, i, len(x.steps)
	x.opt.Progress(p)
}
