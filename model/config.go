// Package model holds shrink's knowledge of the llama model family: the
// configuration (with per-layer head and feed-forward counts, as pruned
// models have, mixture-of-experts routing and DeepSeek's latent attention),
// the mapping between Hugging Face and GGUF tensor names, the RoPE row
// permutation between the two, and tokenizer data.
package model

// Config describes a llama-family decoder. Per-layer slices have Layers
// entries; uniform models repeat the same value.
type Config struct {
	Arch    string // GGUF architecture name: "llama", "deci", "qwen2", "qwen2moe", "qwen3moe" or "deepseek2"
	HFArch  string // Hugging Face architectures[0], e.g. "LlamaForCausalLM", if known
	Name    string // general.name, if known
	Dim     int    // embedding length (hidden_size)
	Layers  int    // block count
	Heads   []int  // attention (query) heads per layer
	KVHeads []int  // key/value heads per layer
	// FFN is GGUF's feed_forward_length per layer: the dense SwiGLU width,
	// and for llama-architecture MoE layers (Mixtral) the expert width.
	FFN       []int
	HeadDim   int // dimension of one head
	VocabSize int // rows of the token embedding
	Context   int // context length the model was trained for
	NormEps   float32
	RopeBase  float32 // rope theta, default 10000
	RopeDim   int     // rotated dimensions per head (= HeadDim for llama)
	// RopeNeox is true when RoPE rotates the two halves of each head
	// (rotate-half, GGUF's NeoX style, used by qwen2) rather than adjacent
	// pairs (llama).
	RopeNeox       bool
	RopeScaling    *RopeScaling // nil when none
	TiedEmbeddings bool         // output head reuses token_embd
	QKVBias        bool         // q/k/v projections have biases (Qwen2)

	OutBias    bool   // attention output projection has a bias (HF Llama attention_bias)
	FFNBias    bool   // gate/up/down projections have biases (HF Llama mlp_bias)
	TorchDType string // Hugging Face torch_dtype ("float16", "bfloat16", "float32"), if known

	// QKNorm is true when each query and key head is RMS-normalised
	// before RoPE (Qwen3: attn_q_norm, attn_k_norm).
	QKNorm bool

	MoE // mixture-of-experts feed-forward; zero for dense models

	// MLA carries DeepSeek-V2's multi-head latent attention sizes, read
	// and written with the deepseek2 keys (see mla.go); nil for other
	// attention.
	MLA *MLA
}

// Gating functions of expert scores (llama.cpp's
// llama_expert_gating_func_type values, GGUF expert_gating_func).
const (
	GatingSoftmax = 1 // softmax over all experts' logits
	GatingSigmoid = 2 // sigmoid of each logit
)

// MoE describes routed feed-forward layers. Experts == 0 means a dense
// model. Layers DenseLead.. are MoE layers (DeepSeek's leading dense
// blocks come first); the others use the dense FFN width.
type MoE struct {
	Experts     int // routed experts per MoE layer (expert_count)
	ExpertsUsed int // experts each token is routed to (expert_used_count)
	// ExpertFFN is the width of one routed expert
	// (expert_feed_forward_length; FFN for the llama architecture).
	ExpertFFN int
	// SharedExperts is the number of shared experts (deepseek2's
	// expert_shared_count); qwen2moe has one whenever SharedFFN > 0.
	SharedExperts int
	// SharedFFN is the total width of the shared expert FFN (qwen2moe's
	// expert_shared_feed_forward_length; SharedExperts x ExpertFFN for
	// deepseek2), 0 when there is none.
	SharedFFN int
	// SharedGate is true when the shared expert's output is scaled by
	// sigmoid(ffn_gate_inp_shexp · x) (qwen2moe).
	SharedGate bool
	DenseLead  int // leading dense blocks (leading_dense_block_count)
	// Norm renormalises the chosen experts' weights to sum 1
	// (expert_weights_norm; always true for Mixtral).
	Norm bool
	// Scale multiplies the chosen experts' weights
	// (expert_weights_scale); 0 means no scaling.
	Scale  float32
	Gating int // GatingSoftmax or GatingSigmoid
	// ProbsBias is true when each MoE layer has an exp_probs_b selection
	// bias (DeepSeek-V3's e_score_correction_bias), added to the scores
	// for choosing experts only.
	ProbsBias bool
	// Groups and GroupsUsed are group-limited routing (DeepSeek's
	// n_group, topk_group; GGUF expert_group_count and
	// expert_group_used_count): experts fall into Groups equal groups, a
	// group scores the sum of its two best (biased) scores, as llama.cpp
	// computes it, and only the GroupsUsed best groups' experts may be
	// chosen. 0 or 1 group: plain top-k.
	Groups, GroupsUsed int
}

// MLA is DeepSeek-V2's multi-head latent attention shape.
type MLA struct {
	QLoraRank  int // q_lora_rank (0 in the lite form without it)
	KVLoraRank int // kv_lora_rank
	KeyLength  int // qk_nope_head_dim + qk_rope_head_dim
	ValueLen   int // v_head_dim
	// YarnLogMul is rope.scaling.yarn_log_multiplier (0 without YaRN).
	YarnLogMul float32
	// Split is true when the latent up-projection is stored as the
	// per-head attn_k_b / attn_v_b pair (llama.cpp's layout since April
	// 2025, key_length_mla keys) rather than one attn_kv_b matrix.
	Split bool
}

// RopeScaling is a RoPE frequency scaling scheme.
type RopeScaling struct {
	Type            string  // "linear" or "llama3" (also "yarn" etc. carried through)
	Factor          float32 // scaling factor
	LowFreqFactor   float32 // llama3 only
	HighFreqFactor  float32 // llama3 only
	OriginalContext int     // original_max_position_embeddings
}
