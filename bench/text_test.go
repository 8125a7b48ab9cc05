package bench

import (
	"slices"
	"testing"

	"github.com/shrink-llm/shrink/model"
)

// TestTokenizeBOSDefault: a SentencePiece vocabulary whose file has no
// tokenizer.ggml.add_bos_token (llama.cpp's llama2.c converter writes none)
// gets BOS at the start of the text and of every chunk, as llama.cpp's
// default; a file that says false gets none.
func TestTokenizeBOSDefault(t *testing.T) {
	v := &model.Vocab{Model: "llama", Tokens: []string{"<unk>", "<s>", "</s>", "▁", "a"},
		Types: []int32{2, 3, 3, 1, 1}, Scores: []float32{0, 0, 0, -1, -2},
		BOS: -1, EOS: -1, UNK: -1, PAD: -1, Omit: model.KeyAddBOS | model.KeyAddEOS | model.KeyAddSpacePrefix}
	ids, bos, err := Tokenize(v, "a a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{1, 3, 4, 3, 4}; bos != 1 || !slices.Equal(ids, want) {
		t.Errorf("without add_bos_token: ids %v, chunk BOS %d; want 1 first and BOS 1", ids, bos)
	}
	v.Omit &^= model.KeyAddBOS // the file says add_bos_token = false
	ids, bos, err = Tokenize(v, "a a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{3, 4, 3, 4}; bos != -1 || !slices.Equal(ids, want) {
		t.Errorf("add_bos_token false: ids %v, chunk BOS %d; want no BOS", ids, bos)
	}
}
