package quantize_test

import (
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// sharedChoices runs the policy of preset under rules on the tensors of
// the shared model dir (Hugging Face folder, converted as shrink convert
// writes it, in layout for a deepseek2 model when not "").
func sharedChoices(t *testing.T, dir, layout, preset string, rules quantize.RuleSet) map[string]quantize.Choice {
	t.Helper()
	m, err := convert.Load(testutil.Shared(t, "models/"+dir), convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if layout != "" {
		if err := m.SetMLALayout(layout); err != nil {
			t.Fatal(err)
		}
	}
	p, ok := quantize.LookupPreset(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	infos := make([]format.TensorInfo, len(m.Tensors))
	for i, ti := range m.Tensors {
		infos[i] = ti.Info()
	}
	pol := quantize.Policy{Preset: p, Rules: rules}
	cs, err := pol.Choose(infos, quantize.InfoOf(m.Config))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]quantize.Choice{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

const (
	llamaCpp = quantize.RulesLlamaCpp
	ollama   = quantize.RulesOllama
)

// Short names of the types in the tables.
const (
	q4K, q5K, q6K = format.Q4_K, format.Q5_K, format.Q6_K
	q50, q51, q80 = format.Q5_0, format.Q5_1, format.Q8_0
	f32, bf16     = format.F32, format.BF16
)

// TestRuleSetsShared asserts the type each rule set gives the tensors of
// the shared dev models. Most rows of these small models are 32 to 128
// values wide, so the K types fall back (q4_K -> q5_0, q5_K -> q5_1, q6_K
// -> q8_0, and to BF16 where not even 32 divides the row); the rule that
// chose the type is in the comment. Ollama's rules are those of
// server/quantization.go, getTensorNewType, at ollama commit 87288ced4.
func TestRuleSetsShared(t *testing.T) {
	cases := []struct {
		model, layout, preset string
		rules                 quantize.RuleSet
		want                  map[string]format.DType
	}{
		// dev-llama-3m: rows of 256 and 768, no fallback. Both rule sets
		// agree on a dense llama: output q6_K; attn_v and ffn_down at
		// q6_K on use_more_bits layers (2 and 3 of 4) in Q4_K_M
		// (getTensorNewType's attn_v.weight and ffn_down branches); attn_v
		// at q5_K in the first 4 layers in Q4_K_S.
		{"dev-llama-3m", "", "q4_k_m", llamaCpp, map[string]format.DType{
			"output.weight": q6K, "token_embd.weight": q4K, "blk.0.attn_v.weight": q4K, "blk.2.attn_v.weight": q6K,
			"blk.1.ffn_down.weight": q4K, "blk.3.ffn_down.weight": q6K, "blk.0.attn_q.weight": q4K, "blk.0.attn_norm.weight": f32}},
		{"dev-llama-3m", "", "q4_k_m", ollama, map[string]format.DType{
			"output.weight": q6K, "token_embd.weight": q4K, "blk.0.attn_v.weight": q4K, "blk.2.attn_v.weight": q6K,
			"blk.1.ffn_down.weight": q4K, "blk.3.ffn_down.weight": q6K, "blk.0.attn_q.weight": q4K, "blk.0.attn_norm.weight": f32}},
		{"dev-llama-3m", "", "q4_k_s", ollama, map[string]format.DType{
			"output.weight": q6K, "blk.3.attn_v.weight": q5K, "blk.0.ffn_down.weight": q4K, "blk.0.attn_k.weight": q4K}},
		{"dev-llama-3m", "", "q8_0", ollama, map[string]format.DType{
			"output.weight": q80, "token_embd.weight": q80, "blk.3.attn_v.weight": q80, "blk.0.ffn_down.weight": q80}},

		// dev-mixtral-moe (8 experts): attn_k and attn_v at q8_0
		// (getTensorNewType: "for the 8-expert model, bumping this to Q8_0
		// trades just ~128MB"), attn_output q5_K -> q5_1 (8 experts,
		// Q4_K_S/M). ffn_down_exps: llama.cpp reads the layer from the
		// name (q6_K in layers 2-3); Ollama counts dense ffn_down tensors
		// in file order and gives experts that count less one, clamped
		// at 0: with no dense ffn_down every layer is "layer 0", not a
		// use_more_bits layer of 4, so all stay q4_K.
		{"dev-mixtral-moe", "", "q4_k_m", llamaCpp, map[string]format.DType{
			"output.weight": q80, "token_embd.weight": q50, "blk.0.attn_k.weight": q80, "blk.0.attn_v.weight": q80,
			"blk.0.attn_output.weight": q51, "blk.2.ffn_down_exps.weight": q6K, "blk.3.ffn_down_exps.weight": q6K,
			"blk.1.ffn_down_exps.weight": q4K, "blk.3.ffn_gate_exps.weight": q50, "blk.3.ffn_gate_inp.weight": f32}},
		{"dev-mixtral-moe", "", "q4_k_m", ollama, map[string]format.DType{
			"output.weight": q80, "token_embd.weight": q50, "blk.0.attn_k.weight": q80, "blk.0.attn_v.weight": q80,
			"blk.0.attn_output.weight": q51, "blk.2.ffn_down_exps.weight": q4K, "blk.3.ffn_down_exps.weight": q4K,
			"blk.1.ffn_down_exps.weight": q4K, "blk.3.ffn_gate_exps.weight": q50, "blk.3.ffn_gate_inp.weight": f32}},
		{"dev-mixtral-moe", "", "q4_k_s", ollama, map[string]format.DType{
			"blk.1.attn_v.weight": q80, "blk.1.attn_output.weight": q51, "blk.0.ffn_down_exps.weight": q4K}},

		// dev-deepseek2-moe, attn_kv_b layout. llama.cpp has no MLA rule
		// (its types are those llama-quantize chose, SOURCE.txt). Ollama
		// puts attn_q_a, attn_q_b and attn_kv_a_mqa at q8_0 in every
		// preset (getTensorNewType: "MLA tensors need higher precision");
		// attn_kv_b is not in its list and keeps q4_K -> q5_0. ffn_down:
		// dense and shexp count up (0: blk.0.ffn_down, 1..3: shexp of
		// blk.1..3) and blk.L's experts use blk.(L-1)'s count, as
		// ffn_down_exps comes before ffn_down_shexp in the file: q6_K ->
		// q8_0 for the shexp of blk.2 and blk.3 (as llama.cpp) but for the
		// experts of blk.3 only (llama.cpp: blk.2 and blk.3).
		{"dev-deepseek2-moe", "", "q4_k_m", llamaCpp, map[string]format.DType{
			"output.weight": q80, "token_embd.weight": q50, "blk.1.attn_q_a.weight": q50, "blk.1.attn_q_b.weight": q50,
			"blk.1.attn_kv_a_mqa.weight": q50, "blk.1.attn_kv_b.weight": q50, "blk.1.attn_output.weight": q51,
			"blk.0.ffn_down.weight": q4K, "blk.1.ffn_down_exps.weight": q50, "blk.2.ffn_down_exps.weight": q80,
			"blk.1.ffn_down_shexp.weight": q50, "blk.2.ffn_down_shexp.weight": q80, "blk.3.ffn_up_shexp.weight": q50,
			"blk.1.attn_q_a_norm.weight": f32, "blk.1.ffn_gate_inp.weight": f32}},
		{"dev-deepseek2-moe", "", "q4_k_m", ollama, map[string]format.DType{
			"output.weight": q80, "token_embd.weight": q50, "blk.1.attn_q_a.weight": q80, "blk.1.attn_q_b.weight": q80,
			"blk.1.attn_kv_a_mqa.weight": q80, "blk.1.attn_kv_b.weight": q50, "blk.1.attn_output.weight": q51,
			"blk.0.ffn_down.weight": q4K, "blk.1.ffn_down_exps.weight": q50, "blk.2.ffn_down_exps.weight": q50,
			"blk.3.ffn_down_exps.weight":  q80,
			"blk.1.ffn_down_shexp.weight": q50, "blk.2.ffn_down_shexp.weight": q80, "blk.3.ffn_up_shexp.weight": q50,
			"blk.1.attn_q_a_norm.weight": f32, "blk.1.ffn_gate_inp.weight": f32}},
		{"dev-deepseek2-moe", "", "q4_k_s", ollama, map[string]format.DType{
			"blk.0.attn_q_a.weight": q80, "blk.0.attn_kv_a_mqa.weight": q80, "blk.0.attn_kv_b.weight": q50,
			"blk.0.attn_output.weight": q51, "blk.3.ffn_down_exps.weight": q50, "blk.3.ffn_down_shexp.weight": q50}},
		// Split layout: attn_k_b (rows of qk_nope = 16) fits no block
		// type, so both rule sets end at the last-resort BF16 (Ollama's
		// own fallback is F16: --fallback-type f16); attn_v_b (rows of
		// kv_lora_rank = 32) is q8_0 under Ollama, q4_K -> q5_0 under
		// llama.cpp.
		{"dev-deepseek2-moe", model.LayoutSplit, "q4_k_m", llamaCpp, map[string]format.DType{
			"blk.2.attn_k_b.weight": bf16, "blk.2.attn_v_b.weight": q50, "blk.2.attn_q_b.weight": q50}},
		{"dev-deepseek2-moe", model.LayoutSplit, "q4_k_m", ollama, map[string]format.DType{
			"blk.2.attn_k_b.weight": bf16, "blk.2.attn_v_b.weight": q80, "blk.2.attn_q_b.weight": q80}},
		{"dev-deepseek2-moe", "", "q8_0", ollama, map[string]format.DType{
			"output.weight": q80, "blk.1.attn_kv_b.weight": q80, "blk.1.attn_q_a.weight": q80, "blk.3.ffn_down_exps.weight": q80}},
	}
	for _, c := range cases {
		got := sharedChoices(t, c.model, c.layout, c.preset, c.rules)
		for name, typ := range c.want {
			ch, ok := got[name]
			if !ok {
				t.Errorf("%s %s %s: no tensor %s", c.model, c.preset, c.rules, name)
				continue
			}
			if ch.Type != typ {
				t.Errorf("%s %s %s %s %s: %s (%s, wanted %s), want %s", c.model, c.layout, c.preset, c.rules, name,
					ch.Type, ch.Reason, ch.Wanted, typ)
			}
		}
	}
}
