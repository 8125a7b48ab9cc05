package engine

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SamplerOptions chooses how the next token is drawn from the logits.
type SamplerOptions struct {
	// Temp is the softmax temperature; 0 or less means greedy (argmax).
	Temp float32
	// TopK keeps the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches P (0 or >= 1: all), after TopK.
	TopP float32
	// Seed seeds the random source, so a run can be repeated.
	Seed uint64
}

// Sampler draws tokens from logits. It is not safe for concurrent use.
type Sampler struct {
	opt  SamplerOptions
	rng  *rand.Rand
	idx  []int32
	prob []float64
}

// NewSampler returns a sampler with the given options.
func NewSampler(o SamplerOptions) *Sampler {
	return &Sampler{opt: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
}

// Argmax returns the index of the largest logit (the first on ties).
func Argmax(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// Sample returns the next token for the logits of one position.
func (s *Sampler) Sample(logits []float32) int32 {
	o := s.opt
	if o.Temp <= 0 || o.TopK == 1 {
		return Argmax(logits)
	}
	n := len(logits)
	if cap(s.idx) < n {
		s.idx = make([]int32, n)
		s.prob = make([]float64, n)
	}
	idx := s.idx[:n]
	for i := range idx {
		idx[i] = int32(i)
	}
	// Most likely first, ties by token id. With top-k, only the k best
	// are selected (a heap over the vocabulary) and sorted.
	rank := func(a, b int32) int {
		switch la, lb := logits[a], logits[b]; {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return cmp.Compare(a, b)
	}
	if o.TopK > 0 && o.TopK < n {
		idx = selectBest(idx, o.TopK, rank)
	}
	slices.SortFunc(idx, rank)
	prob := s.prob[:len(idx)]
	mx := float64(logits[idx[0]])
	var sum float64
	for i, id := range idx {
		p := math.Exp((float64(logits[id]) - mx) / float64(o.Temp))
		prob[i] = p
		sum += p
	}
	if o.TopP > 0 && o.TopP < 1 {
		var cum float64
		for i := range prob {
			cum += prob[i] / sum
			if cum >= float64(o.TopP) {
				idx, prob = idx[:i+1], prob[:i+1]
				break
			}
		}
		sum = 0
		for _, p := range prob {
			sum += p
		}
	}
	r := s.rng.Float64() * sum
	for i, p := range prob {
		r -= p
		if r < 0 {
			return idx[i]
		}
	}
	return idx[len(idx)-1]
}

// selectBest moves the k elements of idx that rank first (rank < 0: a
// before b) into idx[:k], in no particular order, and returns idx[:k]: a
// heap of the k best so far whose root is the worst of them.
func selectBest(idx []int32, k int, rank func(a, b int32) int) []int32 {
	h := idx[:k]
	down := func(i int) { // restore the heap below i (worst at the root)
		for {
			w, l, r := i, 2*i+1, 2*i+2
			if l < k && rank(h[l], h[w]) > 0 {
				w = l
			}
			if r < k && rank(h[r], h[w]) > 0 {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, id := range idx[k:] {
		if rank(id, h[0]) < 0 {
			h[0] = id
			down(0)
		}
	}
	return h
}

// Stats reports the work and time of a generation.
type Stats struct {
	PromptTokens int
	PromptTime   time.Duration
	GenTokens    int
	GenTime      time.Duration
}

// PromptTPS returns prompt (prefill) tokens per second.
func (st Stats) PromptTPS() float64 { return rate(st.PromptTokens, st.PromptTime) }

// GenTPS returns generated (decode) tokens per second.
func (st Stats) GenTPS() float64 { return rate(st.GenTokens, st.GenTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// PrefillBatch is the largest number of prompt tokens Generate evaluates in
// one forward pass.
const PrefillBatch = 256

// Generate evaluates prompt (appended to what the session holds), then draws
// up to n tokens with smp, feeding each back, and calls emit with every token
// drawn. It stops after n tokens, when a token equals eos (eos < 0: never;
// the eos token is not emitted), when emit returns false, or when the
// context is full.
func (s *Session) Generate(prompt []int32, n int, smp *Sampler, eos int32, emit func(tok int32) bool) (Stats, error) {
	var st Stats
	if len(prompt) == 0 {
		return st, errEmptyPrompt
	}
	start := time.Now()
	var logits []float32
	var err error
	for i := 0; i < len(prompt); i += PrefillBatch {
		if logits, err = s.Forward(prompt[i:min(i+PrefillBatch, len(prompt))]); err != nil {
			return st, err
		}
	}
	st.PromptTokens = len(prompt)
	st.PromptTime = time.Since(start)
	start = time.Now()
	for st.GenTokens < n {
		tok := smp.Sample(logits)
		if eos >= 0 && tok == eos {
			break
		}
		st.GenTokens++
		if emit != nil && !emit(tok) {
			break
		}
		if st.GenTokens == n || s.pos >= s.ctx {
			break
		}
		if logits, err = s.Forward([]int32{tok}); err != nil {
			st.GenTime = time.Since(start)
			return st, err
		}
	}
	st.GenTime = time.Since(start)
	return st, nil
}
