package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/pipeline"
)

var demoCmd = &command{
	name:    "demo",
	args:    "[--model DIR] [--out DIR] [--recipe FILE]",
	summary: "the narrow-but-deep chain on the default model as a pipeline: prune for Go, distill, quantize, bench every stage against the original, gate; HTML report",
	flags: func(fs *pflag.FlagSet) {
		fs.String("model", filepath.Join("models", "default"), "model to run the demo on (the default model ships with the repository)")
		fs.String("out", filepath.Join("out", "demo"), "output folder: the models, the bench reports, manifest.json and report.html")
		fs.String("recipe", filepath.Join("demo", "go-edge.json"), "the demo's recipe (shipped with the repository)")
		fs.Bool("ollama", false, "write an Ollama Modelfile beside the final GGUF")
		fs.BoolP("quiet", "q", false, "no progress output")
	},
	run: runDemo,
}

// runDemo runs the shipped recipe as 'shrink pipeline' does, with the
// model replaced by --model, then prints the bench table of every stage
// and the gate's checks. A second run reuses every step.
func runDemo(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	src, out, recipe := flagString(fs, "model"), flagString(fs, "out"), flagString(fs, "recipe")
	for _, p := range []string{src, recipe} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (run the demo from the repository root, or give --model and --recipe)", p, err)
		}
	}
	r, err := pipeline.Load(recipe)
	if err != nil {
		return err
	}
	opt := pipeline.RunOptions{Inputs: map[string]string{"model": src}, Ollama: flagBool(fs, "ollama")}
	if !flagBool(fs, "quiet") {
		opt.Progress = pipelineProgress(os.Stderr, time.Now(), isTerminal(os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	m, runErr := pipeline.Run(ctx, r, out, opt)
	if m != nil && len(m.Steps) > 0 {
		if err := writeSummary(stdout, out, m); err != nil {
			return err
		}
		if err := demoTables(out, m); err != nil {
			return err
		}
	}
	return pipelineErr(runErr)
}

// demoTables prints the bench table of the chain's bench steps and the
// gate's checks.
func demoTables(out string, m *pipeline.Manifest) error {
	var reports []*bench.Report
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	gates := 0
	for _, s := range m.Steps {
		if s.Kind == "bench" && len(s.Outputs) > 0 {
			r, err := bench.ReadReport(filepath.Join(out, s.Outputs[0].Path))
			if err != nil {
				return err
			}
			reports = append(reports, r)
		}
		for _, c := range s.Checks {
			if gates == 0 {
				fmt.Fprintln(tw, "gate\tcheck\tvalue\tverdict")
			}
			gates++
			verdict := "PASS"
			if !c.Pass {
				verdict = "FAIL " + c.Detail
			}
			fmt.Fprintf(tw, "%s\t%s\t%.6g\t%s\n", s.ID, c.Check, c.Value, verdict)
		}
	}
	if len(reports) > 0 {
		fmt.Fprintln(stdout)
		if err := bench.WriteMarkdown(stdout, reports); err != nil {
			return err
		}
	}
	if gates > 0 {
		fmt.Fprintln(stdout)
	}
	return tw.Flush()
}
