package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestPreTokenizerGolden compares every pre-tokenizer with the splits that
// testdata/pretok_ref.py computes by running llama.cpp's expressions (the
// third-party Python regex module, with llama.cpp's collapsing of Unicode
// classes) over llama.cpp's tokenizer test texts and some harder ones.
// Regenerate with
//
//	python3 testdata/pretok_ref.py LLAMA_CPP/models/ggml-vocab-llama-bpe.gguf.inp > testdata/pretok_golden.json
func TestPreTokenizerGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/pretok_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Texts []string
		Cases []struct {
			Pre    string
			Splits [][]string
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 30 || len(g.Texts) < 50 {
		t.Fatalf("golden file holds %d pre-tokenizers, %d texts", len(g.Cases), len(g.Texts))
	}
	for _, c := range g.Cases {
		p := preNamed(t, c.Pre)
		bad := 0
		for i, text := range g.Texts {
			got := []string{}
			p.split(text, func(w string) { got = append(got, w) })
			if !reflect.DeepEqual(got, c.Splits[i]) {
				if bad++; bad <= 3 {
					t.Errorf("%s: %q:\n got  %q\n want %q", c.Pre, text, got, c.Splits[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d texts differ", c.Pre, bad, len(g.Texts))
		}
	}
}
