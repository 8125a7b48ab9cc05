package tokenizer

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// benchText returns n bytes of English text from the shared folder.
func benchText(b testing.TB, n int) string {
	data, err := os.ReadFile(testutil.Shared(b, "text/shakespeare-eval.txt"))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	for len(s) < n {
		s += s
	}
	s = s[:n]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 { // do not end inside a character
		s = s[:len(s)-1]
	}
	return s
}

// TestRealVocabMatchesNaive runs both real vocabularies over shared text in
// paragraphs and checks the fast merge loops against the naive ones, and
// the round trip.
func TestRealVocabMatchesNaive(t *testing.T) {
	text := benchText(t, 64<<10)
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		tk := loadGGUFTokenizer(t, testutil.Shared(t, "tokenizer-vectors/"+name))
		for i, para := range strings.Split(text, "\n\n") {
			fast, slow := tk.Encode(para, false), tk.naiveEncode(para)
			if !slices.Equal(fast, slow) && len(fast)+len(slow) > 0 {
				t.Fatalf("%s paragraph %d: fast %v, naive %v", name, i, fast, slow)
			}
		}
		ids := tk.Encode(text, true)
		if got := tk.Decode(ids); got != text {
			t.Fatalf("%s: round trip of %d bytes failed", name, len(text))
		}
		if n := len(ids); n < len(text)/8 || n > len(text)/2 {
			t.Fatalf("%s: %d tokens for %d bytes", name, n, len(text))
		}
	}
}

// BenchmarkEncode measures encoding speed (MB/s) of the queue-based merge
// loops beside the naive rescanning baseline, on 4 KiB of English text (a
// SentencePiece vocabulary merges it as one sequence), and of the fast path
// on 256 KiB.
func BenchmarkEncode(b *testing.B) {
	small := benchText(b, 4<<10)
	large := benchText(b, 256<<10)
	for _, v := range []struct{ name, file string }{
		{"spm", "ggml-vocab-llama-spm.gguf"},
		{"gpt2", "ggml-vocab-gpt-2.gguf"},
	} {
		tk := loadGGUFTokenizer(b, testutil.Shared(b, "tokenizer-vectors/"+v.file))
		b.Run(v.name+"/fast-4KiB", func(b *testing.B) {
			b.SetBytes(int64(len(small)))
			for b.Loop() {
				tk.Encode(small, false)
			}
		})
		b.Run(v.name+"/naive-4KiB", func(b *testing.B) {
			b.SetBytes(int64(len(small)))
			for b.Loop() {
				tk.naiveEncode(small)
			}
		})
		b.Run(v.name+"/fast-256KiB", func(b *testing.B) {
			b.SetBytes(int64(len(large)))
			for b.Loop() {
				tk.Encode(large, false)
			}
		})
	}
}
