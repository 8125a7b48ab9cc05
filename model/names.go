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
