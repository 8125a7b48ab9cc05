package model

import "strings"

// VocabFromLlama2c builds a vocabulary from a llama2.c tokenizer.bin's
// pieces and scores with the conventions of llama.cpp's
// convert-llama2c-to-ggml (load_vocab): ids 0, 1, 2 are named "<unk>",
// "<s>", "</s>" with types unknown, control, control; "<0xNN>" pieces are
// byte tokens; in every other piece spaces become "▁" (U+2581) and the
// type is normal. UNK 0, BOS 1, EOS 2, AddBOS and AddSpacePrefix true,
// Model "llama". Missing scores are 0.
func VocabFromLlama2c(pieces []string, scores []float32) *Vocab {
	n := len(pieces)
	v := &Vocab{
		Model: "llama", Pre: "default",
		Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]int32, n),
		BOS: -1, EOS: -1, UNK: -1, PAD: -1,
		AddBOS: true, AddSpacePrefix: true,
	}
	for i, p := range pieces {
		if i < len(scores) {
			v.Scores[i] = scores[i]
		}
		switch {
		case i == 0:
			v.Tokens[i], v.Types[i], v.UNK = "<unk>", TokenUnknown, 0
		case i == 1:
			v.Tokens[i], v.Types[i], v.BOS = "<s>", TokenControl, 1
		case i == 2:
			v.Tokens[i], v.Types[i], v.EOS = "</s>", TokenControl, 2
		case isBytePiece(p):
			v.Tokens[i], v.Types[i] = p, TokenByte
		default:
			v.Tokens[i], v.Types[i] = strings.ReplaceAll(p, " ", "▁"), TokenNormal
		}
	}
	return v
}
