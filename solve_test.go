package shrink

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
)

// TestKLEvalPrefixCache: the KLD of a model changed only from some block
// on, run from the prefix cache (every block cached, or every other
// one), equals the full run's bit for bit, for a block tensor, the output
// head and the embeddings; the unchanged model's KLD is 0 (to the float32
// rounding of the reference log-probabilities).
func TestKLEvalPrefixCache(t *testing.T) {
	m, err := convert.Load("models/default", convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fm, err := loadF32(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer fm.em.Close()
	toks, bos, err := bench.Tokenize(m.Vocab, bench.DemoText)
	if err != nil {
		t.Fatal(err)
	}
	L := m.Config.Layers
	if L < 2 {
		t.Fatalf("models/default has %d blocks, the test needs 2", L)
	}
	for _, stride := range []int{1, 2} {
		ev, err := newKLEval(fm.em, toks, 2, 32, bos)
		if err != nil {
			t.Fatal(err)
		}
		if ev.stride != 1 {
			t.Fatalf("stride %d for a tiny model", ev.stride)
		}
		if stride > 1 { // keep only the even checkpoints
			ev.stride = stride
			for l := range ev.res {
				if l%stride != 0 {
					delete(ev.res, l)
				}
			}
		}
		if k, err := ev.kldFrom(fm.em, L); err != nil || math.Abs(k) > 1e-6 { // float32 reference log-probabilities
			t.Fatalf("unchanged model: KLD %g, %v", k, err)
		}
		for _, name := range []string{"blk.1.attn_v.weight", "output.weight", "token_embd.weight"} {
			w := fm.weights[name]
			if w == nil {
				continue // tied embeddings: no output.weight
			}
			orig := append([]float32(nil), w...)
			for i := range w {
				w[i] *= 1 + 0.05*float32(i%7-3)
			}
			full, err := ev.kld(fm.em)
			if err != nil {
				t.Fatal(err)
			}
			from, err := ev.kldFrom(fm.em, firstBlock(name, L))
			if err != nil {
				t.Fatal(err)
			}
			copy(w, orig)
			if !(full > 0) || from != full {
				t.Errorf("stride %d, %s: KLD %g from the prefix cache, %g from a full run", stride, name, from, full)
			}
		}
	}
}

// TestSensitivityCache: a solve with a sensitivity cache writes it; a
// solve at another budget reads it (Cached) and predicts from the same
// KLDs as a solve that measures them; a cache of other inputs is measured
// again and a file that is not a cache is an error naming it.
func TestSensitivityCache(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "sens.json")
	run := func(bpw float64, cacheFile string, chunks int) *SolveResult {
		t.Helper()
		res, err := Quantize(context.Background(), "models/default", filepath.Join(dir, "out.gguf"), QuantizeOptions{
			Calib: text, Ctx: 64, Chunks: 4, SensitivityChunks: chunks, TargetBPW: bpw, SensitivityCache: cacheFile, Threads: 1,
			CandidateTypes: "q3_k,q4_k,q6_k"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Solver
	}
	first := run(6.5, cache, 2)
	if first.Cached {
		t.Fatal("first solve read a cache that did not exist")
	}
	again := run(5.5, cache, 2)
	plain := run(5.5, "", 2)
	if !again.Cached || plain.Cached {
		t.Fatalf("cached: %v with the cache file, %v without", again.Cached, plain.Cached)
	}
	if again.PredictedKLD != plain.PredictedKLD || again.Types["q3_K"] != plain.Types["q3_K"] {
		t.Errorf("from the cache: predicted %g, types %v; measured: %g, %v", again.PredictedKLD, again.Types, plain.PredictedKLD, plain.Types)
	}
	if other := run(5.5, cache, 1); other.Cached {
		t.Error("a cache of other sensitivity chunks was read")
	}
	if err := os.WriteFile(cache, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Quantize(context.Background(), "models/default", filepath.Join(dir, "out.gguf"), QuantizeOptions{
		Calib: text, Ctx: 64, Chunks: 4, SensitivityChunks: 2, TargetBPW: 5.5, SensitivityCache: cache, Threads: 1})
	if err == nil || !strings.Contains(err.Error(), cache) {
		t.Errorf("not a cache: error %v, want one naming %s", err, cache)
	}
}
