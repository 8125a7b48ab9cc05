package model

import "math"

// ConfigFromLlama2c returns the configuration of a llama2.c checkpoint from
// its header values (vocab as a positive count): architecture llama,
// NormEps 1e-5, RopeBase 10000, adjacent-pair RoPE. The caller sets
// TiedEmbeddings (llama2.c shares the classifier when the header's vocab
// size is positive). The result is not validated; call Validate.
func ConfigFromLlama2c(dim, hidden, layers, heads, kvHeads, vocab, seqLen int) *Config {
	c := &Config{
		Arch:      "llama",
		Dim:       dim,
		Layers:    layers,
		VocabSize: vocab,
		Context:   seqLen,
		NormEps:   1e-5,
		RopeBase:  10000,
	}
	if heads > 0 {
		c.HeadDim = dim / heads
	}
	c.RopeDim = c.HeadDim
	if layers > 0 && layers <= maxLayers {
		c.Heads = repeat(heads, layers)
		c.KVHeads = repeat(kvHeads, layers)
		c.FFN = repeat(hidden, layers)
	}
	return c
}

// Validate checks that the configuration is usable: a known architecture,
// positive sizes within bounds, per-layer slices of Layers entries, query
// heads a multiple of key/value heads in every layer, an even RoPE
// dimension no larger than HeadDim (equal to it for llama, as llama.cpp
// requires), positive NormEps and RopeBase.
func (c *Config) Validate() error {
	switch c.Arch {
	case "llama", "deci", "qwen2", "qwen2moe", "qwen3moe", "deepseek2":
	default:
		return configErr("architecture %q not supported (llama, deci, qwen2, qwen2moe, qwen3moe, deepseek2)", c.Arch)
	}
	pos := func(name string, v, max int) error {
		if v <= 0 || v > max {
			return configErr("%s = %d out of range [1, %d]", name, v, max)
		}
		return nil
	}
	for _, chk := range []struct {
		name   string
		v, max int
	}{
		{"Dim", c.Dim, maxDim}, {"Layers", c.Layers, maxLayers}, {"HeadDim", c.HeadDim, maxDim},
		{"VocabSize", c.VocabSize, maxVocab}, {"Context", c.Context, maxCtx}, {"RopeDim", c.RopeDim, maxDim},
	} {
		if err := pos(chk.name, chk.v, chk.max); err != nil {
			return err
		}
	}
	if len(c.Heads) != c.Layers || len(c.KVHeads) != c.Layers || len(c.FFN) != c.Layers {
		return configErr("per-layer counts have %d/%d/%d entries (heads/kv heads/ffn), want %d", len(c.Heads), len(c.KVHeads), len(c.FFN), c.Layers)
	}
	for i := 0; i < c.Layers; i++ {
		if c.Heads[i] <= 0 || c.Heads[i] > maxHeads || c.KVHeads[i] <= 0 || c.KVHeads[i] > maxHeads {
			return configErr("layer %d: %d heads, %d kv heads out of range", i, c.Heads[i], c.KVHeads[i])
		}
		if c.Heads[i]%c.KVHeads[i] != 0 {
			return configErr("layer %d: %d heads not a multiple of %d kv heads", i, c.Heads[i], c.KVHeads[i])
		}
		if c.FFN[i] <= 0 || c.FFN[i] > maxDim {
			return configErr("layer %d: feed-forward width %d out of range", i, c.FFN[i])
		}
		if int64(c.Heads[i])*int64(c.HeadDim) > maxDim {
			return configErr("layer %d: %d heads x head dim %d too large", i, c.Heads[i], c.HeadDim)
		}
	}
	if c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return configErr("rope dimension %d must be even and at most head dim %d", c.RopeDim, c.HeadDim)
	}
	if (c.Arch == "llama" || c.Arch == "deci") && c.RopeDim != c.HeadDim {
		return configErr("llama needs rope dimension %d = head dim %d", c.RopeDim, c.HeadDim)
	}
	if err := c.validateMoE(); err != nil {
		return err
	}
	if !(c.NormEps > 0) || math.IsInf(float64(c.NormEps), 0) {
		return configErr("norm epsilon %g must be positive", c.NormEps)
	}
	if !(c.RopeBase > 0) || math.IsInf(float64(c.RopeBase), 0) {
		return configErr("rope base %g must be positive", c.RopeBase)
	}
	if s := c.RopeScaling; s != nil {
		if s.Type == "" || !(s.Factor > 0) || math.IsInf(float64(s.Factor), 0) {
			return configErr("rope scaling %q with factor %g", s.Type, s.Factor)
		}
		if s.OriginalContext < 0 || s.OriginalContext > maxCtx {
			return configErr("rope scaling original context %d out of range", s.OriginalContext)
		}
	}
	return nil
}

// validateMoE checks the mixture-of-experts fields: none for a dense
// model; otherwise at least one expert used and no more than there are,
// positive widths, dense leading blocks fewer than the layers, a known
// gating function, and groups that divide the experts.
func (c *Config) validateMoE() error {
	e := &c.MoE
	if e.Experts == 0 {
		if e.ExpertsUsed != 0 || e.SharedFFN != 0 || e.DenseLead != 0 {
			return configErr("expert fields set without experts")
		}
		if c.Arch == "qwen2moe" || c.Arch == "qwen3moe" || c.Arch == "deepseek2" {
			return configErr("architecture %s needs experts", c.Arch)
		}
		return nil
	}
	if e.Experts < 0 || e.Experts > maxExperts || e.ExpertsUsed <= 0 || e.ExpertsUsed > e.Experts {
		return configErr("%d experts, %d used per token out of range", e.Experts, e.ExpertsUsed)
	}
	if e.ExpertFFN <= 0 || e.ExpertFFN > maxDim || e.SharedFFN < 0 || e.SharedFFN > maxDim || e.SharedExperts < 0 {
		return configErr("expert width %d, shared width %d out of range", e.ExpertFFN, e.SharedFFN)
	}
	if e.DenseLead < 0 || e.DenseLead >= c.Layers {
		return configErr("%d leading dense blocks of %d layers", e.DenseLead, c.Layers)
	}
	if e.Gating != GatingSoftmax && e.Gating != GatingSigmoid {
		return configErr("expert gating function %d (1 softmax, 2 sigmoid)", e.Gating)
	}
	if math.IsNaN(float64(e.Scale)) || math.IsInf(float64(e.Scale), 0) || e.Scale < 0 {
		return configErr("expert weights scale %g", e.Scale)
	}
	if e.Groups > 1 {
		if e.Experts%e.Groups != 0 || e.GroupsUsed <= 0 || e.GroupsUsed > e.Groups ||
			e.GroupsUsed*(e.Experts/e.Groups) < e.ExpertsUsed {
			return configErr("%d expert groups (%d used) do not fit %d experts, %d used", e.Groups, e.GroupsUsed, e.Experts, e.ExpertsUsed)
		}
	}
	return nil
}

// MoELayer reports whether block i has a routed-expert feed-forward.
func (c *Config) MoELayer(i int) bool { return c.Experts > 0 && i >= c.DenseLead }

// Uniform reports whether every layer has the same head, key/value head and
// feed-forward counts (as unpruned models do).
func (c *Config) Uniform() bool {
	return AllEqual(c.Heads) && AllEqual(c.KVHeads) && AllEqual(c.FFN)
}

// AllEqual reports whether every entry of v equals the first; it is true
// for an empty v.
func AllEqual(v []int) bool {
	for _, x := range v {
		if x != v[0] {
			return false
		}
	}
	return true
}

// QDim returns the output width of layer i's query projection
// (Heads[i]*HeadDim).
func (c *Config) QDim(i int) int { return c.Heads[i] * c.HeadDim }

// KVDim returns the output width of layer i's key and value projections
// (KVHeads[i]*HeadDim).
func (c *Config) KVDim(i int) int { return c.KVHeads[i] * c.HeadDim }

// LayerParams returns the number of parameters of block i: two norms, the
// four attention projections, the three feed-forward projections and the
// biases the configuration has.
func (c *Config) LayerParams(i int) int64 {
	d := int64(c.Dim)
	q, kv, f := int64(c.QDim(i)), int64(c.KVDim(i)), int64(c.FFN[i])
	n := 2*d + d*q + 2*d*kv + q*d + 3*d*f
	if c.MLA != nil {
		n = 2*d + c.mlaAttnParams(i) + 3*d*f
	}
	if c.MoELayer(i) {
		n += c.moeParams() - 3*d*f
	}
	if c.QKNorm {
		n += 2 * int64(c.HeadDim)
	}
	if c.QKVBias {
		n += q + 2*kv
	}
	if c.OutBias {
		n += d
	}
	if c.FFNBias {
		n += 2*f + d
	}
	return n
}

// moeParams returns the feed-forward parameters of one MoE layer: router,
// routed experts, shared expert (and its gate) and selection bias.
func (c *Config) moeParams() int64 {
	d, e := int64(c.Dim), int64(c.Experts)
	n := d*e + e*3*d*int64(c.ExpertFFN) + 3*d*int64(c.SharedFFN)
	if c.SharedGate {
		n += d
	}
	if c.ProbsBias {
		n += e
	}
	return n
}

// ActiveLayerParams returns the parameters of block i that one token uses:
// LayerParams with only ExpertsUsed of the routed experts.
func (c *Config) ActiveLayerParams(i int) int64 {
	n := c.LayerParams(i)
	if c.MoELayer(i) {
		n -= int64(c.Experts-c.ExpertsUsed) * 3 * int64(c.Dim) * int64(c.ExpertFFN)
	}
	return n
}

// Params returns the parameter count the configuration implies: token
// embedding, output head unless tied, final norm and every block. It
// assumes a valid configuration.
func (c *Config) Params() int64 {
	v, d := int64(c.VocabSize), int64(c.Dim)
	n := v*d + d
	if !c.TiedEmbeddings {
		n += v * d
	}
	for i := 0; i < c.Layers && i < len(c.Heads) && i < len(c.KVHeads) && i < len(c.FFN); i++ {
		n += c.LayerParams(i)
	}
	return n
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	d := *c
	d.Heads = append([]int(nil), c.Heads...)
	d.KVHeads = append([]int(nil), c.KVHeads...)
	d.FFN = append([]int(nil), c.FFN...)
	if c.RopeScaling != nil {
		s := *c.RopeScaling
		d.RopeScaling = &s
	}
	if c.MLA != nil {
		a := *c.MLA
		d.MLA = &a
	}
	return &d
}

// RopeFreqs returns the per-frequency divisors of llama3 RoPE scaling, the
// contents of GGUF's rope_freqs.weight tensor (RopeDim/2 float32 values),
// computed as convert_hf_to_gguf.py's LlamaModel does: 1 for high
// frequencies, Factor for low ones and a smooth blend between. It returns
// nil unless RopeScaling is of type "llama3". llama.cpp has no llama3
// scaling key: such a model carries its scaling only in that tensor.
func (c *Config) RopeFreqs() []float32 {
	s := c.RopeScaling
	if s == nil || s.Type != "llama3" || c.RopeDim <= 0 {
		return nil
	}
	base := float64(c.RopeBase)
	factor := float64(s.Factor)
	lo, hi := float64(s.LowFreqFactor), float64(s.HighFreqFactor)
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = 4
	}
	old := float64(s.OriginalContext)
	if old == 0 {
		old = 8192
	}
	lowWave, highWave := old/lo, old/hi
	out := make([]float32, c.RopeDim/2)
	for i := range out {
		freq := 1 / math.Pow(base, float64(2*i)/float64(c.RopeDim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (old/wave - lo) / (hi - lo)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}
