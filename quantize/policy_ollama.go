package quantize

import (
	"fmt"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// RuleSet names whose per-tensor rules choose the types inside a preset.
type RuleSet string

// The rule sets a Policy can follow.
const (
	// RulesLlamaCpp is llama-quantize's llama_tensor_get_type (the
	// default; the zero RuleSet means it too).
	RulesLlamaCpp RuleSet = "llama.cpp"
	// RulesOllama is Ollama's Go port of those rules as `ollama create
	// --quantize` applied them (server/quantization.go, getTensorNewType
	// and newType, at ollama commit 87288ced4, the last before it
	// delegated to llama-quantize): the five latent-attention projections
	// of deepseek2 at Q8_0, expert ffn_down layers counted in file order,
	// no 70B rule, and only the presets Ollama accepts.
	RulesOllama RuleSet = "ollama"
)

// ollamaPresets are the presets Ollama quantizes to (fs/ggml/type.go,
// ParseFileType: F32, F16, BF16, Q8_0, Q4_K_S, Q4_K_M).
var ollamaPresets = []string{"f32", "f16", "bf16", "q8_0", "q4_k_s", "q4_k_m"}

// RuleSets returns the names ParseRuleSet accepts.
func RuleSets() []string { return []string{string(RulesLlamaCpp), string(RulesOllama)} }

// ParseRuleSet returns the rule set called s ("llama.cpp" or "llamacpp",
// "ollama"; case-insensitive).
func ParseRuleSet(s string) (RuleSet, error) {
	switch strings.ToLower(s) {
	case "", "llama.cpp", "llamacpp":
		return RulesLlamaCpp, nil
	case "ollama":
		return RulesOllama, nil
	}
	return "", fmt.Errorf("%w: unknown rule set %q (want %s)", ErrPolicy, s, strings.Join(RuleSets(), " or "))
}

// withRules returns a copy of the policy with its rule set in canonical
// form, refusing an unknown rule set or a preset it has no rules for.
func (p *Policy) withRules() (*Policy, error) {
	r, err := ParseRuleSet(string(p.Rules))
	if err != nil {
		return nil, err
	}
	q := *p
	q.Rules = r
	if r != RulesOllama {
		return &q, nil
	}
	for _, n := range ollamaPresets {
		if p.Preset.Name == n {
			return &q, nil
		}
	}
	return nil, fmt.Errorf("%w: Ollama's rules cover only %s, not %s", ErrPolicy, strings.Join(ollamaPresets, ", "), p.Preset.Name)
}

// quantizable reports whether the rule set quantizes the tensor at all.
func (r RuleSet) quantizable(name string, shape []int64) bool {
	if r == RulesOllama {
		return ollamaQuantizable(name, shape)
	}
	return quantizable(name, shape)
}

// ollamaQuantizable is newType's filter (server/quantization.go): weights
// of two or more dimensions (counted as stored, trailing ones included,
// where llama.cpp drops them), not of the vision ("v."), audio ("a.") or
// projector ("mm.") encoders, not norms, routers (ffn_gate_inp and
// ffn_gate_inp_shexp), positional or token-type embeddings, Mamba's
// conv1d, LFM2's shortconv kernels, RWKV's time_mix small tensors, T5's
// relative bias or Gemma 3n's per_layer_token_embd.
func ollamaQuantizable(name string, shape []int64) bool {
	if !strings.HasSuffix(name, "weight") || len(shape) < 2 {
		return false
	}
	if strings.HasPrefix(name, "v.") || strings.HasPrefix(name, "a.") || strings.Contains(name, "mm.") {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight",
		"ssm_conv1d.weight", "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w1.weight",
		"time_mix_w2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
		"time_mix_lerp_fused.weight", "attn_rel_b.weight", "per_layer_token_embd.weight"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return name != "position_embd.weight" && name != "token_types.weight"
}

// ollamaLayers is the n_layer of Ollama's ffn_down rule: the number of
// distinct "blk.N" prefixes (quantize's count over GroupLayers), not the
// number of ffn_down tensors.
func ollamaLayers(tensors []format.TensorInfo) int {
	seen := map[int]bool{}
	for _, t := range tensors {
		if l, ok := model.LayerOf(t.Name); ok && strings.HasPrefix(t.Name, "blk.") {
			seen[l] = true
		}
	}
	return len(seen)
}

// ollamaMLA lists the latent-attention tensors getTensorNewType puts at
// Q8_0 in every preset (added for glm-4.7-flash, ollama PR #13891: "MLA
// tensors need higher precision to avoid quality degradation"). attn_kv_b
// is not among them: it stays at the default type.
var ollamaMLA = []string{"attn_k_b.weight", "attn_v_b.weight", "attn_kv_a_mqa.weight", "attn_q_a.weight", "attn_q_b.weight"}

// rule applies the policy's rule set to a tensor whose default type is
// typ.
func (s *mixState) rule(t format.TensorInfo, typ format.DType) format.DType {
	if s.p.Rules == RulesOllama {
		return s.ollamaMix(t, typ)
	}
	return s.mix(t, typ)
}

// ollamaMix is getTensorNewType (ollama server/quantization.go) for the
// presets Ollama has: typ is the preset's default type (Q4_K or Q8_0).
// The row fallback is Choose's, as for llama.cpp's rules.
func (s *mixState) ollamaMix(t format.TensorInfo, typ format.DType) format.DType {
	has := func(sub string) bool { return strings.Contains(t.Name, sub) }
	switch {
	case t.Name == "output.weight" || (!s.hasOutput && t.Name == "token_embd.weight"):
		return ollamaOutput(t, typ)
	case has("attn_v.weight"):
		return s.ollamaAttnV(typ)
	case has("attn_k.weight"):
		// getTensorNewType: "for the 8-expert model, bumping this to
		// Q8_0 trades just ~128MB".
		if s.mi.Experts == 8 {
			return format.Q8_0
		}
	case ollamaIsMLA(t.Name):
		return format.Q8_0
	case has("ffn_down"):
		return s.ollamaFFNDown(t.Name, typ)
	case has("attn_output.weight"):
		// getTensorNewType: 8 experts, Q4_K_S and Q4_K_M -> Q5_K.
		if typ != format.Q8_0 && s.mi.Experts == 8 {
			return format.Q5_K
		}
	case has("attn_qkv.weight"):
		// getTensorNewType: fused QKV at Q5_K in Q4_K_M.
		if typ != format.Q8_0 && s.p.Preset.Name == "q4_k_m" {
			return format.Q5_K
		}
	}
	return typ
}

// ollamaOutput is getTensorNewType's rule for output.weight (and for
// token_embd.weight when there is no output.weight): Q8_0 when the rows
// do not fill Q4_K's blocks, else Q6_K unless the preset is Q8_0.
func ollamaOutput(t format.TensorInfo, typ format.DType) format.DType {
	if t.Shape[0]%int64(typ.BlockSize()) != 0 {
		return format.Q8_0
	}
	if typ != format.Q8_0 {
		return format.Q6_K
	}
	return typ
}

// ollamaIsMLA reports whether name is one of the latent-attention
// tensors Ollama keeps at Q8_0.
func ollamaIsMLA(name string) bool {
	for _, s := range ollamaMLA {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// ollamaAttnV is getTensorNewType's attn_v rule: Q6_K on the
// use_more_bits layers in Q4_K_M, Q5_K on the first four in Q4_K_S, Q8_0
// with 8 experts. The layer is a running count of attn_v tensors in file
// order, over a total that also counts attn_qkv and attn_kv_b (as in
// llama.cpp); there is no 70B rule (a TODO in Ollama).
func (s *mixState) ollamaAttnV(typ format.DType) format.DType {
	i := s.iAttnV
	s.iAttnV++
	switch {
	case typ != format.Q8_0 && s.p.Preset.Name == "q4_k_m" && useMoreBits(i, s.nAttnV):
		typ = format.Q6_K
	case typ != format.Q8_0 && s.p.Preset.Name == "q4_k_s" && i < 4:
		typ = format.Q5_K
	}
	if s.mi.Experts == 8 {
		typ = format.Q8_0
	}
	return typ
}

// ollamaFFNDown is getTensorNewType's ffn_down rule: Q6_K on the
// use_more_bits layers in Q4_K_M, Q5_K on the first eighth in Q4_K_S. The
// layer is a running count of the ffn_down tensors without "_exps" in
// their name (dense ffn_down and shared-expert ffn_down_shexp); a stacked
// expert tensor uses that count less one (Ollama assumes the dense
// ffn_down of the same layer came just before it). So in a model whose
// layers have ffn_down_exps only (Mixtral) every expert ffn_down counts as
// layer 0, and in deepseek2 files, where ffn_down_exps precedes
// ffn_down_shexp, the experts of layer L use layer L-1's count.
func (s *mixState) ollamaFFNDown(name string, typ format.DType) format.DType {
	var i int
	if strings.Contains(name, "_exps") {
		i = max(0, s.iFFNDown-1)
	} else {
		i = s.iFFNDown
		s.iFFNDown++
	}
	n := s.nLayers
	switch {
	case typ != format.Q8_0 && s.p.Preset.Name == "q4_k_m" && useMoreBits(i, n):
		return format.Q6_K
	case typ != format.Q8_0 && s.p.Preset.Name == "q4_k_s" && i < n/8:
		return format.Q5_K
	}
	return typ
}
