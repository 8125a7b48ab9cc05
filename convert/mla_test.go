package convert_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
)

// writeDeepseekHF writes a random DeepseekV3-style Hugging Face folder:
// dim 32, 2 layers (the first dense), 2 heads, nope 8, rope 4, v 6,
// kv_lora 12, q_lora qLora (0: the lite form with q_proj), 4 experts, top
// 2, one shared expert, YaRN scaling, and mtp extra MTP layers. It returns
// the F32 bytes of every tensor by HF name.
func writeDeepseekHF(t *testing.T, dir string, qLora, mtp int) map[string][]byte {
	t.Helper()
	const d, layers, heads, nope, rope, v, kvr, vocab, ffn, effn, experts = 32, 2, 2, 8, 4, 6, 12, 40, 48, 16, 4
	cfg := map[string]any{
		"architectures": []string{"DeepseekV3ForCausalLM"}, "model_type": "deepseek_v3",
		"hidden_size": d, "num_attention_heads": heads, "num_key_value_heads": heads, "num_hidden_layers": layers,
		"vocab_size": vocab, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 256,
		"intermediate_size": ffn, "moe_intermediate_size": effn, "n_routed_experts": experts, "n_shared_experts": 1,
		"num_experts_per_tok": 2, "first_k_dense_replace": 1, "routed_scaling_factor": 2.5, "norm_topk_prob": true,
		"scoring_func": "sigmoid", "topk_method": "noaux_tc", "n_group": 2, "topk_group": 1,
		"kv_lora_rank": kvr, "qk_nope_head_dim": nope, "qk_rope_head_dim": rope, "v_head_dim": v,
		"num_nextn_predict_layers": mtp,
		"rope_scaling": map[string]any{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
			"mscale": 0.707, "mscale_all_dim": 0.707, "beta_fast": 32, "beta_slow": 1},
	}
	q := int64(qLora)
	if qLora > 0 {
		cfg["q_lora_rank"] = qLora
	} else {
		cfg["q_lora_rank"] = nil
	}
	cj, _ := json.Marshal(cfg)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644))
	spm, err := model.EncodeSentencePiece(tinyVocab(vocab))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "tokenizer.model"), spm, 0o644))
	var infos []format.TensorInfo
	add := func(name string, shape ...int64) {
		infos = append(infos, format.TensorInfo{Name: name, Type: format.F32, Shape: shape})
	}
	add("model.embed_tokens.weight", d, vocab)
	add("model.norm.weight", d)
	add("lm_head.weight", d, vocab)
	for l := 0; l < layers+mtp; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", d)
		add(p+"post_attention_layernorm.weight", d)
		if qLora > 0 {
			add(p+"self_attn.q_a_proj.weight", d, q)
			add(p+"self_attn.q_a_layernorm.weight", q)
			add(p+"self_attn.q_b_proj.weight", q, heads*(nope+rope))
		} else {
			add(p+"self_attn.q_proj.weight", d, heads*(nope+rope))
		}
		add(p+"self_attn.kv_a_proj_with_mqa.weight", d, kvr+rope)
		add(p+"self_attn.kv_a_layernorm.weight", kvr)
		add(p+"self_attn.kv_b_proj.weight", kvr, heads*(nope+v))
		add(p+"self_attn.o_proj.weight", heads*v, d)
		if l == 0 {
			add(p+"mlp.gate_proj.weight", d, ffn)
			add(p+"mlp.up_proj.weight", d, ffn)
			add(p+"mlp.down_proj.weight", ffn, d)
			continue
		}
		add(p+"mlp.gate.weight", d, experts)
		add(p+"mlp.gate.e_score_correction_bias", experts)
		for e := 0; e < experts; e++ {
			add(fmt.Sprintf("%smlp.experts.%d.gate_proj.weight", p, e), d, effn)
			add(fmt.Sprintf("%smlp.experts.%d.up_proj.weight", p, e), d, effn)
			add(fmt.Sprintf("%smlp.experts.%d.down_proj.weight", p, e), effn, d)
		}
		add(p+"mlp.shared_experts.gate_proj.weight", d, effn)
		add(p+"mlp.shared_experts.up_proj.weight", d, effn)
		add(p+"mlp.shared_experts.down_proj.weight", effn, d)
		if l >= layers {
			add(p+"eh_proj.weight", 2*d, d)
		}
	}
	return writeRandomSafetensors(t, dir, infos, rand.New(rand.NewPCG(uint64(qLora), uint64(mtp))), 0.3)
}

// ggufTensors returns every tensor's raw bytes of a GGUF file and the file.
func ggufTensors(t *testing.T, path string) (map[string][]byte, *gguf.File) {
	t.Helper()
	f, err := gguf.Open(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return readAll(t, f), f
}

// TestDeepseekToGGUF converts random DeepSeek-V3-style folders (with and
// without q_lora, with an MTP layer) and checks llama.cpp's names and
// shapes, the rope part left unpermuted, YaRN keys, and the two
// up-projection layouts against the kv_b_proj weights.
func TestDeepseekToGGUF(t *testing.T) {
	for _, qLora := range []int{16, 0} {
		dir := t.TempDir()
		hf := writeDeepseekHF(t, dir, qLora, 1)
		g := filepath.Join(dir, "m.gguf")
		m, err := convert.Load(dir, convert.Options{})
		must(t, err)
		if len(m.Notes) != 1 || m.Config.Layers != 2 {
			t.Errorf("q_lora %d: notes %q, %d layers; want one MTP note, 2 layers", qLora, m.Notes, m.Config.Layers)
		}
		plans := convert.PlanDType(m, 0, true)
		md, err := m.GGUFMetadata(format.F32)
		must(t, err)
		must(t, m.WriteGGUF(g, md, plans, nil))
		m.Close()
		gt, gf := ggufTensors(t, g)
		for k, want := range map[string]any{
			"deepseek2.rope.scaling.type": "yarn", "deepseek2.rope.scaling.factor": float32(4),
			"deepseek2.rope.scaling.original_context_length": uint32(64),
			"deepseek2.rope.scaling.yarn_log_multiplier":     float32(0.1 * 0.707),
			"deepseek2.attention.key_length":                 uint32(12), "deepseek2.attention.value_length": uint32(6),
			"deepseek2.attention.kv_lora_rank": uint32(12), "deepseek2.rope.dimension_count": uint32(4),
		} {
			if v, ok := gf.Metadata.Get(k); !ok || v.Data != want {
				t.Errorf("q_lora %d: %s = %v, want %v", qLora, k, v.Data, want)
			}
		}
		_, hasQ := gf.Metadata.Get("deepseek2.attention.q_lora_rank")
		if hasQ != (qLora > 0) {
			t.Errorf("q_lora %d: q_lora_rank key present %v", qLora, hasQ)
		}
		for hfName, ggName := range map[string]string{
			"model.layers.1.self_attn.kv_b_proj.weight":          "blk.1.attn_kv_b.weight",
			"model.layers.1.self_attn.kv_a_proj_with_mqa.weight": "blk.1.attn_kv_a_mqa.weight",
			"model.layers.0.self_attn.q_proj.weight":             "blk.0.attn_q.weight",
			"model.layers.0.self_attn.q_b_proj.weight":           "blk.0.attn_q_b.weight",
		} {
			if want, ok := hf[hfName]; ok && string(gt[ggName]) != string(want) {
				t.Errorf("q_lora %d: %s differs from %s (deepseek2 is not permuted)", qLora, ggName, hfName)
			}
		}
		for name := range gt {
			if l, ok := model.LayerOf(name); ok && l >= 2 {
				t.Errorf("MTP tensor %s written", name)
			}
		}
		checkSplit(t, g, hf["model.layers.1.self_attn.kv_b_proj.weight"])
	}
}

// checkSplit rewrites GGUF g in the split layout, checks attn_k_b and
// attn_v_b against kvb (HF kv_b_proj of layer 1, F32) and the keys, then
// converts back and checks every tensor is unchanged.
func checkSplit(t *testing.T, g string, kvb []byte) {
	t.Helper()
	const heads, nope, v, r = 2, 8, 6, 12
	split := g + ".split.gguf"
	for _, step := range []struct{ src, dst, layout string }{{g, split, "split"}, {split, g + ".back.gguf", "kv_b"}} {
		m, err := convert.Load(step.src, convert.Options{})
		must(t, err)
		must(t, m.SetMLALayout(step.layout))
		md, err := m.GGUFMetadata(format.F32)
		must(t, err)
		must(t, m.WriteGGUF(step.dst, md, convert.PlanDType(m, 0, true), nil))
		m.Close()
	}
	st, sf := ggufTensors(t, split)
	for k, want := range map[string]uint32{"key_length": r + 4, "value_length": r, "key_length_mla": nope + 4,
		"value_length_mla": v, "head_count_kv": 1} {
		if got, ok := sf.Metadata.Get("deepseek2.attention." + k); !ok || got.Data != want {
			t.Errorf("split: %s = %v, want %d", k, got.Data, want)
		}
	}
	kv := make([]float32, len(kvb)/4)
	must(t, format.DecodeFloats(format.F32, kvb, kv))
	kb := make([]float32, heads*r*nope)
	must(t, format.DecodeFloats(format.F32, st["blk.1.attn_k_b.weight"], kb))
	vb := make([]float32, heads*v*r)
	must(t, format.DecodeFloats(format.F32, st["blk.1.attn_v_b.weight"], vb))
	for h := 0; h < heads; h++ {
		for j := 0; j < r; j++ {
			for i := 0; i < nope; i++ { // k_b[h][j][i] = kv_b row h*(nope+v)+i, column j
				if kb[(h*r+j)*nope+i] != kv[(h*(nope+v)+i)*r+j] {
					t.Fatalf("k_b[%d][%d][%d] wrong", h, j, i)
				}
			}
			for i := 0; i < v; i++ {
				if vb[(h*v+i)*r+j] != kv[(h*(nope+v)+nope+i)*r+j] {
					t.Fatalf("v_b[%d][%d][%d] wrong", h, i, j)
				}
			}
		}
	}
	orig, _ := ggufTensors(t, g)
	back, bf := ggufTensors(t, g+".back.gguf")
	if len(back) != len(orig) {
		t.Errorf("%d tensors back, want %d", len(back), len(orig))
	}
	for name, b := range orig {
		if string(back[name]) != string(b) {
			t.Errorf("%s changed by split and back", name)
		}
	}
	if _, ok := bf.Metadata.Get("deepseek2.attention.key_length_mla"); ok {
		t.Error("key_length_mla left in the kv_b layout")
	}
}

// TestDevDeepseek2 converts dev-deepseek2-moe as SOURCE.txt describes its
// llama.cpp GGUF: names, shapes, parameter count.
func TestDevDeepseek2(t *testing.T) {
	src := testutil.Shared(t, "models/dev-deepseek2-moe")
	m, err := convert.Load(src, convert.Options{})
	must(t, err)
	defer m.Close()
	if n := m.Config.Params(); n != 2093568 {
		t.Errorf("%d parameters, want 2,093,568", n)
	}
	for name, shape := range map[string][]int64{
		"blk.0.attn_q_a.weight": {128, 64}, "blk.0.attn_q_b.weight": {64, 128}, "blk.0.attn_kv_a_mqa.weight": {128, 48},
		"blk.0.attn_kv_b.weight": {32, 128}, "blk.0.attn_output.weight": {64, 128}, "blk.3.attn_kv_a_norm.weight": {32},
		"blk.1.ffn_down_exps.weight": {128, 128, 8},
	} {
		if tt, ok := m.Tensor(name); !ok || !slices.Equal(tt.Shape, shape) {
			t.Errorf("%s: %v, want %v", name, tt.Shape, shape)
		}
	}
	if len(m.Tensors) != 3+12+3*16 {
		t.Errorf("%d tensors", len(m.Tensors))
	}
}
