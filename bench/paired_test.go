package bench

import (
	"math"
	"strings"
	"testing"
)

func TestMcNemar(t *testing.T) {
	// 10 items lost, 1 gained among 100: drop 0.09; one-sided exact
	// p = P(X ≥ 10 | 11, 0.5) = 12/2048.
	p := mcNemar(10, 1, 100, 0.05)
	if math.Abs(p.Estimate-0.09) > 1e-12 || math.Abs(p.P-12.0/2048) > 1e-12 {
		t.Errorf("%+v", p)
	}
	// The interval is 2·CP(10 of 11) - 1 scaled by 11/100 (90%: the
	// Clopper-Pearson 5% tails of 10/11: P(X ≥ 10 | 11, 0.63564) = 0.05
	// and 0.95^(1/11) = 0.99535).
	if math.Abs(p.Lo-(2*0.63564-1)*0.11) > 1e-4 || math.Abs(p.Hi-(2*0.99535-1)*0.11) > 1e-4 || !(p.Lo > 0) {
		t.Errorf("interval %g %g", p.Lo, p.Hi)
	}
	if q := mcNemar(3, 3, 50, 0.05); q.Estimate != 0 || !(q.Lo < 0 && q.Hi > 0) {
		t.Errorf("balanced: %+v", q)
	}
}

func TestPairedT(t *testing.T) {
	// d = 1..5: mean 3, sd 1.5811, se 0.70711; t_{0.95,4} = 2.13185.
	p := pairedT([]float64{1, 2, 3, 4, 5}, 0.05)
	h := 2.13185 * math.Sqrt(2.5/5)
	if math.Abs(p.Lo-(3-h)) > 1e-4 || math.Abs(p.Hi-(3+h)) > 1e-4 || p.N != 5 {
		t.Errorf("%+v", p)
	}
	if q := pairedT([]float64{0, 0, 0}, 0.05); q.Estimate != 0 || q.Lo != 0 || q.Hi != 0 || q.P != 1 {
		t.Errorf("identical: %+v", q)
	}
}

func taskReport(oks string) *Report {
	r := New()
	tr := TaskResult{Name: "t", Format: FormatHellaSwag}
	for i, c := range oks {
		tr.Items = append(tr.Items, ItemResult{I: i, OK: c == '1'})
	}
	tr.finish()
	r.Tasks = []TaskResult{tr}
	r.Ctx = 64
	r.PerChunk = &PerChunk{NLL: []float64{2, 2.1, 1.9, 2.05}, KLD: []float64{0.01, 0.012, 0.009, 0.011}}
	return r
}

func TestCompare(t *testing.T) {
	old := taskReport(strings.Repeat("1", 40))
	zero, limit := 0.0, 0.2
	// The same report passes every check.
	for _, c := range Compare("same", old, old, RelLimits{MaxKLDIncrease: &zero, MaxPPLRatioIncrease: &zero, MaxAccuracyDrop: &zero}) {
		if !c.Pass || c.Missing {
			t.Errorf("same report: %+v", c)
		}
	}
	// 12 of 40 lost: significant at limit 0, not beyond a limit of 0.2.
	worse := taskReport(strings.Repeat("0", 12) + strings.Repeat("1", 28))
	worse.PerChunk = &PerChunk{NLL: []float64{2.2, 2.31, 2.1, 2.24}, KLD: []float64{0.05, 0.06, 0.04, 0.055}}
	cs := Compare("worse", worse, old, RelLimits{MaxKLDIncrease: &zero, MaxPPLRatioIncrease: &zero, MaxAccuracyDrop: &zero})
	if len(cs) != 3 || cs[0].Pass || cs[1].Pass || cs[2].Pass || math.Abs(cs[2].Value-0.3) > 1e-12 {
		t.Errorf("worse: %+v", cs)
	}
	if math.Abs(cs[1].Value-(math.Exp(0.2)-1)) > 0.01 {
		t.Errorf("perplexity increase %g", cs[1].Value)
	}
	cs = Compare("worse", worse, old, RelLimits{MaxAccuracyDrop: &limit})
	if len(cs) != 1 || !cs[0].Pass || !strings.Contains(cs[0].verdict(), "not significant") {
		t.Errorf("limit 0.2: %+v %s", cs, cs[0].verdict())
	}
	// Different texts and absent data are missing, which fails; a task
	// the old report lacks is new and passes with a note.
	other := taskReport("1")
	other.PerChunk.NLL = other.PerChunk.NLL[:2]
	other.Tasks[0].Name = "u"
	cs = Compare("other", other, old, RelLimits{MaxPPLRatioIncrease: &zero, MaxAccuracyDrop: &zero, MaxDecodeSlowdown: &zero})
	if len(cs) != 3 || cs[0].Pass || !cs[0].Missing || cs[2].Pass || !cs[2].Missing || cs[2].Note == "" {
		t.Errorf("other: %+v", cs)
	}
	if !cs[1].Pass || cs[1].Missing || !strings.Contains(cs[1].Note, "new task") {
		t.Errorf("new task: %+v", cs[1])
	}
	var b strings.Builder
	if err := WriteGateTable(&b, cs); err != nil || !strings.Contains(b.String(), "pass (new task") || strings.Count(b.String(), "FAIL (missing: ") != 2 {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestDecodeSlowdown(t *testing.T) {
	old, r := New(), New()
	old.Speed = &Speed{DecodeTokensPerS: 100}
	limit := 0.1
	for _, c := range []struct {
		tps  float64
		pass bool
	}{{80, false}, {95, true}, {120, true}} {
		r.Speed = &Speed{DecodeTokensPerS: c.tps}
		cs := Compare("r", r, old, RelLimits{MaxDecodeSlowdown: &limit})
		if len(cs) != 1 || cs[0].Pass != c.pass || math.Abs(cs[0].Value-(1-c.tps/100)) > 1e-12 || cs[0].interval() != "-" {
			t.Errorf("%g t/s: %+v", c.tps, cs)
		}
	}
}
