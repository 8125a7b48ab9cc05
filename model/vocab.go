package model

import "github.com/shrink-llm/shrink/format/gguf"

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

	// Name is the file's general.name, which llama.cpp consults for a few
	// per-model token attributes (see Resolved.Strip); VocabFromGGUF reads
	// it, SetGGUF does not write it (it is not a tokenizer key).
	Name string

	// SPModelType is SentencePiece's trainer_spec.model_type (1 unigram,
	// 2 BPE, 3 word, 4 char) for vocabularies read from tokenizer.model;
	// 0 when unknown.
	SPModelType int32

	// Omit lists the optional boolean keys that SetGGUF leaves out.
	// The zero value writes them all; VocabFromGGUF sets the bits of the
	// keys its file lacked so that SetGGUF re-writes exactly that file's keys.
	Omit VocabKey
	// Extra holds tokenizer.* metadata keys that Vocab has no field for
	// (e.g. tokenizer.ggml.eot_token_id), carried from a GGUF file as they
	// were and re-written by SetGGUF.
	Extra []gguf.KV
}
