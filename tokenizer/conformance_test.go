package tokenizer

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
)

// vectorCase is one text of a llama.cpp tokenizer vector file with its
// expected ids.
type vectorCase struct {
	text string
	want []int32
}

// loadGGUFVocab reads a GGUF file's vocabulary.
func loadGGUFVocab(t testing.TB, path string) *model.Vocab {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := model.VocabFromGGUF(&f.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// loadGGUFTokenizer builds a tokenizer from a GGUF file's metadata.
func loadGGUFTokenizer(t testing.TB, path string) *Tokenizer {
	t.Helper()
	tk, err := New(loadGGUFVocab(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// readVectors splits NAME.inp and NAME.out as llama.cpp's
// tests/test-tokenizer-0.cpp does: texts are separated by
// "\n__ggml_vocab_test__\n" (so each text loses its trailing newline), and
// each .out line holds the ids of one text.
func readVectors(t testing.TB, path string) []vectorCase {
	t.Helper()
	inp, err := os.ReadFile(path + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for s := string(inp); s != ""; {
		i := strings.Index(s, sep)
		if i < 0 {
			texts = append(texts, s)
			break
		}
		texts = append(texts, s[:i])
		s = s[i+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d texts but %d expected lines", path, len(texts), len(lines))
	}
	cases := make([]vectorCase, len(texts))
	for i, line := range lines {
		cases[i].text = texts[i]
		cases[i].want = []int32{}
		for _, f := range strings.Fields(line) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", path, i+1, err)
			}
			cases[i].want = append(cases[i].want, int32(id))
		}
	}
	return cases
}

func TestConformance(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := testutil.Shared(t, "tokenizer-vectors/"+name)
			tk := loadGGUFTokenizer(t, path)
			if tk.kind == kindSPM && !tk.cutBeforeSpace {
				t.Errorf("LLaMA vocabulary should allow merging word by word")
			}
			cases := readVectors(t, path)
			if len(cases) < 40 {
				t.Fatalf("only %d cases", len(cases))
			}
			failed := 0
			for i, c := range cases {
				got := tk.Encode(c.text, false)
				if !slices.Equal(got, c.want) {
					failed++
					t.Errorf("case %d %q:\n got  %v\n want %v", i, c.text, got, c.want)
				}
				if dec := tk.Decode(got); dec != c.text {
					t.Errorf("case %d: Decode(Encode(%q)) = %q", i, c.text, dec)
				}
			}
			t.Logf("%d/%d cases reproduced", len(cases)-failed, len(cases))
		})
	}
}
