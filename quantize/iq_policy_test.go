package quantize

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestIQ4XSPresetRules checks llama_tensor_get_type's rules for
// LLAMA_FTYPE_MOSTLY_IQ4_XS on a 16-layer model: output to Q6_K, attn_v to
// Q5_K when n_gqa >= 4, the first n/8 ffn_down to Q5_K without an
// imatrix, IQ4_XS elsewhere.
func TestIQ4XSPresetRules(t *testing.T) {
	ts := llamaTensors(16, 256, 512, 64, 1000, false)
	for _, tc := range []struct {
		kvHeads int
		imatrix bool
	}{{2, false}, {8, false}, {2, true}} {
		p, _ := LookupPreset("iq4_xs")
		if p.FileType != 30 || p.Default != format.IQ4_XS {
			t.Fatalf("preset %+v", p)
		}
		pol := Policy{Preset: p, HasImatrix: tc.imatrix}
		cs, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: tc.kvHeads})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]format.DType{}
		for _, c := range cs {
			got[c.Name] = c.Type
		}
		want := map[string]format.DType{
			"output.weight":            format.Q6_K,
			"token_embd.weight":        format.IQ4_XS,
			"blk.0.attn_q.weight":      format.IQ4_XS,
			"blk.5.attn_output.weight": format.IQ4_XS,
			"blk.1.ffn_down.weight":    format.Q5_K,
			"blk.2.ffn_down.weight":    format.IQ4_XS,
			"blk.3.attn_v.weight":      format.IQ4_XS,
		}
		if tc.imatrix {
			want["blk.1.ffn_down.weight"] = format.IQ4_XS
		}
		if 8/tc.kvHeads >= 4 {
			want["blk.3.attn_v.weight"] = format.Q5_K
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("%+v: %s is %s, want %s", tc, name, got[name], w)
			}
		}
		if s := fmt.Sprint(got["blk.0.ffn_down.weight"]); !tc.imatrix && s != "q5_K" {
			t.Errorf("%+v: blk.0.ffn_down is %s", tc, s)
		}
	}
}

// TestIQ3PresetRules checks llama_tensor_get_type's rules for the iq3_s,
// iq3_m, iq3_xs and iq3_xxs presets (with an imatrix) on a 16-layer model
// with n_gqa = 2 and 4.
func TestIQ3PresetRules(t *testing.T) {
	ts := llamaTensors(16, 256, 512, 64, 1000, false)
	type want map[string]format.DType
	for _, tc := range []struct {
		preset  string
		kvHeads int
		want    want
	}{
		{"iq3_s", 4, want{"output.weight": format.Q6_K, "token_embd.weight": format.IQ3_S, "blk.3.attn_v.weight": format.IQ3_S,
			"blk.0.ffn_down.weight": format.IQ3_S, "blk.3.attn_output.weight": format.IQ3_S, "blk.3.attn_q.weight": format.IQ3_S}},
		{"iq3_s", 2, want{"blk.3.attn_v.weight": format.Q4_K}},
		{"iq3_m", 4, want{"blk.3.attn_v.weight": format.Q4_K, "blk.1.ffn_down.weight": format.Q4_K, "blk.2.ffn_down.weight": format.IQ3_S,
			"blk.5.attn_output.weight": format.Q4_K, "blk.5.ffn_gate.weight": format.IQ3_S, "blk.5.attn_k.weight": format.IQ3_S}},
		{"iq3_xs", 4, want{"blk.3.attn_v.weight": format.IQ3_S, "blk.3.attn_k.weight": format.IQ3_XXS, "blk.0.attn_q.weight": format.IQ3_XXS,
			"blk.1.ffn_gate.weight": format.IQ3_S, "blk.2.ffn_gate.weight": format.IQ3_XXS, "blk.13.ffn_up.weight": format.IQ3_XXS,
			"blk.14.ffn_up.weight": format.IQ3_S, "blk.0.ffn_down.weight": format.IQ3_S, "blk.5.attn_output.weight": format.IQ3_S}},
		{"iq3_xxs", 4, want{"output.weight": format.Q5_K, "token_embd.weight": format.IQ3_S, "blk.3.attn_v.weight": format.IQ3_XXS,
			"blk.3.attn_k.weight": format.IQ2_S, "blk.3.attn_q.weight": format.IQ2_S, "blk.3.attn_output.weight": format.IQ3_S,
			"blk.0.ffn_down.weight": format.IQ3_XXS, "blk.3.ffn_gate.weight": format.IQ3_XXS}},
		{"iq3_xxs", 2, want{"blk.3.attn_v.weight": format.Q4_K}},
	} {
		p, _ := LookupPreset(tc.preset)
		pol := Policy{Preset: p, HasImatrix: true}
		cs, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: tc.kvHeads})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Choice{}
		for _, c := range cs {
			got[c.Name] = c
		}
		for name, w := range tc.want {
			if got[name].Type != w {
				t.Errorf("%s (kv heads %d): %s is %s, want %s", tc.preset, tc.kvHeads, name, got[name].Type, w)
			}
		}
	}
}

// TestIQ2PresetRules checks llama_tensor_get_type's branch for the iq1_s,
// iq1_m, iq2_xxs, iq2_xs, iq2_s and iq2_m presets on a 16-layer model, and that they need an
// importance matrix.
func TestIQ2PresetRules(t *testing.T) {
	ts := llamaTensors(16, 256, 512, 64, 1000, false)
	type want map[string]format.DType
	for _, tc := range []struct {
		preset  string
		kvHeads int
		want    want
	}{
		{"iq2_xxs", 4, want{"output.weight": format.Q5_K, "token_embd.weight": format.Q2_K, "blk.3.attn_v.weight": format.Q2_K,
			"blk.1.ffn_down.weight": format.Q2_K, "blk.2.ffn_down.weight": format.IQ2_XXS, "blk.3.attn_output.weight": format.IQ2_XXS}},
		{"iq2_xs", 2, want{"blk.3.attn_v.weight": format.Q4_K, "blk.5.ffn_up.weight": format.IQ2_XS, "token_embd.weight": format.Q2_K}},
		{"iq2_s", 4, want{"output.weight": format.Q5_K, "token_embd.weight": format.IQ3_S, "blk.3.attn_v.weight": format.IQ3_S,
			"blk.0.ffn_down.weight": format.IQ3_S, "blk.9.ffn_down.weight": format.IQ2_XS, "blk.3.attn_output.weight": format.IQ3_S,
			"blk.3.attn_q.weight": format.IQ2_XS}},
		{"iq2_m", 2, want{"token_embd.weight": format.IQ3_S, "blk.3.attn_v.weight": format.Q4_K, "blk.1.ffn_down.weight": format.IQ3_S,
			"blk.9.ffn_down.weight": format.IQ2_S, "blk.3.attn_output.weight": format.IQ3_S, "blk.3.attn_k.weight": format.IQ2_S}},
		{"iq1_s", 4, want{"output.weight": format.Q5_K, "token_embd.weight": format.Q2_K, "blk.3.attn_v.weight": format.Q2_K,
			"blk.1.ffn_down.weight": format.Q2_K, "blk.2.ffn_down.weight": format.IQ1_S, "blk.3.attn_output.weight": format.IQ2_XXS,
			"blk.3.attn_q.weight": format.IQ1_S, "blk.7.ffn_gate.weight": format.IQ1_S}},
		{"iq1_m", 2, want{"output.weight": format.Q5_K, "token_embd.weight": format.Q2_K, "blk.3.attn_v.weight": format.Q4_K,
			"blk.0.ffn_down.weight": format.Q2_K, "blk.9.ffn_down.weight": format.IQ1_M, "blk.3.attn_output.weight": format.IQ2_XXS,
			"blk.3.attn_k.weight": format.IQ1_M, "blk.5.ffn_up.weight": format.IQ1_M}},
	} {
		p, _ := LookupPreset(tc.preset)
		pol := Policy{Preset: p}
		if _, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: tc.kvHeads}); !errors.Is(err, ErrPolicy) ||
			!strings.Contains(err.Error(), "--imatrix") {
			t.Errorf("%s without an imatrix: %v", tc.preset, err)
		}
		pol.HasImatrix = true
		cs, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: tc.kvHeads})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if w, ok := tc.want[c.Name]; ok && c.Type != w {
				t.Errorf("%s (kv heads %d): %s is %s, want %s", tc.preset, tc.kvHeads, c.Name, c.Type, w)
			}
		}
	}
}

// TestIQ1MImatrixRule checks llama-quantize's exception for IQ1_M: without
// an importance matrix it may still be the token embedding's or the
// output's type, but not another tensor's.
func TestIQ1MImatrixRule(t *testing.T) {
	ts := llamaTensors(16, 256, 512, 64, 1000, false)
	p, _ := LookupPreset("q4_0")
	iq1m := OptionalType{Type: format.IQ1_M, Set: true}
	pol := Policy{Preset: p, TokenEmbeddingType: iq1m, OutputType: iq1m}
	cs, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: 8})
	if err != nil {
		t.Fatalf("IQ1_M token embedding and output without an imatrix: %v", err)
	}
	for _, c := range cs {
		if (c.Name == "token_embd.weight" || c.Name == "output.weight") && c.Type != format.IQ1_M {
			t.Errorf("%s is %s, want iq1_m", c.Name, c.Type)
		}
	}
	p, _ = LookupPreset("iq1_m")
	pol = Policy{Preset: p}
	if _, err := pol.Choose(ts, ModelInfo{Layers: 16, Heads: 8, KVHeads: 8}); !errors.Is(err, ErrPolicy) ||
		!strings.Contains(err.Error(), "iq1_m") || !strings.Contains(err.Error(), "--imatrix") {
		t.Errorf("iq1_m preset without an imatrix: %v", err)
	}
}
