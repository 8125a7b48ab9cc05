// Package model holds shrink's knowledge of the llama model family: the
// configuration (with per-layer head and feed-forward counts, as pruned
// models have), the mapping between Hugging Face and GGUF tensor names, the
// RoPE row permutation between the two, and tokenizer data.
package model

// Config describes a llama-family decoder. Per-layer slices have Layers
// entries; uniform models repeat the same value.
type Config struct {
	Arch      string // GGUF architecture name: "llama" or "qwen2"
	HFArch    string // Hugging Face architectures[0], e.g. "LlamaForCausalLM", if known
	Name      string // general.name, if known
	Dim       int    // embedding length (hidden_size)
	Layers    int    // block count
	Heads     []int  // attention (query) heads per layer
	KVHeads   []int  // key/value heads per layer
	FFN       []int  // feed-forward width per layer
	HeadDim   int    // dimension of one head
	VocabSize int    // rows of the token embedding
	Context   int    // context length the model was trained for
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
}

// RopeScaling is a RoPE frequency scaling scheme.
type RopeScaling struct {
	Type            string  // "linear" or "llama3" (also "yarn" etc. carried through)
	Factor          float32 // scaling factor
	LowFreqFactor   float32 // llama3 only
	HighFreqFactor  float32 // llama3 only
	OriginalContext int     // original_max_position_embeddings
}
