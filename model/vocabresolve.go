package model

import (
	"fmt"
	"strings"
)

// PreType is a byte-level BPE pre-tokenizer, as llama.cpp's vocabulary
// loader names them (LLAMA_VOCAB_PRE_TYPE_*). Several tokenizer.ggml.pre
// names map to one type.
type PreType uint8

// The pre-tokenizer types llama.cpp's BPE tokenizer knows.
const (
	PreDefault PreType = iota
	PreLlama3
	PreDeepseekLLM
	PreDeepseekCoder
	PreFalcon
	PreMPT
	PreStarcoder
	PreGPT2
	PreRefact
	PreCommandR
	PreStableLM2
	PreQwen2
	PreOlmo
	PreDBRX
	PreSmaug
	PrePoro
	PreChatGLM4
	PreViking
	PreJais
	PreTekken
	PreSmolLM
	PreCodeShell
	PreBloom
	PreGPT3Finnish
	PreExaone
	PreChameleon
	PreMinerva
	PreDeepseek3LLM
)

// preNames maps every tokenizer.ggml.pre value llama.cpp accepts for a
// "gpt2" vocabulary to its type.
var preNames = map[string]PreType{
	"default":   PreDefault,
	"llama3":    PreLlama3,
	"llama-v3":  PreLlama3,
	"llama-bpe": PreLlama3,
	"falcon3":   PreLlama3,

	"deepseek-llm":   PreDeepseekLLM,
	"deepseek-coder": PreDeepseekCoder,
	"deepseek-v3":    PreDeepseek3LLM,
	"falcon":         PreFalcon,
	"mpt":            PreMPT,
	"starcoder":      PreStarcoder,

	"gpt-2":        PreGPT2,
	"phi-2":        PreGPT2,
	"jina-es":      PreGPT2,
	"jina-de":      PreGPT2,
	"gigachat":     PreGPT2,
	"jina-v1-en":   PreGPT2,
	"jina-v2-es":   PreGPT2,
	"jina-v2-de":   PreGPT2,
	"jina-v2-code": PreGPT2,
	"roberta-bpe":  PreGPT2,

	"refact":           PreRefact,
	"command-r":        PreCommandR,
	"qwen2":            PreQwen2,
	"deepseek-r1-qwen": PreQwen2,
	"megrez":           PreQwen2,
	"stablelm2":        PreStableLM2,
	"olmo":             PreOlmo,
	"dbrx":             PreDBRX,
	"smaug-bpe":        PreSmaug,
	"poro-chat":        PrePoro,
	"chatglm-bpe":      PreChatGLM4,
	"viking":           PreViking,
	"jais":             PreJais,
	"tekken":           PreTekken,
	"smollm":           PreSmolLM,
	"codeshell":        PreCodeShell,
	"bloom":            PreBloom,
	"gpt3-finnish":     PreGPT3Finnish,
	"exaone":           PreExaone,
	"chameleon":        PreChameleon,
	"minerva-7b":       PreMinerva,
}

// Resolved is what llama.cpp's vocabulary loader (llama_vocab::impl::load)
// makes of a Vocab: the file's value where it has the key, llama.cpp's
// default for the vocabulary type and pre-tokenizer where it has not. The
// tokenizer, perplexity, calibration and the engine all take BOS and the
// add-* flags from here.
type Resolved struct {
	Pre                   PreType // pre-tokenizer ("gpt2" vocabularies; PreDefault otherwise)
	BOS, EOS, UNK, PAD    int32   // special ids, -1 for none
	AddBOS, AddEOS        bool
	AddSpacePrefix        bool
	RemoveExtraWhitespace bool
	// IgnoreMerges: a pre-tokenized word that is itself a token is not
	// merged (LLaMA 3, Tekken).
	IgnoreMerges bool
	// Types is the type of each token after llama.cpp's overrides (tokens
	// spelled like an end-of-generation or fill-in-the-middle token are
	// control tokens); nil when the Vocab has no types and none changed.
	Types []int32
	// Strip holds, for the few special tokens llama.cpp gives the LSTRIP or
	// RSTRIP attribute (by model name: Phi-3, Jina v2), which whitespace
	// next to the token is dropped when the token is cut out of a text;
	// nil for other vocabularies.
	Strip map[int32]StripSide
	// Warnings says what llama.cpp warns about when it loads the file
	// (e.g. a missing pre-tokenizer).
	Warnings []string
}

// typeDefaults are llama.cpp's special ids and flags per tokenizer.ggml.model.
var typeDefaults = map[string]struct {
	bos, eos, unk, pad int32
	addBOS, addEOS     bool
	addSpacePrefix     bool
}{
	"llama": {bos: 1, eos: 2, unk: 0, pad: -1, addBOS: true, addSpacePrefix: true},
	"gpt2":  {bos: 11, eos: 11, unk: -1, pad: -1},
	"bert":  {bos: 101, eos: -1, unk: 100, pad: 0, addBOS: true},
	"t5":    {bos: -1, eos: 1, unk: 2, pad: 0, addEOS: true},
	"rwkv":  {bos: -1, eos: -1, unk: -1, pad: -1},
}

// Resolve returns the vocabulary's effective settings as llama.cpp derives
// them. Special ids that are -1 (absent from the file) take the type's
// default (SentencePiece: unk 0, bos 1, eos 2; byte-level BPE: bos and eos
// 11), a default id outside the vocabulary becomes -1. Flags whose key is
// absent (Omit) take the default of the type and pre-tokenizer:
// SentencePiece adds BOS and a space prefix; byte-level BPE adds BOS only
// for the LLaMA 3, Tekken and Chameleon pre-tokenizers and never a space
// prefix. An unknown tokenizer.ggml.model, or an unknown
// tokenizer.ggml.pre of a "gpt2" vocabulary, is an error wrapping
// ErrUnsupported, as llama.cpp refuses to load such a file.
func (v *Vocab) Resolve() (*Resolved, error) {
	d, ok := typeDefaults[v.Model]
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer model %q (known: llama, gpt2, bert, t5, rwkv)", ErrUnsupported, v.Model)
	}
	r := &Resolved{BOS: d.bos, EOS: d.eos, UNK: d.unk, PAD: d.pad,
		AddBOS: d.addBOS, AddEOS: d.addEOS, AddSpacePrefix: d.addSpacePrefix}
	if v.Model == "gpt2" {
		if err := r.resolvePre(v.Pre); err != nil {
			return nil, err
		}
	}
	n := int32(len(v.Tokens))
	for _, s := range []struct{ from, to *int32 }{{&v.BOS, &r.BOS}, {&v.EOS, &r.EOS}, {&v.UNK, &r.UNK}, {&v.PAD, &r.PAD}} {
		if *s.from >= 0 && *s.from < n {
			*s.to = *s.from
		}
		if *s.to >= n {
			*s.to = -1
		}
	}
	for _, b := range []struct {
		bit      VocabKey
		from, to *bool
	}{
		{KeyAddBOS, &v.AddBOS, &r.AddBOS}, {KeyAddEOS, &v.AddEOS, &r.AddEOS},
		{KeyAddSpacePrefix, &v.AddSpacePrefix, &r.AddSpacePrefix},
		{KeyRemoveExtraWhitespace, &v.RemoveExtraWhitespace, &r.RemoveExtraWhitespace},
	} {
		if v.Omit&b.bit == 0 {
			*b.to = *b.from
		}
	}
	r.Types = v.controlOverrides()
	r.Strip = v.stripAttrs(r.Types)
	return r, nil
}

// resolvePre maps tokenizer.ggml.pre of a byte-level BPE vocabulary and
// applies the flags llama.cpp ties to it.
func (r *Resolved) resolvePre(name string) error {
	if name == "" {
		r.Warnings = append(r.Warnings, "missing pre-tokenizer type (tokenizer.ggml.pre), using 'default': generation quality will be degraded")
		name = "default"
	}
	pre, ok := preNames[name]
	if !ok {
		return fmt.Errorf("%w: pre-tokenizer type %q (tokenizer.ggml.pre)", ErrUnsupported, name)
	}
	r.Pre = pre
	switch pre {
	case PreLlama3, PreTekken:
		r.IgnoreMerges, r.AddBOS = true, true
	case PreChameleon:
		r.AddBOS = true
	case PreChatGLM4:
		r.BOS = -1
	}
	return nil
}

// Texts of tokens llama.cpp turns into control tokens when their kind's
// id key is absent: end of turn, end of message and the fill-in-the-middle
// tokens (per key), and the end-of-generation tokens (always).
var (
	eogTexts     = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}
	overrideKeys = []struct {
		keys  []string
		texts []string
	}{
		{[]string{"tokenizer.ggml.eot_token_id"}, []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"}},
		{[]string{"tokenizer.ggml.eom_token_id"}, []string{"<|eom_id|>"}},
		{[]string{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"}, []string{"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>"}},
		{[]string{"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"}, []string{"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>"}},
		{[]string{"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"}, []string{"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>"}},
		{[]string{"tokenizer.ggml.fim_pad_token_id"}, []string{"<|fim_pad|>", "<fim-pad>", "<PAD>"}},
		{[]string{"tokenizer.ggml.fim_rep_token_id"}, []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"}},
		{[]string{"tokenizer.ggml.fim_sep_token_id"}, []string{"<|file_sep|>"}},
	}
)

// controlOverrides returns the token types with llama.cpp's overrides
// applied, or v.Types when nothing changes. (Where several tokens of one
// kind match, llama.cpp overrides one, picked by hash order; here all are.)
func (v *Vocab) controlOverrides() []int32 {
	texts := map[string]bool{}
	for _, t := range eogTexts {
		texts[t] = true
	}
	for _, o := range overrideKeys {
		if !v.hasIDKey(o.keys) {
			for _, t := range o.texts {
				texts[t] = true
			}
		}
	}
	types := v.Types
	copied := false
	for id, tok := range v.Tokens {
		if !texts[tok] || (types != nil && types[id] == TokenControl) {
			continue
		}
		if !copied {
			types = make([]int32, len(v.Tokens))
			if v.Types != nil {
				copy(types, v.Types)
			} else {
				for i := range types {
					types[i] = TokenNormal
				}
			}
			copied = true
		}
		types[id] = TokenControl
	}
	return types
}

// hasIDKey tells whether Extra holds one of keys with an id inside the
// vocabulary.
func (v *Vocab) hasIDKey(keys []string) bool {
	for _, kv := range v.Extra {
		for _, k := range keys {
			if kv.Key != k {
				continue
			}
			if id, ok := kv.Value.Int(); ok && id >= 0 && id < int64(len(v.Tokens)) {
				return true
			}
		}
	}
	return false
}

// StripSide says which whitespace next to a special token is dropped.
type StripSide uint8

// The sides of StripSide.
const (
	StripLeft  StripSide = 1 << iota // whitespace before the token (LSTRIP)
	StripRight                       // whitespace after the token (RSTRIP)
)

// stripAttrs sets llama.cpp's per-model LSTRIP/RSTRIP attributes: Jina v2
// vocabularies strip the space before "<mask>"; in Phi-3 models
// (general.name containing "phi-3" or "phi3") every special token but
// <unk>, <s> and <|endoftext|> strips the whitespace after it, and so
// does "</s>".
func (v *Vocab) stripAttrs(types []int32) map[int32]StripSide {
	id := func(text string) (int32, bool) {
		for i, t := range v.Tokens {
			if t == text {
				return int32(i), true
			}
		}
		return -1, false
	}
	m := map[int32]StripSide{}
	name := strings.ToLower(v.Name)
	switch {
	case containsAny(v.Pre, "jina-v2-de", "jina-v2-es", "jina-v2-code"):
		if i, ok := id("<mask>"); ok {
			m[i] = StripLeft
		}
	case containsAny(name, "phi-3", "phi3"):
		for i, t := range types {
			if t == TokenControl || t == TokenUserDefined || t == TokenUnknown {
				m[int32(i)] = StripRight
			}
		}
		if i, ok := id("</s>"); ok {
			m[i] = StripRight
		}
		for _, text := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if i, ok := id(text); ok {
				delete(m, i)
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
