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
func dotIQ2Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)

//go:noescape
func dotIQ2XXSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)

//go:noescape
func dotIQ2XSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)

//go:noescape
func dotIQ1Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)

//go:noescape
func dotIQ1Mx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)

//go:noescape
func dotIQ3XXSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint32)

//go:noescape
func dotIQ3Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint32)

// grid1S10 is iq1s_grid as the bytes 8*point+10 (2, 10, 18): the IQ1
// kernels' weights 8*point+-1 plus 9, unsigned for VPMADDUBSW, once 2 is
// taken off where the shift is negative.
var grid1S10 = func() []uint64 {
	g := make([]uint64, len(iqgrid.Grid1S))
	for k, p := range iqgrid.Grid1S {
		for j := 0; j < 8; j++ {
			g[k] |= uint64(uint8(int8(p>>(8*j))*8+10)) << (8 * j)
		}
	}
	return g
}()

// gridRows adapts a many-row grid kernel (with its grid) to rowsKernelK.
func gridRows[G uint32 | uint64](kern func(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *G), grid []G) rowsKernelK {
	return func(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32) {
		kern(w, q, d, bs, nb, rows, rowBytes, out, &grid[0])
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
	addGrid(im, format.IQ2_XXS, 66, gridRows(dotIQ2XXSx1VNNI, iqgrid.Grid2XXS))
	addGrid(im, format.IQ2_XS, 74, gridRows(dotIQ2XSx1VNNI, iqgrid.Grid2XS))
	addGrid(im, format.IQ1_S, 50, gridRows(dotIQ1Sx1VNNI, grid1S10))
	addGrid(im, format.IQ1_M, 56, gridRows(dotIQ1Mx1VNNI, grid1S10))
	addGrid(im, format.IQ3_XXS, 98, gridRows(dotIQ3XXSx1VNNI, iqgrid.Grid3XXS))
	addGrid(im, format.IQ3_S, 110, gridRows(dotIQ3Sx1VNNI, iqgrid.Grid3S))
})
