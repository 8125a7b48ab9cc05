package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
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
		fs.String("policy", "", `JSON file of thresholds: {"max_kld":..,"min_top1":..,"max_ppl_ratio":..,"max_ppl":..,"min_decode_tps":..,"max_size":..,"min_accuracy":..}; flags override it`)
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
	getF := func(name string) *float64 {
		if !fs.Changed(name) {
			return nil
		}
		v := flagFloat64(fs, name)
		return &v
	}
	opt := shrink.GateOptions{
		MaxKLD: getF("max-kld"), MinTop1: getF("min-top1"), MaxPPLRatio: getF("max-ppl-ratio"), MaxPPL: getF("max-ppl"),
		MinDecodeTPS: getF("min-decode-tps"), MinAccuracy: getF("min-accuracy"),
		Policy: flagString(fs, "policy"), JUnit: flagString(fs, "junit"), Against: flagString(fs, "against"),
		MaxKLDIncrease: getF("max-kld-increase"), MaxPPLRatioIncrease: getF("max-ppl-ratio-increase"),
		MaxAccuracyDrop: getF("max-accuracy-drop"), MaxDecodeSlowdown: getF("max-decode-slowdown"),
		Alpha: flagFloat64(fs, "alpha"),
	}
	if fs.Changed("max-size") {
		v := flagInt64(fs, "max-size")
		opt.MaxSize = &v
	}
	res, err := shrink.GateFiles(args, opt)
	if err != nil {
		return fromLib(err)
	}
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	if !res.Passed() {
		fmt.Fprintf(os.Stderr, "%d of %d checks failed\n", res.Failed, len(res.Checks))
		return fmt.Errorf("%w: %s", errCheckFailed, res.Summary())
	}
	return nil
}
