package quantize

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// ErrPolicy is wrapped by the errors of the type policy (bad override,
// type shrink cannot write).
var ErrPolicy = errors.New("quantize: type policy")

// Override forces the type of the tensors whose name matches Pattern, as
// llama-quantize's --tensor-type does (a regular expression searched in the
// name, so a plain substring such as "ffn_down" works too).
type Override struct {
	Pattern *regexp.Regexp
	Type    format.DType
	Spec    string // the text it was parsed from, e.g. "ffn_down=q6_k"
}

// ParseOverride parses "PATTERN=TYPE" (e.g. "ffn_down=q6_k",
// `blk\.[0-3]\.attn_v=q8_0`). The type must be one shrink can write.
func ParseOverride(s string) (Override, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return Override{}, fmt.Errorf("%w: tensor type %q: want PATTERN=TYPE", ErrPolicy, s)
	}
	re, err := regexp.Compile(strings.ToLower(s[:i]))
	if err != nil {
		return Override{}, fmt.Errorf("%w: tensor type %q: %v", ErrPolicy, s, err)
	}
	t, err := ParseWritableType(s[i+1:])
	if err != nil {
		return Override{}, err
	}
	return Override{Pattern: re, Type: t, Spec: s}, nil
}

// ParseWritableType returns the type named s if shrink can encode it.
func ParseWritableType(s string) (format.DType, error) {
	t, ok := format.ParseDType(s)
	if !ok {
		return 0, fmt.Errorf("%w: unknown type %q", ErrPolicy, s)
	}
	if _, ok := CodecFor(t); !ok || t == format.Q8_K {
		return 0, fmt.Errorf("%w: shrink cannot write type %s", ErrPolicy, t)
	}
	return t, nil
}

// Policy decides each tensor's output type, following llama-quantize
// (src/llama-quant.cpp: which tensors are quantized in
// llama_model_quantize_impl, the mix rules of llama_tensor_get_type, the
// fallback for rows that do not fill whole blocks), with one difference:
// where llama.cpp aborts ("Unsupported tensor size encountered", e.g.
// Q8_0 or Q4_0 on a row of 172) or falls back to F16, shrink falls back to
// Policy.LastResort (BF16 unless set) and says so. Not F16: llama.cpp
// multiplies F16 weights with activations rounded to F16, which overflow in
// some models (stories260K quantized to Q8_0 with an F16 ffn_down gives NaN
// perplexity in llama.cpp; with BF16 it matches F32 within 0.2%).
type Policy struct {
	Preset Preset
	// Pure disables the mix rules: every quantized tensor gets the
	// preset's default type (overrides still apply).
	Pure bool
	// Overrides force types by name pattern; the last match wins.
	Overrides []Override
	// OutputType and TokenEmbeddingType, when Set, force the type of
	// output.weight and token_embd.weight.
	OutputType, TokenEmbeddingType OptionalType
	// LastResort, when Set, is the type used when no block type fits a
	// tensor's rows (default BF16).
	LastResort OptionalType
	// HasImatrix tells the rules that an importance matrix is used (it
	// changes ffn_down for Q4_0/Q5_0, IQ4_NL and IQ4_XS, as in llama.cpp).
	HasImatrix bool
	// Rules is whose per-tensor rules apply: llama.cpp's (the zero
	// value) or Ollama's (see RulesOllama).
	Rules RuleSet
}

// OptionalType is a type that may be unset.
type OptionalType struct {
	Type format.DType
	Set  bool
}

// ModelInfo is what the mix rules need to know about the model.
type ModelInfo struct {
	Layers  int // transformer blocks (n_layer)
	Heads   int // attention heads of layer 0
	KVHeads int // key/value heads of layer 0
	Experts int // routed experts per MoE layer (n_expert), 0 for dense models
}

// InfoOf returns the ModelInfo of configuration c.
func InfoOf(c *model.Config) ModelInfo {
	mi := ModelInfo{Layers: c.Layers, Experts: c.Experts}
	if len(c.Heads) > 0 && len(c.KVHeads) > 0 {
		mi.Heads, mi.KVHeads = c.Heads[0], c.KVHeads[0]
	}
	return mi
}

// Choice is the policy's decision for one tensor.
type Choice struct {
	Name  string
	Shape []int64
	Src   format.DType // type in the source
	Type  format.DType // type to write
	// Quantize is false for tensors llama.cpp never quantizes (1-D
	// tensors, norms): they are written as F32 (or copied when not float).
	Quantize bool
	// Wanted is the type the rules chose before the fallback; Fallback is
	// true when Type differs from it because the rows do not fill whole
	// blocks of Wanted.
	Wanted   format.DType
	Fallback bool
	// Reason says what set the type ("default", "mix", "override ...",
	// "output-tensor-type", ...).
	Reason string
}

// useMoreBits is llama.cpp's choice of the layers that get more bits.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// nDims is ggml_n_dims: the number of dimensions without trailing ones.
func nDims(shape []int64) int {
	n := len(shape)
	for n > 1 && shape[n-1] == 1 {
		n--
	}
	return n
}

// quantizable reports whether llama-quantize would quantize the tensor
// (llama_model_quantize_impl).
func quantizable(name string, shape []int64) bool {
	if !strings.HasSuffix(name, "weight") || nDims(shape) < 2 {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight",
		"time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
		"time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return name != "position_embd.weight" && name != "token_types.weight"
}

func isFloat(t format.DType) bool {
	return t == format.F32 || t == format.F16 || t == format.BF16 || t == format.F64
}

// Choose returns the decision for every tensor, in the given order (the
// order matters only for tensors without a layer number in their name,
// and, under Ollama's rules, for attn_v and ffn_down, which Ollama
// counts in file order).
func (p *Policy) Choose(tensors []format.TensorInfo, mi ModelInfo) ([]Choice, error) {
	p, err := p.withRules()
	if err != nil {
		return nil, err
	}
	hasOutput := false
	nAttnV := 0
	nFFNDown := 0
	for _, t := range tensors {
		switch {
		case t.Name == "output.weight":
			hasOutput = true
		case strings.Contains(t.Name, "attn_v.weight") || strings.Contains(t.Name, "attn_qkv.weight") || strings.Contains(t.Name, "attn_kv_b.weight"):
			nAttnV++
		case strings.Contains(t.Name, "ffn_down"):
			nFFNDown++
		}
	}
	nLayers := mi.Layers
	if nLayers <= 0 {
		nLayers = nFFNDown
	}
	if p.Rules == RulesOllama {
		nLayers = ollamaLayers(tensors)
	}
	st := &mixState{p: p, mi: mi, hasOutput: hasOutput, nAttnV: nAttnV, nLayers: nLayers}
	out := make([]Choice, 0, len(tensors))
	for _, t := range tensors {
		c := Choice{Name: t.Name, Shape: t.Shape, Src: t.Type, Quantize: p.Rules.quantizable(t.Name, t.Shape)}
		if !c.Quantize {
			c.Type, c.Reason = t.Type, "copy"
			if isFloat(t.Type) {
				c.Type, c.Reason = format.F32, "not quantized"
			}
			c.Wanted = c.Type
			out = append(out, c)
			continue
		}
		typ, reason := p.Preset.Default, "default"
		if p.Preset.Mix && !p.Pure && p.Preset.Default.Quantized() {
			if nt := st.rule(t, typ); nt != typ {
				typ, reason = nt, "mix rule"
			}
		}
		if p.TokenEmbeddingType.Set && t.Name == "token_embd.weight" {
			typ, reason = p.TokenEmbeddingType.Type, "token-embedding-type"
		}
		if p.OutputType.Set && t.Name == "output.weight" {
			typ, reason = p.OutputType.Type, "output-tensor-type"
		}
		for _, o := range p.Overrides {
			if o.Pattern.MatchString(t.Name) {
				typ, reason = o.Type, "tensor-type "+o.Spec
			}
		}
		if _, ok := CodecFor(typ); !ok {
			return nil, fmt.Errorf("%w: tensor %s: shrink cannot write type %s", ErrPolicy, t.Name, typ)
		}
		c.Wanted = typ
		last := format.BF16
		if p.LastResort.Set {
			last = p.LastResort.Type
		}
		c.Type, c.Fallback = Fallback(typ, t.Shape[0], last)
		if err := p.checkImatrix(t.Name, c.Type); err != nil {
			return nil, err
		}
		c.Reason = reason
		out = append(out, c)
	}
	return out, nil
}

// Fallback returns the type used for rows of ne0 elements when t was
// chosen: t itself when ne0 fills whole blocks, else llama.cpp's fallback
// (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K/IQ*->IQ4_NL, TQ*->Q4_0),
// and last (a float type) when that does not fit either or when t has
// 32-element blocks (where llama.cpp gives up).
func Fallback(t format.DType, ne0 int64, last format.DType) (format.DType, bool) {
	bs := int64(t.BlockSize())
	if bs > 0 && ne0%bs == 0 {
		return t, false
	}
	var nt format.DType
	switch t {
	case format.Q2_K, format.Q3_K, format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ3_XXS,
		format.IQ3_S, format.IQ1_S, format.IQ1_M, format.IQ4_XS:
		nt = format.IQ4_NL
	case format.TQ1_0, format.TQ2_0:
		nt = format.Q4_0
	case format.Q4_K:
		nt = format.Q5_0
	case format.Q5_K:
		nt = format.Q5_1
	case format.Q6_K, format.Q8_K:
		nt = format.Q8_0
	default:
		nt = last
	}
	if ne0%int64(nt.BlockSize()) != 0 {
		nt = last
	}
	return nt, true
}

// mixState carries the counters of llama_tensor_get_type.
type mixState struct {
	p         *Policy
	mi        ModelInfo
	hasOutput bool
	nAttnV    int
	nLayers   int
	iAttnV    int
	iFFNDown  int
}

func (s *mixState) gqa() int {
	if s.mi.KVHeads <= 0 {
		return 1
	}
	return s.mi.Heads / s.mi.KVHeads
}

// mix applies llama_tensor_get_type's rules (not Falcon's) to a tensor
// whose default type is typ. Models of exactly 8 experts (Mixtral's
// count) get llama.cpp's extra rules: attn_k and attn_v at Q8_0, and
// attn_output at Q5_K in the low-bit K presets. The layer of an expert
// tensor is read from its name, as llama.cpp does for MoE models.
func (s *mixState) mix(t format.TensorInfo, typ format.DType) format.DType {
	if nt, ok := s.iqMix(t, typ); ok {
		return nt
	}
	name := s.p.Preset.Name
	switch {
	case t.Name == "output.weight" || (!s.hasOutput && t.Name == "token_embd.weight"):
		if t.Shape[0]%int64(typ.BlockSize()) != 0 {
			return format.Q8_0
		}
		if typ != format.Q8_0 {
			return format.Q6_K
		}
		return typ
	case t.Name == "token_embd.weight":
		return typ
	case strings.Contains(t.Name, "attn_v.weight"):
		i := s.iAttnV
		if l, ok := model.LayerOf(t.Name); ok {
			i = l
		}
		s.iAttnV++
		n := s.nAttnV
		switch {
		case name == "q2_k":
			typ = format.Q3_K
			if s.gqa() >= 4 {
				typ = format.Q4_K
			}
		case name == "q3_k_m":
			typ = format.Q4_K
			if i < 2 {
				typ = format.Q5_K
			}
		case name == "q3_k_l":
			typ = format.Q5_K
		case (name == "iq4_nl" || name == "iq4_xs") && s.gqa() >= 4:
			typ = format.Q5_K
		case (name == "q4_k_m" || name == "q5_k_m") && useMoreBits(i, n):
			typ = format.Q6_K
		case name == "q4_k_s" && i < 4:
			typ = format.Q5_K
		}
		// llama.cpp's LLM_TYPE_70B: 80 layers with grouped-query attention.
		if s.mi.Layers == 80 && s.mi.Heads != s.mi.KVHeads && (typ == format.Q3_K || typ == format.Q4_K) {
			typ = format.Q5_K
		}
		if s.mi.Experts == 8 {
			typ = format.Q8_0
		}
		return typ
	case strings.Contains(t.Name, "attn_k.weight"):
		if s.mi.Experts == 8 {
			return format.Q8_0
		}
		return typ
	case strings.Contains(t.Name, "ffn_down"):
		i := s.iFFNDown
		if l, ok := model.LayerOf(t.Name); ok {
			i = l
		}
		s.iFFNDown++
		n := s.nLayers
		switch {
		case name == "q2_k":
			typ = format.Q3_K
		case name == "q3_k_m":
			typ = format.Q4_K
			if i < n/16 {
				typ = format.Q5_K
			}
		case name == "q3_k_l":
			typ = format.Q5_K
		case name == "q4_k_m":
			if useMoreBits(i, n) {
				typ = format.Q6_K
			}
		case i < n/8 && (name == "iq4_nl" || name == "iq4_xs") && !s.p.HasImatrix:
			typ = format.Q5_K
		case name == "q5_k_m" && useMoreBits(i, n):
			typ = format.Q6_K
		case name == "q4_k_s" && i < n/8:
			typ = format.Q5_K
		case (name == "q4_0" || name == "q5_0") && s.p.HasImatrix && i < n/8:
			typ = format.Q4_1
			if name == "q5_0" {
				typ = format.Q5_1
			}
		}
		return typ
	case strings.Contains(t.Name, "attn_output.weight") && s.mi.Experts == 8:
		switch name {
		case "q2_k", "q3_k_s", "q3_k_m", "iq4_nl", "iq4_xs", "q4_k_s", "q4_k_m":
			return format.Q5_K
		}
	case strings.Contains(t.Name, "attn_output.weight"):
		switch name {
		case "q2_k":
			return format.Q3_K
		case "q3_k_m":
			return format.Q4_K
		case "q3_k_l":
			return format.Q5_K
		}
	case strings.Contains(t.Name, "attn_qkv.weight"):
		switch name {
		case "q3_k_m", "q3_k_l":
			return format.Q4_K
		case "q4_k_m":
			return format.Q5_K
		case "q5_k_m":
			return format.Q6_K
		}
	}
	return typ
}
