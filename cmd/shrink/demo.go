package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
)

var demoCmd = &command{
	name:    "demo",
	args:    "[--model DIR] [--out DIR]",
	summary: "convert, quantize, bench and gate the default model end to end, and write an HTML report",
	flags: func(fs *pflag.FlagSet) {
		fs.String("model", filepath.Join("models", "default"), "model to run the demo on (the default model ships with the repository)")
		fs.String("out", filepath.Join("out", "demo"), "folder for the converted and quantized models and the reports")
		fs.StringSlice("types", []string{"q8_0", "q4_0", "q4_k_m"}, "quantization types or presets to compare")
		fs.Int("ctx", 128, "perplexity chunk size in tokens")
		fs.Int("threads", 0, "goroutines per matrix product (default: all cores)")
		fs.Float64("max-kld", 0.05, "gate: maximum mean KL divergence")
		fs.Float64("min-top1", 0.9, "gate: minimum top-1 agreement")
	},
	run: runDemo,
}

// runDemo runs the pipeline in process. The evaluation text is Go source of
// this repository embedded in the binary (bench.DemoText: a copy of
// format/*.go), the domain the default model's tokenizer was trained on; it
// is written to OUT/demo.txt so the reports refer to a real file.
func runDemo(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	src := flagString(fs, "model")
	out := flagString(fs, "out")
	types := flagStringSlice(fs, "types")
	ctx := flagInt(fs, "ctx")
	threads := flagInt(fs, "threads")
	maxKLD := flagFloat64(fs, "max-kld")
	minTop1 := flagFloat64(fs, "min-top1")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("%s: %w (run the demo from the repository root, or give --model)", src, err)
	}
	start := time.Now()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	textPath := filepath.Join(out, "demo.txt")
	if err := os.WriteFile(textPath, []byte(bench.DemoText), 0o644); err != nil {
		return err
	}
	step := func(format_ string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format_, a...))
	}
	// 1. convert the original to an F16 GGUF: the baseline.
	base := filepath.Join(out, "default-f16.gguf")
	step("convert %s -> %s", src, base)
	cm, err := convert.Load(src, convert.Options{})
	if err != nil {
		return err
	}
	md, err := cm.GGUFMetadata(format.F16)
	if err == nil {
		err = cm.WriteGGUF(base, md, convert.PlanDType(cm, format.F16, false), nil)
	}
	cm.Close()
	if err != nil {
		return err
	}
	// 2. quantize, through the quantize command's code path.
	models := []string{base}
	for _, t := range types {
		dst := filepath.Join(out, "default-"+t+".gguf")
		step("quantize %s -> %s (--type %s)", src, dst, t)
		qfs := newFlagSet(quantizeCmd)
		if err := qfs.Parse([]string{"--type", t, "--quiet", "--threads", fmt.Sprint(threads)}); err != nil {
			return err
		}
		if err := quantizeCmd.run(qfs, []string{src, dst}); err != nil {
			return fmt.Errorf("quantize %s: %w", t, err)
		}
		models = append(models, dst)
	}
	// 3. bench every model against the baseline.
	var reports []*bench.Report
	var jsons []string
	for _, m := range models {
		step("bench %s against %s (ctx %d)", m, base, ctx)
		c := benchConfig{model: m, text: textPath, baseline: base, ctx: ctx, threads: threads, speed: true, tensors: true, quiet: true,
			speedOpt: bench.SpeedOptions{Prefill: 64, Decode: 16, Repeats: 2}}
		r, err := benchModel(&c)
		if err != nil {
			return err
		}
		r.Tool = &bench.Tool{Name: "shrink", Version: version, Created: time.Now().UTC().Format(time.RFC3339)}
		j := filepath.Join(out, filepath.Base(m[:len(m)-len(filepath.Ext(m))])+".json")
		if err := r.WriteFile(j); err != nil {
			return err
		}
		reports = append(reports, r)
		jsons = append(jsons, j)
	}
	// 4. report.
	html := filepath.Join(out, "report.html")
	if err := writeHTMLFile(html, "shrink demo: default model", reports); err != nil {
		return err
	}
	if err := writeMarkdownFile(filepath.Join(out, "report.md"), reports); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteMarkdown(stdout, reports[:1+min(len(reports)-1, len(types))]); err != nil {
		return err
	}
	// 5. gate the quantized models.
	step("gate --max-kld %g --min-top1 %g", maxKLD, minTop1)
	th := bench.Thresholds{MaxKLD: &maxKLD, MinTop1: &minTop1}
	var checks []bench.Check
	for i, r := range reports[1:] {
		checks = append(checks, bench.Gate(jsons[i+1], r, th)...)
	}
	fmt.Fprintln(stdout)
	if err := bench.WriteGateTable(stdout, checks); err != nil {
		return err
	}
	junit := filepath.Join(out, "junit.xml")
	jf, err := format.CreateAtomic(junit)
	if err != nil {
		return err
	}
	defer jf.Abort()
	if err := bench.WriteJUnit(jf, checks); err != nil {
		return err
	}
	if err := jf.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nHTML report: %s\nreports: %s/*.json, JUnit: %s (%.1fs)\n", html, out, junit, time.Since(start).Seconds())
	if n := bench.Failed(checks); n > 0 {
		return fmt.Errorf("%w: %d of %d gate checks", errCheckFailed, n, len(checks))
	}
	return nil
}
