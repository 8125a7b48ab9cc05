package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors of package model; the errors it returns wrap one of them
// (or format.ErrFormat for malformed files) so callers can test with errors.Is.
var (
	// ErrConfig reports a configuration that is missing a required value
	// or whose values are inconsistent.
	ErrConfig = errors.New("model: invalid config")
	// ErrUnsupported reports an architecture, tokenizer model or feature
	// that shrink does not handle.
	ErrUnsupported = errors.New("model: unsupported")
	// ErrVocab reports tokenizer data that is missing a required value or
	// whose values are inconsistent.
	ErrVocab = errors.New("model: invalid vocabulary")
)

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// hfArch describes one Hugging Face architecture shrink reads.
type hfArch struct {
	arch       string // GGUF architecture
	modelType  string // config.json model_type
	maxPos     int    // transformers' default max_position_embeddings
	qkvBias    bool   // always has q/k/v biases
	neox       bool   // GGUF form keeps rotate-half RoPE
	allowsBias bool   // honours attention_bias / mlp_bias
	qkNorm     bool   // per-head q/k RMS norms (Qwen3)
	moe        int    // 0 dense, else the moeKind of its config keys
}

// Expert configuration dialects of config.json.
const (
	moeMixtral  = 1 + iota // num_local_experts, num_experts_per_tok
	moeQwen                // num_experts, moe_intermediate_size, shared_expert_intermediate_size
	moeDeepseek            // n_routed_experts, n_shared_experts, first_k_dense_replace, ...
)

var hfArchs = map[string]hfArch{
	"LlamaForCausalLM":   {arch: "llama", modelType: "llama", maxPos: 2048, allowsBias: true},
	"MistralForCausalLM": {arch: "llama", modelType: "mistral", maxPos: 4096 * 32},
	"Qwen2ForCausalLM":   {arch: "qwen2", modelType: "qwen2", maxPos: 32768, qkvBias: true, neox: true},
	"MixtralForCausalLM": {arch: "llama", modelType: "mixtral", maxPos: 4096 * 32, moe: moeMixtral},
	"Qwen2MoeForCausalLM": {arch: "qwen2moe", modelType: "qwen2_moe", maxPos: 8192, qkvBias: true, neox: true,
		moe: moeQwen},
	"Qwen3MoeForCausalLM": {arch: "qwen3moe", modelType: "qwen3_moe", maxPos: 32768, neox: true, qkNorm: true,
		moe: moeQwen},
	"DeepseekV2ForCausalLM": {arch: "deepseek2", modelType: "deepseek_v2", maxPos: 2048, moe: moeDeepseek},
	"DeepseekV3ForCausalLM": {arch: "deepseek2", modelType: "deepseek_v3", maxPos: 4096, moe: moeDeepseek},
}

// hfMoE holds the mixture-of-experts keys of the config.json dialects.
type hfMoE struct {
	LocalExperts  *int     `json:"num_local_experts"`   // Mixtral
	Experts       *int     `json:"num_experts"`         // Qwen MoE
	RoutedExperts *int     `json:"n_routed_experts"`    // DeepSeek
	PerTok        *int     `json:"num_experts_per_tok"` // all
	MoEFFN        *int     `json:"moe_intermediate_size"`
	SharedFFN     *int     `json:"shared_expert_intermediate_size"`
	SharedExperts *int     `json:"n_shared_experts"`
	DenseLead     *int     `json:"first_k_dense_replace"`
	NormTopK      *bool    `json:"norm_topk_prob"`
	Scale         *float64 `json:"routed_scaling_factor"`
	Scoring       string   `json:"scoring_func"`
	TopKMethod    string   `json:"topk_method"`
	Groups        *int     `json:"n_group"`
	GroupsUsed    *int     `json:"topk_group"`
	SparseStep    *int     `json:"decoder_sparse_step"`
	MLPOnly       []int    `json:"mlp_only_layers"`
	MoELayerFreq  *int     `json:"moe_layer_freq"`
	QLoraRank     *int     `json:"q_lora_rank"`
	KVLoraRank    *int     `json:"kv_lora_rank"`
	QKNope        *int     `json:"qk_nope_head_dim"`
	QKRope        *int     `json:"qk_rope_head_dim"`
	VHead         *int     `json:"v_head_dim"`
}

// hfConfig is the subset of a transformers config.json that shrink reads.
// Pointers tell absent keys from zero values.
type hfConfig struct {
	Architectures []string        `json:"architectures"`
	ModelType     string          `json:"model_type"`
	Hidden        *int            `json:"hidden_size"`
	Intermediate  *int            `json:"intermediate_size"`
	Layers        *int            `json:"num_hidden_layers"`
	Heads         *int            `json:"num_attention_heads"`
	KVHeads       *int            `json:"num_key_value_heads"`
	HeadDim       *int            `json:"head_dim"`
	NormEps       *float64        `json:"rms_norm_eps"`
	RopeTheta     *float64        `json:"rope_theta"`
	RopeScaling   json.RawMessage `json:"rope_scaling"`
	MaxPos        *int            `json:"max_position_embeddings"`
	VocabSize     *int            `json:"vocab_size"`
	Tie           *bool           `json:"tie_word_embeddings"`
	AttnBias      *bool           `json:"attention_bias"`
	MLPBias       *bool           `json:"mlp_bias"`
	TorchDType    string          `json:"torch_dtype"`
	DType         string          `json:"dtype"`
	HiddenAct     string          `json:"hidden_act"`
	hfMoE
}

type hfRopeScaling struct {
	RopeType       string   `json:"rope_type"`
	Type           string   `json:"type"`
	Factor         *float64 `json:"factor"`
	LowFreqFactor  *float64 `json:"low_freq_factor"`
	HighFreqFactor *float64 `json:"high_freq_factor"`
	OriginalMaxPos *int     `json:"original_max_position_embeddings"`
}

// maxDim bounds every size read from a configuration so that products of
// sizes (parameter counts, tensor sizes) cannot overflow int64.
const (
	maxDim     = 1 << 20 // hidden, FFN, head_dim
	maxHeads   = 1 << 16
	maxLayers  = 1 << 16
	maxVocab   = 1 << 24
	maxCtx     = 1 << 30
	maxExperts = 1 << 12
)

// ConfigFromHF parses a Hugging Face config.json of a LlamaForCausalLM,
// MistralForCausalLM (both GGUF architecture "llama") or Qwen2ForCausalLM
// (GGUF "qwen2", q/k/v biases, NeoX RoPE). Absent optional keys take
// transformers' defaults: num_key_value_heads = num_attention_heads,
// head_dim = hidden_size/num_attention_heads, rope_theta 10000,
// rms_norm_eps 1e-6, max_position_embeddings per architecture. Other
// architectures are refused with an error wrapping ErrUnsupported.
func ConfigFromHF(configJSON []byte) (*Config, error) {
	var h hfConfig
	if err := json.Unmarshal(configJSON, &h); err != nil {
		return nil, fmt.Errorf("%w: config.json: %v", ErrConfig, err)
	}
	if len(h.Architectures) == 0 {
		return nil, configErr("config.json: no architectures")
	}
	name := h.Architectures[0]
	a, ok := hfArchs[name]
	if !ok {
		return nil, fmt.Errorf("%w: architecture %q (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "+
			"MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, DeepseekV2ForCausalLM, DeepseekV3ForCausalLM)", ErrUnsupported, name)
	}
	need := func(p *int, key string, max int) (int, error) {
		if p == nil {
			return 0, configErr("config.json: missing %s", key)
		}
		if *p <= 0 || *p > max {
			return 0, configErr("config.json: %s = %d out of range", key, *p)
		}
		return *p, nil
	}
	c := &Config{Arch: a.arch, HFArch: name, RopeNeox: a.neox, QKVBias: a.qkvBias, QKNorm: a.qkNorm}
	var err error
	if c.Dim, err = need(h.Hidden, "hidden_size", maxDim); err != nil {
		return nil, err
	}
	ffn, err := need(h.Intermediate, "intermediate_size", maxDim)
	if err != nil {
		return nil, err
	}
	if c.Layers, err = need(h.Layers, "num_hidden_layers", maxLayers); err != nil {
		return nil, err
	}
	heads, err := need(h.Heads, "num_attention_heads", maxHeads)
	if err != nil {
		return nil, err
	}
	kv := heads
	if h.KVHeads != nil {
		if kv, err = need(h.KVHeads, "num_key_value_heads", maxHeads); err != nil {
			return nil, err
		}
	}
	if c.VocabSize, err = need(h.VocabSize, "vocab_size", maxVocab); err != nil {
		return nil, err
	}
	if h.HeadDim != nil {
		if c.HeadDim, err = need(h.HeadDim, "head_dim", maxDim); err != nil {
			return nil, err
		}
	} else {
		if c.Dim%heads != 0 {
			return nil, configErr("config.json: hidden_size %d not divisible by num_attention_heads %d and no head_dim", c.Dim, heads)
		}
		c.HeadDim = c.Dim / heads
	}
	c.RopeDim = c.HeadDim
	c.Context = a.maxPos
	if h.MaxPos != nil {
		if c.Context, err = need(h.MaxPos, "max_position_embeddings", maxCtx); err != nil {
			return nil, err
		}
	}
	c.NormEps = 1e-6
	if h.NormEps != nil {
		c.NormEps = float32(*h.NormEps)
	}
	c.RopeBase = 10000
	if h.RopeTheta != nil {
		c.RopeBase = float32(*h.RopeTheta)
	}
	if h.Tie != nil { // transformers' default is false for every arch here
		c.TiedEmbeddings = *h.Tie
	}
	if a.allowsBias {
		if h.AttnBias != nil && *h.AttnBias {
			c.QKVBias, c.OutBias = true, true
		}
		if h.MLPBias != nil && *h.MLPBias {
			c.FFNBias = true
		}
	}
	c.TorchDType = h.TorchDType
	if c.TorchDType == "" {
		c.TorchDType = h.DType
	}
	if rs := bytes.TrimSpace(h.RopeScaling); len(rs) > 0 && !bytes.Equal(rs, []byte("null")) {
		var r hfRopeScaling
		if err := json.Unmarshal(rs, &r); err != nil {
			return nil, configErr("config.json: rope_scaling: %v", err)
		}
		s := &RopeScaling{Type: r.RopeType}
		if s.Type == "" {
			s.Type = r.Type
		}
		if s.Type == "" {
			return nil, configErr("config.json: rope_scaling without rope_type")
		}
		if s.Type != "default" {
			if r.Factor != nil {
				s.Factor = float32(*r.Factor)
			}
			if r.LowFreqFactor != nil {
				s.LowFreqFactor = float32(*r.LowFreqFactor)
			}
			if r.HighFreqFactor != nil {
				s.HighFreqFactor = float32(*r.HighFreqFactor)
			}
			if r.OriginalMaxPos != nil {
				if s.OriginalContext, err = need(r.OriginalMaxPos, "rope_scaling.original_max_position_embeddings", maxCtx); err != nil {
					return nil, err
				}
			}
			c.RopeScaling = s
		}
	}
	c.Heads = repeat(heads, c.Layers)
	c.KVHeads = repeat(kv, c.Layers)
	c.FFN = repeat(ffn, c.Layers)
	if err := h.hfMoE.apply(c, a.moe, need); err != nil {
		return nil, err
	}
	if c.MLA != nil {
		c.MLA.YarnLogMul = yarnLogMulHF(h.RopeScaling)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// apply sets c's expert fields (and DeepSeek's attention sizes) from the
// config.json keys of dialect kind; need checks a required positive key.
func (h *hfMoE) apply(c *Config, kind int, need func(*int, string, int) (int, error)) error {
	if kind == 0 {
		return nil
	}
	e := &c.MoE
	e.Gating = GatingSoftmax
	var err error
	if e.ExpertsUsed, err = need(h.PerTok, "num_experts_per_tok", maxExperts); err != nil {
		return err
	}
	switch kind {
	case moeMixtral: // llama.cpp: llama architecture, expert width = FFN, always renormalised
		if e.Experts, err = need(h.LocalExperts, "num_local_experts", maxExperts); err != nil {
			return err
		}
		e.ExpertFFN, e.Norm = c.FFN[0], true
		return nil
	case moeQwen:
		return h.applyQwen(c)
	}
	return h.applyDeepseek(c, need)
}

// applyQwen reads Qwen2-MoE / Qwen3-MoE keys: every layer sparse, an
// optional shared expert behind a sigmoid gate (Qwen2-MoE).
func (h *hfMoE) applyQwen(c *Config) error {
	e := &c.MoE
	if h.Experts == nil || *h.Experts <= 0 || *h.Experts > maxExperts {
		return configErr("config.json: missing or bad num_experts")
	}
	e.Experts = *h.Experts
	if (h.SparseStep != nil && *h.SparseStep != 1) || len(h.MLPOnly) > 0 {
		return fmt.Errorf("%w: dense layers between sparse ones (decoder_sparse_step, mlp_only_layers)", ErrUnsupported)
	}
	e.ExpertFFN = c.FFN[0]
	if h.MoEFFN != nil {
		e.ExpertFFN = *h.MoEFFN
	}
	if h.SharedFFN != nil && *h.SharedFFN > 0 {
		e.SharedFFN, e.SharedExperts, e.SharedGate = *h.SharedFFN, 1, true
	}
	e.Norm = c.Arch == "qwen3moe"
	if h.NormTopK != nil {
		e.Norm = *h.NormTopK
	}
	return nil
}

// applyDeepseek reads DeepSeek-V2/V3 keys: leading dense blocks, shared
// experts, scoring function, routed scaling, top-k normalisation,
// group-limited routing, and the latent attention sizes.
func (h *hfMoE) applyDeepseek(c *Config, need func(*int, string, int) (int, error)) error {
	e := &c.MoE
	var err error
	if e.Experts, err = need(h.RoutedExperts, "n_routed_experts", maxExperts); err != nil {
		return err
	}
	if e.ExpertFFN, err = need(h.MoEFFN, "moe_intermediate_size", maxDim); err != nil {
		return err
	}
	if h.SharedExperts != nil && *h.SharedExperts > 0 {
		e.SharedExperts = *h.SharedExperts
		e.SharedFFN = e.SharedExperts * e.ExpertFFN
	}
	if h.DenseLead != nil {
		e.DenseLead = *h.DenseLead
	}
	if h.MoELayerFreq != nil && *h.MoELayerFreq != 1 {
		return fmt.Errorf("%w: moe_layer_freq %d (only every layer after the dense ones)", ErrUnsupported, *h.MoELayerFreq)
	}
	if h.NormTopK != nil {
		e.Norm = *h.NormTopK
	}
	e.Scale = 1
	if h.Scale != nil {
		e.Scale = float32(*h.Scale)
	}
	switch h.Scoring {
	case "", "softmax":
	case "sigmoid":
		e.Gating = GatingSigmoid
	default:
		return fmt.Errorf("%w: scoring_func %q", ErrUnsupported, h.Scoring)
	}
	e.ProbsBias = h.TopKMethod == "noaux_tc"
	if h.TopKMethod == "group_limited_greedy" || h.TopKMethod == "noaux_tc" {
		if h.Groups != nil && h.GroupsUsed != nil {
			e.Groups, e.GroupsUsed = *h.Groups, *h.GroupsUsed
		}
	}
	a := &MLA{}
	if h.QLoraRank != nil {
		a.QLoraRank = *h.QLoraRank
	}
	if a.KVLoraRank, err = need(h.KVLoraRank, "kv_lora_rank", maxDim); err != nil {
		return err
	}
	nope, err := need(h.QKNope, "qk_nope_head_dim", maxDim)
	if err != nil {
		return err
	}
	if c.RopeDim, err = need(h.QKRope, "qk_rope_head_dim", maxDim); err != nil {
		return err
	}
	if a.ValueLen, err = need(h.VHead, "v_head_dim", maxDim); err != nil {
		return err
	}
	a.KeyLength = nope + c.RopeDim
	c.HeadDim = a.KeyLength
	c.MLA = a
	return nil
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// jsonFloat formats a float32 with the shortest decimal that reads back to
// the same float32 (1e-05 rather than 9.999999747378752e-06).
func jsonFloat(f float32) json.Number {
	s := strconv.FormatFloat(float64(f), 'g', -1, 32)
	if _, err := strconv.ParseFloat(s, 64); err != nil { // Inf, NaN
		return "0"
	}
	return json.Number(s)
}

// HFConfigJSON returns a config.json that transformers loads for this
// configuration: architectures, model_type, the sizes, norm epsilon, RoPE
// theta and scaling, tie_word_embeddings, biases and torch_dtype (the
// TorchDType field; omitted when empty). Hugging Face configs cannot
// express per-layer widths, so non-uniform configurations are refused.
func (c *Config) HFConfigJSON() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Uniform() {
		return nil, fmt.Errorf("%w: config.json cannot describe per-layer head or FFN counts", ErrUnsupported)
	}
	if c.Experts > 0 || c.QKNorm || c.MLA != nil {
		return nil, fmt.Errorf("%w: writing config.json for %s mixture-of-experts models", ErrUnsupported, c.Arch)
	}
	archName := c.HFArch
	switch c.Arch {
	case "llama", "deci":
		if archName != "MistralForCausalLM" {
			archName = "LlamaForCausalLM"
		}
	case "qwen2":
		archName = "Qwen2ForCausalLM"
	}
	a := hfArchs[archName]
	type ropeScaling struct {
		RopeType       string       `json:"rope_type"`
		Factor         json.Number  `json:"factor"`
		LowFreqFactor  *json.Number `json:"low_freq_factor,omitempty"`
		HighFreqFactor *json.Number `json:"high_freq_factor,omitempty"`
		OriginalMaxPos int          `json:"original_max_position_embeddings,omitempty"`
	}
	out := struct {
		Architectures  []string     `json:"architectures"`
		ModelType      string       `json:"model_type"`
		Hidden         int          `json:"hidden_size"`
		Intermediate   int          `json:"intermediate_size"`
		Layers         int          `json:"num_hidden_layers"`
		Heads          int          `json:"num_attention_heads"`
		KVHeads        int          `json:"num_key_value_heads"`
		HeadDim        int          `json:"head_dim"`
		HiddenAct      string       `json:"hidden_act"`
		MaxPos         int          `json:"max_position_embeddings"`
		NormEps        json.Number  `json:"rms_norm_eps"`
		RopeTheta      json.Number  `json:"rope_theta"`
		RopeScaling    *ropeScaling `json:"rope_scaling"`
		Tie            bool         `json:"tie_word_embeddings"`
		VocabSize      int          `json:"vocab_size"`
		AttentionBias  *bool        `json:"attention_bias,omitempty"`
		MLPBias        *bool        `json:"mlp_bias,omitempty"`
		TorchDType     string       `json:"torch_dtype,omitempty"`
		UseCache       bool         `json:"use_cache"`
		InitializerRng json.Number  `json:"initializer_range"`
	}{
		Architectures:  []string{archName},
		ModelType:      a.modelType,
		Hidden:         c.Dim,
		Intermediate:   c.FFN[0],
		Layers:         c.Layers,
		Heads:          c.Heads[0],
		KVHeads:        c.KVHeads[0],
		HeadDim:        c.HeadDim,
		HiddenAct:      "silu",
		MaxPos:         c.Context,
		NormEps:        jsonFloat(c.NormEps),
		RopeTheta:      jsonFloat(c.RopeBase),
		Tie:            c.TiedEmbeddings,
		VocabSize:      c.VocabSize,
		TorchDType:     c.TorchDType,
		UseCache:       true,
		InitializerRng: "0.02",
	}
	if a.allowsBias {
		if c.QKVBias != c.OutBias {
			return nil, fmt.Errorf("%w: LlamaForCausalLM has biases on all of q/k/v/o or none", ErrUnsupported)
		}
		ab, mb := c.QKVBias, c.FFNBias
		out.AttentionBias, out.MLPBias = &ab, &mb
	} else if c.OutBias || c.FFNBias || c.QKVBias != a.qkvBias {
		return nil, fmt.Errorf("%w: %s cannot express these projection biases", ErrUnsupported, archName)
	}
	if s := c.RopeScaling; s != nil {
		r := &ropeScaling{RopeType: s.Type, Factor: jsonFloat(s.Factor), OriginalMaxPos: s.OriginalContext}
		if s.Type == "llama3" {
			lo, hi := jsonFloat(s.LowFreqFactor), jsonFloat(s.HighFreqFactor)
			r.LowFreqFactor, r.HighFreqFactor = &lo, &hi
		}
		out.RopeScaling = r
	}
	return json.MarshalIndent(out, "", "  ")
}
