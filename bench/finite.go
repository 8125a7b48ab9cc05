package bench

import (
	"fmt"

	"github.com/shrink-llm/shrink/engine"
)

// firstNonFinite returns the index of the first NaN or infinity in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return i
		}
	}
	return -1
}

// checkFinite returns nil when every logit of a chunk (logits of batch,
// chunk c, from session s) is finite. Otherwise it evaluates the chunk
// again with an observer to find the first block whose output goes
// non-finite, and returns the failure; which is "model" or "baseline".
func checkFinite(s *engine.Session, which string, logits []float32, batch []int32, c int) (*Failure, error) {
	i := firstNonFinite(logits)
	if i < 0 {
		return nil, nil
	}
	V := s.Model().Config.VocabSize
	tok, v := i/V, logits[i]
	w := &finiteWatch{rows: tok + 1, layer: noLayer}
	s.Reset()
	s.Observer = w
	_, err := s.ForwardAll(batch)
	s.Observer = nil
	if err != nil {
		return nil, fmt.Errorf("%s, chunk %d: %w", which, c, err)
	}
	f := &Failure{Model: which, Chunk: c, Token: tok}
	where := "every block's output is finite, so the final norm or output.weight made it"
	switch {
	case w.layer == -1:
		where = "the token embeddings (token_embd.weight) are already non-finite"
	case w.layer >= 0:
		where = fmt.Sprintf("the first non-finite output is block %d's (blk.%d.*)", w.layer, w.layer)
	}
	if w.layer != noLayer {
		l := w.layer
		f.Layer = &l
	}
	who := "the model"
	if which == "baseline" {
		who = "the baseline model"
	}
	f.Reason = fmt.Sprintf("%s gives a non-finite logit (%v, vocabulary entry %d) at chunk %d, position %d: %s", who, v, i%V, c, tok, where)
	return f, nil
}

// noLayer marks a finiteWatch that saw only finite residuals.
const noLayer = -2

// finiteWatch is an engine.Observer that records the first block whose
// output (the residual stream leaving it) is non-finite in its first rows
// rows: -1 for the embeddings entering block 0.
type finiteWatch struct {
	rows  int
	layer int
}

// Linear implements engine.Observer; the inputs of products are not checked.
func (w *finiteWatch) Linear(string, []float32, int, int) {}

// Residual implements engine.Observer: the stream entering block l is block
// l-1's output.
func (w *finiteWatch) Residual(l int, x []float32, rows, cols int) {
	if w.layer != noLayer {
		return
	}
	if firstNonFinite(x[:min(rows, w.rows)*cols]) >= 0 {
		w.layer = l - 1
	}
}
