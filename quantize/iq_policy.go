package quantize

import (
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// iqMix applies llama_tensor_get_type's rules for the 3-bit i-quant
// presets (iq3_s, iq3_m, iq3_xs) to a dense model's tensor t other than
// output.weight and token_embd.weight (which mix handles as for every
// preset). ok is false for other presets and for those two tensors.
func (s *mixState) iqMix(t format.TensorInfo, typ format.DType) (nt format.DType, ok bool) {
	name := s.p.Preset.Name
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
	case has("attn_k.weight"), has("attn_q.weight"):
		if name == "iq3_xs" {
			typ = format.IQ3_XXS
		}
	case has("ffn_down"):
		if i := layer(&s.iFFNDown); name == "iq3_m" && i < n/8 {
			typ = format.Q4_K
		}
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
