package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzVocabs are the tokenizers FuzzEncode runs: byte-level vocabularies
// with one pre-tokenizer of each family, and a SentencePiece-style one with byte tokens.
func fuzzVocabs(t testing.TB) (bpe []*Tokenizer, spm *Tokenizer) {
	merges := []string{"a b", "b a", "a a", "ab a", "b ab", "Ġ a", "ab ab", "Ġa b", "ba b", "Ġ Ġ", "3 3", "33 3", "' s", "Ċ Ċ"}
	for _, pre := range []string{"gpt-2", "llama-bpe", "qwen2", "starcoder", "default", "falcon",
		"deepseek-llm", "deepseek-coder", "deepseek-v3", "bloom", "viking", "tekken", "chameleon"} {
		bpe = append(bpe, mustNew(t, bpeVocab(pre, merges...)))
	}
	spm = mustNew(t, spmVocab(true, "▁", -1.0, "a", -3.0, "b", -3.0, "ab", -1.0, "ba", -1.0, "aa", -2.0, "▁a", -0.5, "aba", -1.5, "▁▁", -0.7))
	return bpe, spm
}

// FuzzEncode checks that encoding never panics, that the queue-based merge
// loop agrees with the naive one, and that decoding gives the text back:
// always for byte-level vocabularies, and for valid UTF-8 without "▁" for
// the SentencePiece-style one.
func FuzzEncode(f *testing.F) {
	bpe, spm := fuzzVocabs(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range append(bpe, spm) {
			ids := tk.Encode(s, true)
			_ = tk.EncodeSpecial(s, true)
			for _, id := range ids {
				if id < 0 || int(id) >= tk.VocabSize() {
					t.Fatalf("id %d out of range", id)
				}
			}
			if len(s) <= 1024 {
				if fast, slow := tk.Encode(s, false), tk.naiveEncode(s); !slices.Equal(fast, slow) {
					t.Fatalf("%q: fast %v, naive %v", s, fast, slow)
				}
			}
			dec := tk.Decode(ids)
			d := tk.NewDecoder()
			var sb strings.Builder
			for _, id := range ids {
				sb.WriteString(d.Next(id))
			}
			sb.WriteString(d.Flush())
			if sb.String() != dec {
				t.Fatalf("streamed %q, Decode %q", sb.String(), dec)
			}
			roundTrip := tk.kind == kindBPE || utf8.ValidString(s) && !strings.Contains(s, "▁")
			if roundTrip && dec != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, dec)
			}
		}
	})
}
