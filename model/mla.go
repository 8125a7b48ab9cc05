package model

import (
	"bytes"
	"encoding/json"

	"github.com/shrink-llm/shrink/format/gguf"
)

// Layouts of the latent attention's key/value up-projection in GGUF.
const (
	// LayoutKVB is one attn_kv_b matrix per layer, kv_lora_rank ->
	// heads x [k_nope | v]: convert_hf_to_gguf.py's layout until April
	// 2025 and the only one llama.cpp builds of that time load.
	LayoutKVB = "kv_b"
	// LayoutSplit is the per-head pair attn_k_b {nope, kv_lora_rank,
	// heads} (k_nope's rows transposed, for absorbing into the query) and
	// attn_v_b {kv_lora_rank, v, heads}, with the key_length_mla and
	// value_length_mla keys: later llama.cpp's layout.
	LayoutSplit = "split"
)

// Nope returns the non-rotated part of a query/key head
// (qk_nope_head_dim): KeyLength - RopeDim.
func (c *Config) Nope() int {
	if c.MLA == nil {
		return 0
	}
	return c.MLA.KeyLength - c.RopeDim
}

// MLAShapes returns the attention tensors of layer l of a latent-attention
// model, by name without the "blk.N." prefix, with their shapes in ggml
// order: the query path (attn_q_a, attn_q_a_norm, attn_q_b, or attn_q in
// the lite form without q_lora), attn_kv_a_mqa, attn_kv_a_norm, the
// up-projection in the configuration's layout and attn_output.
func (c *Config) MLAShapes(l int) map[string][]int64 {
	a := c.MLA
	d, h := int64(c.Dim), int64(c.Heads[l])
	kl, vl, r := int64(a.KeyLength), int64(a.ValueLen), int64(a.KVLoraRank)
	nope, rope := kl-int64(c.RopeDim), int64(c.RopeDim)
	s := map[string][]int64{
		"attn_kv_a_mqa.weight":  {d, r + rope},
		"attn_kv_a_norm.weight": {r},
		"attn_output.weight":    {h * vl, d},
	}
	if q := int64(a.QLoraRank); q > 0 {
		s["attn_q_a.weight"] = []int64{d, q}
		s["attn_q_a_norm.weight"] = []int64{q}
		s["attn_q_b.weight"] = []int64{q, h * kl}
	} else {
		s["attn_q.weight"] = []int64{d, h * kl}
	}
	if a.Split {
		s["attn_k_b.weight"] = []int64{nope, r, h}
		s["attn_v_b.weight"] = []int64{r, vl, h}
	} else {
		s["attn_kv_b.weight"] = []int64{r, h * (nope + vl)}
	}
	return s
}

// mlaAttnParams returns the attention parameters of layer i of a latent
// attention model (norms included).
func (c *Config) mlaAttnParams(i int) int64 {
	var n int64
	for _, s := range c.MLAShapes(i) {
		p := int64(1)
		for _, x := range s {
			p *= x
		}
		n += p
	}
	return n
}

// yarnLogMulHF returns DeepSeek's YaRN attention scaling from a
// config.json rope_scaling object, as llama.cpp's converter writes it:
// 0.1 x mscale_all_dim for YaRN (0 when absent or another type).
func yarnLogMulHF(raw json.RawMessage) float32 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0
	}
	var r struct {
		Type         string   `json:"type"`
		RopeType     string   `json:"rope_type"`
		MscaleAllDim *float64 `json:"mscale_all_dim"`
	}
	if json.Unmarshal(raw, &r) != nil || (r.Type != "yarn" && r.RopeType != "yarn") || r.MscaleAllDim == nil {
		return 0
	}
	return float32(0.1 * *r.MscaleAllDim)
}

// mlaFromGGUF reads deepseek2's latent attention sizes. A file with
// attention.key_length_mla is in the split layout: its key_length and
// value_length describe the latent cache (kv_lora_rank + rope,
// kv_lora_rank) and head_count_kv is 1; the configuration keeps the
// per-head sizes and as many key/value heads as query heads either way.
func (c *Config) mlaFromGGUF(md *gguf.Metadata, key func(string) string,
	u32 func(string, bool, int, int) (int, error), f32 func(string, bool, float32) (float32, error)) error {
	a := &MLA{KeyLength: c.HeadDim}
	var err error
	// llama.cpp (2025) requires q_lora_rank unless the model has 27
	// layers (DeepSeek-V2-Lite); shrink reads its absence as the lite form.
	if a.QLoraRank, err = u32(key("attention.q_lora_rank"), false, 0, maxDim); err != nil {
		return err
	}
	if a.KVLoraRank, err = u32(key("attention.kv_lora_rank"), true, 0, maxDim); err != nil {
		return err
	}
	if _, ok := md.Get(key("attention.key_length_mla")); ok {
		a.Split = true
		if a.KeyLength, err = u32(key("attention.key_length_mla"), true, 0, maxDim); err != nil {
			return err
		}
		if a.ValueLen, err = u32(key("attention.value_length_mla"), true, 0, maxDim); err != nil {
			return err
		}
		c.HeadDim = a.KeyLength
		c.KVHeads = append([]int(nil), c.Heads...)
	} else if a.ValueLen, err = u32(key("attention.value_length"), true, 0, maxDim); err != nil {
		return err
	}
	if a.YarnLogMul, err = f32(key("rope.scaling.yarn_log_multiplier"), false, 0); err != nil {
		return err
	}
	if c.RopeDim >= a.KeyLength {
		return configErr("gguf: rope dimension %d leaves no non-rotated key part of %d", c.RopeDim, a.KeyLength)
	}
	c.MLA = a
	return nil
}

// setMLAGGUF writes the latent attention keys in the configuration's
// layout (after SetGGUF's generic ones, which it overrides).
func (c *Config) setMLAGGUF(md *gguf.Metadata) {
	m := c.MLA
	a := c.Arch
	u := func(k string, v int) { md.Set(a+"."+k, gguf.Uint32(uint32(v))) }
	if m.QLoraRank > 0 {
		u("attention.q_lora_rank", m.QLoraRank)
	}
	u("attention.kv_lora_rank", m.KVLoraRank)
	if m.Split {
		// MQA over the latent: one key/value head of kv_lora_rank + rope.
		u("attention.key_length", m.KVLoraRank+c.RopeDim)
		u("attention.value_length", m.KVLoraRank)
		u("attention.key_length_mla", m.KeyLength)
		u("attention.value_length_mla", m.ValueLen)
		u("attention.head_count_kv", 1)
	} else {
		u("attention.key_length", m.KeyLength)
		u("attention.value_length", m.ValueLen)
		md.Delete(a + ".attention.key_length_mla") // from a split-layout source
		md.Delete(a + ".attention.value_length_mla")
	}
	// Required by llama.cpp's deepseek2 loader even without YaRN.
	md.Set(a+".rope.scaling.yarn_log_multiplier", gguf.Float32(m.YarnLogMul))
}
