package bench

import (
	"math"
	"sort"
)

// LogSoftmax writes log(softmax(logits)) to dst (len(logits) values,
// computed in float64) and returns the index of the largest logit (the
// first one on ties).
func LogSoftmax(dst []float64, logits []float32) int {
	top := 0
	mx := logits[0]
	for i, v := range logits {
		if v > mx {
			mx, top = v, i
		}
	}
	var sum float64
	m := float64(mx)
	for _, v := range logits {
		sum += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(sum)
	for i, v := range logits {
		dst[i] = float64(v) - lse
	}
	return top
}

// TokenScore is what one scored token contributes to the statistics.
type TokenScore struct {
	NLL     float64 // -log q(t) of the candidate
	BaseNLL float64 // -log p(t) of the baseline (0 without one)
	KLD     float64 // KL(p || q)
	SameTop bool    // argmax p == argmax q
	DeltaP  float64 // q(t) - p(t)
}

// CompareExact scores one position from full logits: base (nil for no
// baseline) and cand over the same vocabulary, next the actual next token.
// lp and lq are scratch slices of at least len(cand) values.
func CompareExact(base, cand []float32, next int32, lp, lq []float64) TokenScore {
	n := len(cand)
	lq = lq[:n]
	tq := LogSoftmax(lq, cand)
	s := TokenScore{NLL: -lq[next]}
	if base == nil {
		return s
	}
	lp = lp[:n]
	tp := LogSoftmax(lp, base)
	s.BaseNLL = -lp[next]
	var kld float64
	for i, l := range lp {
		kld += math.Exp(l) * (l - lq[i])
	}
	s.KLD = kld
	s.SameTop = tp == tq
	s.DeltaP = math.Exp(lq[next]) - math.Exp(lp[next])
	return s
}

// Stats accumulates token scores and summarizes them.
type Stats struct {
	nll, nll2 float64
	n         int
	withBase  bool
	baseNLL   float64
	kld       []float64
	same      int
	dp, dp2   float64
}

// Add records one scored token; withBase says whether it has baseline
// fields.
func (st *Stats) Add(s TokenScore, withBase bool) {
	st.n++
	st.nll += s.NLL
	st.nll2 += s.NLL * s.NLL
	if !withBase {
		return
	}
	st.withBase = true
	st.baseNLL += s.BaseNLL
	st.kld = append(st.kld, s.KLD)
	if s.SameTop {
		st.same++
	}
	st.dp += s.DeltaP
	st.dp2 += s.DeltaP * s.DeltaP
}

// N returns the number of scored tokens.
func (st *Stats) N() int { return st.n }

// Perplexity returns exp(mean NLL) and llama.cpp's uncertainty
// PPL·sqrt(var/(N-1)) (0 when N < 2 or the variance is not positive).
func (st *Stats) Perplexity() (ppl, stderr float64) {
	if st.n == 0 {
		return math.NaN(), 0
	}
	mean := st.nll / float64(st.n)
	ppl = math.Exp(mean)
	v := st.nll2/float64(st.n) - mean*mean
	if st.n > 1 && v > 0 {
		stderr = ppl * math.Sqrt(v/float64(st.n-1))
	}
	return ppl, stderr
}

// BasePerplexity returns the baseline's perplexity on the same tokens.
func (st *Stats) BasePerplexity() float64 {
	if st.n == 0 || !st.withBase {
		return math.NaN()
	}
	return math.Exp(st.baseNLL / float64(st.n))
}

// HasBaseline reports whether baseline scores were added.
func (st *Stats) HasBaseline() bool { return st.withBase }

// KLD summarizes the per-token divergences.
func (st *Stats) KLD() Dist {
	v := append([]float64(nil), st.kld...)
	sort.Float64s(v)
	var d Dist
	if len(v) == 0 {
		return d
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	d.Mean = sum / float64(len(v))
	d.Median = Percentile(v, 0.5)
	d.P99 = Percentile(v, 0.99)
	d.Max = v[len(v)-1]
	return d
}

// Top1 returns the fraction of tokens whose top-1 agrees with the baseline.
func (st *Stats) Top1() float64 {
	if len(st.kld) == 0 {
		return math.NaN()
	}
	return float64(st.same) / float64(len(st.kld))
}

// DeltaP returns the mean and root mean square of Δp.
func (st *Stats) DeltaP() DeltaP {
	n := float64(len(st.kld))
	if n == 0 {
		return DeltaP{}
	}
	return DeltaP{Mean: st.dp / n, RMS: math.Sqrt(st.dp2 / n)}
}

// Percentile returns the fraction-quantile of sorted values, interpolating
// linearly between neighbours as llama.cpp does; the median of an even
// count is the mean of the two middle values.
func Percentile(sorted []float64, fraction float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if fraction <= 0 {
		return sorted[0]
	}
	if fraction >= 1 {
		return sorted[n-1]
	}
	p := fraction * float64(n-1)
	i := int(p)
	p -= float64(i)
	j := min(i+1, n-1)
	return (1-p)*sorted[i] + p*sorted[j]
}
