package model

import (
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/format/gguf"
)

// ConfigFromGGUF reads a configuration from GGUF metadata
// (general.architecture "llama" or "qwen2" and the <arch>.* keys of
// llama.cpp's llm_kv names). Per-layer counts (feed_forward_length,
// attention.head_count, attention.head_count_kv) may be a scalar or an
// integer array of block_count entries. The vocabulary size is the length
// of tokenizer.ggml.tokens, else <arch>.vocab_size. Missing required keys
// give an error naming the key.
//
// TiedEmbeddings cannot be known from metadata: it is left false, and the
// caller sets it when the file has no output.weight tensor.
func ConfigFromGGUF(md *gguf.Metadata) (*Config, error) {
	arch, ok := md.String("general.architecture")
	if !ok {
		return nil, configErr("gguf: missing general.architecture")
	}
	c := &Config{Arch: arch}
	switch arch {
	case "llama":
	case "deci":
		// llama.cpp's deci architecture is the llama graph with per-layer
		// widths; shrink prune writes it for non-uniform llama models.
	case "qwen2", "qwen2moe":
		c.RopeNeox, c.QKVBias = true, true
	case "qwen3moe":
		c.RopeNeox, c.QKNorm = true, true
	case "deepseek2":
	default:
		return nil, fmt.Errorf("%w: gguf architecture %q (supported: llama, deci, qwen2, qwen2moe, qwen3moe, deepseek2)", ErrUnsupported, arch)
	}
	c.Name, _ = md.String("general.name")
	key := func(k string) string { return arch + "." + k }
	u32 := func(k string, required bool, def, max int) (int, error) {
		v, ok := md.Get(k)
		if !ok {
			if required {
				return 0, configErr("gguf: missing %s", k)
			}
			return def, nil
		}
		i, ok := v.Int()
		if !ok || v.Type == gguf.TypeBool || i <= 0 || i > int64(max) {
			return 0, configErr("gguf: %s = %v out of range or not an integer", k, v.Data)
		}
		return int(i), nil
	}
	f32 := func(k string, required bool, def float32) (float32, error) {
		v, ok := md.Get(k)
		if !ok {
			if required {
				return 0, configErr("gguf: missing %s", k)
			}
			return def, nil
		}
		f, ok := v.Float()
		if !ok || v.Type == gguf.TypeBool || math.IsNaN(f) {
			return 0, configErr("gguf: %s = %v is not a number", k, v.Data)
		}
		return float32(f), nil
	}
	var err error
	if c.Dim, err = u32(key("embedding_length"), true, 0, maxDim); err != nil {
		return nil, err
	}
	if c.Layers, err = u32(key("block_count"), true, 0, maxLayers); err != nil {
		return nil, err
	}
	if c.Context, err = u32(key("context_length"), true, 0, maxCtx); err != nil {
		return nil, err
	}
	perLayer := func(k string, required bool, def []int, max int) ([]int, error) {
		v, ok := md.Get(k)
		if !ok {
			if required {
				return nil, configErr("gguf: missing %s", k)
			}
			return def, nil
		}
		if v.Type != gguf.TypeArray {
			n, err := u32(k, true, 0, max)
			if err != nil {
				return nil, err
			}
			return repeat(n, c.Layers), nil
		}
		a, ok := v.Ints()
		if !ok || len(a) != c.Layers {
			return nil, configErr("gguf: %s: array of %d %v, want %d integers (block_count)", k, v.Len(), v.Elem, c.Layers)
		}
		out := make([]int, len(a))
		for i, x := range a {
			if x <= 0 || x > int64(max) {
				return nil, configErr("gguf: %s[%d] = %d out of range", k, i, x)
			}
			out[i] = int(x)
		}
		return out, nil
	}
	if c.FFN, err = perLayer(key("feed_forward_length"), true, nil, maxDim); err != nil {
		return nil, err
	}
	if c.Heads, err = perLayer(key("attention.head_count"), true, nil, maxHeads); err != nil {
		return nil, err
	}
	if c.KVHeads, err = perLayer(key("attention.head_count_kv"), false, append([]int(nil), c.Heads...), maxHeads); err != nil {
		return nil, err
	}
	if c.NormEps, err = f32(key("attention.layer_norm_rms_epsilon"), true, 0); err != nil {
		return nil, err
	}
	if c.RopeBase, err = f32(key("rope.freq_base"), false, 10000); err != nil {
		return nil, err
	}
	defHead := 0
	if c.Dim%c.Heads[0] == 0 {
		defHead = c.Dim / c.Heads[0]
	}
	if c.HeadDim, err = u32(key("attention.key_length"), defHead == 0, defHead, maxDim); err != nil {
		return nil, err
	}
	if c.RopeDim, err = u32(key("rope.dimension_count"), false, c.HeadDim, maxDim); err != nil {
		return nil, err
	}
	if toks, ok := md.Get("tokenizer.ggml.tokens"); ok && toks.Type == gguf.TypeArray {
		c.VocabSize = toks.Len()
	} else if c.VocabSize, err = u32(key("vocab_size"), false, 0, maxVocab); err != nil {
		return nil, err
	}
	if c.VocabSize == 0 {
		return nil, configErr("gguf: missing tokenizer.ggml.tokens (or %s)", key("vocab_size"))
	}
	if typ, ok := md.String(key("rope.scaling.type")); ok && typ != "none" {
		s := &RopeScaling{Type: typ}
		if s.Factor, err = f32(key("rope.scaling.factor"), false, 0); err != nil {
			return nil, err
		}
		if s.OriginalContext, err = u32(key("rope.scaling.original_context_length"), false, 0, maxCtx); err != nil {
			return nil, err
		}
		c.RopeScaling = s
	}
	if err := c.moeFromGGUF(md, key, u32, f32); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// moeFromGGUF reads the expert keys (and deepseek2's attention sizes) with
// llama.cpp's per-architecture defaults: llama always renormalises the
// chosen weights and its expert width is feed_forward_length; qwen2moe
// never renormalises and gates a shared expert; qwen3moe renormalises;
// deepseek2 reads every key, gating softmax and no renormalisation when
// absent. ProbsBias is left false: the caller sets it when the file has
// exp_probs_b tensors.
func (c *Config) moeFromGGUF(md *gguf.Metadata, key func(string) string,
	u32 func(string, bool, int, int) (int, error), f32 func(string, bool, float32) (float32, error)) error {
	e := &c.MoE
	var err error
	if e.Experts, err = u32(key("expert_count"), c.Arch != "llama" && c.Arch != "deci" && c.Arch != "qwen2", 0, maxExperts); err != nil {
		return err
	}
	if c.Arch == "deepseek2" {
		if err := c.mlaFromGGUF(md, key, u32, f32); err != nil {
			return err
		}
	}
	if e.Experts == 0 {
		return nil
	}
	if e.ExpertsUsed, err = u32(key("expert_used_count"), true, 0, maxExperts); err != nil {
		return err
	}
	e.Gating = GatingSoftmax
	switch c.Arch {
	case "llama", "deci":
		e.ExpertFFN, e.Norm = c.FFN[0], true
		return nil
	case "qwen2":
		return configErr("gguf: qwen2 with %s (use qwen2moe)", key("expert_count"))
	case "qwen2moe":
		if e.ExpertFFN, err = u32(key("expert_feed_forward_length"), false, c.FFN[0]/e.ExpertsUsed, maxDim); err != nil {
			return err
		}
		if e.SharedFFN, err = u32(key("expert_shared_feed_forward_length"), false, c.FFN[0], maxDim); err != nil {
			return err
		}
		e.SharedExperts, e.SharedGate = 1, true
	case "qwen3moe":
		if e.ExpertFFN, err = u32(key("expert_feed_forward_length"), true, 0, maxDim); err != nil {
			return err
		}
		e.Norm = true
	case "deepseek2":
		return c.deepseekMoEFromGGUF(md, key, u32, f32)
	}
	return c.groupsFromGGUF(key, u32)
}

// deepseekMoEFromGGUF reads deepseek2's expert keys.
func (c *Config) deepseekMoEFromGGUF(md *gguf.Metadata, key func(string) string,
	u32 func(string, bool, int, int) (int, error), f32 func(string, bool, float32) (float32, error)) error {
	e := &c.MoE
	var err error
	if e.DenseLead, err = count(md, key("leading_dense_block_count"), true, maxLayers); err != nil {
		return err
	}
	if e.ExpertFFN, err = u32(key("expert_feed_forward_length"), true, 0, maxDim); err != nil {
		return err
	}
	if e.SharedExperts, err = count(md, key("expert_shared_count"), false, maxExperts); err != nil {
		return err
	}
	e.SharedFFN = e.SharedExperts * e.ExpertFFN
	if e.Scale, err = f32(key("expert_weights_scale"), true, 0); err != nil {
		return err
	}
	if v, ok := md.Get(key("expert_weights_norm")); ok {
		b, ok := v.Data.(bool)
		if !ok {
			return configErr("gguf: %s = %v is not a boolean", key("expert_weights_norm"), v.Data)
		}
		e.Norm = b
	}
	if e.Gating, err = u32(key("expert_gating_func"), false, GatingSoftmax, GatingSigmoid); err != nil {
		return err
	}
	return c.groupsFromGGUF(key, u32)
}

// groupsFromGGUF reads group-limited routing (expert_group_count,
// expert_group_used_count, as later llama.cpp writes them).
func (c *Config) groupsFromGGUF(key func(string) string, u32 func(string, bool, int, int) (int, error)) error {
	var err error
	if c.Groups, err = u32(key("expert_group_count"), false, 0, maxExperts); err != nil {
		return err
	}
	c.GroupsUsed, err = u32(key("expert_group_used_count"), false, c.Groups, maxExperts)
	return err
}

// SetGGUF writes general.architecture, general.name (when set) and the
// <arch>.* hyperparameter keys with the types llama.cpp requires: UINT32
// counts, FLOAT32 epsilon and base. Per-layer counts are written as INT32
// arrays only when they differ between layers, else as scalars.
// attention.key_length/value_length are always written (llama.cpp's
// default, embedding_length/head_count, is wrong once heads are pruned).
// Rope scaling keys are written for linear/yarn-style scaling; llama3
// scaling has no llama.cpp key and travels as the rope_freqs.weight tensor
// (see RopeFreqs).
func (c *Config) SetGGUF(md *gguf.Metadata) {
	a := c.Arch
	md.Set("general.architecture", gguf.String(a))
	if c.Name != "" {
		md.Set("general.name", gguf.String(c.Name))
	}
	u := func(k string, v int) { md.Set(a+"."+k, gguf.Uint32(uint32(v))) }
	perLayer := func(k string, v []int) {
		if len(v) > 0 && AllEqual(v) {
			u(k, v[0])
			return
		}
		a32 := make([]int32, len(v))
		for i, x := range v {
			a32[i] = int32(x)
		}
		md.Set(a+"."+k, gguf.Int32s(a32))
	}
	u("context_length", c.Context)
	u("embedding_length", c.Dim)
	u("block_count", c.Layers)
	perLayer("feed_forward_length", c.FFN)
	perLayer("attention.head_count", c.Heads)
	perLayer("attention.head_count_kv", c.KVHeads)
	md.Set(a+".rope.freq_base", gguf.Float32(c.RopeBase))
	md.Set(a+".attention.layer_norm_rms_epsilon", gguf.Float32(c.NormEps))
	u("attention.key_length", c.HeadDim)
	u("attention.value_length", c.HeadDim)
	u("rope.dimension_count", c.RopeDim)
	u("vocab_size", c.VocabSize)
	c.setMoEGGUF(md)
	if s := c.RopeScaling; s != nil && s.Type != "llama3" {
		md.Set(a+".rope.scaling.type", gguf.String(s.Type))
		md.Set(a+".rope.scaling.factor", gguf.Float32(s.Factor))
		if s.OriginalContext > 0 {
			u("rope.scaling.original_context_length", s.OriginalContext)
		}
	}
}

// setMoEGGUF writes the expert keys llama.cpp reads for c's architecture
// (as convert_hf_to_gguf.py writes them), and deepseek2's attention keys.
func (c *Config) setMoEGGUF(md *gguf.Metadata) {
	a := c.Arch
	u := func(k string, v int) { md.Set(a+"."+k, gguf.Uint32(uint32(v))) }
	if c.MLA != nil {
		c.setMLAGGUF(md)
	}
	e := &c.MoE
	if e.Experts == 0 {
		return
	}
	u("expert_count", e.Experts)
	u("expert_used_count", e.ExpertsUsed)
	if a == "llama" || a == "deci" {
		return // llama.cpp: expert width is feed_forward_length, weights always renormalised
	}
	u("expert_feed_forward_length", e.ExpertFFN)
	if a == "qwen2moe" && e.SharedFFN > 0 {
		u("expert_shared_feed_forward_length", e.SharedFFN)
	}
	if a == "deepseek2" {
		u("leading_dense_block_count", e.DenseLead)
		u("expert_shared_count", e.SharedExperts)
		md.Set(a+".expert_weights_scale", gguf.Float32(e.Scale))
		md.Set(a+".expert_weights_norm", gguf.Bool(e.Norm))
		u("expert_gating_func", e.Gating)
	}
	if e.Groups > 1 {
		u("expert_group_count", e.Groups)
		u("expert_group_used_count", e.GroupsUsed)
	}
}

// count reads a non-negative integer key (0 allowed), absent as 0 unless
// required.
func count(md *gguf.Metadata, k string, required bool, max int) (int, error) {
	v, ok := md.Get(k)
	if !ok {
		if required {
			return 0, configErr("gguf: missing %s", k)
		}
		return 0, nil
	}
	i, ok := v.Int()
	if !ok || v.Type == gguf.TypeBool || i < 0 || i > int64(max) {
		return 0, configErr("gguf: %s = %v out of range or not an integer", k, v.Data)
	}
	return int(i), nil
}

// CheckGGUFExperts reports an error when c's expert settings cannot be
// written for its GGUF architecture so that llama.cpp runs them as shrink
// does: its llama graph (Mixtral) always renormalises softmax weights over
// experts of width feed_forward_length, in every layer, without shared
// experts, scaling or selection bias; qwen2moe never renormalises and
// qwen3moe always does.
func (c *Config) CheckGGUFExperts() error {
	e := &c.MoE
	if e.Experts == 0 {
		return nil
	}
	bad := ""
	switch c.Arch {
	case "llama", "deci":
		if !e.Norm || e.Gating != GatingSoftmax || e.SharedFFN > 0 || e.DenseLead > 0 || e.Scale != 0 ||
			e.ProbsBias || e.Groups > 1 || !AllEqual(c.FFN) || e.ExpertFFN != c.FFN[0] {
			bad = "only Mixtral-style experts (renormalised softmax top-k, expert width = feed_forward_length, no shared experts)"
		}
	case "qwen2moe":
		if e.Norm || e.Gating != GatingSoftmax || e.DenseLead > 0 || e.Scale != 0 || e.ProbsBias || (e.SharedFFN > 0) != e.SharedGate {
			bad = "softmax top-k without renormalising, with a gated shared expert"
		}
	case "qwen3moe":
		if !e.Norm || e.Gating != GatingSoftmax || e.SharedFFN > 0 || e.DenseLead > 0 || e.Scale != 0 || e.ProbsBias {
			bad = "renormalised softmax top-k without shared experts"
		}
	}
	if bad != "" {
		return fmt.Errorf("%w: llama.cpp's %s architecture runs %s; these expert settings would run differently there", ErrUnsupported, c.Arch, bad)
	}
	return nil
}
