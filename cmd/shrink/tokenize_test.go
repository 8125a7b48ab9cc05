package main

import (
	"encoding/json"
	"github.com/shrink-llm/shrink"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
)

// TestTokenizeVocabFiles runs `shrink tokenize VOCAB.gguf --text T --no-bos`
// on llama.cpp's vocabulary-only files (architecture gpt2 and llama) and
// compares every printed line with llama.cpp's expected ids.
func TestTokenizeVocabFiles(t *testing.T) {
	for _, name := range []string{"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := testutil.Shared(t, "tokenizer-vectors/"+name)
			inp, err := os.ReadFile(path + ".inp")
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(path + ".out")
			if err != nil {
				t.Fatal(err)
			}
			texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
			if texts[len(texts)-1] == "" {
				texts = texts[:len(texts)-1]
			}
			want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(texts) != len(want) || len(texts) < 40 {
				t.Fatalf("%d texts, %d expected lines", len(texts), len(want))
			}
			for i, text := range texts {
				code, got, errOut := run(t, "tokenize", path, "--text", text, "--no-bos")
				if code != 0 {
					t.Fatalf("text %d: exit %d: %s", i, code, errOut)
				}
				if g, w := strings.TrimSpace(got), strings.TrimSpace(want[i]); g != w {
					t.Errorf("text %d %q: got %q, want %q", i, text, g, w)
				}
			}
		})
	}
}

// TestTokenizeVocabOnly checks that a GGUF holding only a vocabulary, of an
// architecture shrink cannot run, still tokenizes (adding BOS by llama.cpp's
// default when add_bos_token is absent) and shows its vocabulary in
// inspect, and that one without a tokenizer is refused with a one-line
// error.
func TestTokenizeVocabOnly(t *testing.T) {
	dir := t.TempDir()
	v := &model.Vocab{Model: "llama", Tokens: []string{"<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi"},
		Types: []int32{2, 3, 3, 1, 1, 1, 1, 1}, Scores: []float32{0, 0, 0, -1, -2, -3, -0.5, -0.25},
		BOS: -1, EOS: -1, UNK: -1, PAD: -1, Omit: model.KeyAddBOS | model.KeyAddEOS | model.KeyAddSpacePrefix}
	var md gguf.Metadata
	md.Set("general.architecture", gguf.String("falcon"))
	v.SetGGUF(&md)
	path := filepath.Join(dir, "vocab.gguf")
	writeGGUF(t, path, &md)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--text", "hi"}, "1 7"},
		{[]string{"--text", "hi", "--no-bos"}, "7"},
	} {
		code, out, errOut := run(t, append([]string{"tokenize", path}, c.args...)...)
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("tokenize %v: exit %d, %q (stderr %q), want %q", c.args, code, out, errOut, c.want)
		}
	}
	// inspect shows the vocabulary, with llama.cpp's default special ids.
	code, out, errOut := run(t, "inspect", path, "--json")
	var rep struct {
		Tokenizer *shrink.InspectTokenizer `json:"tokenizer"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Tokenizer == nil {
		t.Fatalf("inspect: exit %d, %q, stderr %q", code, out, errOut)
	}
	if tj := *rep.Tokenizer; tj.Model != "llama" || tj.Tokens != 8 || tj.BOS != 1 || tj.EOS != 2 {
		t.Errorf("inspect tokenizer %+v, want llama, 8 tokens, bos 1, eos 2", tj)
	}
	var bare gguf.Metadata
	bare.Set("general.architecture", gguf.String("llama"))
	empty := filepath.Join(dir, "empty.gguf")
	writeGGUF(t, empty, &bare)
	code, _, errOut = run(t, "tokenize", empty, "--text", "hi")
	if code == 0 || !strings.Contains(errOut, "no tokenizer") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("file without tokenizer: exit %d, stderr %q", code, errOut)
	}
}

// writeGGUF writes a GGUF file with metadata and no tensors.
func writeGGUF(t *testing.T, path string, md *gguf.Metadata) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := gguf.NewWriter(f, md, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
