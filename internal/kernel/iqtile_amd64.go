//go:build !purego

package kernel

import (
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// iqUnpackedDot4AVX2 multiplies the unpacked weight row (w, sc, dw; nb
// super-blocks) with the four Q8_K activation rows of codes q and scales
// d, leaving the four dot products, before the type's factor, in out (see
// iqtile_amd64.s).
//
//go:noescape
func iqUnpackedDot4AVX2(w, sc *byte, dw *float32, nb int, q *[4]*int8, d *[4]*float32, out *[4]float32)

// iqRowPool holds unpacked rows between calls.
var iqRowPool = sync.Pool{New: func() any { return new(iqRow) }}

// matIQUnpacked returns the prefill MatMul16 entry of grid type t: each
// weight row r0..r1 is unpacked once (unpackRow) and multiplied with every
// activation row, four at a time. Each output depends only on its row and
// activation row, so the results do not depend on how rows are tiled.
func matIQUnpacked(t format.DType) MatMul4Func {
	info := iqUnpackers[t]
	return func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
		if len(xs) == 0 || r1 <= r0 {
			return
		}
		nb := len(xs[0].F) / 256
		if nb == 0 {
			for j := range xs {
				for r := r0; r < r1; r++ {
					out[j*stride+r] = 0
				}
			}
			return
		}
		row := iqRowPool.Get().(*iqRow)
		defer iqRowPool.Put(row)
		row.resize(nb)
		var q [4]*int8
		var d [4]*float32
		var res [4]float32
		for r := r0; r < r1; r++ {
			unpackRow(info, w[r*rowBytes:r*rowBytes+nb*info.bytes], row, nb)
			for j := 0; j < len(xs); j += 4 {
				for k := 0; k < 4; k++ {
					x := &xs[min(j+k, len(xs)-1)]
					q[k], d[k] = &x.Q[0], &x.D[0]
				}
				iqUnpackedDot4AVX2(&row.w[0], &row.sc[0], &row.d[0], nb, &q, &d, &res)
				for k := 0; k < 4 && j+k < len(xs); k++ {
					out[(j+k)*stride+r] = info.factor * res[k]
				}
			}
		}
	}
}

func init() {
	for t := range iqUnpackers {
		AVX2.MatMul16[t] = matIQUnpacked(t)
	}
}

// The AVX-512 VNNI implementation uses the same prefill kernel.
var _ = addVNNI(func(im *Impl) {
	for t := range iqUnpackers {
		im.MatMul16[t] = matIQUnpacked(t)
	}
})
