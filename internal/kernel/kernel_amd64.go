//go:build !purego

package kernel

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// AVX2 is the amd64 implementation using AVX2, FMA and F16C (Haswell and
// later, Zen and later). Its integer dot products follow ggml's AVX2
// kernels (ggml-cpu/arch/x86/quants.c): the weight codes are unpacked to
// bytes, multiplied against the 8-bit activation codes with VPMADDUBSW
// (signed codes are made unsigned by moving their sign onto the activation
// with VPSIGNB), widened with VPMADDWD and accumulated in float32 per block.
var AVX2 = &Impl{
	Name:   "avx2",
	DotF32: dotF32A,
	Axpy:   axpyA,
}

func init() {
	detectX86()
	AVX2.Available = x86.HasAVX2 && x86.HasFMA && x86.HasF16C
	AVX2.Dot[format.F32] = dotF32RowA
	AVX2.Dot[format.F16] = dotF16A
	AVX2.Dot[format.BF16] = dotBF16A
	AVX2.Dot[format.Q8_0] = block32(dotQ8_0AVX2, 34)
	AVX2.Dot[format.Q4_0] = block32S(dotQ4_0AVX2, 18)
	AVX2.Dot[format.Q4_K] = blockK(dotQ4_KAVX2, 144)
	AVX2.Dot[format.Q6_K] = blockK(dotQ6_KAVX2, 210)
	AVX2.Dot[format.Q4_1] = block32S(dotQ4_1AVX2, 20)
	AVX2.Dot[format.Q5_0] = block32(dotQ5_0AVX2, 22)
	AVX2.Dot[format.Q5_1] = block32S(dotQ5_1AVX2, 24)
	AVX2.Dot[format.IQ4_NL] = block32(dotIQ4NLAVX2, 18)
	AVX2.Dot[format.Q5_K] = blockK(dotQ5_KAVX2, 176)
	AVX2.Dot[format.Q2_K] = blockK(dotQ2_KAVX2, 84)
	AVX2.Dot[format.Q3_K] = blockK(dotQ3_KAVX2, 110)
	initMatMul4()
	Register(AVX2)
	// In this order: each copies the tables of the one before.
	initAVX512VNNI()
	initAMX()
}

//go:noescape
func dotQ8_0AVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ4_0AVX2(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ4_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ6_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotF16AVX2(w *byte, f *float32, n int) float32

//go:noescape
func dotBF16AVX2(w *byte, f *float32, n int) float32

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

// The wrappers below check every slice bound the assembly relies on (the
// slicing panics exactly where the generic kernel would) and pass the
// first elements' addresses.

func dotF16A(w []byte, x *Vec) float32 {
	f := x.F
	n := len(f)
	w = w[:2*n]
	m := n &^ 7
	var s float32
	if m > 0 {
		s = dotF16AVX2(&w[0], &f[0], m)
	}
	for i := m; i < n; i++ {
		s += f16(w[2*i:]) * f[i]
	}
	return s
}

func dotBF16A(w []byte, x *Vec) float32 {
	f := x.F
	n := len(f)
	w = w[:2*n]
	m := n &^ 7
	var s float32
	if m > 0 {
		s = dotBF16AVX2(&w[0], &f[0], m)
	}
	for i := m; i < n; i++ {
		s += bf16(w[2*i:]) * f[i]
	}
	return s
}

func dotF32RowA(w []byte, x *Vec) float32 {
	f := x.F
	n := len(f)
	if n == 0 {
		return 0
	}
	w = w[:4*n]
	return dotF32A(unsafe.Slice((*float32)(unsafe.Pointer(&w[0])), n), f)
}

func dotF32A(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	m := n &^ 7
	var s float32
	if m > 0 {
		s = dotF32AVX2(&a[0], &b[0], m)
	}
	for i := m; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

func axpyA(a float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	m := n &^ 7
	if m > 0 {
		axpyAVX2(a, &x[0], &y[0], m)
	}
	for i := m; i < n; i++ {
		y[i] += a * x[i]
	}
}

func bf16(b []byte) float32 {
	return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
}

//go:noescape
func dotQ4_1AVX2(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotIQ4NLAVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_0AVX2(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_1AVX2(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ5_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ2_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ3_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
