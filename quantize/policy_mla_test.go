package quantize

import (
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestPolicyMLA: llama.cpp's llama_tensor_get_type (Feb 2025) has no rule
// of its own for the latent attention's tensors (attn_kv_b is only counted
// with attn_v for its sanity check; "attn_v_b" and "attn_kv_b" do not
// contain "attn_v.weight"), so Q4_K_M gives them the default q4_K, and
// rows that are not a multiple of 256 fall back as for any tensor
// (attn_k_b's rows of qk_nope = 128 -> q5_0). The 1-D norms (attn_q_a_norm,
// attn_kv_a_norm) stay F32. Checked on DeepSeek-V2-Lite's shapes in both
// up-projection layouts and on dev-deepseek2-moe's, whose choices
// llama-quantize made as SOURCE.txt lists (attn_output aside: that model
// has 8 experts, an MoE rule).
func TestPolicyMLA(t *testing.T) {
	f16 := func(name string, shape ...int64) format.TensorInfo {
		return format.TensorInfo{Name: name, Type: format.F16, Shape: shape}
	}
	f32 := func(name string, n int64) format.TensorInfo {
		return format.TensorInfo{Name: name, Type: format.F32, Shape: []int64{n}}
	}
	lite := []format.TensorInfo{
		f32("blk.0.attn_norm.weight", 2048), f16("blk.0.attn_q.weight", 2048, 16*192),
		f16("blk.0.attn_kv_a_mqa.weight", 2048, 576), f32("blk.0.attn_kv_a_norm.weight", 512),
		f16("blk.0.attn_kv_b.weight", 512, 16*256), f16("blk.0.attn_output.weight", 16*128, 2048),
		f16("blk.1.attn_k_b.weight", 128, 512, 16), f16("blk.1.attn_v_b.weight", 512, 128, 16),
	}
	dev := []format.TensorInfo{
		f16("blk.0.attn_q_a.weight", 128, 64), f32("blk.0.attn_q_a_norm.weight", 64), f16("blk.0.attn_q_b.weight", 64, 128),
		f16("blk.0.attn_kv_a_mqa.weight", 128, 48), f16("blk.0.attn_kv_b.weight", 32, 128),
	}
	want := map[string]format.DType{
		"blk.0.attn_norm.weight": format.F32, "blk.0.attn_q.weight": format.Q4_K, "blk.0.attn_kv_a_mqa.weight": format.Q4_K,
		"blk.0.attn_kv_a_norm.weight": format.F32, "blk.0.attn_kv_b.weight": format.Q4_K, "blk.0.attn_output.weight": format.Q4_K,
		"blk.1.attn_k_b.weight": format.Q5_0, "blk.1.attn_v_b.weight": format.Q4_K,
	}
	got := choose(t, "q4_k_m", false, lite, ModelInfo{Layers: 27, Heads: 16, KVHeads: 16})
	for name, typ := range want {
		if got[name].Type != typ {
			t.Errorf("V2-Lite %s: %s (%s), want %s", name, got[name].Type, got[name].Reason, typ)
		}
	}
	got = choose(t, "q4_k_m", false, dev, ModelInfo{Layers: 4, Heads: 4, KVHeads: 4})
	for _, ti := range dev {
		w := format.Q5_0 // llama-quantize's q4_K fallback for rows of 128, 64, 32
		if ti.Type == format.F32 {
			w = format.F32
		}
		if got[ti.Name].Type != w {
			t.Errorf("dev %s: %s, want %s", ti.Name, got[ti.Name].Type, w)
		}
	}
}
