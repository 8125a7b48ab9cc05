package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/pipeline"
)

var pipelineCmd = &command{
	name:    "pipeline",
	args:    "RECIPE.json [--out DIR] [--dry-run] [--ollama] [--quiet]",
	summary: "run a recipe: a chain of convert, prune, distill, quantize, bench and gate steps, skipping the unchanged ones",
	flags: func(fs *pflag.FlagSet) {
		fs.String("out", "", "output folder for the steps' outputs, manifest.json and report.html (default: out/ and the recipe file's name without .json)")
		fs.Bool("dry-run", false, "print what would run and what would be skipped, and why; run nothing")
		fs.Bool("ollama", false, "write an Ollama Modelfile beside the chain's final GGUF")
		fs.StringArray("input", nil, "NAME=PATH: use PATH for the recipe's input NAME (repeatable)")
		fs.BoolP("quiet", "q", false, "no progress output (the summary of the steps is still printed)")
	},
	run: runPipeline,
}

// runPipeline runs or plans a recipe. Ctrl-C stops the running step, whose
// output is discarded; the next run resumes from it.
func runPipeline(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "RECIPE.json"); err != nil {
		return err
	}
	r, err := pipeline.Load(args[0])
	if err != nil {
		return err
	}
	inputs, err := parseInputs(flagStringArray(fs, "input"))
	if err != nil {
		return err
	}
	out := flagString(fs, "out")
	if out == "" {
		out = filepath.Join("out", strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0])))
	}
	opt := pipeline.RunOptions{Inputs: inputs, Ollama: flagBool(fs, "ollama")}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if flagBool(fs, "dry-run") {
		plan, err := pipeline.Plan(ctx, r, out, opt)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plan of %s into %s:\n", args[0], out)
		return pipeline.WritePlan(stdout, plan)
	}
	if !flagBool(fs, "quiet") {
		opt.Progress = pipelineProgress(os.Stderr, time.Now(), isTerminal(os.Stderr))
	}
	m, err := pipeline.Run(ctx, r, out, opt)
	if m != nil && len(m.Steps) > 0 {
		if err := writeSummary(stdout, out, m); err != nil {
			return err
		}
	}
	return pipelineErr(err)
}

// pipelineErr maps a failed gate to a failed check (exit 1) and explains
// an interruption.
func pipelineErr(runErr error) error {
	switch {
	case errors.Is(runErr, pipeline.ErrGateFailed):
		return fmt.Errorf("%w: %v", errCheckFailed, runErr)
	case errors.Is(runErr, context.Canceled):
		return errors.New("interrupted: the finished steps are kept, and the same command resumes the chain")
	}
	return runErr
}

// parseInputs parses NAME=PATH pairs.
func parseInputs(pairs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range pairs {
		name, path, ok := strings.Cut(p, "=")
		if !ok || name == "" || path == "" {
			return nil, usageError{fmt.Sprintf("--input %q: want NAME=PATH", p)}
		}
		m[name] = path
	}
	return m, nil
}

// pipelineProgress prints a line when a step starts, is skipped or ends,
// and, when verbose, the steps' own messages.
func pipelineProgress(w io.Writer, start time.Time, verbose bool) func(pipeline.Progress) {
	return func(p pipeline.Progress) {
		head := fmt.Sprintf("[%6.1fs] %d/%d %s (%s)", time.Since(start).Seconds(), p.Index+1, p.Steps, p.Step, p.Kind)
		switch {
		case p.Skipped:
			fmt.Fprintf(w, "%s: skipped, %s\n", head, p.Message)
		case p.Stage == "start":
			fmt.Fprintf(w, "%s: running\n", head)
		case p.Stage == "done":
			fmt.Fprintf(w, "%s: done in %.1fs\n", head, p.Elapsed.Seconds())
		case verbose && p.Message != "":
			fmt.Fprintf(w, "%s: %s\n", head, p.Message)
		}
	}
}

// writeSummary prints one line per step: what it wrote and measured.
func writeSummary(w io.Writer, out string, m *pipeline.Manifest) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tkind\tthis run\ttime\toutput\tfigures")
	for _, s := range m.Steps {
		run := "ran"
		if s.Reused {
			run = "skipped"
		}
		output := ""
		if len(s.Outputs) > 0 {
			output = fmt.Sprintf("%s (%d B)", s.Outputs[0].Path, s.Outputs[0].Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%s\t%s\n", s.ID, s.Kind, run, s.Seconds, output, stepFigures(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "manifest: %s, report: %s\n", filepath.Join(out, pipeline.ManifestName), filepath.Join(out, "report.html"))
	if m.Modelfile != "" {
		fmt.Fprintf(w, "Modelfile: %s (ollama create NAME -f %s)\n", filepath.Join(out, m.Modelfile), filepath.Join(out, m.Modelfile))
	}
	return nil
}

// stepFigures formats a step's main figures.
func stepFigures(s pipeline.StepRecord) string {
	var parts []string
	for _, f := range []struct{ key, label, layout string }{
		{"params", "params", "%.0f"}, {"bits_per_weight", "bpw", "%.2f"}, {"ppl", "PPL", "%.4f"}, {"kld_mean", "KLD", "%.5f"}, {"top1", "top-1", "%.4f"},
	} {
		if v, ok := s.Figures[f.key]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", f.label, fmt.Sprintf(f.layout, v)))
		}
	}
	if s.Passed != nil {
		pass := 0
		for _, c := range s.Checks {
			if c.Pass {
				pass++
			}
		}
		verdict := "PASS"
		if !*s.Passed {
			verdict = "FAIL"
		}
		parts = append(parts, fmt.Sprintf("%s (%d of %d checks pass)", verdict, pass, len(s.Checks)))
	}
	return strings.Join(parts, ", ")
}
