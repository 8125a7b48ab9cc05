package bench

import (
	_ "embed"
	"fmt"

	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/tokenizer"
)

// DemoText is the evaluation text of `shrink demo`: Go source of this
// repository (a copy of a few of its files, testdata/demo.txt), the domain
// of the default model's tokenizer and training data.
//
//go:embed testdata/demo.txt
var DemoText string

// Tokenize encodes the whole text as llama.cpp's perplexity tool does (with
// BOS when the vocabulary adds one) and returns the tokens and the token
// that replaces the first of every chunk (BOS, or -1 when the vocabulary
// adds none).
func Tokenize(v *model.Vocab, text string) ([]int32, int32, error) {
	if v == nil {
		return nil, -1, fmt.Errorf("bench: the model has no tokenizer")
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		return nil, -1, err
	}
	// BOS as the file's add_bos_token says, or llama.cpp's default.
	return tok.Encode(text, true), tok.ChunkBOS(), nil
}
