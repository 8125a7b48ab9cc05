package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/pipeline"
)

func TestPipelineBadInput(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "nosuch", "input": "m"}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pipeline"}, "want RECIPE.json"},
		{[]string{"pipeline", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"pipeline", recipe, "--dry-run"}, `step "a" (nosuch): kind "nosuch" is not available`},
		{[]string{"pipeline", recipe, "--input", "m"}, `--input "m": want NAME=PATH`},
		{[]string{"pipeline", recipe, "--input", "z=y"}, `input "z": the recipe has no such input`},
	} {
		code, _, e := run(t, c.args...)
		if code != 2 || !strings.Contains(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, e, c.want)
		}
	}
}

// TestPipelineRun runs a recipe on the default model through the command:
// the first run runs every step, the second skips every step, --dry-run
// says so, and a gate that fails exits 1.
func TestPipelineRun(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	recipe := filepath.Join(dir, "r.json")
	write := func(maxPPL string) {
		src := `{"name": "cli", "inputs": {"model": "` + filepath.Join(root, "models", "default") + `", "text": "` + filepath.Join(root, "bench", "testdata", "demo.txt") + `"},
 "steps": [
	{"id": "f16", "kind": "convert", "input": "model", "options": {"dtype": "f16"}},
	{"id": "b", "kind": "bench", "input": "f16", "options": {"text": "@text", "ctx": 64, "chunks": 4}},
	{"id": "g", "kind": "gate", "input": "b", "options": {"max-ppl": ` + maxPPL + `}}]}`
		if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1000")
	out := filepath.Join(dir, "out")
	code, stdout, e := run(t, "pipeline", recipe, "--out", out, "--ollama", "-q")
	if code != 0 || strings.Count(stdout, " ran ") != 3 || !strings.Contains(stdout, "PASS (1 of 1 checks pass)") || !strings.Contains(stdout, "Modelfile: ") {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, e)
	}
	code, stdout, _ = run(t, "pipeline", recipe, "--out", out, "-q")
	if code != 0 || strings.Count(stdout, " skipped ") != 3 {
		t.Errorf("re-run: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = run(t, "pipeline", recipe, "--out", out, "--dry-run")
	if code != 0 || strings.Count(stdout, " skip ") != 3 {
		t.Errorf("dry run of a finished chain: exit %d\n%s", code, stdout)
	}
	write("1.5")
	code, stdout, e = run(t, "pipeline", recipe, "--out", out)
	if code != 1 || !strings.Contains(e, "gate failed: perplexity.value <= 1.5") || strings.Count(stdout, " skipped ") != 2 {
		t.Errorf("failed gate: exit %d\n%s\n%s", code, stdout, e)
	}
}

// TestDemoRecipe checks that the shipped recipe of shrink demo decodes
// into the library's options and plans every step on an empty folder.
func TestDemoRecipe(t *testing.T) {
	r, err := pipeline.Load(filepath.Join("..", "..", "demo", "go-edge.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Plan(context.Background(), r, t.TempDir(), pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range plan {
		if !p.Run {
			t.Errorf("step %s planned as skipped on an empty folder", p.ID)
		}
		kinds = append(kinds, p.Kind)
	}
	for _, k := range []string{"convert", "prune", "distill", "quantize", "bench", "gate"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("the demo has no %s step (%v)", k, kinds)
		}
	}
}

// TestQuantizeOllama: quantize --ollama writes the Modelfile beside DST.
func TestQuantizeOllama(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "m-q8_0.gguf")
	code, out, e := run(t, "quantize", filepath.Join("..", "..", "models", "default"), dst, "--type", "q8_0", "-q", "--ollama")
	if code != 0 || !strings.Contains(out, "Modelfile: ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, e)
	}
	mf, err := os.ReadFile(filepath.Join(filepath.Dir(dst), "Modelfile"))
	if err != nil || !strings.Contains(string(mf), "FROM ./m-q8_0.gguf\nPARAMETER stop \"</s>\"\n") {
		t.Errorf("Modelfile %q (%v)", mf, err)
	}
}
