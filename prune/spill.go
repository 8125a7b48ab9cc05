package prune

import (
	"fmt"
	"io"

	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
)

// Spilling the repair's Gram matrices: a caller whose memory holds one
// block's Gram matrices but not every block's collects each block's in
// the calibration pass itself (CollectGram before the block runs),
// writes them out once the block has run (SpillGram) and reads them back
// for the repair (LoadGram), instead of running the calibration again
// block by block. The matrices are the same, bit for bit, as a second
// pass would accumulate.

// CollectGram makes s accumulate the full Gram matrices of layer l from
// now on (nothing when it does already).
func (s *Stats) CollectGram(l int) {
	if l < 0 || l >= len(s.ffn) || s.ffn[l] != nil {
		return
	}
	s.ffn[l] = linalg.NewGram(s.cfg.FFN[l])
	s.attn[l] = linalg.NewGram(s.cfg.QDim(l))
}

// SpillGram writes the Gram matrices of layer l to w (ffn_down's input,
// then attn_output's) and drops them from s; it is an error when s does
// not hold them.
func (s *Stats) SpillGram(l int, w io.Writer) error {
	if !s.HasGram(l) {
		return fmt.Errorf("%w: no Gram matrices of block %d to write", ErrStats, l)
	}
	for _, g := range []*linalg.Gram{s.ffn[l], s.attn[l]} {
		if _, err := g.WriteTo(w); err != nil {
			return fmt.Errorf("block %d Gram matrices: %w", l, err)
		}
	}
	s.ffn[l], s.attn[l] = nil, nil
	return nil
}

// LoadGram returns statistics for a model with configuration c that hold
// layer l's Gram matrices as SpillGram wrote them to r, and nothing else:
// what ApplyLazy's grams function returns.
func LoadGram(c *model.Config, l int, r io.Reader) (*Stats, error) {
	if l < 0 || l >= c.Layers {
		return nil, fmt.Errorf("%w: block %d of %d", ErrStats, l, c.Layers)
	}
	s := NewStatsFor(c, nil)
	var err error
	if s.ffn[l], err = linalg.ReadGram(r, c.FFN[l]); err != nil {
		return nil, fmt.Errorf("block %d ffn_down Gram matrix: %w", l, err)
	}
	if s.attn[l], err = linalg.ReadGram(r, c.QDim(l)); err != nil {
		return nil, fmt.Errorf("block %d attn_output Gram matrix: %w", l, err)
	}
	return s, nil
}
