package shrink

import (
	"fmt"
	"math"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/quantize"
)

// TestEmbeddingHessianMoE: on a mixture-of-experts model the token
// embedding's Hessian counts every block's attention and its routed
// experts (the mean expert of the stacked gate and up), term by term.
func TestEmbeddingHessianMoE(t *testing.T) {
	m, err := convert.Load(testutil.Shared(t, "models/dev-mixtral-moe"), convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config
	const cols = 128
	g := &gptqCalib{m: m, resSum: make([]float64, c.Layers), resN: make([]int64, c.Layers)}
	for l := range c.Layers {
		g.resSum[l], g.resN[l] = float64(2*l+1), 4 // mean squares 1/4, 3/4, ...
	}
	got := g.embeddingHessian(cols)
	want := make([]float64, cols*cols)
	maxRows := max(64, int(4e9/(float64(cols)*float64(cols)*float64(5*c.Layers))))
	add := func(norm, w string, scale float64) {
		nt, _ := m.Tensor(norm)
		wt, ok := m.Tensor(w)
		if !ok {
			t.Fatalf("no %s", w)
		}
		gain, _ := m.ReadFloat32(nt)
		v, _ := m.ReadFloat32(wt)
		for i, x := range quantize.EmbeddingHessian(cols, []quantize.EmbeddingTerm{{Norm: gain, Weight: v, Scale: scale}}, maxRows) {
			want[i] += x
		}
	}
	for l := range c.Layers {
		s := 4 / float64(2*l+1)
		p := fmt.Sprintf("blk.%d.", l)
		for _, w := range []string{"attn_q", "attn_k", "attn_v"} {
			add(p+"attn_norm.weight", p+w+".weight", s)
		}
		for _, w := range []string{"ffn_gate_exps", "ffn_up_exps"} {
			add(p+"ffn_norm.weight", p+w+".weight", s/float64(c.Experts))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Hessian of %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > 1e-9*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("H[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}
