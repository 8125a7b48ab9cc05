//go:build !purego

package kernel

import (
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The AVX2 kernels of the grid i-quants (iqgrid_amd64.s, iqgridvec_amd64.s).
// Each takes the row's super-blocks, the activation codes and scales, the
// block count and the type's grid (IQ2_XXS and IQ3_XXS also a sign
// table).

//go:noescape
func dotIQ2XXSAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2XSAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32

//go:noescape
func dotIQ2SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32

//go:noescape
func dotIQ3XXSAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ3SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32) float32

//go:noescape
func dotIQ1SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32

//go:noescape
func dotIQ1MAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32

// blockGrid wraps a grid kernel over nb super-blocks of bb bytes, with its
// grid, times the type's constant factor f.
func blockGrid[G uint32 | uint64](kern func(*byte, *int8, *float32, int, *G) float32, bb int, grid []G, f float32) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*bb], x.Q[:nb*256], x.D[:nb]
		return f * kern(&w[0], &q[0], &d[0], nb, &grid[0])
	}
}

// blockGridSigns is blockGrid for the kernels that also take the sign
// table signs7.
func blockGridSigns[G uint32 | uint64](kern func(*byte, *int8, *float32, int, *G, *uint64) float32, bb int, grid []G, f float32) DotFunc {
	return blockGrid(func(w *byte, q *int8, d *float32, nb int, g *G) float32 {
		return kern(w, q, d, nb, g, &signs7[0])
	}, bb, grid, f)
}

// signs7 maps a 7-bit sign index (IQ2_XXS, IQ3_XXS) through ksigns_iq2xs
// to the eight bytes -1 (bit j set) or +1 that VPSIGNB moves onto the
// codes.
var signs7 = func() []uint64 {
	t := make([]uint64, 128)
	for i := range t {
		p := iqgrid.Signs[i]
		for j := 0; j < 8; j++ {
			b := uint64(0x01)
			if p>>j&1 != 0 {
				b = 0xff
			}
			t[i] |= b << (8 * j)
		}
	}
	return t
}()

func init() {
	AVX2.Dot[format.IQ2_XXS] = blockGridSigns(dotIQ2XXSAVX2, 66, iqgrid.Grid2XXS, 0.125)
	AVX2.Dot[format.IQ2_XS] = blockGrid(dotIQ2XSAVX2, 74, iqgrid.Grid2XS, 0.125)
	AVX2.Dot[format.IQ2_S] = blockGrid(dotIQ2SAVX2, 82, iqgrid.Grid2S, 0.125)
	AVX2.Dot[format.IQ3_XXS] = blockGridSigns(dotIQ3XXSAVX2, 98, iqgrid.Grid3XXS, 0.25)
	AVX2.Dot[format.IQ3_S] = blockGrid(dotIQ3SAVX2, 110, iqgrid.Grid3S, 1)
	AVX2.Dot[format.IQ1_S] = blockGrid(dotIQ1SAVX2, 50, grid1S8, 0.125)
	AVX2.Dot[format.IQ1_M] = blockGrid(dotIQ1MAVX2, 56, grid1S8, 0.125)
}
