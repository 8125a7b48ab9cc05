package prune

import (
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
)

// Stats accumulates calibration statistics during forward passes of the
// unpruned model. Its Linear and Residual methods make it an engine
// Observer: attach it to a Session (s.Observer = st) and run the
// calibration chunks through Forward. A Stats is not safe for concurrent
// use.
type Stats struct {
	cfg    *model.Config
	tokens int64
	ffn    []*linalg.Gram // per layer: FFN x FFN Gram of ffn_down's input; nil when not collected
	attn   []*linalg.Gram // per layer: QDim x QDim Gram of attn_output's input; nil when not collected
	diag   [][]float64    // per layer: Σ_t h_j², the diagonal of the ffn Gram
	heads  [][]float64    // per layer: per query head, the HeadDim x HeadDim block of the attn Gram (upper triangle)
	cosSum []float64      // per layer: Σ_t cos(x_in, x_out)
	cosN   []int64
	resid  []float64 // per layer boundary (Layers+1): Σ_t ||x_t||²
	prev   []float32 // residual stream entering the current block
	prevL  int
	spent  []int // per layer: Gram matrices taken (take)
	err    error
}

// NewStats returns empty statistics for a model with configuration c,
// with the full Gram matrices (for the repair) of every layer. Memory is
// FFN² + QDim² float64 values per layer; see NewStatsFor to bound it.
func NewStats(c *model.Config) *Stats {
	all := make([]int, c.Layers)
	for i := range all {
		all[i] = i
	}
	return NewStatsFor(c, all)
}

// NewStatsFor returns empty statistics that hold the full Gram matrices
// only for the given layers; the scores (channel activations, per-head
// blocks, block influence) are collected for every layer. A caller bounded
// in memory runs the calibration once per group of layers and repairs each
// group with Refit.
func NewStatsFor(c *model.Config, gramLayers []int) *Stats {
	s := &Stats{
		cfg:    c,
		ffn:    make([]*linalg.Gram, c.Layers),
		attn:   make([]*linalg.Gram, c.Layers),
		diag:   make([][]float64, c.Layers),
		heads:  make([][]float64, c.Layers),
		cosSum: make([]float64, c.Layers),
		cosN:   make([]int64, c.Layers),
		resid:  make([]float64, c.Layers+1),
		prevL:  -1,
	}
	for l := 0; l < c.Layers; l++ {
		s.diag[l] = make([]float64, c.FFN[l])
		s.heads[l] = make([]float64, c.Heads[l]*c.HeadDim*c.HeadDim)
	}
	for _, l := range gramLayers {
		if l >= 0 && l < c.Layers && s.ffn[l] == nil {
			s.ffn[l] = linalg.NewGram(c.FFN[l])
			s.attn[l] = linalg.NewGram(c.QDim(l))
		}
	}
	return s
}

// GramBytes returns the memory the full Gram matrices of layer l take.
func GramBytes(c *model.Config, l int) int64 {
	return linalg.Bytes(c.FFN[l]) + linalg.Bytes(c.QDim(l))
}

// HasGram reports whether the full Gram matrices of layer l are collected
// (and not taken by ApplyLazy's repair).
func (s *Stats) HasGram(l int) bool {
	return l >= 0 && l < len(s.ffn) && s.ffn[l] != nil && s.attn[l] != nil
}

// Spent reports whether the Gram matrices of layer l were collected and
// both taken by ApplyLazy's repair.
func (s *Stats) Spent(l int) bool { return l >= 0 && l < len(s.spent) && s.spent[l] == 2 }

// gram returns layer l's Gram matrix of the input of rest (attn_output or
// ffn_down), nil when not held.
func (s *Stats) gram(l int, rest string) *linalg.Gram {
	if l < 0 || l >= len(s.ffn) {
		return nil
	}
	if rest == "attn_output.weight" {
		return s.attn[l]
	}
	return s.ffn[l]
}

// take returns gram(l, rest) and drops it from s.
func (s *Stats) take(l int, rest string) *linalg.Gram {
	g := s.gram(l, rest)
	if g == nil {
		return nil
	}
	if rest == "attn_output.weight" {
		s.attn[l] = nil
	} else {
		s.ffn[l] = nil
	}
	if s.spent == nil {
		s.spent = make([]int, len(s.ffn))
	}
	s.spent[l]++
	return g
}

// Tokens returns the number of calibration tokens seen.
func (s *Stats) Tokens() int64 { return s.tokens }

// Err returns the first inconsistency seen (an input whose width does not
// fit the configuration), or nil.
func (s *Stats) Err() error { return s.err }

// Linear accumulates X^T X of the inputs of attn_output and ffn_down.
func (s *Stats) Linear(name string, x []float32, rows, cols int) {
	l, rest, ok := splitBlk(name)
	if !ok || l < 0 || l >= s.cfg.Layers {
		return
	}
	var g *linalg.Gram
	want := 0
	switch rest {
	case "ffn_down.weight":
		g, want = s.ffn[l], s.cfg.FFN[l]
	case "attn_output.weight":
		g, want = s.attn[l], s.cfg.QDim(l)
	default:
		return
	}
	if cols != want || len(x) < rows*cols {
		if s.err == nil {
			s.err = fmt.Errorf("%w: %s input has %d columns, want %d", ErrStats, name, cols, want)
		}
		return
	}
	x = x[:rows*cols]
	if rest == "ffn_down.weight" {
		s.addDiag(s.diag[l], x, rows, cols)
	} else {
		s.addHeads(s.heads[l], x, rows, cols)
	}
	if g != nil {
		g.Add(x, rows)
	}
}

// diagSpan is the number of channels addDiag gives one goroutine.
const diagSpan = 512

// addDiag adds Σ_t x_tj² to d[j], spans of channels in parallel (every
// channel's sum in token order: the same values for any thread count).
func (s *Stats) addDiag(d []float64, x []float32, rows, cols int) {
	linalg.Parallel((cols+diagSpan-1)/diagSpan, func(i int) {
		j0, j1 := i*diagSpan, min(cols, (i+1)*diagSpan)
		dd := d[j0:j1]
		for t := 0; t < rows; t++ {
			for k, v := range x[t*cols+j0 : t*cols+j1] {
				dd[k] += float64(v) * float64(v)
			}
		}
	})
}

// addHeads adds each query head's HeadDim×HeadDim block of Σ_t x_t x_tᵀ
// (upper triangle) to heads, the heads in parallel (every value's sum in
// token order: the same values for any thread count).
func (s *Stats) addHeads(heads []float64, x []float32, rows, cols int) {
	hd := s.cfg.HeadDim
	linalg.Parallel(cols/hd, func(h int) {
		b := heads[h*hd*hd : (h+1)*hd*hd]
		for t := 0; t < rows; t++ {
			a := x[t*cols+h*hd : t*cols+(h+1)*hd]
			for i, ai := range a {
				if ai == 0 {
					continue
				}
				fi := float64(ai)
				row := b[i*hd : (i+1)*hd]
				for j := i; j < hd; j++ {
					row[j] += fi * float64(a[j])
				}
			}
		}
	})
}

// cosine returns the cosine between a and b (1 when either is zero) and
// their squared norms, summed in float64.
func cosine(a, b []float32) (c, aa, bb float64) {
	var ab float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	c = 1.0
	if aa > 0 && bb > 0 {
		c = ab / math.Sqrt(aa*bb)
	}
	return c, aa, bb
}

// Residual accumulates the cosine between the residual stream entering and
// leaving each block.
func (s *Stats) Residual(layer int, x []float32, rows, cols int) {
	if s.prevL >= 0 && layer == s.prevL+1 && len(s.prev) == rows*cols && len(x) >= rows*cols {
		for t := 0; t < rows; t++ {
			c, _, _ := cosine(s.prev[t*cols:(t+1)*cols], x[t*cols:(t+1)*cols])
			s.cosSum[s.prevL] += c
		}
		s.cosN[s.prevL] += int64(rows)
	}
	if layer == 0 {
		s.tokens += int64(rows)
	}
	if layer >= 0 && layer < len(s.resid) {
		var e float64
		for _, v := range x[:rows*cols] {
			e += float64(v) * float64(v)
		}
		s.resid[layer] += e
	}
	if layer >= s.cfg.Layers {
		s.prevL = -1
		return
	}
	s.prev = append(s.prev[:0], x[:rows*cols]...)
	s.prevL = layer
}

// Block accumulates what Residual does from a block-by-block pass (see
// engine.Session.Block): in and out are the residual streams (rows tokens
// of cols values) entering and leaving block l for one chunk. Run with the
// same chunks for every block, in block order, it gives the statistics of
// Residual over whole forward passes.
func (s *Stats) Block(l int, in, out []float32, rows, cols int) {
	if l < 0 || l >= s.cfg.Layers || len(in) < rows*cols || len(out) < rows*cols {
		return
	}
	in, out = in[:rows*cols], out[:rows*cols]
	if l == 0 {
		s.tokens += int64(rows)
	}
	for t := 0; t < rows; t++ {
		c, aa, bb := cosine(in[t*cols:(t+1)*cols], out[t*cols:(t+1)*cols])
		s.cosSum[l] += c
		s.resid[l] += aa
		if l == s.cfg.Layers-1 {
			s.resid[l+1] += bb
		}
	}
	s.cosN[l] += int64(rows)
}

// BlockInfluence returns ShortGPT's block influence of layer l,
// 1 - mean cos(x_in, x_out), or 0 before any token was seen.
func (s *Stats) BlockInfluence(l int) float64 {
	if s.cosN[l] == 0 {
		return 0
	}
	return 1 - s.cosSum[l]/float64(s.cosN[l])
}

// gramAt returns G[i][j] of a Gram matrix whose upper triangle is filled.
func gramAt(g []float64, n, i, j int) float64 {
	if i > j {
		i, j = j, i
	}
	return g[i*n+j]
}

// ChannelActivation returns ||h_j||², the summed squared activation of
// feed-forward channel j of layer l over the calibration tokens.
func (s *Stats) ChannelActivation(l, j int) float64 {
	return s.diag[l][j]
}

// ResidualEnergy returns Σ_t ||x_t||² of the residual stream entering block
// l (l == Layers: leaving the last block) over the calibration tokens.
func (s *Stats) ResidualEnergy(l int) float64 { return s.resid[l] }
