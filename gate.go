package shrink

import (
	"fmt"
	"io"

	"github.com/shrink-llm/shrink/bench"
)

// GateOptions are the options of Gate, named as shrink gate's flags. A nil
// threshold is not checked.
type GateOptions struct {
	// MaxKLD is the largest mean KL divergence from the baseline (nats).
	MaxKLD *float64 `json:"max-kld"`
	// MinTop1 is the smallest top-1 agreement with the baseline (0..1).
	MinTop1 *float64 `json:"min-top1"`
	// MaxPPLRatio is the largest perplexity / baseline perplexity.
	MaxPPLRatio *float64 `json:"max-ppl-ratio"`
	// MaxPPL is the largest perplexity.
	MaxPPL *float64 `json:"max-ppl"`
	// MinDecodeTPS is the smallest decode speed in tokens per second.
	MinDecodeTPS *float64 `json:"min-decode-tps"`
	// MaxSize is the largest model file size in bytes.
	MaxSize *int64 `json:"max-size"`
	// MinAccuracy is the smallest accuracy (0..1) of every task.
	MinAccuracy *float64 `json:"min-accuracy"`
	// Policy is a JSON file of thresholds (bench.ReadPolicy); the fields
	// above override it.
	Policy string `json:"policy"`
	// JUnit writes the checks as JUnit XML to this file.
	JUnit string `json:"junit"`
	// Against is an older report (the last release's) to compare with by
	// paired tests; without relative limits, KL divergence, perplexity and
	// task accuracy are checked at limit 0 (no significant regression).
	Against string `json:"against"`
	// MaxKLDIncrease, MaxPPLRatioIncrease, MaxAccuracyDrop and
	// MaxDecodeSlowdown are the relative limits against Against
	// (bench.RelLimits).
	MaxKLDIncrease      *float64 `json:"max-kld-increase"`
	MaxPPLRatioIncrease *float64 `json:"max-ppl-ratio-increase"`
	MaxAccuracyDrop     *float64 `json:"max-accuracy-drop"`
	MaxDecodeSlowdown   *float64 `json:"max-decode-slowdown"`
	// Alpha is the significance level of the paired checks (default
	// 0.05).
	Alpha float64 `json:"alpha"`

	// Name names the report in the checks (default: the report's model).
	Name string `json:"-"`
}

// GateResult is the outcome of Gate: every check with its limit, measured
// value and verdict.
type GateResult struct {
	// Checks lists the checks made (bench.Check: metric, operator, limit
	// as Threshold, Value, Pass).
	Checks []bench.Check `json:"checks"`
	// Failed counts the failed checks (a missing metric fails).
	Failed int `json:"failed"`
}

// Passed reports whether every check passed.
func (r *GateResult) Passed() bool { return r.Failed == 0 }

// Summary returns "" when every check passed, else "N of M checks" and the
// first failure.
func (r *GateResult) Summary() string {
	if r.Failed == 0 {
		return ""
	}
	if f := bench.FirstFailure(r.Checks); f != "" {
		return fmt.Sprintf("%d of %d checks (%s)", r.Failed, len(r.Checks), f)
	}
	return fmt.Sprintf("%d of %d checks", r.Failed, len(r.Checks))
}

// WriteTable writes the checks as shrink gate's table.
func (r *GateResult) WriteTable(w io.Writer) error { return bench.WriteGateTable(w, r.Checks) }

// Gate checks a bench report against the thresholds of opt and, with
// opt.Against, against an older report by paired tests. A failed check is
// not an error: it is in the result (Passed, Summary); errors are bad
// options and unreadable files. The JUnit file is written when asked for.
func Gate(report *bench.Report, opt GateOptions) (*GateResult, error) {
	name := opt.Name
	if name == "" {
		name = report.Name()
	}
	return gateReports(opt, []string{name}, func(int) (*bench.Report, error) { return report, nil })
}

// GateFiles is Gate over the report files at paths, each named by its
// path, into one result (and one JUnit file).
func GateFiles(paths []string, opt GateOptions) (*GateResult, error) {
	if len(paths) == 0 {
		return nil, usageErr("want at least one REPORT.json")
	}
	return gateReports(opt, paths, func(i int) (*bench.Report, error) { return bench.ReadReport(paths[i]) })
}

// gateReports checks the reports get returns, named by names.
func gateReports(opt GateOptions, names []string, get func(int) (*bench.Report, error)) (*GateResult, error) {
	th, err := opt.thresholds()
	if err != nil {
		return nil, err
	}
	rel, old, err := opt.against()
	if err != nil {
		return nil, err
	}
	if th.Empty() && old == nil {
		return nil, usageErr("no thresholds: give --max-kld, --min-top1, --max-ppl-ratio, --max-ppl, --min-decode-tps, --max-size, --min-accuracy, --policy or --against")
	}
	res := &GateResult{}
	for i, name := range names {
		r, err := get(i)
		if err != nil {
			return nil, err
		}
		if !th.Empty() || old == nil {
			res.Checks = append(res.Checks, bench.Gate(name, r, th)...)
		}
		if old != nil {
			cs := bench.Compare(name, r, old, rel)
			if !th.Empty() && len(cs) > 0 && cs[0].Metric == "failure" {
				cs = cs[1:] // Gate reported it already
			}
			res.Checks = append(res.Checks, cs...)
		}
	}
	if opt.JUnit != "" {
		if err := writeAtomic(opt.JUnit, func(w io.Writer) error { return bench.WriteJUnit(w, res.Checks) }); err != nil {
			return nil, err
		}
	}
	if len(res.Checks) == 0 {
		return nil, usageErr("no check to make")
	}
	res.Failed = bench.Failed(res.Checks)
	return res, nil
}

// thresholds returns the policy file's thresholds overridden by the
// options'.
func (o *GateOptions) thresholds() (bench.Thresholds, error) {
	var th bench.Thresholds
	if o.Policy != "" {
		var err error
		if th, err = bench.ReadPolicy(o.Policy); err != nil {
			return th, err
		}
	}
	over := bench.Thresholds{MaxKLD: o.MaxKLD, MinTop1: o.MinTop1, MaxPPLRatio: o.MaxPPLRatio, MaxPPL: o.MaxPPL,
		MinDecodeTPS: o.MinDecodeTPS, MinAccuracy: o.MinAccuracy}
	if o.MaxSize != nil {
		f := float64(*o.MaxSize)
		over.MaxSize = &f
	}
	return th.Override(over), nil
}

// against reads the older report and the relative limits. Without any
// limit, the paired checks run at limit 0.
func (o *GateOptions) against() (bench.RelLimits, *bench.Report, error) {
	rel := bench.RelLimits{
		MaxKLDIncrease: o.MaxKLDIncrease, MaxPPLRatioIncrease: o.MaxPPLRatioIncrease,
		MaxAccuracyDrop: o.MaxAccuracyDrop, MaxDecodeSlowdown: o.MaxDecodeSlowdown, Alpha: o.Alpha,
	}
	if rel.Alpha == 0 {
		rel.Alpha = 0.05
	}
	if o.Against == "" {
		if !rel.Empty() {
			return rel, nil, usageErr("--max-*-increase, --max-accuracy-drop and --max-decode-slowdown need --against OLD.json")
		}
		return rel, nil, nil
	}
	if !(rel.Alpha > 0 && rel.Alpha < 0.5) {
		return rel, nil, usageErr("--alpha must be in (0, 0.5)")
	}
	old, err := bench.ReadReport(o.Against)
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
			return rel, nil, usageErr(o.Against + ": the old report has no per-chunk or per-item data to compare; give a relative limit")
		}
	}
	return rel, old, nil
}
