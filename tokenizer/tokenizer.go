// Package tokenizer turns text into token ids and back for the two kinds of
// vocabulary that GGUF files carry in tokenizer.ggml.model:
//
//   - "llama": SentencePiece-style BPE. Spaces become "▁" (U+2581), a "▁"
//     is prefixed when the vocabulary asks for it, the text is split into
//     UTF-8 characters and adjacent pairs are merged, highest vocabulary
//     score first (ties: leftmost pair), for as long as the merged text is
//     a token. Characters that never became a token fall back to their
//     bytes as "<0xNN>" tokens, or to the unknown token when the
//     vocabulary has no byte tokens.
//   - "gpt2": byte-level BPE. A pre-tokenizer chosen by tokenizer.ggml.pre
//     (every name llama.cpp knows: GPT-2's regular expressions, LLaMA 3's,
//     Qwen2's, DeepSeek's, Falcon's, ... written out by hand, as Go's
//     regexp has no lookahead; an unknown name is an error) cuts the text
//     into words; every byte of a word is mapped to a printable character
//     (GPT-2's bytes_to_unicode table) and adjacent pairs are merged in the
//     order of tokenizer.ggml.merges (lowest rank first, ties: leftmost).
//
// The behaviour follows llama.cpp (src/llama-vocab.cpp: llm_tokenizer_spm,
// llm_tokenizer_bpe; src/unicode.cpp: the hand-written GPT-2 and LLaMA 3
// pre-tokenizers) and reproduces its tests/test-tokenizer-0 vectors. Both
// merge loops run with a priority queue over a linked list of symbols, so
// encoding is O(n log n) in the length of a word.
//
// Special tokens: Encode treats the text as plain text, as llama.cpp does
// with parse_special=false (control tokens such as "<s>" written in the text
// are tokenized as characters) while user-defined tokens are still cut out
// first; EncodeSpecial also recognizes control tokens in the text.
//
// Decoding reverses the mapping ("▁" to space, byte tokens to bytes, the
// byte-level map inverted). Control tokens decode to nothing. For
// SentencePiece vocabularies that add a space prefix, Decode removes the
// leading space of the first token that is not BOS, as llama.cpp's
// detokenizer does, so that Decode(Encode(s, ...)) == s.
//
// Invalid UTF-8 in the input is kept byte for byte (llama.cpp replaces it by
// U+FFFD in byte-level vocabularies); text and ids are never rejected: an
// out-of-range id decodes to nothing.
package tokenizer

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/shrink-llm/shrink/model"
)

// Sentinel errors returned (wrapped) by New.
var (
	// ErrUnsupported reports a vocabulary model other than "llama" or "gpt2".
	ErrUnsupported = errors.New("tokenizer: unsupported vocabulary model")
	// ErrInvalidVocab reports inconsistent tokenizer data.
	ErrInvalidVocab = errors.New("tokenizer: invalid vocabulary")
)

type kind uint8

const (
	kindSPM kind = iota // "llama"
	kindBPE             // "gpt2"
)

// Tokenizer encodes and decodes text with one vocabulary. It is safe for
// concurrent use.
type Tokenizer struct {
	kind   kind
	tokens []string
	types  []int32
	scores []float32
	ids    map[string]int32 // token text -> id; the last id wins on duplicates, as in llama.cpp
	pieces []string         // decoded text of each id

	bos, eos, unk    int32
	addBOS, addEOS   bool
	addSpacePrefix   bool
	specials         []int32    // control, user-defined and unknown tokens, longest text first
	byteTok          [256]int32 // "<0xNN>" token of each byte, -1 if none
	hasUserSpecial   bool
	cutBeforeSpace   bool // SentencePiece: no token has "▁" after another character
	hasParseSpecials bool

	// byte-level BPE
	ranks        map[string]mergeRank // "left right" -> rank
	pre          preTokenizer
	ignoreMerges bool

	warnings []string                  // what llama.cpp warns about this vocabulary
	strip    map[int32]model.StripSide // whitespace special tokens drop (Phi-3, Jina v2)
}

// cSpace is C's isspace set, which llama.cpp strips next to special tokens.
const cSpace = " \t\n\v\f\r"

type mergeRank struct {
	rank    int32
	leftLen int32
}

// New builds a tokenizer from a model's tokenizer data. It checks the data
// (lengths of the per-token arrays, special ids, merges) and returns an
// error wrapping ErrUnsupported, model.ErrUnsupported (an unknown
// pre-tokenizer) or ErrInvalidVocab when it is unusable. Values the data
// leaves out (Omit, special ids of -1) are llama.cpp's defaults, as
// model.Vocab.Resolve derives them.
func New(v *model.Vocab) (*Tokenizer, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil vocabulary", ErrInvalidVocab)
	}
	t := &Tokenizer{}
	switch v.Model {
	case "llama":
		t.kind = kindSPM
	case "gpt2":
		t.kind = kindBPE
	default:
		return nil, fmt.Errorf("%w: %q (want \"llama\" or \"gpt2\")", ErrUnsupported, v.Model)
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrInvalidVocab)
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("%w: %d tokens", ErrInvalidVocab, n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrInvalidVocab, len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrInvalidVocab, len(v.Types), n)
	}
	t.tokens = v.Tokens
	t.types = v.Types
	if t.types == nil {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = model.TokenNormal
		}
	}
	t.scores = v.Scores
	if t.scores == nil {
		t.scores = make([]float32, n)
	}
	special := func(name string, id int32) error {
		if id < -1 || int(id) >= n {
			return fmt.Errorf("%w: %s token id %d outside vocabulary of %d", ErrInvalidVocab, name, id, n)
		}
		return nil
	}
	for _, sp := range []struct {
		name string
		id   int32
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}, {"PAD", v.PAD}} {
		if err := special(sp.name, sp.id); err != nil {
			return nil, err
		}
	}
	// Everything the file leaves out is derived once, in model.Vocab.Resolve.
	r, err := v.Resolve()
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t.bos, t.eos, t.unk = r.BOS, r.EOS, r.UNK
	t.addBOS, t.addEOS, t.addSpacePrefix = r.AddBOS, r.AddEOS, r.AddSpacePrefix
	if t.kind != kindSPM {
		t.addSpacePrefix = false // byte-level BPE adds no space prefix (Decode strips none)
	}
	if r.Types != nil {
		t.types = r.Types
	}
	t.warnings, t.strip = r.Warnings, r.Strip

	t.ids = make(map[string]int32, n)
	for i, s := range t.tokens {
		t.ids[s] = int32(i)
	}
	for i := range t.tokens {
		switch t.types[i] {
		case model.TokenControl, model.TokenUserDefined, model.TokenUnknown:
			if t.tokens[i] == "" {
				continue
			}
			t.specials = append(t.specials, int32(i))
			if t.types[i] == model.TokenUserDefined {
				t.hasUserSpecial = true
			}
			t.hasParseSpecials = true
		}
	}
	sort.SliceStable(t.specials, func(a, b int) bool {
		return len(t.tokens[t.specials[a]]) > len(t.tokens[t.specials[b]])
	})

	if t.kind == kindSPM {
		t.cutBeforeSpace = !spaceInside(t.tokens)
		for b := 0; b < 256; b++ {
			id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]
			if !ok && b < 0x80 {
				id, ok = t.ids[string(rune(b))]
			}
			if !ok {
				id = -1
			}
			t.byteTok[b] = id
		}
	} else {
		t.ranks = make(map[string]mergeRank, len(v.Merges))
		for i, m := range v.Merges {
			sp := -1
			if len(m) > 1 {
				sp = strings.IndexByte(m[1:], ' ')
			}
			if sp < 0 {
				return nil, fmt.Errorf("%w: merge %d %q has no space", ErrInvalidVocab, i, m)
			}
			sp++
			if _, dup := t.ranks[m]; !dup {
				t.ranks[m] = mergeRank{rank: int32(i), leftLen: int32(sp)}
			}
		}
		t.pre, t.ignoreMerges = preFor(r.Pre), r.IgnoreMerges
	}

	t.pieces = make([]string, n)
	for i := range t.tokens {
		t.pieces[i] = t.decodePiece(int32(i))
	}
	return t, nil
}

// decodePiece computes the text one token stands for, as llama.cpp's
// token_to_piece with special=false does.
func (t *Tokenizer) decodePiece(id int32) string {
	text := t.tokens[id]
	switch t.types[id] {
	case model.TokenUnknown, model.TokenUserDefined:
		return text
	case model.TokenByte:
		if b, ok := parseByteToken(text); ok {
			return string([]byte{b})
		}
		if t.kind == kindSPM {
			return strings.ReplaceAll(text, "▁", " ")
		}
		return unmapBytes(text)
	case model.TokenNormal:
		if t.kind == kindSPM {
			return strings.ReplaceAll(text, "▁", " ")
		}
		return unmapBytes(text)
	}
	return "" // control, unused, undefined
}

// parseByteToken parses "<0xNN>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

// AddsBOS tells whether Encode with addSpecial puts BOS first: the
// vocabulary asks for it (tokenizer.ggml.add_bos_token, or llama.cpp's
// default for its type when the key is absent) and has a BOS token.
func (t *Tokenizer) AddsBOS() bool { return t.addBOS && t.bos >= 0 }

// ChunkBOS returns the token that llama.cpp's perplexity and imatrix tools
// put first in every chunk: BOS when the vocabulary adds it (AddsBOS),
// else -1.
func (t *Tokenizer) ChunkBOS() int32 {
	if t.AddsBOS() {
		return t.bos
	}
	return -1
}

// Warnings returns what llama.cpp warns about when it loads this
// vocabulary (such as a missing pre-tokenizer), one line each.
func (t *Tokenizer) Warnings() []string { return t.warnings }

// BOS returns the beginning-of-sequence token id, or -1 when there is none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence token id, or -1 when there is none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the vocabulary text of id (e.g. "▁Hello", "<0x0A>", "<s>"),
// or "" when id is out of range.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Piece returns the decoded text of one token: "▁" becomes a space, a byte
// token its single byte (possibly an incomplete UTF-8 sequence, see
// Decoder), a byte-level token its bytes; control tokens and out-of-range
// ids give "". Unlike Decode, Piece never removes a leading space.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Encode tokenizes text. When addSpecial is true, BOS and EOS are added as
// the vocabulary asks (AddBOS, AddEOS). Control tokens written in the text
// are not recognized (see EncodeSpecial); user-defined tokens are.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	return t.encode(text, addSpecial, false)
}

// EncodeSpecial is Encode that also recognizes control tokens written in
// the text (such as "<s>" or "<|endoftext|>") and emits their ids, as
// llama.cpp does with parse_special=true.
func (t *Tokenizer) EncodeSpecial(text string, addSpecial bool) []int32 {
	return t.encode(text, addSpecial, true)
}

func (t *Tokenizer) encode(text string, addSpecial, parseSpecial bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	prevSpecial := true // SentencePiece: a space prefix goes before the first text
	t.partition(text, parseSpecial, func(s string, id int32) {
		if id >= 0 {
			out = append(out, id)
			prevSpecial = true
			return
		}
		if t.kind == kindSPM {
			out = t.encodeSPM(s, t.addSpacePrefix && prevSpecial, out)
		} else {
			out = t.encodeBPE(s, out)
		}
		prevSpecial = false
	})
	if addSpecial && t.addEOS && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out
}

// partition cuts special tokens out of text, longest token first, and calls
// emit for each non-empty run of plain text (id -1) and each special token,
// in order. As in llama.cpp, user-defined tokens are always cut out; control
// and unknown tokens only when parseSpecial is set; whitespace next to a
// token with a strip attribute is dropped.
func (t *Tokenizer) partition(text string, parseSpecial bool, emit func(s string, id int32)) {
	if text == "" {
		return
	}
	if !t.hasUserSpecial && !(parseSpecial && t.hasParseSpecials) {
		emit(text, -1)
		return
	}
	type frag struct {
		s  string
		id int32
	}
	frags := []frag{{text, -1}}
	var next []frag
	for _, id := range t.specials {
		if !parseSpecial && t.types[id] != model.TokenUserDefined {
			continue
		}
		tok := t.tokens[id]
		next = next[:0]
		changed := false
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.s, tok) {
				next = append(next, f)
				continue
			}
			changed = true
			s := f.s
			strip := t.strip[id]
			for {
				i := strings.Index(s, tok)
				if i < 0 {
					break
				}
				left := s[:i]
				if strip&model.StripLeft != 0 {
					left = strings.TrimRight(left, cSpace)
				}
				if left != "" {
					next = append(next, frag{left, -1})
				}
				next = append(next, frag{tok, id})
				s = s[i+len(tok):]
				if strip&model.StripRight != 0 {
					s = strings.TrimLeft(s, cSpace)
				}
			}
			if s != "" {
				next = append(next, frag{s, -1})
			}
		}
		if changed {
			frags, next = next, frags
		}
	}
	for _, f := range frags {
		emit(f.s, f.id)
	}
}

// Decode returns the text of ids. Control tokens (BOS, EOS, ...) and
// out-of-range ids give nothing; for SentencePiece vocabularies with a
// space prefix, the leading space of the first token that is not BOS is
// removed.
func (t *Tokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	strip := t.addSpacePrefix
	for _, id := range ids {
		p := t.Piece(id)
		if strip && id != t.bos {
			strip = false
			p = strings.TrimPrefix(p, " ")
		}
		sb.WriteString(p)
	}
	return sb.String()
}
