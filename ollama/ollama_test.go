package ollama

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// cases are real chat templates with the special tokens and end-of-
// generation ids of their models' vocabularies.
var cases = []struct {
	file, family string
	tokens       []string
	eos          uint32
	eot          int // -1: no tokenizer.ggml.eot_token_id
}{
	{"llama-2", "llama-2", []string{"<unk>", "<s>", "</s>"}, 2, -1},
	{"llama-3.1", "llama-3", []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"}, 4, 4},
	{"qwen2.5", "chatml", []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 2, 0},
	{"openhermes-chatml", "chatml", []string{"<unk>", "<s>", "</s>", "<|im_end|>", "<|im_start|>"}, 3, -1},
	{"mistral-7b-v0.2", "mistral", []string{"<unk>", "<s>", "</s>"}, 2, -1},
	{"mistral-nemo", "mistral", []string{"<unk>", "<s>", "</s>", "[INST]", "[/INST]"}, 2, -1},
	{"deepseek-coder", "deepseek-coder", []string{"<｜begin▁of▁sentence｜>", "<|EOT|>"}, 1, -1},
	{"deepseek-r1", "deepseek-3", []string{"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"}, 1, -1},
	{"phi-3-mini", "phi-3", []string{"<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>"}, 3, 5},
	{"phi-3.5", "phi-3", []string{"<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"}, 3, 5},
	{"gemma-7b", "gemma", []string{"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}, 1, 4},
	{"gemma-2", "gemma", []string{"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}, 1, 4},
	{"vicuna", "", []string{"<unk>", "<s>", "</s>"}, 2, -1},
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			tmpl, err := os.ReadFile(filepath.Join("testdata", "templates", c.file+".jinja"))
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(string(tmpl)); got != c.family {
				t.Fatalf("Detect = %q, want %q", got, c.family)
			}
			var md gguf.Metadata
			md.Set("tokenizer.chat_template", gguf.String(string(tmpl)))
			md.Set("tokenizer.ggml.tokens", gguf.Strings(c.tokens))
			md.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(c.eos))
			if c.eot >= 0 {
				md.Set("tokenizer.ggml.eot_token_id", gguf.Uint32(uint32(c.eot)))
			}
			m := FromMetadata(&md, "./model.gguf")
			if m.Family != c.family {
				t.Errorf("Family = %q, want %q", m.Family, c.family)
			}
			if (m.Template == "") != (c.family == "") {
				t.Errorf("Template %q for family %q", m.Template, c.family)
			}
			if !strings.Contains(m.String(), "PARAMETER stop \""+c.tokens[c.eos]+"\"") {
				t.Errorf("no stop for the EOS token %q:\n%s", c.tokens[c.eos], m)
			}
			testutil.Golden(t, filepath.Join("testdata", "golden", c.file+".Modelfile"), []byte(m.String()))
		})
	}
}

func TestNoTemplate(t *testing.T) {
	var md gguf.Metadata
	md.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"<unk>", "<s>", "</s>"}))
	md.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(2))
	want := "# Modelfile written by shrink: ollama create NAME -f Modelfile\n" +
		"# no TEMPLATE: the GGUF has no tokenizer.chat_template (a base model); prompts are used as they are\n" +
		"FROM ./m.gguf\nPARAMETER stop \"</s>\"\n"
	if got := FromMetadata(&md, "./m.gguf").String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestStopsNeedVocabulary: a family's special-token stops are written only
// when the vocabulary holds them; an EOS id beyond the vocabulary is
// ignored.
func TestStopsNeedVocabulary(t *testing.T) {
	var md gguf.Metadata
	md.Set("tokenizer.chat_template", gguf.String("{{ '<|im_start|>' + role }}<|im_end|>"))
	md.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"a", "<|im_end|>"}))
	md.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(7))
	m := FromMetadata(&md, "./m.gguf")
	if len(m.Stop) != 1 || m.Stop[0] != "<|im_end|>" {
		t.Errorf("Stop = %q, want [<|im_end|>]", m.Stop)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"</s>":     `"</s>"`,
		"a\nb":     "\"\"\"a\nb\"\"\"",
		`say "hi"`: `"""say "hi""""`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestWrite writes the Modelfile of a GGUF file (metadata only) carrying
// Qwen2.5's chat template and reads it back.
func TestWrite(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("testdata", "templates", "qwen2.5.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	var md gguf.Metadata
	md.Set("general.architecture", gguf.String("qwen2"))
	md.Set("tokenizer.chat_template", gguf.String(string(tmpl)))
	md.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}))
	md.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(2))
	dir := t.TempDir()
	path := filepath.Join(dir, "m-q8_0.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := gguf.NewWriter(f, &md, nil)
	if err == nil {
		err = w.Close()
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mfPath, m, err := Write(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(mfPath)
	if err != nil || mfPath != filepath.Join(dir, "Modelfile") || m.Family != "chatml" {
		t.Fatalf("Write: %s, family %q (%v)", mfPath, m.Family, err)
	}
	for _, want := range []string{"FROM ./m-q8_0.gguf\n", "TEMPLATE \"\"\"{{ if .System }}<|im_start|>system\n", "PARAMETER stop \"<|im_end|>\"\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("Modelfile lacks %q:\n%s", want, got)
		}
	}
	if _, _, err := Write(filepath.Join(dir, "missing.gguf")); err == nil {
		t.Error("Write of a missing file: no error")
	}
}
