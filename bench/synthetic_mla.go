package bench

import (
	"sort"

	"github.com/shrink-llm/shrink/model"
)

// mlaConfig sets c's latent attention and DeepSeek routing from a
// deepseek2 shape.
func (sh Shape) mlaConfig(c *model.Config) {
	c.HeadDim, c.RopeDim = sh.Nope+sh.Rope, sh.Rope
	c.RopeNeox, c.QKVBias = false, false
	c.KVHeads = append([]int(nil), c.Heads...) // latent attention: no grouped heads
	c.MLA = &model.MLA{QLoraRank: sh.QLora, KVLoraRank: sh.KVLora, KeyLength: sh.Nope + sh.Rope, ValueLen: sh.VHead}
	c.MoE = model.MoE{Experts: sh.Experts, ExpertsUsed: sh.ExpertsUsed, ExpertFFN: sh.ExpertFFN,
		SharedExperts: sh.SharedExperts, SharedFFN: sh.SharedExperts * sh.ExpertFFN, DenseLead: sh.DenseLead,
		Scale: 1, Gating: model.GatingSoftmax}
}

// syntheticMLA adds the latent attention tensors of block l (prefix p):
// matrices of the synthetic type, norms of ones.
func syntheticMLA(cfg *model.Config, l int, p string, mat func(string, int, int, ...int) error, vec func(string, int, float32)) error {
	shapes := cfg.MLAShapes(l)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := shapes[n]
		if len(s) == 1 {
			vec(p+n, int(s[0]), 1)
			continue
		}
		if err := mat(p+n, int(s[0]), int(s[1])); err != nil {
			return err
		}
	}
	return nil
}
