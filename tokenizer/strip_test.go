package tokenizer

import (
	"reflect"
	"testing"

	"github.com/shrink-llm/shrink/model"
)

// TestStripAfterSpecial: in a Phi-3 model (general.name), whitespace after
// a user-defined special token cut out of the text is dropped, as
// llama.cpp's RSTRIP attribute does; other models keep it.
func TestStripAfterSpecial(t *testing.T) {
	v := &model.Vocab{Model: "llama", Tokens: []string{"<unk>", "<s>", "</s>", "▁", "a", "▁a", "<tool>"},
		Types:  []int32{model.TokenUnknown, model.TokenControl, model.TokenUserDefined, 1, 1, 1, model.TokenUserDefined},
		Scores: []float32{0, 0, 0, -1, -2, -0.5, 0},
		BOS:    1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	for _, c := range []struct {
		name string
		want []int32
	}{
		{"Phi-3 mini", []int32{5, 2, 5, 6, 5}},
		{"llama", []int32{5, 2, 3, 5, 6, 3, 0, 5}},
	} {
		v.Name = c.name
		tk := mustNew(t, v)
		if got := tk.Encode("a</s> a<tool>\t a", false); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
