package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestDevMixtralMoEPerplexity: dev-mixtral-moe converted to F16 scores
// shakespeare-eval.txt at context 256 as llama-perplexity does on
// llama.cpp's own F16 conversion, 62.5596 (SOURCE.txt), within 0.05%.
func TestDevMixtralMoEPerplexity(t *testing.T) {
	src := testutil.Shared(t, "models/dev-mixtral-moe")
	text, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeGGUF(t, src, "", format.F16, filepath.Join(t.TempDir(), "moe-f16.gguf"))
	m, err := engine.Load(path, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks, bos, err := Tokenize(m.Vocab, string(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(context.Background(), m, toks, EvalOptions{Ctx: 256, BOS: bos})
	if err != nil {
		t.Fatal(err)
	}
	ppl, _ := res.Stats.Perplexity()
	t.Logf("dev-mixtral-moe F16, ctx 256: %d chunks, PPL %.4f (llama.cpp 62.5596)", res.Chunks, ppl)
	if res.Chunks != 165 {
		t.Errorf("%d chunks, llama-perplexity has 165", res.Chunks)
	}
	near(t, "dev-mixtral-moe perplexity", ppl, 62.5596, 0.0005*62.5596)
}
