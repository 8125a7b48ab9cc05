//go:build !purego

package kernel

import (
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// AVX512VNNI entries for Q3_K and Q2_K (many-row VNNI kernels against Q8_K
// activations, also serving as the one-row Dot) and for BF16 weights (a
// many-row 512-bit MatVec, Dot through it, and a 4x4 register-tile
// MatMul4).

//go:noescape
func dotQ3_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

//go:noescape
func dotQ2_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

//go:noescape
func dotBF16x1AVX512(w *byte, f *float32, n, rows, rowBytes int, out *float32)

//go:noescape
func dotBF16x4x4AVX512(w *byte, rowBytes int, a *act4, n int, out *[16]float32)

var _ = addVNNI(func(im *Impl) {
	im.MatVec[format.Q3_K] = matVecK(im, format.Q3_K, dotQ3_Kx1VNNI)
	im.Dot[format.Q3_K] = dotK(dotQ3_Kx1VNNI, 110)
	im.MatVec[format.Q2_K] = matVecK(im, format.Q2_K, dotQ2_Kx1VNNI)
	im.Dot[format.Q2_K] = dotK(dotQ2_Kx1VNNI, 84)
	im.MatVec[format.BF16] = matVecBF16V
	im.Dot[format.BF16] = dotBF16V
	im.MatMul4[format.BF16] = matMulBF16x4x4
})

// bf16Tail adds to s the products of the bf16 values row[2i:] (i from m to
// n-1, row starting at element 0) with f[i].
func bf16Tail(s float32, row []byte, f []float32, m, n int) float32 {
	for i := m; i < n; i++ {
		s += bf16(row[2*i:]) * f[i]
	}
	return s
}

func dotBF16V(w []byte, x *Vec) float32 {
	f := x.F
	n := len(f)
	w = w[:2*n]
	m := n &^ 15
	var s float32
	if m > 0 {
		dotBF16x1AVX512(&w[0], &f[0], m, 1, 0, &s)
	}
	return bf16Tail(s, w, f, m, n)
}

// matVecBF16V is MatVec for BF16 weights: the many-row kernel over the
// columns up to the last multiple of 16, the rest of each row in Go.
func matVecBF16V(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	if r0 >= r1 {
		return
	}
	f := xs[0].F
	n := len(f)
	out = out[r0:r1]
	if n == 0 {
		clear(out)
		return
	}
	if 2*n > rowBytes {
		panic("kernel: row shorter than its activation")
	}
	_ = w[(r1-1)*rowBytes+2*n-1]
	m := n &^ 15
	if m > 0 {
		dotBF16x1AVX512(&w[r0*rowBytes], &f[0], m, r1-r0, rowBytes, &out[0])
	} else {
		clear(out)
	}
	if m < n {
		for r := r0; r < r1; r++ {
			out[r-r0] = bf16Tail(out[r-r0], w[r*rowBytes:r*rowBytes+2*n], f, m, n)
		}
	}
}

// matMulBF16x4x4 is MatMul4 for BF16 weights: four weight rows at a time
// through the 4x4 register tile of dotBF16x4x4AVX512, the rows past the
// last multiple of four through the many-row kernel once per activation
// row, and the columns past the last multiple of 16 in Go.
func matMulBF16x4x4(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	xs = xs[:4]
	if r0 >= r1 {
		return
	}
	n := len(xs[0].F)
	_ = out[3*stride+r1-1]
	for j := range xs {
		if len(xs[j].F) != n {
			panic("kernel: activation rows of different lengths")
		}
	}
	if n == 0 {
		for j := range xs {
			clear(out[j*stride+r0 : j*stride+r1])
		}
		return
	}
	if 2*n > rowBytes {
		panic("kernel: row shorter than its activation")
	}
	_ = w[(r1-1)*rowBytes+2*n-1]
	m := n &^ 15
	if m == 0 {
		for j := range xs {
			clear(out[j*stride+r0 : j*stride+r1])
		}
	} else {
		var a act4
		for j := range xs {
			a.q[j] = unsafe.Pointer(&xs[j].F[0])
		}
		var res [16]float32
		r := r0
		for ; r+4 <= r1; r += 4 {
			dotBF16x4x4AVX512(&w[r*rowBytes], rowBytes, &a, m, &res)
			for i := 0; i < 4; i++ {
				for j := 0; j < 4; j++ {
					out[j*stride+r+i] = res[4*i+j]
				}
			}
		}
		if r < r1 {
			for j := range xs {
				dotBF16x1AVX512(&w[r*rowBytes], &xs[j].F[0], m, r1-r, rowBytes, &out[j*stride+r])
			}
		}
	}
	if m < n {
		for r := r0; r < r1; r++ {
			row := w[r*rowBytes : r*rowBytes+2*n]
			for j := range xs {
				out[j*stride+r] = bf16Tail(out[j*stride+r], row, xs[j].F, m, n)
			}
		}
	}
}
