package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
)

var gateCmd = &command{
	name: "gate",
	args: "REPORT.json... [--max-kld X] [--min-top1 X] [--max-ppl-ratio X] [--max-ppl X] [--min-decode-tps X] [--max-size BYTES] [--min-accuracy X] [--policy FILE] [--junit FILE]\n" +
		"       shrink gate NEW.json --against OLD.json [--max-kld-increase X] [--max-ppl-ratio-increase X] [--max-accuracy-drop X] [--max-decode-slowdown X] [--alpha A] [absolute thresholds] [--junit FILE]",
	summary: "pass/fail bench reports against thresholds, or against an older report with paired tests (exit 1 when a check fails; a missing metric or a recorded failure fails)",
	flags: func(fs *pflag.FlagSet) {
		fs.Float64("max-kld", 0, "maximum mean KL divergence from the baseline (nats)")
		fs.Float64("min-top1", 0, "minimum top-1 agreement with the baseline (0..1)")
		fs.Float64("max-ppl-ratio", 0, "maximum perplexity / baseline perplexity")
		fs.Float64("max-ppl", 0, "maximum perplexity")
		fs.Float64("min-decode-tps", 0, "minimum decode tokens per second")
		fs.Int64("max-size", 0, "maximum model file size in bytes")
		fs.String("policy", "", `JSON file of thresholds: {"max_kld":..,"min_top1":..,"max_ppl_ratio":..,"max_ppl":..,"min_decode_tps":..,"max_size":..}; flags override it`)
		fs.Float64("min-accuracy", 0, "minimum accuracy (0..1) of every task in the report (a hard floor)")
		fs.String("junit", "", "write the checks as JUnit XML to this file")
		fs.String("against", "", "older report (the last release's) to compare each REPORT with; without relative limits, KL divergence, perplexity and task accuracy are checked at limit 0 (no significant regression)")
		fs.Float64("max-kld-increase", 0, "with --against: largest allowed increase of the mean KL divergence (nats), paired by chunk (t interval)")
		fs.Float64("max-ppl-ratio-increase", 0, "with --against: largest allowed relative perplexity increase PPL(new)/PPL(old)-1 on the same text (0.01 = 1%), paired by chunk (t interval)")
		fs.Float64("max-accuracy-drop", 0, "with --against: largest allowed accuracy drop of every task (0.02 = 2 points), paired by item (McNemar exact)")
		fs.Float64("max-decode-slowdown", 0, "with --against: largest allowed decode slowdown 1-t/s(new)/t/s(old) (0.1 = 10%), compared directly (not paired)")
		fs.Float64("alpha", 0.05, "with --against: significance level; a paired check fails when the whole 1-2·alpha interval of the regression lies beyond its limit")
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
	flags.MinAccuracy = getF("min-accuracy")
	if fs.Changed("max-size") {
		v := flagInt64(fs, "max-size")
		f := float64(v)
		flags.MaxSize = &f
	}
	th = th.Override(flags)
	rel, old, err := gateAgainst(fs, getF)
	if err != nil {
		return err
	}
	if th.Empty() && old == nil {
		return usageError{"no thresholds: give --max-kld, --min-top1, --max-ppl-ratio, --max-ppl, --min-decode-tps, --max-size, --min-accuracy, --policy or --against"}
	}
	var checks []bench.Check
	for _, path := range args {
		r, err := bench.ReadReport(path)
		if err != nil {
			return err
		}
		if !th.Empty() || old == nil {
			checks = append(checks, bench.Gate(path, r, th)...)
		}
		if old != nil {
			cs := bench.Compare(path, r, old, rel)
			if !th.Empty() && len(cs) > 0 && cs[0].Metric == "failure" {
				cs = cs[1:] // Gate reported it already
			}
			checks = append(checks, cs...)
		}
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
	if len(checks) == 0 {
		return usageError{"no check to make"}
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

// gateAgainst reads --against and the relative limits. Without any limit
// flag, the paired checks run at limit 0.
func gateAgainst(fs *pflag.FlagSet, getF func(string) *float64) (bench.RelLimits, *bench.Report, error) {
	rel := bench.RelLimits{
		MaxKLDIncrease: getF("max-kld-increase"), MaxPPLRatioIncrease: getF("max-ppl-ratio-increase"),
		MaxAccuracyDrop: getF("max-accuracy-drop"), MaxDecodeSlowdown: getF("max-decode-slowdown"),
		Alpha: flagFloat64(fs, "alpha"),
	}
	path := flagString(fs, "against")
	if path == "" {
		if !rel.Empty() {
			return rel, nil, usageError{"--max-*-increase, --max-accuracy-drop and --max-decode-slowdown need --against OLD.json"}
		}
		return rel, nil, nil
	}
	if !(rel.Alpha > 0 && rel.Alpha < 0.5) {
		return rel, nil, usageError{"--alpha must be in (0, 0.5)"}
	}
	old, err := bench.ReadReport(path)
	if err != nil {
		return rel, nil, err
	}
	if rel.Empty() {
		zero := 0.0
		if old.PerChunk != nil && len(old.PerChunk.KLD) > 0 {
			rel.MaxKLDIncrease = &zero
		}
		if old.PerChunk != nil && len(old.PerChunk.NLL) > 0 {
			rel.MaxPPLRatioIncrease = &zero
		}
		if len(old.Tasks) > 0 {
			rel.MaxAccuracyDrop = &zero
		}
		if rel.Empty() {
			return rel, nil, usageError{path + ": the old report has no per-chunk or per-item data to compare; give a relative limit"}
		}
	}
	return rel, old, nil
}
