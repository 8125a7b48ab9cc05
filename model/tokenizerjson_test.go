package model

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const gpt2TokJSON = `{"version": "1.0",
 "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true}],
 "normalizer": null,
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
 "post_processor": {"type": "ByteLevel"},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġa": 4, "<|endoftext|>": 5},
   "merges": ["a b", "Ġ a"]}}`

const llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`
const qwen2Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`

func splitTokJSON(regex string) string {
	return `{"added_tokens": [{"id": 6, "content": "<|begin_of_text|>", "special": true},
   {"id": 8, "content": "<tool>", "special": false}],
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
   {"type": "Split", "pattern": {"Regex": "` + regex + `"}, "behavior": "Isolated", "invert": false},
   {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
 "post_processor": {"type": "Sequence", "processors": [
   {"type": "ByteLevel"},
   {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
     {"Sequence": {"id": "A", "type_id": 0}}]}]},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "ignore_merges": true, "byte_fallback": false,
   "vocab": {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġa": 4, "1": 5},
   "merges": [["a", "b"], ["Ġ", "a"]]}}`
}

const spmTokJSON = `{"added_tokens": [
   {"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
   {"id": 2, "content": "</s>", "special": true}],
 "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
 "pre_tokenizer": null,
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
   {"Sequence": {"id": "A", "type_id": 0}}]},
 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace"}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
 "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
   "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "▁": 4, "a": 5, "b": 6, "▁a": 7, "ab": 8, "▁ab": 9},
   "merges": ["▁ a", "a b", "▁a b"]}}`

func TestVocabFromTokenizerJSONGPT2(t *testing.T) {
	v, err := VocabFromTokenizerJSON([]byte(gpt2TokJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := &Vocab{
		Model: "gpt2", Pre: "gpt-2",
		Tokens: []string{"a", "b", "Ġ", "ab", "Ġa", "<|endoftext|>"},
		Types:  []int32{1, 1, 1, 1, 1, 3},
		Merges: []string{"a b", "Ġ a"},
		BOS:    -1, EOS: -1, UNK: -1, PAD: -1,
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %+v\nwant %+v", v, want)
	}
}

func TestVocabFromTokenizerJSONSplit(t *testing.T) {
	for _, c := range []struct{ regex, pre string }{{llama3Regex, "llama-bpe"}, {qwen2Regex, "qwen2"}} {
		v, err := VocabFromTokenizerJSON([]byte(splitTokJSON(c.regex)))
		if err != nil {
			t.Fatal(err)
		}
		want := &Vocab{
			Model: "gpt2", Pre: c.pre,
			Tokens: []string{"a", "b", "Ġ", "ab", "Ġa", "1", "<|begin_of_text|>", "[PAD7]", "<tool>"},
			Types:  []int32{1, 1, 1, 1, 1, 1, TokenControl, TokenUnused, TokenUserDefined},
			Merges: []string{"a b", "Ġ a"},
			BOS:    6, EOS: -1, UNK: -1, PAD: -1, AddBOS: true,
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("got %+v\nwant %+v", v, want)
		}
	}
}

func TestVocabFromTokenizerJSONSentencePiece(t *testing.T) {
	v, err := VocabFromTokenizerJSON([]byte(spmTokJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := &Vocab{
		Model: "llama", Pre: "default",
		Tokens: []string{"<unk>", "<s>", "</s>", "<0x0A>", "▁", "a", "b", "▁a", "ab", "▁ab"},
		Types:  []int32{TokenUnknown, TokenControl, TokenControl, TokenByte, 1, 1, 1, 1, 1, 1},
		// merge ranks: ▁a 0, ab -1, ▁ab -2; unmerged pieces -(3+id).
		Scores: []float32{0, 0, 0, 0, -7, -8, -9, 0, -1, -2},
		BOS:    1, EOS: -1, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true,
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %+v\nwant %+v", v, want)
	}
	tc := `{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
		"add_bos_token": false, "add_eos_token": true, "chat_template": "{% for m in messages %}{{ m }}{% endfor %}"}`
	if err := TokenizerConfigFromHF([]byte(tc), v); err != nil {
		t.Fatal(err)
	}
	if v.BOS != 1 || v.EOS != 2 || v.PAD != -1 || v.AddBOS || !v.AddEOS || v.ChatTemplate == "" {
		t.Errorf("after tokenizer_config: bos %d eos %d pad %d add %v %v template %q", v.BOS, v.EOS, v.PAD, v.AddBOS, v.AddEOS, v.ChatTemplate)
	}
	v.ChatTemplate = ""
	if err := TokenizerConfigFromHF([]byte(`{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "y"}]}`), v); err != nil || v.ChatTemplate != "y" {
		t.Errorf("chat template list: %q %v", v.ChatTemplate, err)
	}
}

func TestVocabFromTokenizerJSONErrors(t *testing.T) {
	for name, c := range map[string]struct {
		json string
		err  error
	}{
		"unigram":     {`{"model": {"type": "Unigram", "vocab": [["a", 0]]}}`, ErrUnsupported},
		"empty":       {`{"model": {"type": "BPE", "vocab": {}}}`, ErrVocab},
		"huge id":     {`{"model": {"type": "BPE", "vocab": {"a": 4000000000}}, "decoder": {"type": "ByteLevel"}}`, ErrVocab},
		"negative":    {`{"model": {"type": "BPE", "vocab": {"a": -1}}, "decoder": {"type": "ByteLevel"}}`, ErrVocab},
		"duplicate":   {`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}, "decoder": {"type": "ByteLevel"}}`, ErrVocab},
		"bad merge":   {`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}, "decoder": {"type": "ByteLevel"}}`, ErrVocab},
		"added clash": {`{"added_tokens": [{"id": 0, "content": "x"}], "model": {"type": "BPE", "vocab": {"a": 0}}, "decoder": {"type": "ByteLevel"}}`, ErrVocab},
		"neither":     {`{"model": {"type": "BPE", "vocab": {"a": 0}}}`, ErrUnsupported},
		"not json":    {`{`, ErrVocab},
	} {
		if _, err := VocabFromTokenizerJSON([]byte(c.json)); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	// A hole is filled, but a file cannot ask for millions of them.
	v, err := VocabFromTokenizerJSON([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 3}}, "decoder": {"type": "ByteLevel"}}`))
	if err != nil || len(v.Tokens) != 4 || v.Tokens[1] != "[PAD1]" || v.Types[2] != TokenUnused {
		t.Errorf("holes: %+v %v", v, err)
	}
}

func FuzzTokenizerJSON(f *testing.F) {
	for _, s := range []string{gpt2TokJSON, splitTokJSON(llama3Regex), spmTokJSON} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := VocabFromTokenizerJSON(data)
		if err != nil {
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	})
}

// multiSplitTokJSON is a byte-level tokenizer.json whose pre_tokenizer is a
// Sequence of one Split per regex, then ByteLevel.
func multiSplitTokJSON(t *testing.T, regexes []string) []byte {
	t.Helper()
	var splits []map[string]any
	for _, re := range regexes {
		splits = append(splits, map[string]any{"type": "Split", "pattern": map[string]string{"Regex": re},
			"behavior": "Isolated", "invert": false})
	}
	splits = append(splits, map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})
	b, err := json.Marshal(map[string]any{
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": splits},
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0, "b": 1, "ab": 2},
			"merges": []string{"a b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGuessPreDeepSeek(t *testing.T) {
	for _, c := range []struct {
		pre     string
		regexes []string
	}{
		{"deepseek-v3", []string{`\p{N}{1,3}`, `[一-龥぀-ゟ゠-ヿ]+`,
			"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
		{"deepseek-llm", []string{"[\r\n]", `\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿ]+`, `\s?[!-/:-~！-／：-～‘-‟　-。]+`, `\s+$`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}+`}},
		{"deepseek-coder", []string{"[\r\n]", `\s?\p{L}+`, `\s?\p{P}+`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}`}},
		{"llama-bpe", []string{strings.ReplaceAll(llama3Regex, `\\`, `\`)}},
		{"default", []string{`\p{P}+`}},
	} {
		v, err := VocabFromTokenizerJSON(multiSplitTokJSON(t, c.regexes))
		if err != nil {
			t.Fatal(err)
		}
		if v.Pre != c.pre {
			t.Errorf("%s: guessed %q", c.pre, v.Pre)
		}
		if _, err := v.Resolve(); err != nil {
			t.Errorf("%s: %v", c.pre, err)
		}
	}
}
