package pipeline

import (
	"context"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
)

// What a step reads and writes.
const (
	// Model is a checkpoint: a GGUF file or a model folder.
	Model = "model"
	// Report is a shrink.bench/v1 report (JSON).
	Report = "report"
	// Verdict is a gate's checks (JSON).
	Verdict = "verdict"
)

// Kind is one kind of step: what it reads, what it writes, its options and
// the function that runs it. The default kinds (Kinds) call the library
// functions of package shrink; tests and programs may bring their own.
type Kind struct {
	// Accepts is what the step's input must be when it is another step's
	// output: Model or Report.
	Accepts string
	// Produces is what the step writes: Model, Report or Verdict.
	Produces string
	// Ext is the extension of the step's output file, such as ".gguf".
	Ext string
	// Paths lists the options, by JSON name, that hold paths of files
	// the step reads (string or list of strings). They resolve relative
	// to the recipe file, may be "@name" references, and are hashed as
	// the step's inputs.
	Paths []string
	// Scratch lists the options, by JSON name, that name files the step
	// writes besides its output (such as a cache or a side report):
	// relative ones resolve inside the output folder, where they are
	// removed before the step runs again (a cache made from other inputs
	// must not be read), unless it resumes; they are not hashed.
	Scratch []string
	// Options returns a pointer to a new options value holding the
	// command's defaults; a step's options decode into it.
	Options func() any
	// Check, when set, rejects options that a recipe must not set, such
	// as those the pipeline sets itself; it runs before any step does.
	Check func(options any) error
	// Run performs the step: it reads c.Input and writes c.Output.
	Run func(ctx context.Context, c *Call) (*Result, error)
}

// Call is what a step's Run gets.
type Call struct {
	// Step is the step's id.
	Step string
	// Input is the path of the step's input.
	Input string
	// Output is the path the step writes its output to: a temporary name
	// that Run renames to the final one when the step succeeds.
	Output string
	// Options is the value Kind.Options returned, decoded from the
	// recipe with its paths resolved.
	Options any
	// Resume is set when an interrupted run of this step, with the same
	// options and inputs, left its temporary files (those named after
	// Output, such as a training checkpoint OUTPUT.ckpt) for the step to
	// continue from; they are removed otherwise.
	Resume bool
	// Progress receives the step's progress.
	Progress shrink.ProgressFunc
}

// Result is what a step reports besides its output file.
type Result struct {
	// Figures are the step's measurements by name, recorded in the
	// manifest (bench metrics, for instance "kld_mean").
	Figures map[string]float64
	// Report is the bench report a Report step wrote, for the chain's
	// HTML page.
	Report *bench.Report
	// Checks are the gate checks a Verdict step made; any failed check
	// stops the chain.
	Checks []bench.Check
}
