package quantize

import (
	"fmt"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// iqMix applies llama_tensor_get_type's rules for the i-quant presets
// iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s, iq2_m, iq3_xxs (every tensor) and iq3_s, iq3_m, iq3_xs (tensors
// other than output.weight and token_embd.weight, which mix handles as for
// every preset) to tensor t, with llama.cpp's rules for models of exactly 8
// experts (attn_k, attn_v at Q8_0, attn_output at Q5_K, iq3_m's ffn_down at
// Q4_K in the use_more_bits layers). ok is false for other presets and for
// those two tensors under the iq3 presets.
func (s *mixState) iqMix(t format.TensorInfo, typ format.DType) (nt format.DType, ok bool) {
	name := s.p.Preset.Name
	switch name {
	case "iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m":
		return s.iq2Mix(t, typ), true
	case "iq3_xxs":
		return s.iq3xxsMix(t, typ), true
	}
	if name != "iq3_s" && name != "iq3_m" && name != "iq3_xs" ||
		t.Name == "output.weight" || t.Name == "token_embd.weight" {
		return typ, false
	}
	layer := func(counter *int) int {
		i := *counter
		if l, ok := model.LayerOf(t.Name); ok {
			i = l
		}
		*counter++
		return i
	}
	n := s.nLayers
	switch has := func(sub string) bool { return strings.Contains(t.Name, sub) }; {
	case has("attn_v.weight"):
		s.iAttnV++
		if name == "iq3_m" || s.gqa() >= 4 {
			typ = format.Q4_K
		}
		// llama.cpp's LLM_TYPE_70B: 80 layers with grouped-query attention.
		if s.mi.Layers == 80 && s.mi.Heads != s.mi.KVHeads && (typ == format.Q3_K || typ == format.Q4_K) {
			typ = format.Q5_K
		}
		if s.mi.Experts == 8 {
			typ = format.Q8_0
		}
	case has("attn_k.weight") && s.mi.Experts == 8:
		typ = format.Q8_0
	case has("attn_k.weight"), has("attn_q.weight"):
		if name == "iq3_xs" {
			typ = format.IQ3_XXS
		}
	case has("ffn_down"):
		i := layer(&s.iFFNDown)
		if name == "iq3_m" && (i < n/8 || s.mi.Experts == 8 && useMoreBits(i, n)) {
			typ = format.Q4_K
		}
	case has("attn_output.weight") && s.mi.Experts == 8:
		typ = format.Q5_K
	case has("attn_output.weight"), has("attn_qkv.weight"):
		if name == "iq3_m" {
			typ = format.Q4_K
		}
	case has("ffn_gate"), has("ffn_up"):
		// llama.cpp counts ffn_gate and ffn_up apart; the layer number
		// in the name is the same count for a dense model.
		var c int
		if i := layer(&c); name == "iq3_xs" && i >= n/8 && i < 7*n/8 {
			typ = format.IQ3_XXS
		}
	}
	return typ, true
}

// checkImatrix refuses, as llama-quantize does, a type that ggml encodes
// only with importances, or IQ2_S or IQ1_M (which ggml can encode without,
// but llama-quantize refuses to: "the result will be garbage"; IQ1_M is
// allowed for the token embedding and output), when the policy has none.
func (p *Policy) checkImatrix(name string, t format.DType) error {
	lowBit := t == format.IQ2_S || t == format.IQ1_M && name != "token_embd.weight" && name != "output.weight"
	if p.HasImatrix || !RequiresImatrix(t) && !lowBit {
		return nil
	}
	return fmt.Errorf("%w: tensor %s: type %s needs an importance matrix: pass --calib TEXT or --imatrix FILE", ErrPolicy, name, t)
}

// iq2Mix is llama_tensor_get_type's branch for the 1- and 2-bit presets:
// output to Q5_K (Q8_0 when its rows do not fill blocks), the token
// embedding to Q2_K (IQ3_S for iq2_s), attn_v to Q4_K for n_gqa >= 4 and
// else Q2_K (IQ3_S), the first eighth of ffn_down to Q2_K (IQ3_S), and
// attn_output to IQ3_S for iq2_s and iq2_m (the parenthesised types) and
// to IQ2_XXS for iq1_s and iq1_m; with experts, attn_v to Q4_K for 4 or
// more and, for exactly 8, attn_k to Q4_K and attn_output to Q5_K.
func (s *mixState) iq2Mix(t format.TensorInfo, typ format.DType) format.DType {
	name := s.p.Preset.Name
	low := format.Q2_K
	if name == "iq2_s" || name == "iq2_m" {
		low = format.IQ3_S
	}
	switch {
	case t.Name == "output.weight" || (!s.hasOutput && t.Name == "token_embd.weight"):
		if t.Shape[0]%int64(typ.BlockSize()) != 0 {
			return format.Q8_0
		}
		return format.Q5_K
	case t.Name == "token_embd.weight":
		return low
	case strings.Contains(t.Name, "attn_v.weight"):
		s.iAttnV++
		if s.gqa() >= 4 || s.mi.Experts >= 4 {
			return format.Q4_K
		}
		return low
	case strings.Contains(t.Name, "attn_k.weight") && s.mi.Experts == 8:
		return format.Q4_K
	case strings.Contains(t.Name, "ffn_down"):
		// llama.cpp counts ffn_down tensors here, not layers.
		i := s.iFFNDown
		s.iFFNDown++
		if i < s.nLayers/8 {
			return low
		}
	case strings.Contains(t.Name, "attn_output.weight") && s.mi.Experts == 8:
		return format.Q5_K
	case strings.Contains(t.Name, "attn_output.weight") && low == format.IQ3_S:
		return format.IQ3_S
	case strings.Contains(t.Name, "attn_output.weight") && (name == "iq1_s" || name == "iq1_m"):
		return format.IQ2_XXS
	}
	return typ
}

// iq3xxsMix is llama_tensor_get_type for the iq3_xxs preset: output to
// Q5_K (Q8_0 when its rows do not fill blocks), the token embedding and
// attn_output to IQ3_S, attn_v to Q4_K for n_gqa >= 4 and else IQ3_XXS
// (IQ3_S without an imatrix), attn_q and attn_k to IQ2_S, and without an
// imatrix ffn_down to Q4_K (first eighth) or Q3_K; with exactly 8 experts
// attn_k and attn_v to Q8_0 and attn_output to Q5_K.
func (s *mixState) iq3xxsMix(t format.TensorInfo, typ format.DType) format.DType {
	has := func(sub string) bool { return strings.Contains(t.Name, sub) }
	switch {
	case t.Name == "output.weight" || (!s.hasOutput && t.Name == "token_embd.weight"):
		if t.Shape[0]%int64(typ.BlockSize()) != 0 {
			return format.Q8_0
		}
		return format.Q5_K
	case t.Name == "token_embd.weight":
		return format.IQ3_S
	case has("attn_v.weight"):
		s.iAttnV++
		switch {
		case s.gqa() >= 4:
			typ = format.Q4_K
		case !s.p.HasImatrix:
			typ = format.IQ3_S
		default:
			typ = format.IQ3_XXS
		}
		if s.mi.Layers == 80 && s.mi.Heads != s.mi.KVHeads && typ == format.Q4_K {
			typ = format.Q5_K
		}
		if s.mi.Experts == 8 {
			typ = format.Q8_0
		}
		return typ
	case has("attn_k.weight") && s.mi.Experts == 8:
		return format.Q8_0
	case has("attn_k.weight"), has("attn_q.weight"):
		return format.IQ2_S
	case has("ffn_down"):
		i := s.iFFNDown
		if l, ok := model.LayerOf(t.Name); ok {
			i = l
		}
		s.iFFNDown++
		if !s.p.HasImatrix {
			if i < s.nLayers/8 {
				return format.Q4_K
			}
			return format.Q3_K
		}
	case has("attn_output.weight") && s.mi.Experts == 8:
		return format.Q5_K
	case has("attn_output.weight"):
		return format.IQ3_S
	}
	return typ
}
