package model

import (
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
)

// devDeepseek2 is dev-deepseek2-moe's config.json (the keys shrink reads).
const devDeepseek2 = `{"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
 "hidden_size": 128, "num_attention_heads": 4, "num_hidden_layers": 4, "vocab_size": 2048,
 "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "max_position_embeddings": 256,
 "tie_word_embeddings": false, "num_experts_per_tok": 2, "intermediate_size": 256,
 "moe_intermediate_size": 128, "num_key_value_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1,
 "routed_scaling_factor": 2.0, "kv_lora_rank": 32, "q_lora_rank": 64, "qk_nope_head_dim": 16,
 "qk_rope_head_dim": 16, "v_head_dim": 16, "first_k_dense_replace": 1, "moe_layer_freq": 1,
 "norm_topk_prob": false, "scoring_func": "softmax", "topk_method": "greedy", "n_group": 1, "topk_group": 1}`

// TestDeepseek2Config reads DeepSeek-V2's keys as llama.cpp's converter
// writes them and checks that the GGUF keys written and read back agree,
// with the figures of dev-deepseek2-moe's SOURCE.txt.
func TestDeepseek2Config(t *testing.T) {
	c, err := ConfigFromHF([]byte(devDeepseek2))
	if err != nil {
		t.Fatal(err)
	}
	want := MoE{Experts: 8, ExpertsUsed: 2, ExpertFFN: 128, SharedExperts: 1, SharedFFN: 128, DenseLead: 1,
		Scale: 2, Gating: GatingSoftmax}
	if c.Arch != "deepseek2" || c.MoE != want || c.HeadDim != 32 || c.RopeDim != 16 {
		t.Fatalf("arch %s head %d rope %d moe %+v", c.Arch, c.HeadDim, c.RopeDim, c.MoE)
	}
	if a := c.MLA; a == nil || *a != (MLA{QLoraRank: 64, KVLoraRank: 32, KeyLength: 32, ValueLen: 16}) {
		t.Fatalf("MLA %+v", a)
	}
	if c.MoELayer(0) || !c.MoELayer(1) {
		t.Error("layer 0 must be dense, layer 1 routed")
	}
	var md gguf.Metadata
	c.SetGGUF(&md)
	md.Set("tokenizer.ggml.tokens", gguf.Strings(make([]string, 2048)))
	for k, v := range map[string]any{
		"deepseek2.leading_dense_block_count": uint32(1), "deepseek2.expert_feed_forward_length": uint32(128),
		"deepseek2.expert_shared_count": uint32(1), "deepseek2.expert_weights_scale": float32(2),
		"deepseek2.expert_weights_norm": false, "deepseek2.expert_gating_func": uint32(1),
		"deepseek2.attention.q_lora_rank": uint32(64), "deepseek2.attention.kv_lora_rank": uint32(32),
		"deepseek2.attention.key_length": uint32(32), "deepseek2.attention.value_length": uint32(16),
		"deepseek2.rope.dimension_count": uint32(16), "deepseek2.rope.scaling.yarn_log_multiplier": float32(0),
		"deepseek2.expert_count": uint32(8), "deepseek2.expert_used_count": uint32(2),
	} {
		if got, ok := md.Get(k); !ok || got.Data != v {
			t.Errorf("%s = %v, want %v", k, got.Data, v)
		}
	}
	d, err := ConfigFromGGUF(&md)
	if err != nil {
		t.Fatal(err)
	}
	if d.MoE != c.MoE || *d.MLA != *c.MLA || d.HeadDim != 32 || d.RopeDim != 16 {
		t.Errorf("read back %+v %+v, want %+v %+v", d.MoE, d.MLA, c.MoE, c.MLA)
	}
	// Older GGUFs without gating and norm keys: softmax, no renormalising.
	md.Delete("deepseek2.expert_gating_func")
	md.Delete("deepseek2.expert_weights_norm")
	if d, err = ConfigFromGGUF(&md); err != nil || d.Gating != GatingSoftmax || d.Norm {
		t.Errorf("defaults: %v %+v", err, d)
	}
}

// TestMoEConfigErrors: bad expert settings are refused with ErrConfig.
func TestMoEConfigErrors(t *testing.T) {
	base, err := ConfigFromHF([]byte(devDeepseek2))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*Config){
		"used > experts":  func(c *Config) { c.ExpertsUsed = 9 },
		"no used":         func(c *Config) { c.ExpertsUsed = 0 },
		"all dense":       func(c *Config) { c.DenseLead = 4 },
		"gating":          func(c *Config) { c.Gating = 3 },
		"groups":          func(c *Config) { c.Groups, c.GroupsUsed = 3, 1 },
		"groups too few":  func(c *Config) { c.Groups, c.GroupsUsed, c.ExpertsUsed = 8, 1, 2 },
		"negative scale":  func(c *Config) { c.Scale = -1 },
		"no expert width": func(c *Config) { c.ExpertFFN = 0 },
		"qwen2moe no MoE": func(c *Config) { c.Arch, c.MoE = "qwen2moe", MoE{} },
		"dense with used": func(c *Config) { c.Experts = 0 },
	} {
		c := base.Clone()
		f(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("base refused: %v", err)
	}
}

// TestMoEParams counts dev-mixtral-moe's parameters as SOURCE.txt gives
// them: 3,871,872 in all, 1,512,576 active per token.
func TestMoEParams(t *testing.T) {
	c, err := ConfigFromHF([]byte(`{"architectures": ["MixtralForCausalLM"], "hidden_size": 128,
 "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 2048,
 "intermediate_size": 256, "num_local_experts": 8, "num_experts_per_tok": 2, "max_position_embeddings": 256}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Params(); n != 3871872 {
		t.Errorf("params %d, want 3871872", n)
	}
	active := c.Params()
	for i := 0; i < c.Layers; i++ {
		active += c.ActiveLayerParams(i) - c.LayerParams(i)
	}
	if active != 1512576 {
		t.Errorf("active params %d, want 1512576", active)
	}
}

// TestCheckGGUFExperts: expert settings llama.cpp's graph for the
// architecture would run differently are refused for GGUF output.
func TestCheckGGUFExperts(t *testing.T) {
	mix := &Config{Arch: "llama", FFN: []int{64, 64}, MoE: MoE{Experts: 4, ExpertsUsed: 2, ExpertFFN: 64, Norm: true, Gating: GatingSoftmax}}
	if err := mix.CheckGGUFExperts(); err != nil {
		t.Errorf("Mixtral refused: %v", err)
	}
	for name, f := range map[string]func(*Config){
		"llama shared": func(c *Config) { c.SharedFFN = 32 },
		"llama norm":   func(c *Config) { c.Norm = false },
		"llama scale":  func(c *Config) { c.Scale = 2 },
		"qwen2 norm":   func(c *Config) { c.Arch = "qwen2moe" },
		"qwen3 shared": func(c *Config) { c.Arch, c.SharedFFN, c.SharedGate = "qwen3moe", 32, true },
	} {
		c := mix.Clone()
		f(c)
		if err := c.CheckGGUFExperts(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
