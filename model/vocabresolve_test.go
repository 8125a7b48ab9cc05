package model

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
)

// writeVocabGGUF writes v (with the extra keys) as a tensor-less GGUF file
// and reads its vocabulary back, as a file llama.cpp's converters wrote.
func writeVocabGGUF(t *testing.T, v *Vocab, extra map[string]gguf.Value) *Vocab {
	t.Helper()
	var md gguf.Metadata
	md.Set("general.architecture", gguf.String("llama"))
	v.SetGGUF(&md)
	for k, val := range extra {
		md.Set(k, val)
	}
	path := filepath.Join(t.TempDir(), "v.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := gguf.NewWriter(f, &md, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	back, err := VocabFromGGUF(&g.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// bareVocab has n tokens and no optional key: no special ids, no add_*
// flags (as llama.cpp's llama2.c converter writes).
func bareVocab(modelName, pre string, n int) *Vocab {
	v := &Vocab{Model: modelName, Pre: pre, BOS: -1, EOS: -1, UNK: -1, PAD: -1,
		Omit: KeyAddBOS | KeyAddEOS | KeyAddSpacePrefix | KeyRemoveExtraWhitespace}
	for i := 0; i < n; i++ {
		v.Tokens = append(v.Tokens, string(rune('a'+i%26))+string(rune('A'+i/26)))
	}
	if modelName == "gpt2" {
		v.Merges = []string{"a A"}
	}
	return v
}

func TestResolveDefaults(t *testing.T) {
	for _, c := range []struct {
		name, model, pre string
		n                int
		want             Resolved
	}{
		{"spm", "llama", "", 40, Resolved{BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}},
		{"spm tiny", "llama", "", 2, Resolved{BOS: 1, EOS: -1, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}},
		{"gpt-2", "gpt2", "gpt-2", 40, Resolved{Pre: PreGPT2, BOS: 11, EOS: 11, UNK: -1, PAD: -1}},
		{"llama3", "gpt2", "llama-bpe", 40, Resolved{Pre: PreLlama3, BOS: 11, EOS: 11, UNK: -1, PAD: -1, AddBOS: true, IgnoreMerges: true}},
		{"tekken", "gpt2", "tekken", 40, Resolved{Pre: PreTekken, BOS: 11, EOS: 11, UNK: -1, PAD: -1, AddBOS: true, IgnoreMerges: true}},
		{"chameleon", "gpt2", "chameleon", 40, Resolved{Pre: PreChameleon, BOS: 11, EOS: 11, UNK: -1, PAD: -1, AddBOS: true}},
		{"chatglm", "gpt2", "chatglm-bpe", 40, Resolved{Pre: PreChatGLM4, BOS: -1, EOS: 11, UNK: -1, PAD: -1}},
		{"deepseek-v3", "gpt2", "deepseek-v3", 40, Resolved{Pre: PreDeepseek3LLM, BOS: 11, EOS: 11, UNK: -1, PAD: -1}},
		{"qwen", "gpt2", "deepseek-r1-qwen", 40, Resolved{Pre: PreQwen2, BOS: 11, EOS: 11, UNK: -1, PAD: -1}},
		{"no pre", "gpt2", "", 40, Resolved{Pre: PreDefault, BOS: 11, EOS: 11, UNK: -1, PAD: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := writeVocabGGUF(t, bareVocab(c.model, c.pre, c.n), nil)
			if v.AddBOS || v.Omit&KeyAddBOS == 0 || v.BOS != -1 {
				t.Fatalf("file read back with AddBOS %v Omit %b BOS %d", v.AddBOS, v.Omit, v.BOS)
			}
			r, err := v.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			if (c.pre == "" && c.model == "gpt2") != (len(r.Warnings) == 1) {
				t.Errorf("warnings %q", r.Warnings)
			}
			r.Warnings = nil
			if !reflect.DeepEqual(*r, c.want) {
				t.Errorf("Resolve = %+v\nwant      %+v", *r, c.want)
			}
			// Re-writing keeps the file's keys: still no add_bos_token.
			var md gguf.Metadata
			v.SetGGUF(&md)
			if _, ok := md.Get("tokenizer.ggml.add_bos_token"); ok {
				t.Errorf("SetGGUF wrote add_bos_token the file did not have")
			}
		})
	}
}

func TestResolveKeysWin(t *testing.T) {
	v := bareVocab("llama", "", 40)
	v.BOS, v.EOS, v.UNK = 5, 6, 7
	v.AddBOS, v.AddSpacePrefix, v.AddEOS = false, false, true
	v.Omit = 0
	v = writeVocabGGUF(t, v, map[string]gguf.Value{"tokenizer.ggml.pre": gguf.String("not-a-bpe-name")})
	r, err := v.Resolve()
	if err != nil {
		t.Fatalf("a SentencePiece vocabulary's pre is not looked at: %v", err)
	}
	want := Resolved{BOS: 5, EOS: 6, UNK: 7, PAD: -1, AddEOS: true}
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("Resolve = %+v, want %+v", *r, want)
	}
	// An id past the vocabulary is ignored: the default stays.
	v = writeVocabGGUF(t, bareVocab("llama", "", 40), map[string]gguf.Value{"tokenizer.ggml.bos_token_id": gguf.Uint32(400)})
	if r, _ := v.Resolve(); r.BOS != 1 {
		t.Errorf("bos 400 of 40 tokens: BOS %d, want the default 1", r.BOS)
	}
}

func TestResolveErrors(t *testing.T) {
	_, err := bareVocab("gpt2", "no-such-pre", 20).Resolve()
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown pre: %v", err)
	}
	if _, err := bareVocab("sentencepiece", "", 20).Resolve(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestResolveControlOverrides(t *testing.T) {
	v := bareVocab("gpt2", "deepseek-coder", 6)
	v.Tokens = append(v.Tokens, "<|im_end|>", "<｜fim▁begin｜>", "<｜end▁of▁sentence｜>")
	v.Types = []int32{1, 1, 1, 1, 1, 1, TokenNormal, TokenUserDefined, TokenUserDefined}
	r, err := v.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 3, 3, 3}; !reflect.DeepEqual(r.Types, want) {
		t.Errorf("types %v, want %v", r.Types, want)
	}
	if v.Types[6] != TokenNormal {
		t.Errorf("Resolve changed the Vocab's own types")
	}
	// With fim_pre_token_id and eot_token_id in the file, only the
	// end-of-generation spelling is overridden.
	v.Extra = []gguf.KV{{Key: "tokenizer.ggml.fim_pre_token_id", Value: gguf.Uint32(7)},
		{Key: "tokenizer.ggml.eot_token_id", Value: gguf.Uint32(6)}}
	r, _ = v.Resolve()
	if want := []int32{1, 1, 1, 1, 1, 1, 3, 4, 4}; !reflect.DeepEqual(r.Types, want) {
		t.Errorf("with keys: types %v, want %v", r.Types, want)
	}
}
