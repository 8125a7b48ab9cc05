//go:build !purego

package kernel

import "github.com/shrink-llm/shrink/format"

// NEON (and NEONDot) entries for Q6_K and Q5_K weights against Q8_K
// activations, F16 weights against float activations, and the float
// vector primitives DotF32 and Axpy. The kernels (neon_k_arm64.s) follow
// the generic ones step by step: each super-block's integer sum is formed
// exactly in vector registers, then scaled and accumulated in float as Go
// does; the float kernels keep generic's four partial sums in the four
// lanes of one register.

//go:noescape
func dotQ6_KNEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ6_KDOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ5_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotF16NEON(w *byte, f *float32, n int) float32

//go:noescape
func dotF32NEON(a, b *float32, n int) float32

//go:noescape
func axpyNEON(a float32, x, y *float32, n int)

var _ = addNEON(func(neon, dot *Impl) {
	for _, p := range []struct {
		im  *Impl
		q6k func(*byte, *int8, *float32, int) float32
		q5k func(*byte, *int8, *float32, *int16, int) float32
	}{
		{neon, dotQ6_KNEON, dotQ5_KNEON},
		{dot, dotQ6_KDOT, dotQ5_KDOT},
	} {
		p.im.Dot[format.Q6_K] = blockKD(p.q6k, 210)
		p.im.Dot[format.Q5_K] = blockK(p.q5k, 176)
		// Float weights and vectors: no integer dot product, so the
		// same kernels serve both.
		p.im.Dot[format.F16] = dotF16RowNEON
		p.im.DotF32 = dotF32VecNEON
		p.im.Axpy = axpyVecNEON
	}
})

func dotF16RowNEON(w []byte, x *Vec) float32 {
	f := x.F
	n := len(f)
	if n == 0 {
		return 0
	}
	w = w[:2*n]
	return dotF16NEON(&w[0], &f[0], n)
}

func dotF32VecNEON(a, b []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	b = b[:n]
	return dotF32NEON(&a[0], &b[0], n)
}

func axpyVecNEON(a float32, x, y []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	y = y[:n]
	axpyNEON(a, &x[0], &y[0], n)
}
