package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/shrink-llm/shrink/format/gguf"
)

// VocabKey is a set of optional boolean tokenizer keys (Vocab.Omit).
type VocabKey uint8

// The optional boolean keys of tokenizer.ggml.*.
const (
	KeyAddBOS                VocabKey = 1 << iota // tokenizer.ggml.add_bos_token
	KeyAddEOS                                     // tokenizer.ggml.add_eos_token
	KeyAddSpacePrefix                             // tokenizer.ggml.add_space_prefix
	KeyRemoveExtraWhitespace                      // tokenizer.ggml.remove_extra_whitespaces
)

// The tokenizer metadata keys (llama.cpp's LLM_KV_TOKENIZER_*).
const (
	keyModel        = "tokenizer.ggml.model"
	keyPre          = "tokenizer.ggml.pre"
	keyTokens       = "tokenizer.ggml.tokens"
	keyScores       = "tokenizer.ggml.scores"
	keyTypes        = "tokenizer.ggml.token_type"
	keyMerges       = "tokenizer.ggml.merges"
	keyBOS          = "tokenizer.ggml.bos_token_id"
	keyEOS          = "tokenizer.ggml.eos_token_id"
	keyUNK          = "tokenizer.ggml.unknown_token_id"
	keyPAD          = "tokenizer.ggml.padding_token_id"
	keyChatTemplate = "tokenizer.chat_template"
)

var boolKeys = []struct {
	bit VocabKey
	key string
	get func(*Vocab) *bool
}{
	{KeyAddBOS, "tokenizer.ggml.add_bos_token", func(v *Vocab) *bool { return &v.AddBOS }},
	{KeyAddEOS, "tokenizer.ggml.add_eos_token", func(v *Vocab) *bool { return &v.AddEOS }},
	{KeyAddSpacePrefix, "tokenizer.ggml.add_space_prefix", func(v *Vocab) *bool { return &v.AddSpacePrefix }},
	{KeyRemoveExtraWhitespace, "tokenizer.ggml.remove_extra_whitespaces", func(v *Vocab) *bool { return &v.RemoveExtraWhitespace }},
}

var idKeys = []struct {
	key string
	get func(*Vocab) *int32
}{
	{keyBOS, func(v *Vocab) *int32 { return &v.BOS }},
	{keyEOS, func(v *Vocab) *int32 { return &v.EOS }},
	{keyUNK, func(v *Vocab) *int32 { return &v.UNK }},
	{keyPAD, func(v *Vocab) *int32 { return &v.PAD }},
}

func knownVocabKey(k string) bool {
	switch k {
	case keyModel, keyPre, keyTokens, keyScores, keyTypes, keyMerges, keyChatTemplate:
		return true
	}
	for _, b := range boolKeys {
		if b.key == k {
			return true
		}
	}
	for _, b := range idKeys {
		if b.key == k {
			return true
		}
	}
	return false
}

func vocabErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrVocab, fmt.Sprintf(format, args...))
}

// VocabFromGGUF reads the tokenizer.ggml.* and tokenizer.chat_template keys.
// tokenizer.ggml.model and tokens are required; scores and token_type, when
// present, must have one entry per token. Special ids absent from the file
// (or not below the token count) are -1: llama.cpp's per-model defaults
// (bos 1, eos 2, unk 0 for "llama") are the tokenizer's business. Optional
// boolean keys the file lacks are recorded in Omit, other tokenizer.* keys
// in Extra, so that SetGGUF re-writes the same keys.
func VocabFromGGUF(md *gguf.Metadata) (*Vocab, error) {
	v := &Vocab{BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	var ok bool
	if v.Model, ok = md.String(keyModel); !ok {
		return nil, vocabErr("gguf: missing %s", keyModel)
	}
	if v.Tokens, ok = md.Strings(keyTokens); !ok {
		return nil, vocabErr("gguf: missing %s (array of strings)", keyTokens)
	}
	n := len(v.Tokens)
	if n == 0 || n > maxVocab {
		return nil, vocabErr("gguf: %s has %d tokens", keyTokens, n)
	}
	v.Pre, _ = md.String(keyPre)
	if val, present := md.Get(keyScores); present {
		s, ok := val.Data.([]float32)
		if !ok || len(s) != n {
			return nil, vocabErr("gguf: %s is %v[%d], want float32[%d]", keyScores, val.Elem, val.Len(), n)
		}
		v.Scores = s
	}
	if val, present := md.Get(keyTypes); present {
		a, ok := val.Ints()
		if !ok || len(a) != n {
			return nil, vocabErr("gguf: %s is %v[%d], want int32[%d]", keyTypes, val.Elem, val.Len(), n)
		}
		v.Types = make([]int32, n)
		for i, t := range a {
			if t < math.MinInt32 || t > math.MaxInt32 {
				return nil, vocabErr("gguf: %s[%d] = %d out of range", keyTypes, i, t)
			}
			v.Types[i] = int32(t)
		}
	}
	if val, present := md.Get(keyMerges); present {
		if v.Merges, ok = val.Data.([]string); !ok {
			return nil, vocabErr("gguf: %s is not an array of strings", keyMerges)
		}
	}
	for _, k := range idKeys {
		if id, ok := md.Uint32(k.key); ok && int64(id) < int64(n) {
			*k.get(v) = int32(id)
		}
	}
	for _, b := range boolKeys {
		if x, ok := md.Bool(b.key); ok {
			*b.get(v) = x
		} else {
			v.Omit |= b.bit
		}
	}
	v.ChatTemplate, _ = md.String(keyChatTemplate)
	v.Name, _ = md.String("general.name")
	for _, kv := range md.KVs() {
		if strings.HasPrefix(kv.Key, "tokenizer.") && !knownVocabKey(kv.Key) {
			v.Extra = append(v.Extra, kv)
		}
	}
	return v, nil
}

// SetGGUF writes the vocabulary as llama.cpp reads it: tokenizer.ggml.model,
// pre (when set), tokens, scores (FLOAT32 array, when present), token_type
// (INT32 array, when present), merges (when present), the special ids as
// UINT32 (those >= 0), the boolean keys not in Omit, tokenizer.chat_template
// (when set) and the Extra keys.
func (v *Vocab) SetGGUF(md *gguf.Metadata) {
	md.Set(keyModel, gguf.String(v.Model))
	if v.Pre != "" {
		md.Set(keyPre, gguf.String(v.Pre))
	}
	md.Set(keyTokens, gguf.Strings(v.Tokens))
	if v.Scores != nil {
		md.Set(keyScores, gguf.Float32s(v.Scores))
	}
	if v.Types != nil {
		md.Set(keyTypes, gguf.Int32s(v.Types))
	}
	if v.Merges != nil {
		md.Set(keyMerges, gguf.Strings(v.Merges))
	}
	for _, k := range idKeys {
		if id := *k.get(v); id >= 0 {
			md.Set(k.key, gguf.Uint32(uint32(id)))
		}
	}
	for _, b := range boolKeys {
		if v.Omit&b.bit == 0 {
			md.Set(b.key, gguf.Bool(*b.get(v)))
		}
	}
	if v.ChatTemplate != "" {
		md.Set(keyChatTemplate, gguf.String(v.ChatTemplate))
	}
	for _, kv := range v.Extra {
		if !knownVocabKey(kv.Key) {
			md.Set(kv.Key, kv.Value)
		}
	}
}

// PadTo appends "[PAD<id>]" tokens of type unused (score 0) until the
// vocabulary has n tokens, as llama.cpp's converter does when config.json's
// vocab_size exceeds the tokenizer's. It does nothing when n <= len(Tokens).
func (v *Vocab) PadTo(n int) {
	for id := len(v.Tokens); id < n; id++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", id))
		if v.Scores != nil {
			v.Scores = append(v.Scores, 0)
		}
		if v.Types != nil {
			v.Types = append(v.Types, TokenUnused)
		}
	}
}

// Validate checks that Scores and Types, when present, have one entry per
// token and that the special ids are -1 or valid ids.
func (v *Vocab) Validate() error {
	n := len(v.Tokens)
	if n == 0 {
		return vocabErr("no tokens")
	}
	if v.Scores != nil && len(v.Scores) != n {
		return vocabErr("%d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return vocabErr("%d token types for %d tokens", len(v.Types), n)
	}
	for _, k := range idKeys {
		if id := *k.get(v); id < -1 || int64(id) >= int64(n) {
			return vocabErr("%s = %d out of range for %d tokens", k.key, id, n)
		}
	}
	return nil
}
