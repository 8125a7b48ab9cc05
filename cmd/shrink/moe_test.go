package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/quantize"
)

// TestExpertGPTQ: the inputs routed to each expert build that expert's
// Hessian (in the block-by-block pass) and importances (in the calibration
// pass), and a stacked expert tensor is GPTQ-quantized expert by
// expert, each with its own Hessian; an expert that saw no token leaves
// the tensor to the importance-weighted path (nil encoder).
func TestExpertGPTQ(t *testing.T) {
	const name, cols, per, n = "blk.0.ffn_up_exps.weight", 64, 8, 2
	g := &gptqCalib{h: quantize.NewHessianCollector(1 << 20)}
	o := imatrixObserver{c: quantize.NewCollector(), experts: n}
	ho := hessianObserver{g.h}
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(k int) []float32 {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	x0 := rnd(5 * cols)
	o.ExpertLinear(name, 0, x0, 5, cols)
	ho.ExpertLinear(name, 0, x0, 5, cols)
	if g.experts(name, n, per, format.Q4_0, 1) != nil {
		t.Fatal("encoder built although expert 1 saw no token")
	}
	x1 := rnd(7 * cols)
	o.ExpertLinear(name, 1, x1, 7, cols)
	ho.ExpertLinear(name, 1, x1, 7, cols)
	w := rnd(n * per * cols)
	rb := cols / 32 * 18
	want := make([]byte, n*per*rb)
	for e := 0; e < n; e++ {
		h := g.h.Hessian(expertKey(name, e))
		if err := quantize.GPTQ(format.Q4_0, want[e*per*rb:(e+1)*per*rb], w[e*per*cols:(e+1)*per*cols], per, cols, h.Matrix(), quantize.GPTQOptions{Threads: 1}); err != nil {
			t.Fatal(err)
		}
	}
	enc := g.experts(name, n, per, format.Q4_0, 1)
	if enc == nil {
		t.Fatal("no encoder with both experts' Hessians")
	}
	got := make([]byte, n*per*rb)
	// Two chunks, the first ending inside expert 0, the second spanning
	// both experts.
	for _, c := range [][2]int{{0, 5}, {5, n * per}} {
		if err := enc(got[c[0]*rb:c[1]*rb], w[c[0]*cols:c[1]*cols], c[0], c[1]-c[0], cols); err != nil {
			t.Fatal(err)
		}
	}
	for e := 0; e < n; e++ {
		if !bytes.Equal(got[e*per*rb:(e+1)*per*rb], want[e*per*rb:(e+1)*per*rb]) {
			t.Errorf("expert %d not quantized with its own Hessian", e)
		}
	}
	if v, ok := o.c.Imatrix(1, "").Get(name); !ok || len(v) != n*cols {
		t.Errorf("per-expert importances: %d values", len(v))
	}
}

// TestInspectMoE: inspect shows the expert configuration of
// dev-mixtral-moe, and of dev-deepseek2-moe, whose latent attention is
// not run, its experts and attention sizes.
func TestInspectMoE(t *testing.T) {
	mix := testutil.Shared(t, "models/dev-mixtral-moe")
	ds := testutil.Shared(t, "models/dev-deepseek2-moe")
	for _, c := range []struct{ path, want string }{
		{mix, "experts: 8 routed, 2 used per token, expert ffn 256"},
		{ds, "experts: 8 routed, 2 used per token, expert ffn 128, shared experts 1 (ffn 128), leading dense blocks 1, gating softmax, renormalise false, scale 2"},
		{ds, "attention: multi-head latent, q_lora_rank 64, kv_lora_rank 32, key length 32, value length 16"},
	} {
		code, out, errOut := run(t, "inspect", c.path)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("inspect %s: code %d, want %q in\n%s%s", c.path, code, c.want, out, errOut)
		}
	}
}
