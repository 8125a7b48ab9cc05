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
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
)

// TestKLEvalPatched: the KLD of the reference model with one tensor
// patched in (engine Model.Patch), run from the kept residual streams
// (advanced block by block), equals the patched model's full run bit for
// bit, for the embeddings, the output head and tensors of two blocks in
// order; the unchanged model's KLD is 0 (to the float32 rounding of the
// reference log-probabilities), also after a restore; a block passed by
// the streams is an error.
func TestKLEvalPatched(t *testing.T) {
	em, err := engine.Load("models/default", engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	m, err := convert.Load("models/default", convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks, bos, err := bench.Tokenize(m.Vocab, bench.DemoText)
	if err != nil {
		t.Fatal(err)
	}
	L := m.Config.Layers
	if L < 2 {
		t.Fatalf("models/default has %d blocks, the test needs 2", L)
	}
	ev, err := newKLEval(em, toks, 2, 32, bos)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ev.kldFrom(L); err != nil || math.Abs(k) > 1e-6 {
		t.Fatalf("unchanged model: KLD %g, %v", k, err)
	}
	for _, name := range []string{"token_embd.weight", "output.weight", "blk.0.attn_q.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight"} {
		ti, ok := m.Tensor(name)
		if !ok {
			continue // tied embeddings: no output.weight
		}
		w, err := m.ReadFloat32(ti)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			w[i] *= 1 + 0.05*float32(i%7-3)
		}
		data := make([]byte, 4*len(w))
		format.EncodeFloats(format.F32, w, data)
		restore, err := em.Patch(engine.Tensor{Name: name, Type: format.F32, Shape: ti.Shape, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		full, err := ev.kld(em)
		if err != nil {
			t.Fatal(err)
		}
		from, err := ev.kldFrom(firstBlock(name, L))
		if err != nil {
			t.Fatal(err)
		}
		restore()
		if !(full > 0) || from != full {
			t.Errorf("%s: KLD %g from the kept streams, %g from a full run", name, from, full)
		}
		if k, err := ev.kldFrom(L); err != nil || math.Abs(k) > 1e-6 {
			t.Fatalf("after restoring %s: KLD %g, %v", name, k, err)
		}
	}
	if _, err := ev.kldFrom(0); err == nil {
		t.Error("block 0 measured after the streams passed it: no error")
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

// TestPredictUnpatched: a tensor without exact KLDs (one the engine could
// not patch) is predicted from its proxy with the median of the other
// tensors' scales; a measured one from its exact KLDs (exact) or its own
// scale (hybrid).
func TestPredictUnpatched(t *testing.T) {
	nan := math.NaN()
	for _, mode := range []string{"exact", "hybrid"} {
		c := &solveConfig{mode: mode, ref: format.Q3_K}
		mk := func(proxy, exact []float64) *solveTensor {
			return &solveTensor{types: []format.DType{format.Q3_K, format.Q6_K}, proxy: proxy, exact: exact, pred: make([]float64, 2)}
		}
		ts := []*solveTensor{
			mk([]float64{1, 0.1}, []float64{2, 0.3}),
			mk([]float64{1, 0.1}, []float64{4, 0.5}),
			mk([]float64{1, 0.1}, []float64{6, 0.7}),
			mk([]float64{10, 1}, []float64{nan, nan}),
		}
		predict(c, ts)
		if p := ts[3].pred; p[0] != 40 || math.Abs(p[1]-4) > 1e-12 {
			t.Errorf("%s: unpatched tensor predicted %v, want [40 4] (median scale 4)", mode, p)
		}
		want := 0.3
		if mode == "hybrid" {
			want = 0.2
		}
		if p := ts[0].pred; p[0] != 2 || math.Abs(p[1]-want) > 1e-12 {
			t.Errorf("%s: measured tensor predicted %v, want [2 %g]", mode, p, want)
		}
	}
}

// TestRefIndex checks that the hybrid reference is the type asked for when
// it is a candidate, even behind a type of the same bits (iq3_s before
// q3_k, both 3.4375), and otherwise the candidate nearest in bits.
func TestRefIndex(t *testing.T) {
	types := []format.DType{format.Q2_K, format.IQ3_S, format.Q3_K, format.Q4_K}
	if got := refIndex(types, format.Q3_K); got != 2 {
		t.Errorf("refIndex(q3_K) = %d, want 2", got)
	}
	if got := refIndex(types, format.Q5_K); got != 3 {
		t.Errorf("refIndex(q5_K) = %d, want 3 (q4_K, the nearest)", got)
	}
	if got := refIndex([]format.DType{format.Q2_K, format.Q4_0, format.Q8_0}, format.Q3_K); got != 0 {
		t.Errorf("refIndex(q3_K) without it = %d, want 0 (q2_K, 0.81 bits away, before q4_0, 1.06 away)", got)
	}
}

// TestResolveRef checks --sensitivity-ref auto: with hybrid, the largest
// K-quant candidate below the budget's bits per weight, else the largest
// candidate below it, else the smallest; with exact, q3_k.
func TestResolveRef(t *testing.T) {
	for _, tc := range []struct {
		mode, candidates string
		bpw              float64
		want             format.DType
	}{
		{"hybrid", DefaultCandidateTypes, 6.56, format.Q5_K}, // q6_k is 6.5625 bits
		{"hybrid", DefaultCandidateTypes, 4.9, format.Q4_K},  // iq4_xs (4.25) is below too, not a K-quant
		{"hybrid", DefaultCandidateTypes, 3.9, format.Q3_K},
		{"hybrid", DefaultCandidateTypes, 2.0, format.Q2_K},
		{"hybrid", DefaultCandidateTypes, 9, format.Q6_K},
		{"hybrid", "iq3_s,iq4_xs,q8_0", 5, format.IQ4_XS},
		{"exact", DefaultCandidateTypes, 6.56, format.Q3_K},
	} {
		c, err := newSolveConfig(&QuantizeOptions{TargetSize: "1MB", Sensitivity: tc.mode, CandidateTypes: tc.candidates})
		if err != nil {
			t.Fatal(err)
		}
		c.resolveMode(1)
		c.resolveRef(tc.bpw)
		if c.ref != tc.want {
			t.Errorf("%s, %s, %.2f bits: reference %s, want %s", tc.mode, tc.candidates, tc.bpw, c.ref, tc.want)
		}
	}
	c, err := newSolveConfig(&QuantizeOptions{TargetSize: "1MB", Sensitivity: "hybrid", SensitivityRef: "q6_k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.resolveRef(3); c.ref != format.Q6_K {
		t.Errorf("--sensitivity-ref q6_k: reference %s after resolveRef", c.ref)
	}
}
