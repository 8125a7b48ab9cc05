package quantize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// mixtralTensors lists a Mixtral-style model's tensors as convert writes
// them: stacked 3-D experts, an F32 router per layer.
func mixtralTensors(layers, dim, effn, kvDim, experts, vocab int) []format.TensorInfo {
	var ts []format.TensorInfo
	for _, t := range llamaTensors(layers, dim, effn, kvDim, vocab, false) {
		if strings.Contains(t.Name, "ffn_gate.") || strings.Contains(t.Name, "ffn_up.") || strings.Contains(t.Name, "ffn_down.") {
			continue
		}
		ts = append(ts, t)
	}
	d, f, e := int64(dim), int64(effn), int64(experts)
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			format.TensorInfo{Name: p + "ffn_gate_inp.weight", Type: format.F32, Shape: []int64{d, e}},
			format.TensorInfo{Name: p + "ffn_gate_exps.weight", Type: format.F16, Shape: []int64{d, f, e}},
			format.TensorInfo{Name: p + "ffn_up_exps.weight", Type: format.F16, Shape: []int64{d, f, e}},
			format.TensorInfo{Name: p + "ffn_down_exps.weight", Type: format.F16, Shape: []int64{f, d, e}})
	}
	return ts
}

// TestMoEMixRules checks llama_tensor_get_type's expert rules against the
// types llama-quantize chose for dev-mixtral-moe (its SOURCE.txt: Q4_K_M
// with 8 experts puts attn_k and attn_v at q8_0, attn_output at q5_K
// (q5_1 after the row fallback), ffn_down_exps at q6_K in layers 2-3 of
// 4; the router stays F32) and on a 256-wide model where no fallback
// hides the K types; and that other expert counts get the dense rules.
func TestMoEMixRules(t *testing.T) {
	mi := ModelInfo{Layers: 4, Heads: 4, KVHeads: 2, Experts: 8}
	cs := choose(t, "q4_k_m", false, mixtralTensors(4, 128, 256, 64, 8, 2048), mi)
	want := map[string]format.DType{
		"output.weight": format.Q8_0, "token_embd.weight": format.Q5_0,
		"blk.0.attn_k.weight": format.Q8_0, "blk.0.attn_v.weight": format.Q8_0,
		"blk.0.attn_output.weight": format.Q5_1, "blk.0.attn_q.weight": format.Q5_0,
		"blk.0.ffn_down_exps.weight": format.Q4_K, "blk.1.ffn_down_exps.weight": format.Q4_K,
		"blk.2.ffn_down_exps.weight": format.Q6_K, "blk.3.ffn_down_exps.weight": format.Q6_K,
		"blk.3.ffn_gate_exps.weight": format.Q5_0, "blk.3.ffn_up_exps.weight": format.Q5_0,
		"blk.3.ffn_gate_inp.weight": format.F32,
	}
	for name, typ := range want {
		if c := cs[name]; c.Type != typ {
			t.Errorf("q4_k_m %s: %s (%s), llama-quantize %s", name, c.Type, c.Reason, typ)
		}
	}
	if cs["blk.0.ffn_gate_inp.weight"].Quantize {
		t.Error("the router must not be quantized")
	}
	wide := choose(t, "q4_k_m", false, mixtralTensors(4, 256, 512, 128, 8, 512), mi)
	if c := wide["blk.1.attn_output.weight"]; c.Type != format.Q5_K {
		t.Errorf("8 experts q4_k_m attn_output %s, want q5_K", c.Type)
	}
	if c := wide["blk.1.attn_v.weight"]; c.Type != format.Q8_0 {
		t.Errorf("8 experts attn_v %s, want q8_0", c.Type)
	}
	q3 := choose(t, "q3_k_l", false, mixtralTensors(4, 256, 512, 128, 8, 512), mi)
	if c := q3["blk.1.attn_output.weight"]; c.Type != format.Q3_K {
		t.Errorf("8 experts q3_k_l attn_output %s, want the default q3_K (no dense rule)", c.Type)
	}
	mi.Experts = 4
	four := choose(t, "q4_k_m", false, mixtralTensors(4, 256, 512, 128, 4, 512), mi)
	if c := four["blk.1.attn_k.weight"]; c.Type != format.Q4_K {
		t.Errorf("4 experts attn_k %s, want q4_K", c.Type)
	}
	if c := four["blk.3.attn_v.weight"]; c.Type != format.Q6_K {
		t.Errorf("4 experts attn_v %s, want q6_K (use_more_bits)", c.Type)
	}
}

// TestCollectorExperts: per-expert inputs give experts x cols means, each
// over its own tokens, and a CheckShape of that length; an expert no token
// reached drops the entry, as llama-imatrix drops partial data.
func TestCollectorExperts(t *testing.T) {
	c := NewCollector()
	const name = "blk.0.ffn_down_exps.weight"
	c.AddExpert(name, 0, 2, []float32{1, 2, 3, 4}, 2, 2) // rows (1,2), (3,4)
	c.AddExpert(name, 1, 2, []float32{2, 0}, 1, 2)
	c.AddExpert("blk.1.ffn_down_exps.weight", 0, 2, []float32{1, 1}, 1, 2) // expert 1 never routed
	m := c.Imatrix(1, "t")
	v, ok := m.Get(name)
	want := []float32{5, 10, 4, 0} // (1+9)/2, (4+16)/2; 4, 0
	if !ok || fmt.Sprint(v) != fmt.Sprint(want) {
		t.Fatalf("values %v, want %v", v, want)
	}
	if _, ok := m.Get("blk.1.ffn_down_exps.weight"); ok {
		t.Error("an entry with an expert never routed was kept")
	}
	if got, err := m.CheckShape(name, 2, 2); err != nil || len(got) != 4 {
		t.Errorf("CheckShape with 2 experts: %v %v", got, err)
	}
	if _, err := m.CheckShape(name, 2); err == nil {
		t.Error("CheckShape without the expert count accepted 4 values for rows of 2")
	}
}

// TestMoEIQMixRules checks the expert rules of llama_tensor_get_type for
// the i-quant presets on a 256-wide 8-expert model (no row fallback hides
// the types): attn_k and attn_v at Q8_0 and attn_output at Q5_K for iq4_xs
// and the iq3 presets, iq3_m's ffn_down at Q4_K in the use_more_bits
// layers; attn_v, attn_k at Q4_K and attn_output at Q5_K for the 1- and
// 2-bit presets; with 4 experts only attn_v's n_expert >= 4 rule. (On
// dev-mixtral-moe, 128 wide, shrink --imatrix equals llama-quantize
// --imatrix tensor for tensor for all twelve i-quant presets.)
func TestMoEIQMixRules(t *testing.T) {
	pick := func(preset string, experts int) map[string]format.DType {
		t.Helper()
		p, ok := LookupPreset(preset)
		if !ok {
			t.Fatalf("no preset %s", preset)
		}
		mi := ModelInfo{Layers: 4, Heads: 4, KVHeads: 2, Experts: experts}
		cs, err := (&Policy{Preset: p, HasImatrix: true}).Choose(mixtralTensors(4, 256, 512, 128, experts, 512), mi)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]format.DType{}
		for _, c := range cs {
			out[c.Name] = c.Type
		}
		return out
	}
	cases := []struct {
		preset  string
		experts int
		want    map[string]format.DType
	}{
		{"iq4_xs", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q8_0, "blk.1.attn_v.weight": format.Q8_0,
			"blk.2.attn_output.weight": format.Q5_K, "blk.0.attn_q.weight": format.IQ4_XS, "blk.0.ffn_down_exps.weight": format.IQ4_XS}},
		{"iq3_m", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q8_0, "blk.1.attn_v.weight": format.Q8_0,
			"blk.2.attn_output.weight": format.Q5_K, "blk.0.attn_q.weight": format.IQ3_S,
			"blk.1.ffn_down_exps.weight": format.IQ3_S, "blk.2.ffn_down_exps.weight": format.Q4_K, "blk.3.ffn_down_exps.weight": format.Q4_K}},
		{"iq3_s", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q8_0, "blk.0.attn_output.weight": format.Q5_K,
			"blk.2.ffn_down_exps.weight": format.IQ3_S}},
		{"iq3_xs", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q8_0, "blk.0.attn_q.weight": format.IQ3_XXS,
			"blk.0.attn_output.weight": format.Q5_K}},
		{"iq3_xxs", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q8_0, "blk.3.attn_v.weight": format.Q8_0,
			"blk.0.attn_q.weight": format.IQ2_S, "blk.0.attn_output.weight": format.Q5_K}},
		{"iq2_xs", 8, map[string]format.DType{"blk.0.attn_k.weight": format.Q4_K, "blk.0.attn_v.weight": format.Q4_K,
			"blk.0.attn_output.weight": format.Q5_K, "blk.0.attn_q.weight": format.IQ2_XS}},
		{"iq1_m", 8, map[string]format.DType{"blk.1.attn_k.weight": format.Q4_K, "blk.1.attn_output.weight": format.Q5_K}},
		{"iq2_xs", 4, map[string]format.DType{"blk.0.attn_k.weight": format.IQ2_XS, "blk.0.attn_v.weight": format.Q4_K,
			"blk.0.attn_output.weight": format.IQ2_XS}},
		{"iq3_xxs", 4, map[string]format.DType{"blk.0.attn_k.weight": format.IQ2_S, "blk.0.attn_output.weight": format.IQ3_S}},
	}
	for _, c := range cases {
		got := pick(c.preset, c.experts)
		for name, typ := range c.want {
			if got[name] != typ {
				t.Errorf("%s, %d experts, %s: %s, llama.cpp's rules give %s", c.preset, c.experts, name, got[name], typ)
			}
		}
	}
}
