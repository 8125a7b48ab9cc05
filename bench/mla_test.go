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

// TestDevDeepseek2Perplexity: dev-deepseek2-moe (latent attention, routed
// experts) converted to F16 scores shakespeare-eval.txt at context 256 as
// llama-perplexity does on llama.cpp's own F16 conversion, 51.4368
// (SOURCE.txt), within 0.05%.
func TestDevDeepseek2Perplexity(t *testing.T) {
	src := testutil.Shared(t, "models/dev-deepseek2-moe")
	text, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeGGUF(t, src, "", format.F16, filepath.Join(t.TempDir(), "ds2-f16.gguf"))
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
	t.Logf("dev-deepseek2-moe F16, ctx 256: %d chunks, PPL %.4f (llama.cpp 51.4368)", res.Chunks, ppl)
	if res.Chunks != 165 {
		t.Errorf("%d chunks, llama-perplexity has 165", res.Chunks)
	}
	near(t, "dev-deepseek2-moe perplexity", ppl, 51.4368, 0.0005*51.4368)
}
