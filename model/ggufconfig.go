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
	case "qwen2":
		c.RopeNeox, c.QKVBias = true, true
	default:
		return nil, fmt.Errorf("%w: gguf architecture %q (supported: llama, deci, qwen2)", ErrUnsupported, arch)
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
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
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
	if s := c.RopeScaling; s != nil && s.Type != "llama3" {
		md.Set(a+".rope.scaling.type", gguf.String(s.Type))
		md.Set(a+".rope.scaling.factor", gguf.Float32(s.Factor))
		if s.OriginalContext > 0 {
			u("rope.scaling.original_context_length", s.OriginalContext)
		}
	}
}
