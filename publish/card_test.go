package publish

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// report returns a bench report with the given figures (negative: absent).
func report(path string, bytes int64, bpw, ppl, kld, top1, tps float64, tasks ...bench.TaskResult) *bench.Report {
	r := bench.New()
	r.Tool = &bench.Tool{Name: "shrink", Version: "0.1.0-test"}
	r.Model = &bench.ModelInfo{Path: path, FileBytes: bytes, BitsPerWeight: bpw}
	r.Text = &bench.TextInfo{Path: "/data/eval/go-domain.txt", Tokens: 20480}
	r.Perplexity = &bench.Perplexity{Value: ppl, Stderr: ppl / 100}
	if kld >= 0 {
		r.KLD = &bench.Dist{Mean: kld}
		r.Top1Agreement = &top1
		r.Baseline = &bench.Baseline{Path: "/models/tinyllama-f16.gguf"}
	}
	if tps >= 0 {
		r.Speed = &bench.Speed{DecodeTokensPerS: tps}
	}
	r.Tasks = tasks
	return r
}

// fullCard is a card with every part.
func fullCard() CardInfo {
	task := func(name string, n, correct int) bench.TaskResult {
		return bench.TaskResult{Name: name, N: n, Correct: correct, Accuracy: float64(correct) / float64(n)}
	}
	return CardInfo{
		Name:              "TinyLlama Go q4_k_m",
		Description:       "A TinyLlama narrowed to Go code: pruned, distilled and quantized.",
		BaseModel:         "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
		BaseModelRelation: "quantized",
		License:           "apache-2.0",
		QuantizedBy:       "shrink CI",
		Tags:              []string{"go", "code", "gguf"},
		Files:             []CardFile{{"tinyllama-go-q4_k_m.gguf", 668_000_000}, {"Modelfile", 412}},
		Modelfile:         true,
		Stages: []Stage{
			{"original", report("tinyllama-f16.gguf", 2_200_000_000, 16, 7.1234, -1, 0, 21.5, task("go-choice", 200, 150))},
			{"pruned + distilled", report("pruned.gguf", 1_700_000_000, 16, 7.5, 0.0412, 0.87, 27.25, task("go-choice", 200, 146))},
			{"", report("tinyllama-go-q4_k_m.gguf", 668_000_000, 4.85, 7.61, 0.0523, 0.85, 61)},
		},
		Checks: []bench.Check{
			{Metric: "kld.mean", Op: "<=", Threshold: 0.06, Value: 0.0523, Pass: true},
			{Metric: "top1_agreement", Op: ">=", Threshold: 0.9, Value: 0.85},
			{Metric: "speed.decode_tokens_per_s", Op: ">=", Threshold: 10, Missing: true},
			{Metric: "kld.mean", Op: "<=", Threshold: 0.01, Value: 0.002, Pass: true, Relative: true},
		},
		Recipe: `{"name": "tinyllama-go", "steps": [{"id": "q", "kind": "quantize", "options": {"type": "q4_k_m"}}]}`,
	}
}

// TestModelCardGolden checks a full card and a minimal one against their
// golden files.
func TestModelCardGolden(t *testing.T) {
	minimal := CardInfo{Name: "default q8_0", Stages: []Stage{{Report: &bench.Report{Model: &bench.ModelInfo{Path: "d.gguf", FileBytes: 400_000, BitsPerWeight: 8.5}}}}}
	for name, info := range map[string]CardInfo{"full": fullCard(), "minimal": minimal} {
		var buf bytes.Buffer
		if err := ModelCard(&buf, info); err != nil {
			t.Fatal(err)
		}
		testutil.Golden(t, filepath.Join("testdata", name+".md"), buf.Bytes())
	}
}

// TestModelCardContent checks the parts of the full card a reader relies
// on, independently of the golden file.
func TestModelCardContent(t *testing.T) {
	var buf bytes.Buffer
	if err := ModelCard(&buf, fullCard()); err != nil {
		t.Fatal(err)
	}
	card := buf.String()
	for _, want := range []string{
		"---\nlicense: apache-2.0\nbase_model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\nbase_model_relation: quantized\ntags:\n- gguf\n- shrink\n- go\n- code\nquantized_by: \"shrink CI\"\n---\n",
		"| original | 2.0 GiB | 16.00 | 7.1234 ± 0.0712 | - | - | 21.5 |",
		"| tinyllama-go-q4_k_m.gguf | 637.1 MiB | 4.85 | 7.6100 ± 0.0761 | 0.05230 | 85.00% | 61.0 |",
		"| go-choice | 75.00% (n=200) | 73.00% (n=200) | - |",
		"| top1_agreement | >= 0.9 | 0.85 | **FAIL** |",
		"| speed.decode_tokens_per_s | >= 10 | missing | **FAIL** |",
		"| kld.mean (vs. previous release) | <= 0.01 | 0.002 | pass |",
		"2 of 4 checks failed.",
		"llama-cli -m tinyllama-go-q4_k_m.gguf",
		"ollama create tinyllama-go-q4_k_m -f Modelfile",
		"perplexity on `go-domain.txt` (20480 tokens), KL divergence and top-1 agreement against `tinyllama-f16.gguf`",
		"Made with [shrink](https://github.com/shrink-llm/shrink) 0.1.0-test from `TinyLlama/TinyLlama-1.1B-Chat-v1.0`.",
		"```json\n{\"name\": \"tinyllama-go\"",
	} {
		if !strings.Contains(card, want) {
			t.Errorf("card lacks %q", want)
		}
	}
	if strings.Contains(card, "/data/eval") || strings.Contains(card, "/models/") {
		t.Errorf("card shows local folders:\n%s", card)
	}
}

// TestYAMLScalar checks which values are quoted in the front matter.
func TestYAMLScalar(t *testing.T) {
	for v, want := range map[string]string{
		"apache-2.0":               "apache-2.0",
		"TinyLlama/TinyLlama-1.1B": "TinyLlama/TinyLlama-1.1B",
		"yes":                      `"yes"`,
		"No":                       `"No"`,
		"1.0":                      `"1.0"`,
		"a: b":                     `"a: b"`,
		"- x":                      `"- x"`,
		"#tag":                     `"#tag"`,
		`say "hi"`:                 `"say \"hi\""`,
		"line\nbreak":              `"line\nbreak"`,
		"<team & co>":              `"<team & co>"`,
	} {
		if got := yamlScalar(v); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", v, got, want)
		}
	}
}

// TestModelCardVerdict checks the verdict line under the checks.
func TestModelCardVerdict(t *testing.T) {
	pass := bench.Check{Metric: "kld.mean", Op: "<=", Threshold: 0.1, Value: 0.01, Pass: true}
	for n, want := range map[int]string{1: "\nThe check passed.\n", 2: "\nAll 2 checks passed.\n"} {
		var buf bytes.Buffer
		if err := ModelCard(&buf, CardInfo{Name: "m", Checks: slices.Repeat([]bench.Check{pass}, n)}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%d passing checks: card lacks %q:\n%s", n, want, buf.String())
		}
	}
}
