package distill

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// wideConfig returns a one-block llama configuration whose rows are
// multiples of 256 elements, as the K-quants need.
func wideConfig() *model.Config {
	c := model.ConfigFromLlama2c(256, 256, 1, 4, 2, 40, 64)
	c.TiedEmbeddings = false
	return c
}

// storeAs rounds every matrix of m to type typ in place: the float32
// values become the dequantized ones, and it returns a copy of m (same
// norms) whose matrices are kept as the encoded bytes.
func storeAs(t testing.TB, m *Model, typ format.DType) *Model {
	t.Helper()
	s, err := newModel(m.Config, m.Vocab, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params {
		q := s.Params[i]
		if len(p.Shape) < 2 {
			copy(q.W, p.W)
			continue
		}
		cols, rows := int(p.Shape[0]), int(p.Shape[1])
		rb, err := typ.RowBytes(int64(cols))
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, int(rb)*rows)
		for r := range rows {
			row, dst := p.W[r*cols:(r+1)*cols], raw[r*int(rb):(r+1)*int(rb)]
			if typ == format.F16 || typ == format.BF16 {
				err = format.EncodeFloats(typ, row, dst)
			} else {
				err = quantize.EncodeRow(typ, dst, row, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := decodeRow(typ, row, dst); err != nil {
				t.Fatal(err)
			}
		}
		if q.stored, err = newStored(p.Name, typ, raw, cols, rows); err != nil {
			t.Fatal(err)
		}
		q.W, q.Frozen = nil, true
	}
	return s
}

// loraPair returns a float32 model with adapters and its twin whose
// matrices are stored as typ (same values, same adapters, made non-zero).
func loraPair(t *testing.T, c *model.Config, typ format.DType) (f, s *Model) {
	f = randomModel(t, c, 1, 0.05)
	s = storeAs(t, f, typ)
	for _, m := range []*Model{f, s} {
		if err := m.AddLoRA(4, 8, 5); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		for _, p := range m.Params {
			if p.adapter() {
				for i := range p.W {
					p.W[i] = float32(rng.NormFloat64()) * 0.05
				}
			}
		}
	}
	f.mergeLoRA()
	return f, s
}

// TestStoredLoRAGrads checks that adapters on a base kept in its stored
// type (F16, BF16, Q8_0, Q4_K) get the gradients of adapters on the
// float32 base of the same values, through every loss, and that the
// written weights are the same merged ones.
func TestStoredLoRAGrads(t *testing.T) {
	c := wideConfig()
	teacher := randomModel(t, c, 2, 0.05)
	rng := rand.New(rand.NewPCG(4, 4))
	w := randomTokens(rng, 9, c.VocabSize)
	opt := Options{Steps: 1, KDWeight: 1, CEWeight: 0.5, HiddenWeight: 0.3, Temperature: 2}
	for _, typ := range []format.DType{format.F16, format.BF16, format.Q8_0, format.Q4_K} {
		f, s := loraPair(t, c, typ)
		var st [2]Stats
		for i, m := range []*Model{f, s} {
			tr, err := NewTrainer(m, ModelTeacher{teacher}, [][]int32{w}, opt)
			if err != nil {
				t.Fatal(err)
			}
			m.zeroGrads()
			if st[i], err = tr.lossGrad(0, 1, true); err != nil {
				t.Fatal(err)
			}
			m.loraGrads()
		}
		if d := math.Abs(st[0].Loss - st[1].Loss); d > 1e-5*math.Abs(st[0].Loss) {
			t.Errorf("%s: loss %g, float32 base %g", typ, st[1].Loss, st[0].Loss)
		}
		n := 0
		for i, p := range f.Params {
			q := s.Params[i]
			if p.Frozen {
				if !q.Stored() && len(p.Shape) == 2 {
					t.Errorf("%s: %s not stored", typ, p.Name)
				}
				continue
			}
			n++
			if e := relErr(q.G, p.G); e > 1e-4 {
				t.Errorf("%s: gradient of %s off by %.2g (relative)", typ, p.Name, e)
			}
		}
		if n != 2*7+3 {
			t.Errorf("%s: %d trainable parameters compared, want 17", typ, n)
		}
		for i, p := range f.Params {
			if len(p.Shape) == 2 && !p.adapter() {
				if e := relErr(s.Params[i].values(), p.W); e > 1e-6 {
					t.Errorf("%s: merged %s off by %.2g", typ, p.Name, e)
				}
			}
		}
	}
}

// relErr returns ‖a-b‖/‖b‖.
func relErr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range a {
		d += float64(a[i]-b[i]) * float64(a[i]-b[i])
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d / max(n, 1e-30))
}

// TestStoredThreadsResume trains adapters on an F16 base with one and with
// four goroutines, and with a checkpoint half way: the adapters are
// bit-identical.
func TestStoredThreadsResume(t *testing.T) {
	defer SetThreads(0)
	c := wideConfig()
	teacher := randomModel(t, c, 2, 0.05)
	rng := rand.New(rand.NewPCG(6, 6))
	var ws [][]int32
	for range 4 {
		ws = append(ws, randomTokens(rng, 33, c.VocabSize))
	}
	opt := Options{Steps: 4, Batch: 2, KDWeight: 1, CEWeight: 0.5, LR: 1e-2, Seed: 3}
	train := func(threads, from int, ckpt string) *Trainer {
		SetThreads(threads)
		_, s := loraPair(t, c, format.F16)
		tr, err := NewTrainer(s, ModelTeacher{teacher}, ws, opt)
		if err != nil {
			t.Fatal(err)
		}
		if from > 0 {
			if err := tr.LoadCheckpoint(ckpt); err != nil {
				t.Fatal(err)
			}
		}
		for tr.Step < opt.Steps {
			if _, err := tr.TrainStep(); err != nil {
				t.Fatal(err)
			}
			if tr.Step == 2 && ckpt != "" && from == 0 {
				if err := tr.SaveCheckpoint(ckpt); err != nil {
					t.Fatal(err)
				}
			}
		}
		return tr
	}
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	one := train(1, 0, ckpt)
	for _, other := range []*Trainer{train(4, 0, ""), train(2, 2, ckpt)} {
		for i, p := range one.Student.Params {
			q := other.Student.Params[i]
			for j := range p.W {
				if math.Float32bits(p.W[j]) != math.Float32bits(q.W[j]) {
					t.Fatalf("%s[%d]: %g, other run %g", p.Name, j, p.W[j], q.W[j])
				}
			}
		}
	}
	if b := one.Student.Param("blk.0.attn_q.weight.lora_b"); b == nil || b.W[0] == 0 {
		t.Fatal("training did not move the adapters")
	}
}

// BenchmarkLoRAStep is one optimizer step of rank-8 adapters (one
// 256-token window, cross-entropy) on the 8.4M shape: on a float32 base
// (merged into the weights after every step) and on the same base kept
// as F16 and Q8_0 bytes.
func BenchmarkLoRAStep(b *testing.B) {
	for _, base := range []string{"f32", "f16", "q8_0"} {
		b.Run(base, func(b *testing.B) {
			m, ws := smallEdgeShape(b, 1)
			if typ, ok := format.ParseDType(base); ok && typ != format.F32 {
				m = storeAs(b, m, typ)
			}
			if err := m.AddLoRA(8, 16, 1); err != nil {
				b.Fatal(err)
			}
			tr, err := NewTrainer(m, nil, ws[:1], Options{Steps: 1 << 20, CEWeight: 1})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
