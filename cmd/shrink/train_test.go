package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shrink-llm/shrink/distill"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestTrainAndDistill trains a tiny model with 'shrink train', then
// distils it into itself with 'shrink distill' (through the teacher cache
// and with adapters): the KL divergence stays zero.
func TestTrainAndDistill(t *testing.T) {
	dir := t.TempDir()
	var log strings.Builder
	trainLogOut = &log
	defer func() { trainLogOut = os.Stderr }()
	run := func(t *testing.T, args ...string) (int, string, string) {
		log.Reset()
		code, out, errOut := run(t, args...)
		return code, out, log.String() + errOut
	}
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("package main\n\nfunc main() { println(\"hello, world\") }\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	vocab := filepath.Join(testutil.RepoRoot(t), "models", "default")
	small := filepath.Join(dir, "small.gguf")
	code, _, errOut := run(t, "train", "--data", text, small, "--vocab-from", vocab, "--dim", "32", "--layers", "1",
		"--heads", "2", "--kv-heads", "1", "--ffn", "48", "--ctx", "16", "--batch", "2", "--steps", "30", "--lr", "1e-2", "--eval", text, "--dtype", "f32")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "eval step 30: ce") {
		t.Errorf("train printed no evaluation: %s", errOut)
	}
	m, err := distill.Load(small)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Dim != 32 || m.Config.Layers != 1 || m.Config.FFN[0] != 48 || m.Config.VocabSize != 512 {
		t.Fatalf("trained model config %+v", m.Config)
	}
	if _, err := os.Stat(small + ".ckpt"); !os.IsNotExist(err) {
		t.Errorf("checkpoint of a finished run left behind: %v", err)
	}
	out := filepath.Join(dir, "out.gguf")
	cache := filepath.Join(dir, "kd.gguf")
	for _, extra := range [][]string{nil, {"--teacher-cache", cache}, {"--teacher-cache", cache, "--lora-rank", "2"}} {
		args := append([]string{"distill", "--teacher", small, "--student", small, "--data", text, out, "--ctx", "16", "--batch", "2", "--steps", "3", "--dtype", "f32"}, extra...)
		code, _, errOut = run(t, args...)
		if code != 0 {
			t.Fatalf("distill %v: exit %d: %s", extra, code, errOut)
		}
		if !strings.Contains(errOut, "step 3/3 loss 0.0000 kld 0.0000") {
			t.Errorf("distill %v of a model into itself: %s", extra, errOut)
		}
	}
	if _, err := os.Stat(cache); err != nil {
		t.Errorf("teacher cache not written: %v", err)
	}
	code, _, _ = run(t, "distill", "--teacher", small, "--student", small, out)
	if code != 2 {
		t.Errorf("distill without --data: exit %d, want 2", code)
	}
}

// TestReplanSteps checks the re-planning of a schedule from the real pace:
// extended when more steps fit in the budget, never shortened.
func TestReplanSteps(t *testing.T) {
	for _, c := range []struct {
		planned, done   int
		elapsed, budget time.Duration
		want            int
	}{
		{29, 3, 18 * time.Second, 15 * time.Minute, 150}, // 6 s a step: 3 + 882/6
		{29, 3, 120 * time.Second, 15 * time.Minute, 29}, // slower than planned: unchanged
		{29, 3, 16 * time.Minute, 15 * time.Minute, 29},  // over budget
		{29, 0, 0, 15 * time.Minute, 29},
	} {
		if got := replanSteps(c.planned, c.done, c.elapsed, c.budget); got != c.want {
			t.Errorf("replanSteps(%d, %d, %v, %v) = %d, want %d", c.planned, c.done, c.elapsed, c.budget, got, c.want)
		}
	}
}
