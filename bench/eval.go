package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/shrink-llm/shrink/engine"
)

// ErrText reports a text too short for one chunk of the context size.
var ErrText = errors.New("bench: text too short")

// EvalOptions configure Evaluate.
type EvalOptions struct {
	// Ctx is the chunk size in tokens (0: 512, or the baseline file's).
	Ctx int
	// Chunks limits the number of chunks (0: all).
	Chunks int
	// BOS replaces the first token of every chunk; -1 for none.
	BOS int32
	// Baseline, when not nil, is the model the divergence is measured
	// against, run in this process on the same chunks.
	Baseline *engine.Model
	// BaselineFile, when not nil, supplies the tokens and the baseline's
	// distributions instead (the tokens argument of Evaluate is ignored).
	BaselineFile *BaselineFile
	// Save, when not nil, receives a baseline record for every scored
	// token of the evaluated model (use NewBaselineWriter with the tokens
	// of ChunkPlan).
	Save *BaselineWriter
	// Progress, when not nil, is called after every chunk with the number
	// of chunks done, their total and the running perplexity.
	Progress func(done, total int, ppl float64)
}

// Result is what Evaluate measured.
type Result struct {
	Ctx    int
	Chunks int
	Tokens int // tokens evaluated (Chunks·Ctx)
	Stats  Stats
	// ChunkNLL and ChunkKLD are the per-chunk means (ChunkKLD with a
	// baseline).
	ChunkNLL, ChunkKLD []float64
	// Failure, when not nil, stopped the evaluation: a model produced a
	// non-finite logit. Stats then hold only the chunks before it and
	// are not reported.
	Failure *Failure
}

// ChunkPlan returns the tokens that Evaluate scores for a tokenized text:
// the first n·ctx tokens, n = floor(len/ctx) limited by chunks (0: no
// limit). It fails when the text has fewer than ctx tokens.
func ChunkPlan(tokens []int32, ctx, chunks int) ([]int32, error) {
	if ctx < 4 {
		return nil, fmt.Errorf("bench: context %d is too small (at least 4)", ctx)
	}
	n := len(tokens) / ctx
	if chunks > 0 {
		n = min(n, chunks)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %d tokens, a chunk needs %d", ErrText, len(tokens), ctx)
	}
	return tokens[:n*ctx], nil
}

// Evaluate runs m over the chunks of tokens (a tokenized text, BOS first
// when the vocabulary adds one) with llama.cpp's perplexity method and, with
// a baseline, the divergence statistics. It stops early with ctx's error
// when ctx is cancelled, and with Result.Failure set (and a nil error) at
// the first chunk where m or the baseline model gives a non-finite logit.
func Evaluate(ctx context.Context, m *engine.Model, tokens []int32, opt EvalOptions) (*Result, error) {
	V := m.Config.VocabSize
	n := opt.Ctx
	bf := opt.BaselineFile
	var err error
	if bf != nil {
		if n != 0 && n != bf.Ctx {
			return nil, fmt.Errorf("%w: context %d, the baseline file's is %d", ErrBaseline, n, bf.Ctx)
		}
		if bf.Vocab != V {
			return nil, fmt.Errorf("%w: vocabulary of %d tokens, the model's has %d", ErrBaseline, bf.Vocab, V)
		}
		n = bf.Ctx
		tokens = bf.Tokens
		if opt.Chunks > 0 && opt.Chunks < bf.Chunks {
			tokens = tokens[:opt.Chunks*n]
		}
	} else {
		if n == 0 {
			n = 512
		}
		if tokens, err = ChunkPlan(tokens, n, opt.Chunks); err != nil {
			return nil, err
		}
	}
	if opt.Baseline != nil && opt.Baseline.Config.VocabSize != V {
		return nil, fmt.Errorf("bench: baseline vocabulary of %d tokens, the model's has %d", opt.Baseline.Config.VocabSize, V)
	}
	chunks := len(tokens) / n
	res := &Result{Ctx: n, Chunks: chunks, Tokens: len(tokens)}
	s := m.NewSession(n)
	var bs *engine.Session
	if opt.Baseline != nil {
		bs = opt.Baseline.NewSession(n)
	}
	lp, lq := make([]float64, V), make([]float64, V)
	var rec Record
	first := n / 2
	for c := 0; c < chunks; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var batch []int32
		if bf != nil {
			batch = bf.ChunkTokens(c, opt.BOS)
		} else {
			batch = append([]int32(nil), tokens[c*n:(c+1)*n]...)
			if opt.BOS >= 0 {
				batch[0] = opt.BOS
			}
		}
		s.Reset()
		logits, err := s.ForwardAll(batch)
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", c, err)
		}
		if res.Failure, err = checkFinite(s, "model", logits, batch, c); res.Failure != nil || err != nil {
			return res, err
		}
		var base []float32
		if bs != nil {
			bs.Reset()
			if base, err = bs.ForwardAll(batch); err != nil {
				return nil, fmt.Errorf("baseline, chunk %d: %w", c, err)
			}
			if res.Failure, err = checkFinite(bs, "baseline", base, batch, c); res.Failure != nil || err != nil {
				return res, err
			}
		}
		nll0, k0 := res.Stats.nll, len(res.Stats.kld)
		for i := first; i < n-1; i++ {
			next := tokens[c*n+i+1]
			row := logits[i*V : (i+1)*V]
			var sc TokenScore
			switch {
			case bf != nil:
				if err := bf.Record(c*scoredPerChunk(n)+i-first, &rec); err != nil {
					return nil, err
				}
				sc = CompareCoded(&rec, row, next, lp, lq)
			case base != nil:
				sc = CompareExact(base[i*V:(i+1)*V], row, next, lp, lq)
			default:
				sc = CompareExact(nil, row, next, lp, lq)
			}
			res.Stats.Add(sc, bf != nil || base != nil)
			if opt.Save != nil {
				if err := opt.Save.Add(row, next); err != nil {
					return nil, err
				}
			}
		}
		res.addChunk(nll0, k0, n-1-first)
		if opt.Progress != nil {
			ppl, _ := res.Stats.Perplexity()
			opt.Progress(c+1, chunks, ppl)
		}
	}
	return res, nil
}

// addChunk records the means of the chunk just scored: its scored tokens
// added to the NLL sum from nll0 on and to the divergences from index k0.
func (res *Result) addChunk(nll0 float64, k0, scored int) {
	res.ChunkNLL = append(res.ChunkNLL, float64(float32((res.Stats.nll-nll0)/float64(scored))))
	if k := res.Stats.kld[k0:]; len(k) > 0 {
		res.ChunkKLD = append(res.ChunkKLD, float64(float32(sum(k)/float64(len(k)))))
	}
}

// Fill records the result in r: ctx, chunks, perplexity and, with a
// baseline, its perplexity and the divergence statistics; or, after a
// failure, the failure alone.
func (res *Result) Fill(r *Report, baselinePath string) {
	r.Ctx, r.Chunks = res.Ctx, res.Chunks
	if res.Failure != nil {
		r.Failure = res.Failure
		return
	}
	ppl, se := res.Stats.Perplexity()
	r.Perplexity = &Perplexity{Value: ppl, Stderr: se, ScoredTokens: res.Stats.N()}
	r.PerChunk = &PerChunk{NLL: res.ChunkNLL, KLD: res.ChunkKLD}
	if !res.Stats.HasBaseline() {
		return
	}
	r.Baseline = &Baseline{Path: baselinePath, Perplexity: res.Stats.BasePerplexity()}
	k := res.Stats.KLD()
	r.KLD = &k
	t := res.Stats.Top1()
	r.Top1Agreement = &t
	d := res.Stats.DeltaP()
	r.DeltaP = &d
}
