package model

import (
	"strconv"
	"strings"
)

// nameRule maps one tensor name between Hugging Face and GGUF. Per-layer
// names carry the layer number after the prefixes "model.layers.N." and
// "blk.N.".
type nameRule struct {
	hf, gguf string
	perLayer bool
}

// names is the table of convert_hf_to_gguf.py's llama mapping
// (gguf-py tensor_mapping.py), plus biases.
var names = []nameRule{
	{"model.embed_tokens.weight", "token_embd.weight", false},
	{"model.norm.weight", "output_norm.weight", false},
	{"lm_head.weight", "output.weight", false},
	{"input_layernorm.weight", "attn_norm.weight", true},
	{"self_attn.q_proj.weight", "attn_q.weight", true},
	{"self_attn.k_proj.weight", "attn_k.weight", true},
	{"self_attn.v_proj.weight", "attn_v.weight", true},
	{"self_attn.o_proj.weight", "attn_output.weight", true},
	{"self_attn.q_proj.bias", "attn_q.bias", true},
	{"self_attn.k_proj.bias", "attn_k.bias", true},
	{"self_attn.v_proj.bias", "attn_v.bias", true},
	{"self_attn.o_proj.bias", "attn_output.bias", true},
	{"post_attention_layernorm.weight", "ffn_norm.weight", true},
	{"mlp.gate_proj.weight", "ffn_gate.weight", true},
	{"mlp.up_proj.weight", "ffn_up.weight", true},
	{"mlp.down_proj.weight", "ffn_down.weight", true},
	{"mlp.gate_proj.bias", "ffn_gate.bias", true},
	{"mlp.up_proj.bias", "ffn_up.bias", true},
	{"mlp.down_proj.bias", "ffn_down.bias", true},
	// Qwen3 per-head q/k norms.
	{"self_attn.q_norm.weight", "attn_q_norm.weight", true},
	{"self_attn.k_norm.weight", "attn_k_norm.weight", true},
	// Mixture of experts: routers, shared experts, selection bias.
	{"mlp.gate.weight", "ffn_gate_inp.weight", true},
	{"block_sparse_moe.gate.weight", "ffn_gate_inp.weight", true},
	{"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight", true},
	{"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight", true},
	{"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight", true},
	{"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight", true},
	{"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight", true},
	{"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight", true},
	{"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight", true},
	{"mlp.gate.e_score_correction_bias", "exp_probs_b.bias", true},
	// DeepSeek multi-head latent attention (the lite form's q_proj is attn_q).
	{"self_attn.q_a_proj.weight", "attn_q_a.weight", true},
	{"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", true},
	{"self_attn.q_b_proj.weight", "attn_q_b.weight", true},
	{"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", true},
	{"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", true},
	{"self_attn.kv_b_proj.weight", "attn_kv_b.weight", true},
}

// expertProj maps the projection of one routed expert, as Hugging Face
// names it (Mixtral's w1/w3/w2, the others' gate/up/down_proj), to the
// stacked GGUF tensor of all the layer's experts.
var expertProj = map[string]string{
	"w1": "ffn_gate_exps.weight", "w3": "ffn_up_exps.weight", "w2": "ffn_down_exps.weight",
	"gate_proj": "ffn_gate_exps.weight", "up_proj": "ffn_up_exps.weight", "down_proj": "ffn_down_exps.weight",
}

// ExpertGGUFName returns the stacked GGUF tensor that holds the Hugging
// Face routed-expert weight hf, and the expert's index in it:
// "model.layers.3.block_sparse_moe.experts.5.w1.weight" and
// "model.layers.3.mlp.experts.5.gate_proj.weight" give
// ("blk.3.ffn_gate_exps.weight", 5). ok is false for other names.
func ExpertGGUFName(hf string) (gguf string, expert int, ok bool) {
	n, rest, ok := splitLayer(hf, "model.layers.")
	if !ok {
		return "", 0, false
	}
	if r, ok2 := strings.CutPrefix(rest, "block_sparse_moe.experts."); ok2 {
		rest = r
	} else if r, ok2 := strings.CutPrefix(rest, "mlp.experts."); ok2 {
		rest = r
	} else {
		return "", 0, false
	}
	e, proj, ok := splitLayer(rest, "")
	if !ok {
		return "", 0, false
	}
	proj, ok = strings.CutSuffix(proj, ".weight")
	g, known := expertProj[proj]
	if !ok || !known {
		return "", 0, false
	}
	return "blk." + strconv.Itoa(n) + "." + g, e, true
}

var hfToGGUF, ggufToHF = func() (map[string]nameRule, map[string]nameRule) {
	a, b := make(map[string]nameRule), make(map[string]nameRule)
	for _, r := range names {
		a[r.hf], b[r.gguf] = r, r
	}
	return a, b
}()

// splitLayer splits "prefixN.rest" into N and rest.
func splitLayer(name, prefix string) (layer int, rest string, ok bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(s, ".")
	if !ok || num == "" || len(num) > 6 || (len(num) > 1 && num[0] == '0') {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, "", false
	}
	return n, rest, true
}

// GGUFName returns the GGUF tensor name of a Hugging Face llama-family
// tensor name ("model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight"),
// and false for a name outside the table.
func GGUFName(hf string) (string, bool) {
	if r, ok := hfToGGUF[hf]; ok && !r.perLayer {
		return r.gguf, true
	}
	n, rest, ok := splitLayer(hf, "model.layers.")
	if !ok {
		return "", false
	}
	r, ok := hfToGGUF[rest]
	if !ok || !r.perLayer {
		return "", false
	}
	return "blk." + strconv.Itoa(n) + "." + r.gguf, true
}

// HFName returns the Hugging Face name of a GGUF tensor name, the inverse
// of GGUFName, and false for a name outside the table.
func HFName(gguf string) (string, bool) {
	if r, ok := ggufToHF[gguf]; ok && !r.perLayer {
		return r.hf, true
	}
	n, rest, ok := splitLayer(gguf, "blk.")
	if !ok {
		return "", false
	}
	r, ok := ggufToHF[rest]
	if !ok || !r.perLayer {
		return "", false
	}
	return "model.layers." + strconv.Itoa(n) + "." + r.hf, true
}

// LayerOf returns the block number of a GGUF ("blk.N.") or Hugging Face
// ("model.layers.N.") tensor name, and false for a global tensor.
func LayerOf(name string) (int, bool) {
	if n, _, ok := splitLayer(name, "blk."); ok {
		return n, true
	}
	n, _, ok := splitLayer(name, "model.layers.")
	return n, ok
}
