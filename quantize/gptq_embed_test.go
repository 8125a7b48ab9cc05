package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestEmbeddingHessian checks H = Σ s·diag(g) WᵀW diag(g) against a direct
// sum, its symmetry, the scaling of subsampled rows, and that malformed
// terms are skipped.
func TestEmbeddingHessian(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const dim = 12
	mk := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	terms := []EmbeddingTerm{
		{Norm: mk(dim), Weight: mk(5 * dim), Scale: 2},
		{Norm: mk(dim), Weight: mk(8 * dim), Scale: 0.5},
		{Norm: mk(dim - 1), Weight: mk(3 * dim), Scale: 1}, // wrong width
		{Norm: mk(dim), Weight: mk(3 * dim), Scale: 0},     // no weight
	}
	H := EmbeddingHessian(dim, terms, 0)
	for i := 0; i < dim; i++ {
		for j := 0; j < dim; j++ {
			var want float64
			for _, tm := range terms[:2] {
				for r := 0; r < len(tm.Weight)/dim; r++ {
					want += tm.Scale * float64(tm.Weight[r*dim+i]) * float64(tm.Norm[i]) * float64(tm.Weight[r*dim+j]) * float64(tm.Norm[j])
				}
			}
			if got := H[i*dim+j]; math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
				t.Fatalf("H[%d][%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	// Every other row of a term of 8 rows, scaled by 2.
	one := []EmbeddingTerm{terms[1]}
	Hs := EmbeddingHessian(dim, one, 4)
	w := terms[1]
	for _, p := range [][2]int{{0, 0}, {3, 7}} {
		var want float64
		for r := 0; r < 8; r += 2 {
			want += 2 * w.Scale * float64(w.Weight[r*dim+p[0]]) * float64(w.Norm[p[0]]) * float64(w.Weight[r*dim+p[1]]) * float64(w.Norm[p[1]])
		}
		if got := Hs[p[0]*dim+p[1]]; math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
			t.Errorf("subsampled H[%d][%d] = %v, want %v", p[0], p[1], got, want)
		}
	}
	// As GPTQ's Hessian for a quantized embedding: lower consumer error
	// than imatrix-weighted rounding with its diagonal.
	const rows, cols = 64, 256
	emb, _ := gptqLayer(4, rows, cols, 1)
	cons := []EmbeddingTerm{{Norm: mk(cols), Weight: mk(32 * cols), Scale: 1}}
	for i := range cons[0].Weight {
		if i%cols < 8 {
			cons[0].Weight[i] *= 10 // a few dominant directions
		}
	}
	He := EmbeddingHessian(cols, cons, 0)
	diag := make([]float32, cols)
	for i := range diag {
		diag[i] = float32(He[i*cols+i])
	}
	cost := func(q []float32) float64 {
		var s float64
		d := make([]float64, cols)
		for r := 0; r < rows; r++ {
			for j := range d {
				d[j] = float64(emb[r*cols+j] - q[r*cols+j])
			}
			for i := range d {
				for j := range d {
					s += d[i] * He[i*cols+j] * d[j]
				}
			}
		}
		return s
	}
	imx := cost(decodeAll(t, format.Q4_K, encodeAll(format.Q4_K, emb, rows, cols, diag), rows, cols))
	dst := make([]byte, rows*144)
	if err := GPTQ(format.Q4_K, dst, emb, rows, cols, He, GPTQOptions{}); err != nil {
		t.Fatal(err)
	}
	gq := cost(decodeAll(t, format.Q4_K, dst, rows, cols))
	t.Logf("consumer error: gptq %.4g, imatrix %.4g", gq, imx)
	if !(gq < imx) {
		t.Errorf("consumer error: gptq %v, imatrix %v", gq, imx)
	}
}
