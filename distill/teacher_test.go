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
	"github.com/shrink-llm/shrink/quantize"
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

// TestEngineTeacherQ8 checks the engine's teacher on Q8_0 weights (the
// embeddings and norms kept in float32) against the float32 forward pass
// of the same, dequantized weights: they differ by the engine's 8-bit
// quantization of the activations only (about 3% relative RMS on this
// random model; a wrong kernel or layout gives order 1).
func TestEngineTeacherQ8(t *testing.T) {
	c := model.ConfigFromLlama2c(64, 96, 2, 4, 2, 40, 64)
	m := randomModel(t, c, 6, 0.2)
	var tensors []engine.Tensor
	for _, p := range m.Params {
		dt := format.F32
		if len(p.Shape) == 2 && p.Name != "token_embd.weight" {
			dt = format.Q8_0
		}
		rb, _ := dt.RowBytes(p.Shape[0])
		rows := len(p.W) / int(p.Shape[0])
		data := make([]byte, int(rb)*rows)
		if err := quantize.EncodeRows(dt, data, p.W, int(p.Shape[0]), nil, 1); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < rows; r++ { // the float32 model takes the dequantized weights
			row := p.W[r*int(p.Shape[0]) : (r+1)*int(p.Shape[0])]
			if err := quantize.DecodeRow(dt, row, data[r*int(rb):(r+1)*int(rb)]); err != nil {
				t.Fatal(err)
			}
		}
		tensors = append(tensors, engine.Tensor{Name: p.Name, Type: dt, Shape: p.Shape, Data: data})
	}
	pieces := make([]string, c.VocabSize)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("<%d>", i)
	}
	em, err := engine.NewModel(c, model.VocabFromLlama2c(pieces, nil), tensors, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	rng := rand.New(rand.NewPCG(6, 6))
	in := randomTokens(rng, 30, c.VocabSize)
	got, _, err := NewEngineTeacher(em).Teach(0, in, false)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := m.Forward(in, false)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for j, v := range ps.Logits {
		d := float64(got[j] - v)
		num += d * d
		den += float64(v) * float64(v)
	}
	if rel := math.Sqrt(num / den); !(rel < 0.06) || rel == 0 {
		t.Errorf("Q8_0 teacher: logits differ from float32 by %.3g (relative RMS), want (0, 0.06)", rel)
	}
}
