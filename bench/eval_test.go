package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func defaultModel(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "models", "default")
}

// writeGGUF converts src to a GGUF of matrices of type dt in dir.
func writeGGUF(t *testing.T, src, tokenizer string, dt format.DType, dst string) string {
	t.Helper()
	cm, err := convert.Load(src, convert.Options{Tokenizer: tokenizer})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	plans := convert.PlanDType(cm, dt, dt == 0)
	if dt == 0 {
		dt = format.F32
	}
	md, err := cm.GGUFMetadata(dt)
	if err != nil {
		t.Fatal(err)
	}
	if err := cm.WriteGGUF(dst, md, plans, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

func loadDemo(t *testing.T, path string) (*engine.Model, []int32, int32) {
	t.Helper()
	m, err := engine.Load(path, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	toks, bos, err := Tokenize(m.Vocab, DemoText)
	if err != nil {
		t.Fatal(err)
	}
	return m, toks, bos
}

func TestSelfDivergence(t *testing.T) {
	m, toks, bos := loadDemo(t, defaultModel(t))
	if bos < 0 {
		t.Fatal("the default model should add BOS")
	}
	res, err := Evaluate(context.Background(), m, toks, EvalOptions{Ctx: 64, Chunks: 4, BOS: bos, Baseline: m})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != 4 || res.Stats.N() != 4*31 {
		t.Fatalf("chunks %d, scored %d", res.Chunks, res.Stats.N())
	}
	k := res.Stats.KLD()
	if math.Abs(k.Mean) > 1e-9 || math.Abs(k.Max) > 1e-9 {
		t.Errorf("KL(m||m) = %+v, want 0", k)
	}
	if res.Stats.Top1() != 1 {
		t.Errorf("top-1 agreement with itself %g", res.Stats.Top1())
	}
	ppl, se := res.Stats.Perplexity()
	if math.Abs(ppl-res.Stats.BasePerplexity()) > 1e-9 || !(ppl > 1) || !(se > 0) || math.IsInf(ppl, 0) {
		t.Errorf("PPL %g ± %g, base %g", ppl, se, res.Stats.BasePerplexity())
	}
	t.Logf("default model on demo text, ctx 64, 4 chunks: PPL %.4f ± %.4f", ppl, se)
}

// TestBaselineFileAgrees scores a Q4_0 candidate against the f32 original
// in process and through a baseline file, and checks the stated error of
// the file path.
func TestBaselineFileAgrees(t *testing.T) {
	dir := t.TempDir()
	src := defaultModel(t)
	base, toks, bos := loadDemo(t, src)
	candPath := writeGGUF(t, src, "", format.Q4_0, filepath.Join(dir, "q4_0.gguf"))
	cand, _, _ := loadDemo(t, candPath)
	opt := EvalOptions{Ctx: 64, Chunks: 6, BOS: bos}
	plan, err := ChunkPlan(toks, opt.Ctx, opt.Chunks)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewBaselineWriter(&buf, opt.Ctx, base.Config.VocabSize, bos, plan)
	if err != nil {
		t.Fatal(err)
	}
	saveOpt := opt
	saveOpt.Save = w
	plain, err := Evaluate(context.Background(), base, toks, saveOpt)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bf, err := NewBaselineReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	exactOpt := opt
	exactOpt.Baseline = base
	exact, err := Evaluate(context.Background(), cand, toks, exactOpt)
	if err != nil {
		t.Fatal(err)
	}
	fileOpt := opt
	fileOpt.Ctx = 0
	fileOpt.BaselineFile = bf
	coded, err := Evaluate(context.Background(), cand, nil, fileOpt)
	if err != nil {
		t.Fatal(err)
	}
	self, err := Evaluate(context.Background(), base, nil, fileOpt)
	if err != nil {
		t.Fatal(err)
	}
	pe, _ := exact.Stats.Perplexity()
	pc, _ := coded.Stats.Perplexity()
	pp, _ := plain.Stats.Perplexity()
	if pe != pc || exact.Stats.N() != coded.Stats.N() {
		t.Errorf("candidate PPL %g in process, %g from the file", pe, pc)
	}
	near(t, "baseline PPL from file", coded.Stats.BasePerplexity(), pp, 1e-5*pp)
	ke, kc := exact.Stats.KLD(), coded.Stats.KLD()
	t.Logf("Q4_0 vs f16 source: exact KLD mean %.6g p99 %.6g max %.6g; from file %.6g / %.6g / %.6g; top1 %.4f / %.4f",
		ke.Mean, ke.P99, ke.Max, kc.Mean, kc.P99, kc.Max, exact.Stats.Top1(), coded.Stats.Top1())
	// Stated error of the file path: |ΔKLD| <= 1e-4 absolute + 1% relative.
	for _, c := range []struct {
		n    string
		a, b float64
	}{{"mean", ke.Mean, kc.Mean}, {"median", ke.Median, kc.Median}, {"p99", ke.P99, kc.P99}, {"max", ke.Max, kc.Max}} {
		near(t, "KLD "+c.n+" from file", c.b, c.a, 1e-4+0.01*c.a)
	}
	if exact.Stats.Top1() != coded.Stats.Top1() {
		t.Errorf("top-1 %g in process, %g from file", exact.Stats.Top1(), coded.Stats.Top1())
	}
	de, dc := exact.Stats.DeltaP(), coded.Stats.DeltaP()
	near(t, "Δp mean from file", dc.Mean, de.Mean, 1e-6)
	near(t, "Δp rms from file", dc.RMS, de.RMS, 1e-6)
	ks := self.Stats.KLD()
	// The file keeps log-probabilities as 16-bit codes over 16 nats (steps of
	// 2.4e-4): against itself a sharp (trained) model shows a KLD of ~1e-6.
	if math.Abs(ks.Mean) > 1e-5 || math.Abs(ks.Max) > 5e-5 || self.Stats.Top1() != 1 {
		t.Errorf("original against its own file: KLD %+v, top-1 %g", ks, self.Stats.Top1())
	}
	t.Logf("original against its own file: KLD mean %.3g max %.3g", ks.Mean, ks.Max)
}

func TestStories260KPerplexity(t *testing.T) {
	bin := testutil.Shared(t, "models/stories260K/stories260K.bin")
	tok := testutil.Shared(t, "models/stories260K/tok512.bin")
	textPath := testutil.Shared(t, "text/TinyStories-valid.sample30k.txt")
	text, err := os.ReadFile(textPath)
	if err != nil {
		t.Fatal(err)
	}
	path := writeGGUF(t, bin, tok, 0, filepath.Join(t.TempDir(), "stories260K-f32.gguf"))
	res, ntok := perplexityOf(t, path, text, 128)
	ppl, se := res.Stats.Perplexity()
	t.Logf("stories260K F32, ctx 128: %d tokens, %d chunks, %d scored, PPL %.4f ± %.4f (llama.cpp 5.858)", ntok, res.Chunks, res.Stats.N(), ppl, se)
	near(t, "stories260K perplexity", ppl, 5.858, 0.005*5.858)
}

// perplexityOf loads the GGUF file path and scores all of text in chunks
// of ctx tokens, as llama-perplexity does; it returns the result and how
// many tokens text makes.
func perplexityOf(t *testing.T, path string, text []byte, ctx int) (*Result, int) {
	t.Helper()
	m, err := engine.Load(path, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks, bos, err := Tokenize(m.Vocab, string(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(context.Background(), m, toks, EvalOptions{Ctx: ctx, BOS: bos})
	if err != nil {
		t.Fatal(err)
	}
	return res, len(toks)
}

// devF16Perplexity checks that the shared model dir (a Hugging Face
// folder) converted to F16 scores shakespeare-eval.txt at context 256 in
// llama-perplexity's 165 chunks, within 0.05% of llama-perplexity's want
// on llama.cpp's own F16 conversion.
func devF16Perplexity(t *testing.T, dir string, want float64) {
	t.Helper()
	src := testutil.Shared(t, "models/"+dir)
	text, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeGGUF(t, src, "", format.F16, filepath.Join(t.TempDir(), dir+"-f16.gguf"))
	res, _ := perplexityOf(t, path, text, 256)
	ppl, _ := res.Stats.Perplexity()
	t.Logf("%s F16, ctx 256: %d chunks, PPL %.4f (llama.cpp %.4f)", dir, res.Chunks, ppl, want)
	if res.Chunks != 165 {
		t.Errorf("%d chunks, llama-perplexity has 165", res.Chunks)
	}
	near(t, dir+" perplexity", ppl, want, 0.0005*want)
}
