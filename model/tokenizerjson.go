package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// tokenizerJSON is the subset of a Hugging Face tokenizers tokenizer.json
// that VocabFromTokenizerJSON reads.
type tokenizerJSON struct {
	Model struct {
		Type         string            `json:"type"`
		Vocab        json.RawMessage   `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
		ByteFallback bool              `json:"byte_fallback"`
		UnkToken     *string           `json:"unk_token"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PreTokenizer  *jsonNode `json:"pre_tokenizer"`
	Decoder       *jsonNode `json:"decoder"`
	Normalizer    *jsonNode `json:"normalizer"`
	PostProcessor *jsonNode `json:"post_processor"`
}

// jsonNode is a tokenizers component: a type with optional children.
type jsonNode struct {
	Type          string          `json:"type"`
	PreTokenizers []*jsonNode     `json:"pretokenizers"`
	Decoders      []*jsonNode     `json:"decoders"`
	Normalizers   []*jsonNode     `json:"normalizers"`
	Processors    []*jsonNode     `json:"processors"`
	Pattern       json.RawMessage `json:"pattern"`
	Single        []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct{} `json:"Sequence"`
	} `json:"single"`
	Prepend string `json:"prepend"`
}

// walk calls fn on n and all its descendants, depth first.
func (n *jsonNode) walk(fn func(*jsonNode)) {
	if n == nil {
		return
	}
	fn(n)
	for _, l := range [][]*jsonNode{n.PreTokenizers, n.Decoders, n.Normalizers, n.Processors} {
		for _, c := range l {
			c.walk(fn)
		}
	}
}

// has reports whether n or a descendant has type typ.
func (n *jsonNode) has(typ string) bool {
	found := false
	n.walk(func(c *jsonNode) { found = found || c.Type == typ })
	return found
}

// splitRegexes returns the regexes of the Split pre-tokenizers, in order.
func (n *jsonNode) splitRegexes() []string {
	var res []string
	n.walk(func(c *jsonNode) {
		if c.Type != "Split" {
			return
		}
		var p struct {
			Regex string `json:"Regex"`
		}
		if json.Unmarshal(c.Pattern, &p) == nil && p.Regex != "" {
			res = append(res, p.Regex)
		}
	})
	return res
}

// guessPre names the llama.cpp pre-tokenizer (tokenizer.ggml.pre) of a
// byte-level BPE tokenizer from its pre_tokenizer's Split regexes, which
// are those llama.cpp lists per pre-tokenizer: DeepSeek V3's starts with
// \p{N}{1,3} followed by a CJK and kana class; DeepSeek LLM's and Coder's
// start with [\r\n] (LLM's has an explicit letter class starting A-Za-zµ,
// Coder's \s?\p{L}+); otherwise a first regex that groups digits by up to
// three (\p{N}{1,3}) is LLaMA 3's "llama-bpe", one that splits single
// digits (\p{N}|) "qwen2". A plain ByteLevel is "gpt-2", anything else
// "default". (llama.cpp's converter instead hashes the tokenization of a
// test text.)
func guessPre(pre *jsonNode) string {
	if pre == nil {
		return "default"
	}
	if pre.Type == "ByteLevel" {
		return "gpt-2"
	}
	res := pre.splitRegexes()
	if len(res) == 0 {
		return "default"
	}
	has := func(sub string) bool {
		for _, re := range res {
			if strings.Contains(re, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case len(res) >= 3 && res[0] == `\p{N}{1,3}` && has("぀-ゟ"):
		return "deepseek-v3"
	case res[0] == "[\r\n]" && has("A-Za-zµ"):
		return "deepseek-llm"
	case res[0] == "[\r\n]" && has(`\s?\p{L}+`):
		return "deepseek-coder"
	case strings.Contains(res[0], `\p{N}{1,3}`):
		return "llama-bpe"
	case strings.Contains(res[0], `\p{N}|`):
		return "qwen2"
	}
	return "default"
}

// maxHoles bounds the unused ids VocabFromTokenizerJSON fills in, so that a
// file naming a huge id cannot force a huge allocation.
const maxHoles = 1 << 16

// VocabFromTokenizerJSON reads the vocabulary of a BPE tokenizer.json.
//
// A byte-level BPE (pre_tokenizer or decoder ByteLevel, no byte fallback;
// GPT-2, Llama 3, Qwen2) becomes Model "gpt2" with its merges (given as "a b"
// strings or ["a", "b"] pairs) and Pre guessed as guessPre documents;
// tokens keep their byte-to-unicode spelling, as GGUF stores them.
//
// A SentencePiece-style BPE (byte_fallback true, or ▁ pieces) becomes
// Model "llama" with AddSpacePrefix (from a Prepend/Metaspace component)
// and Scores from the merge ranks: the piece a merge of rank r produces
// scores -r, so llama.cpp's score-driven merging applies merges in rank
// order; other normal pieces score below every merge, -(len(merges)+id);
// special, byte and unused tokens score 0. (llama.cpp's LlamaHfVocab
// writes -1000 for every piece, which loses the merge order.) <0xNN>
// pieces are byte tokens, the model's unk_token is the unknown token.
//
// added_tokens set their ids (special ones control, others user-defined);
// ids missing from both become "[PAD<id>]" unused tokens. BOS and AddBOS
// come from a TemplateProcessing post-processor that puts a special token
// before the sequence; EOS, PAD and chat template are not in tokenizer.json
// (see SpecialIDsFromHF and TokenizerConfigFromHF).
func VocabFromTokenizerJSON(data []byte) (*Vocab, error) {
	var t tokenizerJSON
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, vocabErr("tokenizer.json: %v", err)
	}
	if t.Model.Type != "BPE" {
		return nil, fmt.Errorf("%w: tokenizer.json model type %q (only BPE)", ErrUnsupported, t.Model.Type)
	}
	var vocab map[string]int64
	if err := json.Unmarshal(t.Model.Vocab, &vocab); err != nil {
		return nil, vocabErr("tokenizer.json: model.vocab: %v", err)
	}
	count := len(vocab) + len(t.AddedTokens)
	if count == 0 {
		return nil, vocabErr("tokenizer.json: empty vocabulary")
	}
	maxID := int64(-1)
	check := func(id int64, tok string) error {
		if id < 0 || id >= int64(count)+maxHoles || id >= maxVocab {
			return vocabErr("tokenizer.json: token %q has id %d out of range (%d tokens)", tok, id, count)
		}
		maxID = max(maxID, id)
		return nil
	}
	for tok, id := range vocab {
		if err := check(id, tok); err != nil {
			return nil, err
		}
	}
	for _, a := range t.AddedTokens {
		if err := check(a.ID, a.Content); err != nil {
			return nil, err
		}
	}
	n := int(maxID) + 1
	v := &Vocab{BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	v.Tokens = make([]string, n)
	v.Types = make([]int32, n)
	set := make([]bool, n)
	for tok, id := range vocab {
		if set[id] {
			return nil, vocabErr("tokenizer.json: id %d used by %q and %q", id, v.Tokens[id], tok)
		}
		v.Tokens[id], v.Types[id], set[id] = tok, TokenNormal, true
	}
	for _, a := range t.AddedTokens {
		if set[a.ID] && v.Tokens[a.ID] != a.Content {
			return nil, vocabErr("tokenizer.json: added token %q has id %d of %q", a.Content, a.ID, v.Tokens[a.ID])
		}
		v.Tokens[a.ID], set[a.ID] = a.Content, true
		if a.Special {
			v.Types[a.ID] = TokenControl
		} else {
			v.Types[a.ID] = TokenUserDefined
		}
	}
	for id := range v.Tokens {
		if !set[id] {
			v.Tokens[id], v.Types[id] = fmt.Sprintf("[PAD%d]", id), TokenUnused
		}
	}
	merges := make([]string, len(t.Model.Merges))
	for i, raw := range t.Model.Merges {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			merges[i] = s
			continue
		}
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return nil, vocabErr("tokenizer.json: merge %d is neither \"a b\" nor [\"a\", \"b\"]", i)
		}
		merges[i] = pair[0] + " " + pair[1]
	}
	byteLevel := t.PreTokenizer.has("ByteLevel") || t.Decoder.has("ByteLevel")
	spm := t.Model.ByteFallback
	if !spm && !byteLevel {
		for tok := range vocab {
			if strings.Contains(tok, "▁") {
				spm = true
				break
			}
		}
	}
	switch {
	case spm:
		v.Model = "llama"
		v.Pre = "default"
		v.AddSpacePrefix = t.Normalizer.hasPrepend() || t.PreTokenizer.has("Metaspace")
		spmScores(v, merges)
		if t.Model.UnkToken != nil {
			if id, ok := vocab[*t.Model.UnkToken]; ok {
				v.UNK = int32(id)
				v.Types[id] = TokenUnknown
			}
		}
		for id, tok := range v.Tokens {
			if v.Types[id] == TokenNormal && isBytePiece(tok) {
				v.Types[id] = TokenByte
				v.Scores[id] = 0
			}
		}
	case byteLevel:
		v.Model = "gpt2"
		v.Pre = guessPre(t.PreTokenizer)
		v.Merges = merges
	default:
		return nil, fmt.Errorf("%w: tokenizer.json BPE is neither byte-level nor SentencePiece-style", ErrUnsupported)
	}
	if bos, ok := t.PostProcessor.templateBOS(); ok {
		for _, a := range t.AddedTokens {
			if a.Content == bos {
				v.BOS, v.AddBOS = int32(a.ID), true
			}
		}
		if id, ok := vocab[bos]; ok && v.BOS < 0 {
			v.BOS, v.AddBOS = int32(id), true
		}
	}
	return v, nil
}

// hasPrepend reports a normalizer that prepends "▁" (SentencePiece's dummy
// prefix as tokenizers spells it).
func (n *jsonNode) hasPrepend() bool {
	found := false
	n.walk(func(c *jsonNode) { found = found || (c.Type == "Prepend" && c.Prepend == "▁") })
	return found
}

// templateBOS returns the special token a TemplateProcessing puts before
// the single sequence.
func (n *jsonNode) templateBOS() (string, bool) {
	tok, ok := "", false
	n.walk(func(c *jsonNode) {
		if c.Type != "TemplateProcessing" || ok || len(c.Single) < 2 {
			return
		}
		if st := c.Single[0].SpecialToken; st != nil && c.Single[1].Sequence != nil {
			tok, ok = st.ID, true
		}
	})
	return tok, ok
}

// spmScores fills Scores from merge ranks (see VocabFromTokenizerJSON).
func spmScores(v *Vocab, merges []string) {
	index := make(map[string]int, len(v.Tokens))
	for id, tok := range v.Tokens {
		index[tok] = id
	}
	v.Scores = make([]float32, len(v.Tokens))
	ranked := make([]bool, len(v.Tokens))
	for r, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok {
			continue
		}
		if id, ok := index[a+b]; ok && !ranked[id] {
			v.Scores[id], ranked[id] = -float32(r), true
		}
	}
	for id := range v.Tokens {
		if !ranked[id] && v.Types[id] == TokenNormal {
			v.Scores[id] = -float32(len(merges) + id)
		}
	}
}

// isBytePiece reports a "<0xNN>" byte-fallback piece.
func isBytePiece(s string) bool {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return false
	}
	for _, c := range []byte(s[3:5]) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// SpecialIDsFromHF takes bos_token_id, eos_token_id (an int or a list, the
// first entry is used) and pad_token_id from a Hugging Face config.json
// into v where v lacks them (id -1); ids outside the vocabulary are
// ignored.
func SpecialIDsFromHF(configJSON []byte, v *Vocab) error {
	var c struct {
		BOS, EOS, PAD json.RawMessage
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(configJSON, &raw); err != nil {
		return vocabErr("config.json: %v", err)
	}
	c.BOS, c.EOS, c.PAD = raw["bos_token_id"], raw["eos_token_id"], raw["pad_token_id"]
	for _, f := range []struct {
		raw json.RawMessage
		dst *int32
	}{{c.BOS, &v.BOS}, {c.EOS, &v.EOS}, {c.PAD, &v.PAD}} {
		if *f.dst >= 0 {
			continue
		}
		if id, ok := firstID(f.raw); ok && id < int64(len(v.Tokens)) {
			*f.dst = int32(id)
		}
	}
	return nil
}

// firstID decodes an id given as an int or a list of ints.
func firstID(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	var id int64
	if json.Unmarshal(raw, &id) == nil {
		return id, id >= 0
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return ids[0], ids[0] >= 0
	}
	return 0, false
}

// TokenizerConfigFromHF applies a Hugging Face tokenizer_config.json to v:
// bos_token, eos_token, unk_token and pad_token (a string or an
// {"content": ...} object) set the ids they name where v lacks them (id
// -1); add_bos_token and add_eos_token, when present, override v's flags;
// chat_template (a string, or a list of {name, template} from which
// "default" is taken) sets ChatTemplate.
func TokenizerConfigFromHF(tokenizerConfigJSON []byte, v *Vocab) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(tokenizerConfigJSON, &raw); err != nil {
		return vocabErr("tokenizer_config.json: %v", err)
	}
	index := func(tok string) (int32, bool) {
		for id, t := range v.Tokens {
			if t == tok {
				return int32(id), true
			}
		}
		return -1, false
	}
	for _, f := range []struct {
		key string
		dst *int32
	}{{"bos_token", &v.BOS}, {"eos_token", &v.EOS}, {"unk_token", &v.UNK}, {"pad_token", &v.PAD}} {
		r, ok := raw[f.key]
		if !ok || *f.dst >= 0 {
			continue
		}
		var s string
		if json.Unmarshal(r, &s) != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(r, &obj) != nil {
				continue
			}
			s = obj.Content
		}
		if id, ok := index(s); ok && s != "" {
			*f.dst = id
		}
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{{"add_bos_token", &v.AddBOS}, {"add_eos_token", &v.AddEOS}} {
		var b bool
		if r, ok := raw[f.key]; ok && json.Unmarshal(r, &b) == nil {
			*f.dst = b
		}
	}
	if r, ok := raw["chat_template"]; ok {
		var s string
		if json.Unmarshal(r, &s) == nil {
			v.ChatTemplate = s
		} else {
			var list []struct{ Name, Template string }
			if json.Unmarshal(r, &list) == nil {
				for _, t := range list {
					if t.Name == "default" {
						v.ChatTemplate = t.Template
					}
				}
			}
		}
	}
	return nil
}
