// Package calib is the bridge between the engine and the statistics
// packages: it runs the engine over calibration text, whole chunks at a
// time or one block at a time over every chunk, and hands the plain
// statistics it observes (layer inputs, residual streams) to quantize and
// prune, which never import the engine themselves.
package calib

import (
	"context"
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/engine"
)

// Chunks returns the number and the length of the calibration chunks of a
// text of nToks tokens: as many whole chunks of ctx tokens as it holds, at
// most maxChunks when maxChunks > 0, or one chunk of the whole text when
// it is shorter than ctx.
func Chunks(nToks, ctx, maxChunks int) (n, length int) {
	n, length = nToks/ctx, ctx
	if n == 0 {
		n, length = 1, nToks
	}
	if maxChunks > 0 && n > maxChunks {
		n = maxChunks
	}
	return n, length
}

// Run runs s over the first n chunks of length tokens of toks, each from
// an empty cache and with its first token replaced by bos when bos >= 0
// (as llama-imatrix does). progress, when not nil, is called before each
// chunk with its 1-based index and n.
func Run(s *engine.Session, toks []int32, n, length int, bos int32, progress func(chunk, n int)) error {
	return RunContext(context.Background(), s, toks, n, length, bos, progress)
}

// RunContext is Run, checking ctx before each chunk.
func RunContext(ctx context.Context, s *engine.Session, toks []int32, n, length int, bos int32, progress func(chunk, n int)) error {
	chunk := make([]int32, length)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, n)
		}
		copy(chunk, toks[i*length:(i+1)*length])
		if bos >= 0 {
			chunk[0] = bos
		}
		s.Reset()
		if _, err := s.Forward(chunk); err != nil {
			return fmt.Errorf("calibration chunk %d: %w", i, err)
		}
	}
	return nil
}

// LayerRunner evaluates calibration chunks block by block, for statistics
// one block at a time: it holds the residual stream of every chunk
// (chunks·length·Dim float32) and runs one block over all of them per
// step, so a block's statistics are complete before the next block runs.
type LayerRunner struct {
	s         *engine.Session
	toks      []int32
	bos       int32
	n, length int
	x         [][]float32 // per chunk: the residual stream entering block next
	next      int         // the next block to run

	// Progress, when not nil, is called before each chunk of a step with
	// the block, the chunk's 1-based index and the number of chunks.
	Progress func(block, chunk, n int)
}

// NewLayerRunner embeds the first n chunks of length tokens of toks (the
// first token of each replaced by bos when bos >= 0, as Run does).
func NewLayerRunner(em *engine.Model, toks []int32, n, length int, bos int32) (*LayerRunner, error) {
	r := &LayerRunner{s: em.NewSession(length), toks: toks, bos: bos, n: n, length: length,
		x: make([][]float32, n)}
	for i := range r.x {
		r.x[i] = make([]float32, length*em.Config.Dim)
	}
	return r, r.Restart()
}

// Next returns the block the next Step runs.
func (r *LayerRunner) Next() int { return r.next }

// Model returns the engine model the runner evaluates.
func (r *LayerRunner) Model() *engine.Model { return r.s.Model() }

// Residuals returns every chunk's residual stream entering block Next
// (after the last block: leaving it), length·Dim values per chunk. The
// slices are the runner's own; the next Step or Restart overwrites them.
func (r *LayerRunner) Residuals() [][]float32 { return r.x }

// Restart embeds the chunks again: the next step runs block 0.
func (r *LayerRunner) Restart() error {
	chunk := make([]int32, r.length)
	for i, x := range r.x {
		copy(chunk, r.toks[i*r.length:(i+1)*r.length])
		if r.bos >= 0 {
			chunk[0] = r.bos
		}
		if err := r.s.Embed(chunk, x); err != nil {
			return fmt.Errorf("calibration chunk %d: %w", i, err)
		}
	}
	r.next = 0
	return nil
}

// Step runs block Next over every chunk with obs (nil: none) observing its
// products, and calls each (when not nil) with every chunk's residual
// stream entering and leaving the block. It releases the block's weights
// afterwards (a streamed model keeps one block resident).
func (r *LayerRunner) Step(obs engine.Observer, each func(in, out []float32)) error {
	if err := r.block(obs, each, false); err != nil {
		return err
	}
	r.next++
	return nil
}

// Observe runs block Next over a copy of every chunk's residual stream
// with obs observing its products, without advancing: the residuals stay
// those entering block Next, and the next Step runs the same block (after
// its weights are replaced, for instance). It releases the block's weights
// afterwards, as Step does.
func (r *LayerRunner) Observe(obs engine.Observer) error {
	return r.block(obs, nil, true)
}

// block runs block Next over every chunk's residual stream, in place or,
// with onCopy, over a copy; each (nil with onCopy) sees the stream
// entering and leaving it. The block's weights are released afterwards.
func (r *LayerRunner) block(obs engine.Observer, each func(in, out []float32), onCopy bool) error {
	l := r.next
	r.s.Observer = obs
	defer func() { r.s.Observer = nil }()
	var in []float32
	for i, x := range r.x {
		if r.Progress != nil {
			r.Progress(l, i+1, len(r.x))
		}
		if each != nil || onCopy {
			in = append(in[:0], x...)
		}
		y := x
		if onCopy {
			y = in
		}
		if err := r.s.Block(l, y); err != nil {
			return fmt.Errorf("calibration chunk %d: %w", i, err)
		}
		if each != nil {
			each(in, x)
		}
	}
	r.s.Model().ReleaseBlock(l)
	return nil
}

// FinalNorm writes to dst the RMSNorm (gain g, epsilon eps) of each row of
// x (rows of len(g) values): the input of output.weight.
func FinalNorm(dst, x, g []float32, eps float32) {
	d := len(g)
	for r := 0; r+d <= len(x); r += d {
		row, out := x[r:r+d], dst[r:r+d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
		for i, v := range row {
			out[i] = v * inv * g[i]
		}
	}
}
