package quantize

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

func chooseRules(t *testing.T, preset string, rules RuleSet, ts []format.TensorInfo, mi ModelInfo) map[string]Choice {
	t.Helper()
	p, ok := LookupPreset(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	pol := Policy{Preset: p, Rules: rules}
	cs, err := pol.Choose(ts, mi)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Choice{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

// v2LiteTensors are DeepSeek-V2-Lite's latent-attention and MoE tensors
// for layers 0 (dense FFN) to n-1, in shrink's file order (experts
// before the shared expert), with the split or the attn_kv_b layout. The
// FFN widths are rounded up to multiples of 256 (10944 -> 11008, 1408 ->
// 1536) so that the K types the rules choose do not fall back.
func v2LiteTensors(n int, split bool) []format.TensorInfo {
	f16 := func(name string, shape ...int64) format.TensorInfo {
		return format.TensorInfo{Name: name, Type: format.F16, Shape: shape}
	}
	ts := []format.TensorInfo{f16("output.weight", 2048, 102400), f16("token_embd.weight", 2048, 102400)}
	for l := 0; l < n; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if l == 0 {
			ts = append(ts, f16(p+"ffn_down.weight", 11008, 2048), f16(p+"ffn_gate.weight", 2048, 11008))
		} else {
			ts = append(ts, f16(p+"ffn_down_exps.weight", 1536, 2048, 64), f16(p+"ffn_gate_exps.weight", 2048, 1536, 64),
				f16(p+"ffn_down_shexp.weight", 2816, 2048), f16(p+"ffn_up_shexp.weight", 2048, 2816))
		}
		ts = append(ts, f16(p+"attn_kv_a_mqa.weight", 2048, 576))
		if split {
			ts = append(ts, f16(p+"attn_k_b.weight", 128, 512, 16), f16(p+"attn_v_b.weight", 512, 128, 16))
		} else {
			ts = append(ts, f16(p+"attn_kv_b.weight", 512, 16*256))
		}
		ts = append(ts, f16(p+"attn_output.weight", 16*128, 2048), f16(p+"attn_q.weight", 2048, 16*192))
	}
	return ts
}

// TestOllamaRulesWide checks Ollama's rules where rows fill whole
// blocks, so the K types they choose are visible.
func TestOllamaRulesWide(t *testing.T) {
	mi := ModelInfo{Layers: 27, Heads: 16, KVHeads: 16, Experts: 64}
	type row struct {
		name      string
		llama, ol format.DType
	}
	cases := []struct {
		preset string
		split  bool
		rows   []row
	}{
		// server/quantization.go getTensorNewType: attn_k_b, attn_v_b,
		// attn_kv_a_mqa, attn_q_a, attn_q_b -> format.Q8_0 ("MLA tensors need
		// higher precision"); llama.cpp has no MLA rule. attn_k_b's rows
		// of 128 drop llama.cpp's q4_K to q5_0; Ollama's q8_0 fits them.
		{"q4_k_m", true, []row{
			{"blk.5.attn_kv_a_mqa.weight", format.Q4_K, format.Q8_0}, {"blk.5.attn_k_b.weight", format.Q5_0, format.Q8_0},
			{"blk.5.attn_v_b.weight", format.Q4_K, format.Q8_0}, {"blk.5.attn_q.weight", format.Q4_K, format.Q4_K},
			{"blk.5.attn_output.weight", format.Q4_K, format.Q4_K}, {"output.weight", format.Q6_K, format.Q6_K},
			// ffn_down (n_layer 27 by blk prefixes; use_more_bits of 27:
			// 0-2, 5, 8, ..., 23-26): llama.cpp uses the name's layer,
			// Ollama the dense/shexp count less one for experts: blk.5's
			// experts are counted as layer 4 (not more bits), blk.6's as 5.
			{"blk.0.ffn_down.weight", format.Q6_K, format.Q6_K}, {"blk.5.ffn_down_exps.weight", format.Q6_K, format.Q4_K},
			{"blk.6.ffn_down_exps.weight", format.Q4_K, format.Q6_K}, {"blk.5.ffn_down_shexp.weight", format.Q6_K, format.Q6_K},
		}},
		// The attn_kv_b layout: attn_kv_b is not in Ollama's list.
		{"q4_k_m", false, []row{{"blk.3.attn_kv_b.weight", format.Q4_K, format.Q4_K}, {"blk.3.attn_kv_a_mqa.weight", format.Q4_K, format.Q8_0}}},
		// Q4_K_S: ffn_down q5_K on layers < n/8 (0-2) in both.
		{"q4_k_s", true, []row{
			{"blk.2.ffn_down_shexp.weight", format.Q5_K, format.Q5_K}, {"blk.3.ffn_down_exps.weight", format.Q4_K, format.Q5_K},
			{"blk.4.ffn_down_exps.weight", format.Q4_K, format.Q4_K}, {"blk.4.attn_q.weight", format.Q4_K, format.Q4_K}, {"blk.4.attn_v_b.weight", format.Q4_K, format.Q8_0},
		}},
		{"q8_0", true, []row{{"blk.4.attn_v_b.weight", format.Q8_0, format.Q8_0}, {"blk.4.ffn_down_exps.weight", format.Q8_0, format.Q8_0}}},
	}
	for _, c := range cases {
		ts := v2LiteTensors(27, c.split)
		l := chooseRules(t, c.preset, RulesLlamaCpp, ts, mi)
		o := chooseRules(t, c.preset, RulesOllama, ts, mi)
		for _, r := range c.rows {
			if got := l[r.name]; got.Type != r.llama {
				t.Errorf("%s llama.cpp %s: %s (%s), want %s", c.preset, r.name, got.Type, got.Reason, r.llama)
			}
			if got := o[r.name]; got.Type != r.ol {
				t.Errorf("%s ollama %s: %s (%s), want %s", c.preset, r.name, got.Type, got.Reason, r.ol)
			}
		}
	}
}

// TestOllamaMixtralExperts: in a 32-layer Mixtral (ffn_down_exps only)
// Ollama's ffn_down count never moves, so every layer's experts are
// "layer 0", a use_more_bits layer: all q6_K in Q4_K_M and all q5_K in
// Q4_K_S, where llama.cpp picks by layer (16 of 32 and 4 of 32).
func TestOllamaMixtralExperts(t *testing.T) {
	mi := ModelInfo{Layers: 32, Heads: 32, KVHeads: 8, Experts: 8}
	ts := mixtralTensors(32, 256, 512, 64, 8, 512)
	for _, c := range []struct {
		preset    string
		up        format.DType
		llamaUps  int
		ollamaUps int
	}{{"q4_k_m", format.Q6_K, 16, 32}, {"q4_k_s", format.Q5_K, 4, 32}} {
		for _, r := range []struct {
			rules RuleSet
			want  int
		}{{RulesLlamaCpp, c.llamaUps}, {RulesOllama, c.ollamaUps}} {
			cs := chooseRules(t, c.preset, r.rules, ts, mi)
			n := 0
			for l := 0; l < 32; l++ {
				if cs[fmt.Sprintf("blk.%d.ffn_down_exps.weight", l)].Type == c.up {
					n++
				}
			}
			if n != r.want {
				t.Errorf("%s %s: %d ffn_down_exps at %s, want %d", c.preset, r.rules, n, c.up, r.want)
			}
		}
	}
}

// TestOllamaQwen2Tied: a Qwen2-style model with tied embeddings (no
// output.weight) and attention biases: token_embd takes output's rule
// (q6_K), the 1-D biases are not quantized, and nothing else differs
// from llama.cpp except the 70B attn_v rule Ollama lacks (not hit here).
func TestOllamaQwen2Tied(t *testing.T) {
	ts := llamaTensors(24, 896, 4864, 128, 1024, true)
	for l := 0; l < 24; l++ {
		ts = append(ts, format.TensorInfo{Name: fmt.Sprintf("blk.%d.attn_q.bias", l), Type: format.F32, Shape: []int64{896}})
	}
	mi := ModelInfo{Layers: 24, Heads: 14, KVHeads: 2}
	for _, preset := range []string{"q4_k_m", "q4_k_s", "q8_0"} {
		l := chooseRules(t, preset, RulesLlamaCpp, ts, mi)
		o := chooseRules(t, preset, RulesOllama, ts, mi)
		for name, c := range l {
			if o[name].Type != c.Type {
				t.Errorf("%s %s: ollama %s, llama.cpp %s", preset, name, o[name].Type, c.Type)
			}
		}
		if o["token_embd.weight"].Type == format.Q4_K || o["blk.3.attn_q.bias"].Quantize {
			t.Errorf("%s: token_embd %s, bias quantized %v", preset, o["token_embd.weight"].Type, o["blk.3.attn_q.bias"].Quantize)
		}
	}
	// LLM_TYPE_70B (80 layers, GQA): llama.cpp lifts attn_v from q4_K to
	// q5_K; Ollama does not (a TODO in getTensorNewType).
	big := llamaTensors(80, 1024, 2048, 256, 512, false)
	mi = ModelInfo{Layers: 80, Heads: 64, KVHeads: 8}
	if l, o := chooseRules(t, "q4_k_m", RulesLlamaCpp, big, mi), chooseRules(t, "q4_k_m", RulesOllama, big, mi); l["blk.11.attn_v.weight"].Type != format.Q5_K || o["blk.11.attn_v.weight"].Type != format.Q4_K {
		t.Errorf("70B attn_v: llama.cpp %s (want q5_K), ollama %s (want q4_K)", l["blk.11.attn_v.weight"].Type, o["blk.11.attn_v.weight"].Type)
	}
}

// TestOllamaQuantizable: newType skips encoder tensors and quantizes
// tensors with a trailing dimension of 1, which llama.cpp treats as 1-D.
func TestOllamaQuantizable(t *testing.T) {
	for _, c := range []struct {
		name          string
		shape         []int64
		llama, ollama bool
	}{
		{"blk.0.attn_q.weight", []int64{256, 256}, true, true},
		{"v.blk.0.attn_q.weight", []int64{256, 256}, true, false},
		{"mm.0.weight", []int64{256, 256}, true, false},
		{"blk.0.odd.weight", []int64{256, 1}, false, true},
		{"per_layer_token_embd.weight", []int64{256, 256}, true, false},
		{"blk.0.ffn_gate_inp.weight", []int64{256, 8}, false, false},
		{"blk.0.attn_q_a_norm.weight", []int64{64}, false, false},
	} {
		if got := RulesLlamaCpp.quantizable(c.name, c.shape); got != c.llama {
			t.Errorf("llama.cpp quantizes %s %v: %v", c.name, c.shape, got)
		}
		if got := RulesOllama.quantizable(c.name, c.shape); got != c.ollama {
			t.Errorf("ollama quantizes %s %v: %v", c.name, c.shape, got)
		}
	}
}

// TestOllamaPresetsAndParse: Ollama's rules refuse presets Ollama has no
// file type for; ParseRuleSet knows both names and refuses others.
func TestOllamaPresetsAndParse(t *testing.T) {
	ts := llamaTensors(2, 256, 512, 128, 256, false)
	for _, preset := range []string{"q6_k", "q4_0", "iq4_xs", "q4_k"} {
		p, _ := LookupPreset(preset)
		pol := Policy{Preset: p, Rules: RulesOllama}
		if _, err := pol.Choose(ts, ModelInfo{Layers: 2}); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s under ollama rules: err %v, want ErrPolicy", preset, err)
		}
	}
	for _, preset := range []string{"f16", "bf16", "f32"} {
		cs := chooseRules(t, preset, RulesOllama, ts, ModelInfo{Layers: 2})
		if p, _ := LookupPreset(preset); cs["output.weight"].Type != p.Default {
			t.Errorf("%s output %s", preset, cs["output.weight"].Type)
		}
	}
	for s, want := range map[string]RuleSet{"": RulesLlamaCpp, "llama.cpp": RulesLlamaCpp, "LlamaCpp": RulesLlamaCpp, "Ollama": RulesOllama} {
		if got, err := ParseRuleSet(s); err != nil || got != want {
			t.Errorf("ParseRuleSet(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseRuleSet("lmstudio"); !errors.Is(err, ErrPolicy) {
		t.Errorf("ParseRuleSet(lmstudio): %v", err)
	}
	p, _ := LookupPreset("q4_k_m")
	if _, err := (&Policy{Preset: p, Rules: "lmstudio"}).Choose(ts, ModelInfo{Layers: 2}); !errors.Is(err, ErrPolicy) {
		t.Errorf("Choose with rules lmstudio: %v", err)
	}
	mla := []format.TensorInfo{{Name: "blk.0.attn_q_a.weight", Type: format.F16, Shape: []int64{256, 256}}}
	cs, err := (&Policy{Preset: p, Rules: "Ollama"}).Choose(mla, ModelInfo{Layers: 1})
	if err != nil || cs[0].Type != format.Q8_0 {
		t.Errorf("rules \"Ollama\": %v %v, want attn_q_a at q8_0", cs, err)
	}
}
