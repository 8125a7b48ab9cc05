package bench

import (
	"fmt"
	"math"
)

// RelLimits are the limits of a comparison of a new report against an old
// one (gate --against). A nil limit is not checked. A paired check fails
// when the regression beyond its limit is significant: the whole
// 1-2·Alpha interval of the estimate lies beyond the limit (a one-sided
// test at level Alpha). Speed is not paired (timings are not items), so
// MaxDecodeSlowdown compares the two measurements directly.
type RelLimits struct {
	// MaxKLDIncrease bounds kld.mean(new) - kld.mean(old) in nats, paired
	// by chunk.
	MaxKLDIncrease *float64
	// MaxPPLRatioIncrease bounds PPL(new)/PPL(old) - 1 on the same text
	// (with the same baseline, the relative increase of the PPL ratio),
	// paired by chunk.
	MaxPPLRatioIncrease *float64
	// MaxAccuracyDrop bounds accuracy(old) - accuracy(new) of every task
	// (a fraction: 0.02 is two points), paired by item.
	MaxAccuracyDrop *float64
	// MaxDecodeSlowdown bounds 1 - decode t/s(new) / decode t/s(old).
	MaxDecodeSlowdown *float64
	// Alpha is the significance level (0: 0.05).
	Alpha float64
}

// Empty reports whether no limit is set.
func (l RelLimits) Empty() bool {
	return l.MaxKLDIncrease == nil && l.MaxPPLRatioIncrease == nil && l.MaxAccuracyDrop == nil && l.MaxDecodeSlowdown == nil
}

// Paired is the outcome of one comparison: the estimate of the regression
// (positive: worse), its interval, the number of pairs and the p-value of
// "no regression beyond the limit".
type Paired struct {
	Estimate, Lo, Hi float64
	N                int
	P                float64
	Test             string // "paired t (chunks)", "McNemar exact (items)", "unpaired"
	Interval         bool   // Lo, Hi are set
}

// Compare checks report r (named name) against old with limits l.
func Compare(name string, r, old *Report, l RelLimits) []Check {
	alpha := l.Alpha
	if alpha <= 0 {
		alpha = 0.05
	}
	var out []Check
	if r.Failure != nil {
		out = append(out, Check{Report: name, Metric: "failure", Failure: r.Failure.Reason})
	}
	add := func(metric string, limit *float64, p Paired, err error) {
		if limit == nil {
			return
		}
		c := Check{Report: name, Metric: metric, Op: "<=", Threshold: *limit, Relative: true}
		if err != nil {
			c.Missing, c.Note = true, err.Error()
			out = append(out, c)
			return
		}
		c.Value, c.Margin, c.Paired = p.Estimate, *limit-p.Estimate, &p
		c.Pass = !(p.Lo > *limit) // the whole interval beyond the limit: significant
		if !p.Interval {
			c.Pass = p.Estimate <= *limit
		}
		out = append(out, c)
	}
	if l.MaxKLDIncrease != nil {
		p, err := pairedChunks(r, old, alpha, func(pc *PerChunk) []float64 { return pc.KLD }, "KLD")
		add("kld.mean increase", l.MaxKLDIncrease, p, err)
	}
	if l.MaxPPLRatioIncrease != nil {
		p, err := pairedChunks(r, old, alpha, func(pc *PerChunk) []float64 { return pc.NLL }, "NLL")
		if err == nil {
			p.Estimate, p.Lo, p.Hi = math.Expm1(p.Estimate), math.Expm1(p.Lo), math.Expm1(p.Hi)
		}
		add("perplexity increase", l.MaxPPLRatioIncrease, p, err)
	}
	if l.MaxAccuracyDrop != nil {
		if len(r.Tasks) == 0 {
			add("tasks accuracy drop", l.MaxAccuracyDrop, Paired{}, fmt.Errorf("the report has no tasks"))
		}
		for i := range r.Tasks {
			t := &r.Tasks[i]
			p, err := pairedTask(t, old, alpha)
			add(t.Name+" accuracy drop", l.MaxAccuracyDrop, p, err)
		}
	}
	if l.MaxDecodeSlowdown != nil {
		p, err := slowdown(r, old)
		add("decode slowdown", l.MaxDecodeSlowdown, p, err)
	}
	return out
}

// pairedChunks compares per-chunk means (get) of r and old with a paired t
// interval of the mean difference.
func pairedChunks(r, old *Report, alpha float64, get func(*PerChunk) []float64, what string) (Paired, error) {
	if r.PerChunk == nil || old.PerChunk == nil || len(get(r.PerChunk)) == 0 || len(get(old.PerChunk)) == 0 {
		return Paired{}, fmt.Errorf("per-chunk %s means missing (bench with --text, and a baseline for KLD, records them)", what)
	}
	a, b := get(r.PerChunk), get(old.PerChunk)
	if len(a) != len(b) || r.Ctx != old.Ctx || (r.Text != nil && old.Text != nil && r.Text.Tokens != old.Text.Tokens) {
		return Paired{}, fmt.Errorf("not the same text: %d chunks of %d tokens against %d of %d", len(a), r.Ctx, len(b), old.Ctx)
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return pairedT(d, alpha), nil
}

// pairedT returns the mean of d with its 1-2·alpha t interval.
func pairedT(d []float64, alpha float64) Paired {
	n := len(d)
	mean := sum(d) / float64(n)
	p := Paired{Estimate: mean, Lo: mean, Hi: mean, N: n, Test: "paired t (chunks)", Interval: true}
	if n < 2 {
		p.Interval = false
		return p
	}
	var ss float64
	for _, v := range d {
		ss += (v - mean) * (v - mean)
	}
	se := math.Sqrt(ss / float64(n-1) / float64(n))
	if se > 0 {
		h := studentTQuantile(1-alpha, float64(n-1)) * se
		p.Lo, p.Hi = mean-h, mean+h
		p.P = 1 - studentTCDF(mean/se, float64(n-1))
	} else if mean > 0 {
		p.P = 0
	} else {
		p.P = 1
	}
	return p
}

// pairedTask pairs the items of t with those of the task of the same name
// and format in old by item index. The drop is (b - c)/n with b the items
// only old got right and c those only the new one got right; its interval
// is the exact conditional one (Clopper-Pearson on b among the b + c
// discordant pairs), and P is McNemar's exact one-sided p-value of "no
// drop".
func pairedTask(t *TaskResult, old *Report, alpha float64) (Paired, error) {
	var o *TaskResult
	for i := range old.Tasks {
		if old.Tasks[i].Name == t.Name && old.Tasks[i].Format == t.Format {
			o = &old.Tasks[i]
		}
	}
	if o == nil {
		return Paired{}, fmt.Errorf("the old report has no %s task %q", t.Format, t.Name)
	}
	prev := make(map[int]bool, len(o.Items))
	for _, it := range o.Items {
		prev[it.I] = it.OK
	}
	n, b, c := 0, 0, 0
	for _, it := range t.Items {
		was, ok := prev[it.I]
		if !ok {
			continue
		}
		n++
		switch {
		case was && !it.OK:
			b++
		case !was && it.OK:
			c++
		}
	}
	if n == 0 {
		return Paired{}, fmt.Errorf("no item of %q in both reports", t.Name)
	}
	return mcNemar(b, c, n, alpha), nil
}

// mcNemar returns the paired accuracy drop from b (right before, wrong
// now) and c (wrong before, right now) among n pairs.
func mcNemar(b, c, n int, alpha float64) Paired {
	m := b + c
	p := Paired{Estimate: float64(b-c) / float64(n), N: n, Test: "McNemar exact (items)", Interval: true, P: 1}
	if m == 0 {
		return p
	}
	lo, hi := clopperPearson(b, m, alpha)
	scale := float64(m) / float64(n)
	p.Lo, p.Hi = (2*lo-1)*scale, (2*hi-1)*scale
	p.P = binomUpperTail(b, m, 0.5)
	return p
}

// slowdown compares decode speeds without pairing.
func slowdown(r, old *Report) (Paired, error) {
	if r.Speed == nil || old.Speed == nil || !(r.Speed.DecodeTokensPerS > 0) || !(old.Speed.DecodeTokensPerS > 0) {
		return Paired{}, fmt.Errorf("decode speed missing (bench with --speed records it)")
	}
	return Paired{Estimate: 1 - r.Speed.DecodeTokensPerS/old.Speed.DecodeTokensPerS, N: 1, Test: "unpaired"}, nil
}
