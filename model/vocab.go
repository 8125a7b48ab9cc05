package model

// Token types, numbered as SentencePiece and GGUF's tokenizer.ggml.token_type
// number them (llama_token_type in llama.h).
const (
	TokenUndefined   = 0
	TokenNormal      = 1
	TokenUnknown     = 2
	TokenControl     = 3
	TokenUserDefined = 4
	TokenUnused      = 5
	TokenByte        = 6
)

// Vocab is a model's tokenizer data in GGUF's terms (tokenizer.ggml.*),
// whatever file it came from.
type Vocab struct {
	// Model is "llama" for SentencePiece-style vocabularies (▁ space
	// marker, score-ordered merges, <0xNN> byte fallback) and "gpt2" for
	// byte-level BPE with ranked merges.
	Model  string
	Pre    string    // BPE pre-tokenizer name (tokenizer.ggml.pre), e.g. "llama-bpe"
	Tokens []string  // piece of each id
	Scores []float32 // merge score per id (SentencePiece); nil if absent
	Types  []int32   // token type per id (Token* constants); nil if absent
	Merges []string  // BPE merges "a b" in rank order (gpt2 model)

	BOS, EOS, UNK, PAD int32 // special ids, -1 when absent

	AddBOS, AddEOS        bool
	AddSpacePrefix        bool
	RemoveExtraWhitespace bool
	ChatTemplate          string
}
