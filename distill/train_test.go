package distill

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
)

func testVocab(n int) *model.Vocab {
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true}
	for i := 0; i < n; i++ {
		v.Tokens = append(v.Tokens, string(rune('a'+i%26))+string(rune('a'+i/26)))
		v.Scores = append(v.Scores, float32(-i))
		v.Types = append(v.Types, model.TokenNormal)
	}
	v.Types[0], v.Types[1], v.Types[2] = model.TokenUnknown, model.TokenControl, model.TokenControl
	return v
}

// TestResume compares N steps straight with N/2 steps, a checkpoint, a
// fresh trainer restored from it and N/2 more: bit-identical weights.
func TestResume(t *testing.T) {
	for _, lora := range []bool{false, true} {
		c := tinyConfig(false, false)
		rng := rand.New(rand.NewPCG(6, 6))
		var ws [][]int32
		for i := 0; i < 5; i++ {
			ws = append(ws, randomTokens(rng, 10, c.VocabSize))
		}
		teacher := randomModel(t, c, 9, 0.3)
		opt := Options{Steps: 8, Batch: 2, KDWeight: 1, CEWeight: 0.5, HiddenWeight: 0.1, LR: 1e-2, Seed: 3}
		mk := func() *Trainer {
			s := randomModel(t, c, 1, 0.3)
			if lora {
				if err := s.AddLoRA(2, 4, 1); err != nil {
					t.Fatal(err)
				}
			}
			tr, err := NewTrainer(s, ModelTeacher{teacher}, ws, opt)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}
		run := func(tr *Trainer, n int) {
			for i := 0; i < n; i++ {
				if _, err := tr.TrainStep(); err != nil {
					t.Fatal(err)
				}
			}
		}
		straight := mk()
		run(straight, 8)
		first := mk()
		run(first, 4)
		ckpt := filepath.Join(t.TempDir(), "run.ckpt")
		if err := first.SaveCheckpoint(ckpt); err != nil {
			t.Fatal(err)
		}
		resumed := mk()
		if err := resumed.LoadCheckpoint(ckpt); err != nil {
			t.Fatal(err)
		}
		if resumed.Step != 4 {
			t.Fatalf("resumed at step %d, want 4", resumed.Step)
		}
		run(resumed, 4)
		moved := false
		for i, p := range straight.Student.Params {
			q := resumed.Student.Params[i]
			for j := range p.W {
				if math.Float32bits(p.W[j]) != math.Float32bits(q.W[j]) {
					t.Fatalf("lora %v: %s[%d]: straight %g, resumed %g", lora, p.Name, j, p.W[j], q.W[j])
				}
			}
			if i < len(first.Student.Params) && first.Student.Params[i].W[0] != p.W[0] {
				moved = true
			}
		}
		if !moved {
			t.Fatal("training did not move the weights")
		}
		// A checkpoint of another run is refused.
		other := mk()
		other.Opt.Seed = 4
		if err := other.LoadCheckpoint(ckpt); err == nil {
			t.Fatal("checkpoint with another seed accepted")
		}
	}
}

// TestTeacherCache checks that distilling from the cache file gives the
// same losses as from the teacher model (up to F16 rounding).
func TestTeacherCache(t *testing.T) {
	c := tinyConfig(true, false)
	rng := rand.New(rand.NewPCG(7, 7))
	ws := [][]int32{randomTokens(rng, 9, c.VocabSize), randomTokens(rng, 6, c.VocabSize)}
	teacher := randomModel(t, c, 2, 0.3)
	path := filepath.Join(t.TempDir(), "kd.gguf")
	if err := WriteTeacherCache(path, ModelTeacher{teacher}, c.VocabSize, ws, nil); err != nil {
		t.Fatal(err)
	}
	ct, err := OpenTeacherCache(path, ws, c.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	student := randomModel(t, c, 1, 0.3)
	opt := Options{Steps: 1, KDWeight: 1}
	a, _ := NewTrainer(student, ModelTeacher{teacher}, ws, opt)
	b, _ := NewTrainer(student, ct, ws, opt)
	for i := range ws {
		sa, err := a.lossGrad(i, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.lossGrad(i, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if sa.KLD <= 0 || math.Abs(sa.KLD-sb.KLD) > 1e-3*sa.KLD+1e-5 {
			t.Fatalf("window %d: KLD %g from the model, %g from the cache", i, sa.KLD, sb.KLD)
		}
	}
	if _, err := OpenTeacherCache(path, ws[:1], c.VocabSize); err == nil {
		t.Fatal("cache opened for other windows")
	}
}

// TestWriteRoundTrip writes a trained model as GGUF and as a Hugging Face
// folder and reads both back with the same weights.
func TestWriteRoundTrip(t *testing.T) {
	c := tinyConfig(false, false)
	c.FFN, c.Heads, c.KVHeads = []int{24, 24}, []int{4, 4}, []int{2, 2}
	m := randomModel(t, c, 1, 0.3)
	m.Vocab = testVocab(c.VocabSize)
	dir := t.TempDir()
	for _, dst := range []string{filepath.Join(dir, "m.gguf"), filepath.Join(dir, "hf")} {
		if err := m.Write(dst, format.F32); err != nil {
			t.Fatal(err)
		}
		back, err := Load(dst)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range m.Params {
			q := back.Params[i]
			if p.Name != q.Name {
				t.Fatalf("%s: param %d is %s, want %s", dst, i, q.Name, p.Name)
			}
			for j := range p.W {
				if p.W[j] != q.W[j] {
					t.Fatalf("%s: %s[%d] = %g, want %g", dst, p.Name, j, q.W[j], p.W[j])
				}
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "hf")); len(ents) != 3 {
		t.Fatalf("HF folder holds %d files, want config.json, model.safetensors, tokenizer.model", len(ents))
	}
}

// TestEngineAgreement compares the training forward pass's logits with
// the reference runtime's on the repository's default model.
func TestEngineAgreement(t *testing.T) {
	path := filepath.Join(testutil.RepoRoot(t), "models", "default")
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	em, err := engine.Load(path, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	rng := rand.New(rand.NewPCG(8, 8))
	toks := randomTokens(rng, 40, m.Config.VocabSize)
	ps, err := m.Forward(toks, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := em.NewSession(64).ForwardAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	var maxErr, maxAbs float64
	for i, w := range want {
		maxErr = max(maxErr, math.Abs(float64(ps.Logits[i])-float64(w)))
		maxAbs = max(maxAbs, math.Abs(float64(w)))
	}
	t.Logf("max |Δlogit| %.3g, max |logit| %.3g", maxErr, maxAbs)
	if maxErr > 1e-4*maxAbs {
		t.Fatalf("logits differ from engine's by %g (max |logit| %g): want within 1e-4 relative", maxErr, maxAbs)
	}
}

// TestRecompute checks that activation checkpointing (Model.Recompute)
// keeps only each block's input in the forward pass and gives bit for bit
// the gradients of the full record.
func TestRecompute(t *testing.T) {
	c := tinyConfig(false, false)
	m := randomModel(t, c, 5, 0.3)
	rng := rand.New(rand.NewPCG(5, 5))
	ws := [][]int32{randomTokens(rng, 12, c.VocabSize)}
	grads := func(rec bool) [][]float32 {
		m.Recompute = rec
		tr, err := NewTrainer(m, nil, ws, Options{Steps: 1, CEWeight: 1})
		if err != nil {
			t.Fatal(err)
		}
		m.zeroGrads()
		if _, err := tr.lossGrad(0, 1, true); err != nil {
			t.Fatal(err)
		}
		var g [][]float32
		for _, p := range m.Params {
			g = append(g, append([]float32(nil), p.G...))
		}
		return g
	}
	full, rec := grads(false), grads(true)
	for i := range full {
		for j := range full[i] {
			if math.Float32bits(full[i][j]) != math.Float32bits(rec[i][j]) {
				t.Fatalf("%s[%d]: gradient %g recomputed, %g kept", m.Params[i].Name, j, rec[i][j], full[i][j])
			}
		}
	}
	ps, err := m.Forward(ws[0][:11], true)
	if err != nil {
		t.Fatal(err)
	}
	for l, a := range ps.layers {
		if a.x == nil || a.xn1 != nil || a.p != nil {
			t.Fatalf("block %d: recomputing forward pass kept more than the block's input", l)
		}
	}
}
