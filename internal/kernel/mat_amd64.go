//go:build !purego

package kernel

import (
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// act4 is the argument block of the four-row assembly kernels
// (mat_amd64.s): code (or float) pointers, scale pointers, sum or bsums
// pointers of four activation rows, their results, and scratch.
type act4 struct {
	q    [4]unsafe.Pointer
	d    [4]*float32
	s    [4]unsafe.Pointer
	out  [4]float32
	macc [16]float32
}

//go:noescape
func dotQ4_0x4AVX2(w *byte, a *act4, nb int)

//go:noescape
func dotQ8_0x4AVX2(w *byte, a *act4, nb int)

//go:noescape
func dotQ4_Kx4AVX2(w *byte, a *act4, nb int)

//go:noescape
func dotQ6_Kx4AVX2(w *byte, a *act4, nb int)

//go:noescape
func dotF16x4AVX2(w *byte, a *act4, n int)

func initMatMul4() {
	AVX2.MatMul4[format.Q4_0] = matMul4(dotQ4_0x4AVX2, ActQ8, 18)
	AVX2.MatMul4[format.Q8_0] = matMul4(dotQ8_0x4AVX2, ActQ8, 34)
	AVX2.MatMul4[format.Q4_K] = matMul4(dotQ4_Kx4AVX2, ActQ8K, 144)
	AVX2.MatMul4[format.Q6_K] = matMul4(dotQ6_Kx4AVX2, ActQ8K, 210)
	AVX2.MatMul4[format.F16] = matMul4F16
	initTileAVX2()
}

// blockOperands checks the operands of a many-row product of weight rows
// r0..r1 (rowBytes apart, nb blocks of bb bytes used) with the activation
// rows xs, whose results go to out (stride apart): it panics on activation
// rows of different lengths or weight rows shorter than their activation,
// and when there is no whole block it clears the outputs and returns false.
func blockOperands(w []byte, rowBytes, r0, r1, nb, bb int, xs []Vec, out []float32, stride int) bool {
	n := len(xs[0].F)
	_ = out[(len(xs)-1)*stride+r1-1]
	for j := range xs {
		if len(xs[j].F) != n {
			panic("kernel: activation rows of different lengths")
		}
	}
	if nb == 0 {
		for j := range xs {
			clear(out[j*stride+r0 : j*stride+r1])
		}
		return false
	}
	if rowBytes < nb*bb {
		panic("kernel: row shorter than its activation")
	}
	_ = w[(r1-1)*rowBytes+nb*bb-1]
	return true
}

// matMul4 wraps a four-row block kernel: it checks every bound the
// assembly relies on, then calls it once per weight row.
func matMul4(kern func(*byte, *act4, int), k ActKind, blockBytes int) MatMul4Func {
	return func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
		xs = xs[:4]
		if r0 >= r1 {
			return
		}
		n := len(xs[0].F)
		nb := n / Block(k)
		_ = out[3*stride+r1-1]
		if nb == 0 {
			for j := 0; j < 4; j++ {
				clear(out[j*stride+r0 : j*stride+r1])
			}
			return
		}
		if rowBytes < nb*blockBytes {
			panic("kernel: row shorter than its activation")
		}
		_ = w[(r1-1)*rowBytes+nb*blockBytes-1]
		var a act4
		for j := range xs {
			x := &xs[j]
			if len(x.F) != n {
				panic("kernel: activation rows of different lengths")
			}
			a.q[j] = unsafe.Pointer(&x.Q[:nb*Block(k)][0])
			a.d[j] = &x.D[:nb][0]
			if k == ActQ8 {
				a.s[j] = unsafe.Pointer(&x.S[:nb][0])
			} else {
				a.s[j] = unsafe.Pointer(&x.BSums[:nb*16][0])
			}
		}
		for r := r0; r < r1; r++ {
			kern(&w[r*rowBytes], &a, nb)
			out[r] = a.out[0]
			out[stride+r] = a.out[1]
			out[2*stride+r] = a.out[2]
			out[3*stride+r] = a.out[3]
		}
	}
}

func matMul4F16(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	matMul4Float(dotF16x4AVX2, 8, w, rowBytes, r0, r1, xs, out, stride)
}

// matMul4Float runs the four-row F16 kernel kern, which takes a multiple
// of unit elements, and finishes each row's last elements in Go.
func matMul4Float(kern func(*byte, *act4, int), unit int, w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	xs = xs[:4]
	if r0 >= r1 {
		return
	}
	n := len(xs[0].F)
	m := n - n%unit
	_ = out[3*stride+r1-1]
	if 2*n > rowBytes {
		panic("kernel: row shorter than its activation")
	}
	_ = w[(r1-1)*rowBytes+2*n-1]
	var a act4
	for j := range xs {
		if len(xs[j].F) != n {
			panic("kernel: activation rows of different lengths")
		}
		if m > 0 {
			a.q[j] = unsafe.Pointer(&xs[j].F[0])
		}
	}
	for r := r0; r < r1; r++ {
		row := w[r*rowBytes : r*rowBytes+2*n]
		if m > 0 {
			kern(&row[0], &a, m)
		}
		for j := 0; j < 4; j++ {
			s := a.out[j]
			if m == 0 {
				s = 0
			}
			f := xs[j].F
			for i := m; i < n; i++ {
				s += f16(row[2*i:]) * f[i]
			}
			out[j*stride+r] = s
		}
	}
}
