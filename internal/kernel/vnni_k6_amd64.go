//go:build !purego

package kernel

import (
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// Q6_K and Q5_K against one activation row on AVX-512 VNNI + GFNI: the
// many-row kernels dotQ6_Kx1VNNI (Q6_K: the output matrix of most
// quantized models) and dotQ5_Kx1VNNI are the MatVec entries of their
// types, and one-row calls of them the Dot entries.

//go:noescape
func dotQ5_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

//go:noescape
func dotQ6_Kx1VNNI(w *byte, q *int8, d *float32, c *int32, nb, rows, rowBytes int, out *float32)

// hasGFNI reports whether the CPU has GFNI (CPUID leaf 7, ECX bit 8), whose
// 512-bit form the kernels here use beside AVX-512 BW, VBMI and VNNI.
func hasGFNI() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, _, ecx7, _ := cpuid(7, 0)
	return isSet(ecx7, 8)
}

var _ = addVNNI(func(im *Impl) {
	if !hasGFNI() {
		return
	}
	im.MatVec[format.Q6_K] = matVec(im, format.Q6_K, 1, func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32) {
		dotQ6KRows(w, &x.Q[0], &x.D[0], nu, rows, rowBytes, out)
	})
	im.Dot[format.Q6_K] = dotQ6KV
	im.MatVec[format.Q5_K] = matVecK(im, format.Q5_K, dotQ5_Kx1VNNI)
	im.Dot[format.Q5_K] = dotK(dotQ5_Kx1VNNI, 176)
})

// q6kScratch holds the per-call scratch of dotQ6_Kx1VNNI (the activation's
// code sums, 64 int32 per super-block).
var q6kScratch = sync.Pool{New: func() any { return new([]int32) }}

// dotQ6KRows runs dotQ6_Kx1VNNI over rows rows of nb super-blocks with a
// scratch buffer from the pool.
func dotQ6KRows(w *byte, q *int8, d *float32, nb, rows, rowBytes int, out *float32) {
	p := q6kScratch.Get().(*[]int32)
	if len(*p) < 64*nb {
		*p = make([]int32, 64*nb)
	}
	dotQ6_Kx1VNNI(w, q, d, &(*p)[0], nb, rows, rowBytes, out)
	q6kScratch.Put(p)
}

// dotQ6KV is the Q6_K dot product through the many-row kernel (one row).
func dotQ6KV(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	if nb == 0 {
		return 0
	}
	w, q, d := w[:nb*210], x.Q[:nb*256], x.D[:nb]
	var sum float32
	dotQ6KRows(&w[0], &q[0], &d[0], nb, 1, 0, &sum)
	return sum
}
