package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
	if m.Steps[0].Figures["steps"] != 8 {
		t.Errorf("figures %v", m.Steps[0].Figures)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left after the step succeeded: %v", left)
	}
}
