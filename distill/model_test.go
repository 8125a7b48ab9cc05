package distill

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/model"
)

// tinyConfig returns a small llama configuration: per-layer widths differ
// as pruning leaves them.
func tinyConfig(tied, neox bool) *model.Config {
	c := model.ConfigFromLlama2c(16, 24, 2, 4, 2, 20, 64)
	c.TiedEmbeddings = tied
	c.FFN = []int{24, 12}
	c.Heads = []int{4, 2}
	c.KVHeads = []int{2, 1}
	if neox {
		c.Arch, c.RopeNeox = "qwen2", true
	}
	return c
}

func randomModel(t *testing.T, c *model.Config, seed uint64, std float32) *Model {
	t.Helper()
	m, err := NewRandom(c, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, p := range m.Params {
		for i := range p.W {
			if p.Decay {
				p.W[i] = float32(rng.NormFloat64()) * std
			} else {
				p.W[i] = 1 + float32(rng.NormFloat64())*0.1
			}
		}
	}
	return m
}

func randomTokens(rng *rand.Rand, n, vocab int) []int32 {
	ts := make([]int32, n)
	for i := range ts {
		ts[i] = int32(rng.IntN(vocab))
	}
	return ts
}

// TestGradModel checks the gradient of the whole model, with every loss
// at once, against finite differences at a sample of every parameter's
// coordinates.
func TestGradModel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tied, neox bool
	}{{"untied", false, false}, {"tied-neox", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tinyConfig(tc.tied, tc.neox)
			student := randomModel(t, c, 1, 0.4)
			teacher := randomModel(t, c, 2, 0.4)
			rng := rand.New(rand.NewPCG(3, 3))
			w := randomTokens(rng, 9, c.VocabSize)
			tr, err := NewTrainer(student, ModelTeacher{teacher}, [][]int32{w}, Options{Steps: 1, KDWeight: 1, CEWeight: 0.5, HiddenWeight: 0.3, Temperature: 2})
			if err != nil {
				t.Fatal(err)
			}
			student.zeroGrads()
			if _, err := tr.lossGrad(0, 1, true); err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				s, err := tr.lossGrad(0, 1, false)
				if err != nil {
					t.Fatal(err)
				}
				return s.Loss
			}
			for _, p := range student.Params {
				checkGrad(t, p.Name, p.W, p.G, loss, 6, 1e-2)
			}
		})
	}
}

// TestGradLoRA checks the adapter gradients against finite differences.
func TestGradLoRA(t *testing.T) {
	c := tinyConfig(false, false)
	student := randomModel(t, c, 1, 0.4)
	if err := student.AddLoRA(2, 4, 5); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for _, p := range student.Params {
		if p.adapter() {
			for i := range p.W {
				p.W[i] = float32(rng.NormFloat64()) * 0.3
			}
		}
	}
	w := randomTokens(rng, 9, c.VocabSize)
	tr, err := NewTrainer(student, nil, [][]int32{w}, Options{Steps: 1, CEWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	student.zeroGrads()
	if _, err := tr.lossGrad(0, 1, true); err != nil {
		t.Fatal(err)
	}
	student.loraGrads()
	loss := func() float64 {
		student.mergeLoRA()
		s, err := tr.lossGrad(0, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		return s.Loss
	}
	n := 0
	for _, p := range student.Params {
		if p.adapter() {
			checkGrad(t, p.Name, p.W, p.G, loss, 4, 3e-3)
			n++
		}
	}
	if n != 2*7*c.Layers {
		t.Fatalf("%d adapters, want %d", n, 2*7*c.Layers)
	}
}

// TestMemorize trains a small model on one sequence: the loss must fall
// close to zero.
func TestMemorize(t *testing.T) {
	c := tinyConfig(true, false)
	c.Dim, c.HeadDim, c.RopeDim = 32, 8, 8
	c.Heads, c.KVHeads, c.FFN = []int{4, 4}, []int{2, 2}, []int{64, 64}
	c.VocabSize = 24
	m, err := NewRandom(c, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	w := randomTokens(rng, 33, c.VocabSize)
	tr, err := NewTrainer(m, nil, [][]int32{w}, Options{Steps: 300, LR: 1e-2, CEWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	var first, last Stats
	for i := 0; i < 300; i++ {
		st, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		}
		last = st
	}
	t.Logf("loss %.4f -> %.4f", first.Loss, last.Loss)
	if first.Loss < 2.5 || last.Loss > 0.05 {
		t.Fatalf("loss %.4f -> %.4f: want from about ln(24) to near zero", first.Loss, last.Loss)
	}
}

// TestDistillIdentity distils a student equal to its teacher: the loss is
// zero and the weights do not move.
func TestDistillIdentity(t *testing.T) {
	c := tinyConfig(false, false)
	teacher := randomModel(t, c, 1, 0.3)
	student := randomModel(t, c, 1, 0.3)
	rng := rand.New(rand.NewPCG(5, 5))
	ws := [][]int32{randomTokens(rng, 12, c.VocabSize), randomTokens(rng, 12, c.VocabSize)}
	tr, err := NewTrainer(student, ModelTeacher{teacher}, ws, Options{Steps: 10, Batch: 2, KDWeight: 1, HiddenWeight: 1, Temperature: 2, WeightDecay: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		st, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if st.Loss != 0 || st.KLD != 0 || st.Hidden != 0 {
			t.Fatalf("step %d: loss %g, KLD %g, hidden %g: want 0", i, st.Loss, st.KLD, st.Hidden)
		}
	}
	for i, p := range student.Params {
		q := teacher.Params[i]
		for j := range p.W {
			if p.W[j] != q.W[j] {
				t.Fatalf("%s[%d] moved: %g -> %g", p.Name, j, q.W[j], p.W[j])
			}
		}
	}
}

func TestSchedule(t *testing.T) {
	o := Options{Steps: 100, Warmup: 10, LR: 1}
	o.defaults()
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 0.1}, {9, 1}, {10, 1}, {55, 0.55}, {100, 0.1}} {
		if got := o.LRAt(tc.step); math.Abs(float64(got)-tc.want) > 1e-6 {
			t.Errorf("LRAt(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
}

func TestWindows(t *testing.T) {
	ts := []int32{5, 6, 7, 8, 9, 10, 11}
	ws := Windows(ts, 3, 1)
	want := [][]int32{{1, 5, 6, 7}, {1, 8, 9, 10}}
	if len(ws) != len(want) {
		t.Fatalf("%d windows, want %d: %v", len(ws), len(want), ws)
	}
	for i := range want {
		for j := range want[i] {
			if ws[i][j] != want[i][j] {
				t.Fatalf("window %d = %v, want %v", i, ws[i], want[i])
			}
		}
	}
	if ws := Windows([]int32{5, 6}, 8, 1); len(ws) != 1 || len(ws[0]) != 3 {
		t.Fatalf("short text: %v", ws)
	}
}
