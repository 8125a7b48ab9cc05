//go:build !purego

package kernel

import (
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The grid i-quants on AVX-512 VNNI (vnni_iqgrid_amd64.s): many-row
// kernels, the MatVec entries of their types and, one row at a time, the
// Dot entries.

//go:noescape
func dotIQ2Sx1VNNI(w *byte, q *int8, d *float32, nb, rows, rowBytes int, out *float32, grid *uint64)

// gridRows adapts a many-row grid kernel (with its grid) to rowsKernelK.
func gridRows[G uint32 | uint64](kern func(w *byte, q *int8, d *float32, nb, rows, rowBytes int, out *float32, grid *G), grid []G) rowsKernelK {
	return func(w *byte, q *int8, d *float32, _ *int16, nb, rows, rowBytes int, out *float32) {
		kern(w, q, d, nb, rows, rowBytes, out, &grid[0])
	}
}

// addGrid registers kern as the MatVec and Dot entries of type t
// (super-blocks of bb bytes).
func addGrid(im *Impl, t format.DType, bb int, kern rowsKernelK) {
	im.MatVec[t] = matVecK(im, t, kern)
	im.Dot[t] = dotK(kern, bb)
}

var _ = addVNNI(func(im *Impl) {
	addGrid(im, format.IQ2_S, 82, gridRows(dotIQ2Sx1VNNI, iqgrid.Grid2S))
})
