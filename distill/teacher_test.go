package distill

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// TestEngineTeacher checks that the engine's teacher gives the logits of
// the float32 model's forward pass for a model written as F32 (the same
// weights; the kernels' summation order differs) and as F16 (within the
// rounding of the weights), with pruned per-layer shapes and windows of
// different lengths (the session is reused).
func TestEngineTeacher(t *testing.T) {
	c := tinyConfig(false, false)
	m := randomModel(t, c, 3, 0.3)
	pieces := make([]string, c.VocabSize)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("<%d>", i)
	}
	m.Vocab = model.VocabFromLlama2c(pieces, nil)
	rng := rand.New(rand.NewPCG(4, 4))
	ws := [][]int32{randomTokens(rng, 13, c.VocabSize), randomTokens(rng, 40, c.VocabSize)}
	for _, dt := range []format.DType{format.F32, format.F16} {
		path := filepath.Join(t.TempDir(), "t.gguf")
		if err := m.WriteGGUF(path, dt, nil); err != nil {
			t.Fatal(err)
		}
		em, err := engine.Load(path, engine.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		et := NewEngineTeacher(em)
		if et.VocabSize() != c.VocabSize {
			t.Fatalf("vocabulary %d, want %d", et.VocabSize(), c.VocabSize)
		}
		tol := 2e-4
		if dt == format.F16 {
			tol = 2e-2
		}
		for i, w := range ws {
			in := w[:len(w)-1]
			got, hid, err := et.Teach(i, in, true)
			if err != nil {
				t.Fatal(err)
			}
			if hid != nil {
				t.Errorf("engine teacher returned hidden states")
			}
			ps, err := m.Forward(in, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ps.Logits) {
				t.Fatalf("%d logits, want %d", len(got), len(ps.Logits))
			}
			var worst float64
			for j, v := range ps.Logits {
				worst = max(worst, math.Abs(float64(got[j]-v))/(1+math.Abs(float64(v))))
			}
			if worst > tol {
				t.Errorf("%s window %d: logits differ by %.3g (relative), want <= %g", dt, i, worst, tol)
			}
		}
		em.Close()
	}
}
