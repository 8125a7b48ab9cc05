package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
)

var gateCmd = &command{
	name:    "gate",
	args:    "REPORT.json... [--max-kld X] [--min-top1 X] [--max-ppl-ratio X] [--max-ppl X] [--min-decode-tps X] [--max-size BYTES] [--policy FILE] [--junit FILE]",
	summary: "pass/fail bench reports against thresholds (exit 1 when a check fails; a missing metric or a recorded failure fails)",
	flags: func(fs *pflag.FlagSet) {
		fs.Float64("max-kld", 0, "maximum mean KL divergence from the baseline (nats)")
		fs.Float64("min-top1", 0, "minimum top-1 agreement with the baseline (0..1)")
		fs.Float64("max-ppl-ratio", 0, "maximum perplexity / baseline perplexity")
		fs.Float64("max-ppl", 0, "maximum perplexity")
		fs.Float64("min-decode-tps", 0, "minimum decode tokens per second")
		fs.Int64("max-size", 0, "maximum model file size in bytes")
		fs.String("policy", "", `JSON file of thresholds: {"max_kld":..,"min_top1":..,"max_ppl_ratio":..,"max_ppl":..,"min_decode_tps":..,"max_size":..}; flags override it`)
		fs.String("junit", "", "write the checks as JUnit XML to this file")
	},
	run: runGate,
}

func runGate(fs *pflag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usageError{"want at least one REPORT.json"}
	}
	var th bench.Thresholds
	if p := flagString(fs, "policy"); p != "" {
		var err error
		if th, err = bench.ReadPolicy(p); err != nil {
			return err
		}
	}
	var flags bench.Thresholds
	getF := func(name string) *float64 {
		if !fs.Changed(name) {
			return nil
		}
		v := flagFloat64(fs, name)
		return &v
	}
	flags.MaxKLD = getF("max-kld")
	flags.MinTop1 = getF("min-top1")
	flags.MaxPPLRatio = getF("max-ppl-ratio")
	flags.MaxPPL = getF("max-ppl")
	flags.MinDecodeTPS = getF("min-decode-tps")
	if fs.Changed("max-size") {
		v := flagInt64(fs, "max-size")
		f := float64(v)
		flags.MaxSize = &f
	}
	th = th.Override(flags)
	if th.Empty() {
		return usageError{"no thresholds: give --max-kld, --min-top1, --max-ppl-ratio, --max-ppl, --min-decode-tps, --max-size or --policy"}
	}
	var checks []bench.Check
	for _, path := range args {
		r, err := bench.ReadReport(path)
		if err != nil {
			return err
		}
		checks = append(checks, bench.Gate(path, r, th)...)
	}
	if err := bench.WriteGateTable(stdout, checks); err != nil {
		return err
	}
	if j := flagString(fs, "junit"); j != "" {
		f, err := format.CreateAtomic(j)
		if err != nil {
			return err
		}
		defer f.Abort()
		if err := bench.WriteJUnit(f, checks); err != nil {
			return err
		}
		if err := f.Commit(); err != nil {
			return err
		}
	}
	if n := bench.Failed(checks); n > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d checks failed\n", n, len(checks))
		if f := bench.FirstFailure(checks); f != "" {
			return fmt.Errorf("%w: %d of %d checks (%s)", errCheckFailed, n, len(checks), f)
		}
		return fmt.Errorf("%w: %d of %d checks", errCheckFailed, n, len(checks))
	}
	return nil
}
