package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// nanModel returns a copy of the default model (2 blocks) whose
// blk.1.ffn_down.weight element 1000 is an f16 NaN.
func nanModel(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	return testutil.PatchedModel(t, src, "model.layers.1.mlp.down_proj.weight", 1000, []byte{0x00, 0x7e})
}

// TestBenchNonFinite: a model with one NaN weight is a failed check (exit
// 1) with a report naming chunk, position and block, which gate fails.
func TestBenchNonFinite(t *testing.T) {
	dir := t.TempDir()
	model := nanModel(t)
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "r.json")
	code, out, e := run(t, "bench", model, "--text", text, "--ctx", "64", "--chunks", "2", "--json", js)
	const want = "chunk 0, position 0: the first non-finite output is block 1's"
	if code != 1 || !strings.Contains(e, want) || !strings.Contains(out, "**FAILED**") {
		t.Fatalf("bench of a NaN model: code %d, want 1\n%s%s", code, out, e)
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatalf("no report written: %v", err)
	}
	r, err := bench.ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	f := r.Failure
	if f == nil || f.Layer == nil || *f.Layer != 1 || f.Chunk != 0 || f.Token != 0 || f.Model != "model" || r.Perplexity != nil {
		t.Fatalf("report: failure %+v, perplexity %v\n%s", f, r.Perplexity, data)
	}
	if code, out, e := run(t, "bench", model, "--text", text, "--ctx", "64", "--chunks", "1", "-q"); code != 1 || out != "" || !strings.Contains(e, want) {
		t.Errorf("bench -q of a NaN model: code %d\n%s%s", code, out, e)
	}
	code, out, e = run(t, "gate", js, "--max-ppl", "100")
	if code != 1 || !strings.Contains(out, "FAIL ("+f.Reason+")") || !strings.Contains(e, f.Reason) {
		t.Errorf("gate of a failed report: code %d, want 1\n%s%s", code, out, e)
	}
}
