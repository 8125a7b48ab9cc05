package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// defaultRecipe writes a recipe on the default model and the demo text
// with the given steps (a JSON array) and loads it.
func defaultRecipe(t *testing.T, dir, steps string) *Recipe {
	t.Helper()
	root := testutil.RepoRoot(t)
	src := `{"name": "t", "inputs": {"model": "` + filepath.Join(root, "models", "default") +
		`", "text": "` + filepath.Join(root, "bench", "testdata", "demo.txt") + `"}, "steps": ` + steps + `}`
	path := filepath.Join(dir, "recipe.json")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDistillResume interrupts a distill step after some training steps
// and resumes it: it continues from its checkpoint and writes the same
// bytes as an uninterrupted run.
func TestDistillResume(t *testing.T) {
	dir := t.TempDir()
	r := defaultRecipe(t, dir, `[{"id": "d", "kind": "distill", "input": "model",
		"options": {"teacher": "@model", "data": "@text", "steps": 8, "ctx": 64, "batch": 2, "ce-weight": 1, "save-every": 0}}]`)
	ctx := context.Background()
	whole := filepath.Join(dir, "whole")
	if _, err := Run(ctx, r, whole, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(whole, "d.gguf"))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := func(p Progress) {
		if p.Stage == "train" && p.Done == 3 {
			cancel()
		}
	}
	if _, err := Run(cctx, r, out, RunOptions{Progress: stop}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(out, "d.gguf")); err == nil {
		t.Fatal("the interrupted step left its output")
	}
	plan, err := Plan(ctx, r, out, RunOptions{})
	if err != nil || !strings.HasSuffix(plan[0].Reason, "continues the interrupted run's work") {
		t.Errorf("plan after the interruption: %+v (%v)", plan, err)
	}
	first := -1
	watch := func(p Progress) {
		if p.Stage == "train" && first < 0 {
			first = p.Done
		}
	}
	m, err := Run(ctx, r, out, RunOptions{Progress: watch})
	if err != nil {
		t.Fatal(err)
	}
	if first < 4 {
		t.Errorf("the resumed step's first training step is %d, want one after the 3 done before the interruption", first)
	}
	got, err := os.ReadFile(filepath.Join(out, "d.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the resumed step's output differs from an uninterrupted run's")
	}
	if !m.Steps[0].Resumed || m.Steps[0].Figures["steps"] != 8 {
		t.Errorf("record: resumed %v, figures %v", m.Steps[0].Resumed, m.Steps[0].Figures)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*.*"))
	if len(left) > 0 {
		t.Errorf("temporary files left after the step succeeded: %v", left)
	}
}

// chainSteps is a small chain on the default model with the library's
// kinds; the gate's limit is %s.
const chainSteps = `[
	{"id": "f16", "kind": "convert", "input": "model", "options": {"dtype": "f16"}},
	{"id": "p", "kind": "prune", "input": "f16", "options": {"calib": "@text", "ffn": 0.25, "ctx": 64, "chunks": 8}},
	{"id": "d", "kind": "distill", "input": "p", "options": {"teacher": "@f16", "data": "@text", "steps": 6, "ctx": 64, "batch": 2, "ce-weight": 1}},
	{"id": "q", "kind": "quantize", "input": "d", "options": {"type": "q8_0"}},
	{"id": "b", "kind": "bench", "input": "q", "options": {"text": "@text", "baseline": "@f16", "ctx": 64, "chunks": 8}},
	{"id": "g", "kind": "gate", "input": "b", "options": {"max-kld": MAXKLD, "max-size": 100000000}}
]`

// TestDefaultModelChain runs the chain (convert, prune, distill, quantize,
// bench, gate) on the default model, interrupted in the bench step and
// resumed, then re-runs it (nothing runs), changes the bench's options
// (bench and gate run again), the quantization type (quantize, bench and
// gate run again) and the gate's limit (the gate fails and the run returns
// ErrGateFailed).
func TestDefaultModelChain(t *testing.T) {
	dir := t.TempDir()
	r := defaultRecipe(t, dir, strings.ReplaceAll(chainSteps, "MAXKLD", "1"))
	out := filepath.Join(dir, "out")
	var ran []string
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := RunOptions{Ollama: true, Progress: func(p Progress) {
		if p.Stage == "start" {
			ran = append(ran, p.Step)
		}
		if p.Step == "b" && p.Stage == "text" && p.Done >= 2 {
			cancel()
		}
	}}
	if _, err := Run(cctx, r, out, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	runs := func(want string) *Manifest {
		t.Helper()
		ran = nil
		m, err := Run(context.Background(), r, out, opt)
		if err != nil && !errors.Is(err, ErrGateFailed) {
			t.Fatal(err)
		}
		if got := strings.Join(ran, " "); got != want {
			t.Errorf("steps run: %q, want %q", got, want)
		}
		return m
	}
	m := runs("b g")
	if m.Final != "q.gguf" || m.Modelfile != "Modelfile" {
		t.Errorf("final %q, Modelfile %q", m.Final, m.Modelfile)
	}
	mf, err := os.ReadFile(filepath.Join(out, "Modelfile"))
	if err != nil || !strings.Contains(string(mf), "FROM ./q.gguf\n") {
		t.Errorf("Modelfile: %q (%v)", mf, err)
	}
	p, q, b := m.Steps[1].Figures, m.Steps[3].Figures, m.Steps[4].Figures
	if !(p["params_after"] < p["params_before"]) || p["params_after"] != p["params"] {
		t.Errorf("prune figures %v", p)
	}
	if q["bits_per_weight"] < 8.5 || q["bits_per_weight"] > 9 {
		t.Errorf("quantize figures %v", q)
	}
	if b["ppl"] <= 1 || b["kld_mean"] <= 0 || b["top1"] <= 0.5 || b["file_bytes"] != float64(m.Steps[3].Outputs[0].Bytes) {
		t.Errorf("bench figures %v", b)
	}
	runs("")
	r.Steps[4].Options = json.RawMessage(`{"text": "@text", "baseline": "@f16", "ctx": 64, "chunks": 4}`)
	runs("b g")
	r.Steps[3].Options = json.RawMessage(`{"type": "q4_0"}`)
	runs("q b g")
	r.Steps[5].Options = json.RawMessage(`{"max-kld": 1e-9}`)
	ran = nil
	if _, err := Run(context.Background(), r, out, opt); !errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), "kld.mean <= 1e-09") {
		t.Errorf("err = %v, want the failed gate's kld.mean check", err)
	}
	if strings.Join(ran, " ") != "g" {
		t.Errorf("steps run: %q, want g", ran)
	}
}

// TestQuantizeStepRefusesOllama: a quantize step's Modelfile would name
// the step's temporary output, so the recipe-level option is the one.
func TestQuantizeStepRefusesOllama(t *testing.T) {
	k := Kinds()["quantize"]
	if err := k.Check(&shrink.QuantizeOptions{Type: "q8_0", Ollama: true}); err == nil || !strings.Contains(err.Error(), `"ollama"`) {
		t.Errorf("quantize step with ollama: err = %v", err)
	}
	if err := k.Check(&shrink.QuantizeOptions{Type: "q8_0"}); err != nil {
		t.Errorf("plain quantize step: %v", err)
	}
}
