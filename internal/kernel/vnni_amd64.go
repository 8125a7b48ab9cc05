//go:build !purego

package kernel

import (
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// AVX512VNNI is the amd64 implementation for CPUs with AVX-512 (F, BW, VL,
// VBMI) and VNNI (Ice Lake, Sapphire Rapids, Zen 4 and later; not Cascade
// Lake, which lacks VBMI). It provides
// 512-bit four-row matrix kernels for Q4_0 (two blocks per register, the
// codes multiplied by VPDPBUSD) and Q4_K (a 64-code chunk per register, the
// sub-block scales applied by VPDPWSSD); its other entries are AVX2's.
var AVX512VNNI = &Impl{Name: "avx512vnni"}

//go:noescape
func dotQ4_0x4VNNI(w *byte, a *act4, npairs int)

//go:noescape
func dotQ4_Kx4VNNI(w *byte, a *act4, nb int)

//go:noescape
func dotQ4_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

//go:noescape
func quantQ8Blocks(x *float32, q *int8, d, s *float32, nb int)

//go:noescape
func quantQ8KBlock(x *float32, q *int8) float32

//go:noescape
func dotF16x4AVX512(w *byte, a *act4, n int)

//go:noescape
func dotF16x4x4AVX512(w *byte, rowBytes int, a *act4, n int, out *[16]float32)

//go:noescape
func dotQ8_0x1VNNI(w *byte, q *int8, d *float32, nq, rows, rowBytes int, out *float32)

//go:noescape
func dotQ4_0x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)

func initAVX512VNNI() {
	AVX512VNNI.Available = AVX2.Available && x86.HasAVX512VNNI && x86.HasAVX512VBMI
	AVX512VNNI.Dot = AVX2.Dot
	AVX512VNNI.MatMul4 = AVX2.MatMul4
	AVX512VNNI.DotF32, AVX512VNNI.Axpy = AVX2.DotF32, AVX2.Axpy
	AVX512VNNI.QuantQ8K = quantQ8KV
	AVX512VNNI.QuantQ8 = quantQ8V
	AVX512VNNI.Dot[format.Q8_0] = dotQ8_0V
	AVX512VNNI.MatVec[format.Q8_0] = matVec(AVX512VNNI, format.Q8_0, 4, func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32) {
		dotQ8_0x1VNNI(w, &x.Q[0], &x.D[0], nu, rows, rowBytes, out)
	})
	AVX512VNNI.MatVec[format.Q4_0] = matVec(AVX512VNNI, format.Q4_0, 4, func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32) {
		dotQ4_0x1VNNI(w, &x.Q[0], &x.D[0], &x.S[0], nu, rows, rowBytes, out)
	})
	AVX512VNNI.MatVec[format.Q4_K] = matVecK(AVX512VNNI, format.Q4_K, dotQ4_Kx1VNNI)
	AVX512VNNI.Dot[format.Q4_0] = dotQ4_0V
	AVX512VNNI.Dot[format.Q4_K] = dotK(dotQ4_Kx1VNNI, 144)
	AVX512VNNI.MatMul4[format.Q4_0] = matMul4(dotQ4_0x4Pairs, ActQ8, 18)
	AVX512VNNI.MatMul4[format.Q4_K] = matMul4(dotQ4_Kx4VNNI, ActQ8K, 144)
	AVX512VNNI.MatMul4[format.F16] = matMulF16x4x4
	for _, f := range vnniExtras {
		f(AVX512VNNI)
	}
	Register(AVX512VNNI)
}

// matMulF16x4x4 is MatMul4 for F16 weights: four weight rows at a time
// through the 4x4 register tile of dotF16x4x4AVX512, the columns past the
// last multiple of 16 in Go, and the rows past the last multiple of four
// through the one-row kernel.
func matMulF16x4x4(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	xs = xs[:4]
	n := len(xs[0].F)
	m := n &^ 15
	if r0 >= r1 || m == 0 || r1-r0 < 4 {
		matMul4Float(dotF16x4AVX512, 16, w, rowBytes, r0, r1, xs, out, stride)
		return
	}
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
		a.q[j] = unsafe.Pointer(&xs[j].F[0])
	}
	var res [16]float32
	r := r0
	for ; r+4 <= r1; r += 4 {
		dotF16x4x4AVX512(&w[r*rowBytes], rowBytes, &a, m, &res)
		for i := 0; i < 4; i++ {
			row := w[(r+i)*rowBytes : (r+i)*rowBytes+2*n]
			for j := 0; j < 4; j++ {
				s, f := res[4*i+j], xs[j].F
				for k := m; k < n; k++ {
					s += f16(row[2*k:]) * f[k]
				}
				out[j*stride+r+i] = s
			}
		}
	}
	if r < r1 {
		matMul4Float(dotF16x4AVX512, 16, w, rowBytes, r, r1, xs, out, stride)
	}
}

// dotQ4_0x4Pairs runs the two-block VNNI kernel over the even part of the
// row and the AVX2 kernel over a last odd block.
func dotQ4_0x4Pairs(w *byte, a *act4, nb int) {
	if nb >= 2 {
		dotQ4_0x4VNNI(w, a, nb/2)
	}
	if nb&1 == 0 {
		return
	}
	var sum [4]float32
	if nb >= 2 {
		sum = a.out
	}
	b := *a
	last := nb - 1
	for j := 0; j < 4; j++ {
		b.q[j] = unsafe.Add(a.q[j], 32*last)
		b.d[j] = (*float32)(unsafe.Add(unsafe.Pointer(a.d[j]), 4*last))
		b.s[j] = unsafe.Add(a.s[j], 4*last)
	}
	dotQ4_0x4AVX2((*byte)(unsafe.Add(unsafe.Pointer(w), 18*last)), &b, 1)
	for j := range sum {
		a.out[j] = sum[j] + b.out[j]
	}
}

// dotQ4_0V is the Q4_0 dot product with the VNNI kernel over groups of
// four blocks and the AVX2 one over the rest.
func dotQ4_0V(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	if nb == 0 {
		return 0
	}
	w, q, d, s := w[:nb*18], x.Q[:nb*32], x.D[:nb], x.S[:nb]
	m := nb &^ 3
	var sum float32
	if m > 0 {
		dotQ4_0x1VNNI(&w[0], &q[0], &d[0], &s[0], m/4, 1, 0, &sum)
	}
	if m < nb {
		sum += dotQ4_0AVX2(&w[m*18], &q[m*32], &d[m], &s[m], nb-m)
	}
	return sum
}

// dotQ8_0V is the Q8_0 dot product with the VNNI kernel over groups of
// four blocks and the AVX2 one over the rest.
func dotQ8_0V(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	if nb == 0 {
		return 0
	}
	w, q, d := w[:nb*34], x.Q[:nb*32], x.D[:nb]
	m := nb &^ 3
	var sum float32
	if m > 0 {
		dotQ8_0x1VNNI(&w[0], &q[0], &d[0], m/4, 1, 0, &sum)
	}
	if m < nb {
		sum += dotQ8_0AVX2(&w[m*34], &q[m*32], &d[m], nb-m)
	}
	return sum
}

// quantQ8KV is quantQ8KGeneric with each super-block's codes made by
// quantQ8KBlock.
func quantQ8KV(v *Vec, x []float32) {
	nb := len(x) / 256
	x, q, d, bsums := x[:nb*256], v.Q[:nb*256], v.D[:nb], v.BSums[:nb*16]
	for b := 0; b < nb; b++ {
		qb := q[b*256 : b*256+256]
		d[b] = quantQ8KBlock(&x[b*256], &qb[0])
		for g := 0; g < 16; g++ {
			c := qb[g*16 : g*16+16]
			var s int16
			for _, v := range c {
				s += int16(v)
			}
			bsums[b*16+g] = s
		}
	}
}

func quantQ8V(v *Vec, x []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	x, q, d, s := x[:nb*32], v.Q[:nb*32], v.D[:nb], v.S[:nb]
	quantQ8Blocks(&x[0], &q[0], &d[0], &s[0], nb)
}

// matVec wraps a many-row kernel for weights of type t (rows of nb blocks,
// taken in units of unit blocks) as a MatVec entry: one call for all the
// rows, so that constants are set up once and the weight stream is not
// broken by calls. Rows whose block count is not a multiple of unit fall
// back to the implementation's Dot, read when the entry is called.
func matVec(im *Impl, t format.DType, unit int, kern func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32)) MatMul4Func {
	k, bb := KindOf(t), t.BlockBytes()
	return func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
		if r0 >= r1 {
			return
		}
		x := &xs[0]
		nb := len(x.F) / Block(k)
		out = out[r0:r1]
		if nb == 0 || nb%unit != 0 {
			dot := im.Dot[t]
			for r := r0; r < r1; r++ {
				out[r-r0] = dot(w[r*rowBytes:(r+1)*rowBytes], x)
			}
			return
		}
		if rowBytes < nb*bb {
			panic("kernel: row shorter than its activation")
		}
		_ = w[(r1-1)*rowBytes+nb*bb-1]
		_ = x.Q[nb*Block(k)-1]
		_ = x.D[nb-1]
		if k == ActQ8 {
			_ = x.S[nb-1]
		} else {
			_ = x.BSums[nb*16-1]
		}
		kern(&w[r0*rowBytes], x, nb/unit, r1-r0, rowBytes, &out[0])
	}
}

// rowsKernelK is a many-row K-quant kernel against the activation's codes,
// super-block scales and 16-code sums.
type rowsKernelK func(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

// matVecK is matVec for a rowsKernelK of type t (one super-block a unit).
func matVecK(im *Impl, t format.DType, kern rowsKernelK) MatMul4Func {
	return matVec(im, t, 1, func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32) {
		kern(w, &x.Q[0], &x.D[0], &x.BSums[0], nu, rows, rowBytes, out)
	})
}

// dotK makes a one-row Dot of a rowsKernelK (super-blocks of bb bytes).
func dotK(kern rowsKernelK, bb int) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d, bs := w[:nb*bb], x.Q[:nb*256], x.D[:nb], x.BSums[:nb*16]
		var sum float32
		kern(&w[0], &q[0], &d[0], &bs[0], nb, 1, 0, &sum)
		return sum
	}
}

// vnniExtras are further AVX512VNNI entries, added by files of their own
// through addVNNI (from package-level variable initializers, which run
// before init), and applied by initAVX512VNNI once the AVX2 entries are
// copied.
var vnniExtras []func(im *Impl)

// addVNNI records f to fill in AVX512VNNI entries; it returns true so that
// a file can call it as `var _ = addVNNI(...)`.
func addVNNI(f func(im *Impl)) bool {
	vnniExtras = append(vnniExtras, f)
	return true
}
