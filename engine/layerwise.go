package engine

import (
	"fmt"

	"github.com/shrink-llm/shrink/quantize"
)

// Layer-by-layer evaluation, for calibration that holds one block's
// statistics at a time: the hidden states of every calibration chunk are
// kept between blocks and each block runs over all chunks before the next.

// Embed writes the token embeddings of tokens into x (len(tokens)·Dim
// values): the residual stream entering block 0.
func (s *Session) Embed(tokens []int32, x []float32) error {
	m, c := s.m, s.m.Config
	D := c.Dim
	if len(x) != len(tokens)*D {
		return fmt.Errorf("engine: %d values for the embeddings of %d tokens of %d", len(x), len(tokens), D)
	}
	emb := m.tokEmbd
	for i, t := range tokens {
		if t < 0 || int(t) >= c.VocabSize {
			return fmt.Errorf("%w: token %d (index %d) not in 0..%d", ErrToken, t, i, c.VocabSize-1)
		}
		row := emb.data[int(t)*emb.rowBytes : (int(t)+1)*emb.rowBytes]
		if err := quantize.DecodeRow(emb.typ, x[i*D:(i+1)*D], row); err != nil {
			return fmt.Errorf("engine: token_embd.weight row %d: %w", t, err)
		}
	}
	return nil
}

// Block runs block l over the residual stream x (T rows of Dim values, T
// at most the session's context) in place, as positions 0..T-1 of a fresh
// sequence: what Forward does to one block, with the session's Observer
// told of the block's products (Linear) but not of the residual stream.
// The session's cache is reset.
func (s *Session) Block(l int, x []float32) error {
	c := s.m.Config
	D := c.Dim
	T := len(x) / D
	switch {
	case l < 0 || l >= len(s.m.layers):
		return fmt.Errorf("engine: block %d of %d", l, len(s.m.layers))
	case T == 0 || T*D != len(x):
		return fmt.Errorf("engine: %d values are not rows of %d", len(x), D)
	case T > s.ctx:
		return fmt.Errorf("%w: %d tokens exceed the context of %d", ErrContext, T, s.ctx)
	}
	s.pos = 0
	s.x = grow(s.x, T*D)
	s.xn = grow(s.xn, T*D)
	copy(s.x, x)
	s.ropeAngles(T)
	s.block(l, T)
	copy(x, s.x)
	return nil
}

// ReleaseBlock drops the pages of block l's weights from the process's
// resident memory when the model is mapped (see Options.Stream); they are
// read again from the page cache when next used. Otherwise it does
// nothing.
func (m *Model) ReleaseBlock(l int) {
	if m.res.Mode != "mapped" || l < 0 || l >= len(m.layers) {
		return
	}
	L := &m.layers[l]
	for _, w := range []*weight{&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down} {
		if !w.owned {
			releasePages(w.data)
		}
	}
}

// Head returns the logits of the residual stream x leaving the last block
// (T rows of Dim values, T at most the session's context): the final
// RMSNorm and output.weight, as ForwardAll computes them for every
// position. The slice is the session's own, valid until its next call.
func (s *Session) Head(x []float32) ([]float32, error) {
	D := s.m.Config.Dim
	T := len(x) / D
	switch {
	case T == 0 || T*D != len(x):
		return nil, fmt.Errorf("engine: %d values are not rows of %d", len(x), D)
	case T > s.ctx:
		return nil, fmt.Errorf("%w: %d tokens exceed the context of %d", ErrContext, T, s.ctx)
	}
	return s.head(x), nil
}
