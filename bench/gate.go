package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/shrink-llm/shrink/format"
)

// Thresholds are the limits Gate checks a report against; nil fields are not
// checked. As a JSON policy file:
//
//	{"max_kld": 0.05, "min_top1": 0.9, "max_ppl_ratio": 1.05,
//	 "max_ppl": 20, "min_decode_tps": 10, "max_size": 5000000000,
//	 "min_accuracy": 0.5}
type Thresholds struct {
	MaxKLD       *float64 `json:"max_kld,omitempty"`        // kld.mean
	MinTop1      *float64 `json:"min_top1,omitempty"`       // top1_agreement
	MaxPPLRatio  *float64 `json:"max_ppl_ratio,omitempty"`  // perplexity.value / baseline.perplexity
	MaxPPL       *float64 `json:"max_ppl,omitempty"`        // perplexity.value
	MinDecodeTPS *float64 `json:"min_decode_tps,omitempty"` // speed.decode_tokens_per_s
	MaxSize      *float64 `json:"max_size,omitempty"`       // model.file_bytes
	MinAccuracy  *float64 `json:"min_accuracy,omitempty"`   // tasks[].accuracy, every task
}

// Empty reports whether no threshold is set.
func (t Thresholds) Empty() bool {
	return t.MaxKLD == nil && t.MinTop1 == nil && t.MaxPPLRatio == nil && t.MaxPPL == nil && t.MinDecodeTPS == nil && t.MaxSize == nil && t.MinAccuracy == nil
}

// Override returns t with the thresholds set in o replacing t's.
func (t Thresholds) Override(o Thresholds) Thresholds {
	set := func(dst **float64, src *float64) {
		if src != nil {
			*dst = src
		}
	}
	set(&t.MaxKLD, o.MaxKLD)
	set(&t.MinTop1, o.MinTop1)
	set(&t.MaxPPLRatio, o.MaxPPLRatio)
	set(&t.MaxPPL, o.MaxPPL)
	set(&t.MinDecodeTPS, o.MinDecodeTPS)
	set(&t.MaxSize, o.MaxSize)
	set(&t.MinAccuracy, o.MinAccuracy)
	return t
}

// ParsePolicy decodes a JSON policy; unknown keys are an error (a typo must
// not silently disable a check).
func ParsePolicy(data []byte) (Thresholds, error) {
	var t Thresholds
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("bench: policy: %v", err)
	}
	return t, nil
}

// ReadPolicy reads a JSON policy file.
func ReadPolicy(path string) (Thresholds, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Thresholds{}, err
	}
	if len(data) > 1<<20 {
		return Thresholds{}, &format.FormatError{File: path, Offset: -1, Msg: "policy file larger than 1 MiB"}
	}
	t, err := ParsePolicy(data)
	if err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Check is one threshold checked against one report.
type Check struct {
	Report    string  // report name (its file)
	Metric    string  // report key, e.g. "kld.mean"
	Op        string  // "<=" or ">="
	Threshold float64 //
	Value     float64 // measured value (0 when missing)
	Missing   bool    // the report lacks the metric: a failure
	Pass      bool
	// Margin is how far the value is inside the limit (negative: outside),
	// threshold - value for a maximum and value - threshold for a minimum.
	Margin float64
	// Failure is the reason of a report's recorded failure (metric
	// "failure"); such a check always fails.
	Failure string
	// Relative marks a comparison with an older report (Compare); Paired
	// then holds the estimate's interval and test (nil when missing).
	Relative bool
	Paired   *Paired
	// Note says why a metric is missing, when known.
	Note string
}

// Name returns "metric op threshold", or "no failure" for the check of a
// report's recorded failure.
func (c Check) Name() string {
	if c.Metric == "failure" {
		return "no failure"
	}
	return fmt.Sprintf("%s %s %s", c.Metric, c.Op, fmtNum(c.Threshold))
}

// Gate checks report r (named name) against t. A report that records a
// failure gets a failed check with its reason first, whatever t is.
func Gate(name string, r *Report, t Thresholds) []Check {
	var out []Check
	if r.Failure != nil {
		out = append(out, Check{Report: name, Metric: "failure", Failure: r.Failure.Reason})
	}
	add := func(metric string, isMax bool, th *float64, v float64, ok bool) {
		if th == nil {
			return
		}
		c := Check{Report: name, Metric: metric, Op: ">=", Threshold: *th, Value: v, Missing: !ok || math.IsNaN(v)}
		if isMax {
			c.Op = "<="
			c.Margin = *th - v
		} else {
			c.Margin = v - *th
		}
		c.Pass = !c.Missing && c.Margin >= 0
		if c.Missing {
			c.Value, c.Margin = 0, 0
		}
		out = append(out, c)
	}
	var kld, top1, ratio, ppl, tps, size float64
	var hasKLD, hasTop1, hasRatio, hasPPL, hasTPS, hasSize bool
	if r.KLD != nil {
		kld, hasKLD = r.KLD.Mean, true
	}
	if r.Top1Agreement != nil {
		top1, hasTop1 = *r.Top1Agreement, true
	}
	ratio, hasRatio = r.PPLRatio()
	if r.Perplexity != nil {
		ppl, hasPPL = r.Perplexity.Value, true
	}
	if r.Speed != nil && r.Speed.DecodeTokensPerS > 0 {
		tps, hasTPS = r.Speed.DecodeTokensPerS, true
	}
	if r.Model != nil && r.Model.FileBytes > 0 {
		size, hasSize = float64(r.Model.FileBytes), true
	}
	add("kld.mean", true, t.MaxKLD, kld, hasKLD)
	add("top1_agreement", false, t.MinTop1, top1, hasTop1)
	add("ppl_ratio", true, t.MaxPPLRatio, ratio, hasRatio)
	add("perplexity.value", true, t.MaxPPL, ppl, hasPPL)
	add("speed.decode_tokens_per_s", false, t.MinDecodeTPS, tps, hasTPS)
	add("model.file_bytes", true, t.MaxSize, size, hasSize)
	if t.MinAccuracy != nil && len(r.Tasks) == 0 {
		add("tasks[].accuracy", false, t.MinAccuracy, 0, false)
	}
	for _, task := range r.Tasks {
		add(task.Name+" accuracy", false, t.MinAccuracy, task.Accuracy, task.N > 0)
	}
	return out
}

// FirstFailure returns the reason of the first check of a recorded
// failure, or "".
func FirstFailure(checks []Check) string {
	for _, c := range checks {
		if c.Failure != "" {
			return c.Report + ": " + c.Failure
		}
	}
	return ""
}

// Failed returns the number of failed checks.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.Pass {
			n++
		}
	}
	return n
}

// WriteGateTable prints every check with its value, interval (comparisons
// with an older report), margin and verdict.
func WriteGateTable(w io.Writer, checks []Check) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORT\tCHECK\tVALUE\tINTERVAL\tMARGIN\tRESULT")
	for _, c := range checks {
		v, m, res := fmtNum(c.Value), fmtNum(c.Margin), "pass"
		if c.Threshold != 0 && !c.Missing {
			m += fmt.Sprintf(" (%+.1f%%)", 100*c.Margin/math.Abs(c.Threshold))
		}
		switch {
		case c.Failure != "":
			v, m, res = "-", "-", "FAIL ("+c.Failure+")"
		case c.Missing:
			v, m, res = "missing", "-", "FAIL (missing)"
			if c.Note != "" {
				res = "FAIL (missing: " + c.Note + ")"
			}
		case !c.Pass:
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Report, c.Name(), v, c.interval(), m, res+c.verdict())
	}
	return tw.Flush()
}

// interval formats a comparison's interval, or "-".
func (c Check) interval() string {
	if c.Paired == nil || !c.Paired.Interval {
		return "-"
	}
	return fmt.Sprintf("[%s, %s]", fmtNum(c.Paired.Lo), fmtNum(c.Paired.Hi))
}

// verdict explains a comparison's result: whether the regression beyond
// the limit is significant, and the test.
func (c Check) verdict() string {
	p := c.Paired
	if p == nil {
		return ""
	}
	if !p.Interval {
		return fmt.Sprintf(" (%s)", p.Test)
	}
	s := "not significant"
	switch {
	case !c.Pass:
		s = "significant"
	case p.Estimate <= c.Threshold:
		s = "within the limit"
	}
	return fmt.Sprintf(" (%s; %s, n=%d, p(no regression)=%.3g)", s, p.Test, p.N, p.P)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the checks as JUnit XML: one testsuite per report, one
// testcase per check, a failure element for each failed or missing one.
func WriteJUnit(w io.Writer, checks []Check) error {
	all := junitSuites{Name: "shrink gate"}
	index := map[string]int{}
	for _, c := range checks {
		i, ok := index[c.Report]
		if !ok {
			i = len(all.Suites)
			index[c.Report] = i
			all.Suites = append(all.Suites, junitSuite{Name: c.Report})
		}
		s := &all.Suites[i]
		jc := junitCase{Name: c.Name(), Classname: "shrink.gate." + strings.ReplaceAll(c.Report, " ", "_"), Time: "0"}
		switch {
		case c.Failure != "":
			jc.Failure = &junitFailure{Message: c.Failure, Type: "failure", Text: "the bench run failed: " + c.Failure}
		case c.Missing:
			jc.Failure = &junitFailure{Message: "missing: the report has no " + c.Metric, Type: "missing", Text: c.Metric + " is not in the report " + c.Note}
		case !c.Pass:
			jc.Failure = &junitFailure{Message: fmt.Sprintf("%s = %s, limit %s %s", c.Metric, fmtNum(c.Value), c.Op, fmtNum(c.Threshold)), Type: "threshold",
				Text: fmt.Sprintf("value %s, interval %s, margin %s%s", fmtNum(c.Value), c.interval(), fmtNum(c.Margin), c.verdict())}
		default:
			jc.SystemOut = fmt.Sprintf("value %s, interval %s, margin %s%s", fmtNum(c.Value), c.interval(), fmtNum(c.Margin), c.verdict())
		}
		s.Tests++
		all.Tests++
		if jc.Failure != nil {
			s.Failures++
			all.Failures++
		}
		s.Cases = append(s.Cases, jc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// fmtNum formats a number compactly with enough digits for thresholds.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e6 && a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.3g", v)
}
