package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestLlamaVocabs runs every llama.cpp tokenizer vector file
// (ggml-vocab-NAME.gguf with .inp and .out beside it) found in the folder
// named by SHRINK_LLAMA_VOCABS (llama.cpp's models/ folder), skipping when
// it is unset, and the two kept in the shared reference folder. Vocabularies
// other than SentencePiece ("llama") and byte-level BPE ("gpt2") are
// skipped.
func TestLlamaVocabs(t *testing.T) {
	var paths []string
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run("shared/"+name, func(t *testing.T) {
			runVectorFile(t, testutil.Shared(t, "tokenizer-vectors/"+name))
		})
	}
	dir := os.Getenv("SHRINK_LLAMA_VOCABS")
	if dir == "" {
		t.Log("SHRINK_LLAMA_VOCABS unset: llama.cpp's models/ folder not checked")
		return
	}
	found, err := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range found {
		if _, err := os.Stat(p + ".inp"); err == nil {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		t.Fatalf("SHRINK_LLAMA_VOCABS=%s holds no ggml-vocab-*.gguf with .inp/.out", dir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) { runVectorFile(t, p) })
	}
}

// runVectorFile checks every text of one vector file, encoding without
// special tokens as llama.cpp's test-tokenizer-0 does.
func runVectorFile(t *testing.T, path string) {
	v := loadGGUFVocab(t, path)
	if v.Model != "llama" && v.Model != "gpt2" {
		t.Skipf("vocabulary model %q is neither SentencePiece nor byte-level BPE", v.Model)
	}
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	cases := readVectors(t, path)
	failed := 0
	for i, c := range cases {
		got := tk.Encode(c.text, false)
		if !slices.Equal(got, c.want) {
			failed++
			t.Errorf("case %d %q:\n got  %v\n want %v", i, c.text, got, c.want)
		}
	}
	t.Logf("%s (pre %q): %d/%d lines pass", filepath.Base(path), v.Pre, len(cases)-failed, len(cases))
}
