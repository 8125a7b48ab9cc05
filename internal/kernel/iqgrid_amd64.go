//go:build !purego

package kernel

import (
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The AVX2 kernels of the grid i-quants (iqgrid_amd64.s). Each takes the
// row's super-blocks, the activation codes and scales, the block count, the
// type's grid and its sign table.

//go:noescape
func dotIQ2XXSAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2XSAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2SAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ3XXSAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ3SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ1SAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ1MAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

// signBytes returns, for each sign pattern s of 8 bits, the eight bytes
// -1 (bit j of s set) or +1 that VPSIGNB moves onto the codes.
func signBytes(n int, pattern func(i int) uint8) []uint64 {
	t := make([]uint64, n)
	for i := range t {
		p := pattern(i)
		for j := 0; j < 8; j++ {
			b := uint64(0x01)
			if p>>j&1 != 0 {
				b = 0xff
			}
			t[i] |= b << (8 * j)
		}
	}
	return t
}

var (
	// signs8 maps a sign byte (IQ2_S, IQ3_S) to its +-1 bytes.
	signs8 = signBytes(256, func(i int) uint8 { return uint8(i) })
	// signs7 maps a 7-bit sign index (IQ2_XXS, IQ2_XS, IQ3_XXS) through
	// ksigns_iq2xs to its +-1 bytes.
	signs7 = signBytes(128, func(i int) uint8 { return iqgrid.Signs[i] })
)

// blockGrid wraps a grid kernel over nb super-blocks of bb bytes, with its
// tables, times the type's constant factor f.
func blockGrid[G uint32 | uint64](kern func(*byte, *int8, *float32, int, *G, *uint64) float32, bb int, grid []G, signs []uint64, f float32) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*bb], x.Q[:nb*256], x.D[:nb]
		return f * kern(&w[0], &q[0], &d[0], nb, &grid[0], &signs[0])
	}
}

func init() {
	AVX2.Dot[format.IQ2_XXS] = blockGrid(dotIQ2XXSAVX2, 66, iqgrid.Grid2XXS, signs7, 0.125)
	AVX2.Dot[format.IQ2_XS] = blockGrid(dotIQ2XSAVX2, 74, iqgrid.Grid2XS, signs7, 0.125)
	AVX2.Dot[format.IQ2_S] = blockGrid(dotIQ2SAVX2, 82, iqgrid.Grid2S, signs8, 0.125)
	AVX2.Dot[format.IQ3_XXS] = blockGrid(dotIQ3XXSAVX2, 98, iqgrid.Grid3XXS, signs7, 0.25)
	AVX2.Dot[format.IQ3_S] = blockGrid(dotIQ3SAVX2, 110, iqgrid.Grid3S, signs8, 1)
	AVX2.Dot[format.IQ1_S] = blockGrid(dotIQ1SAVX2, 50, grid1S8, signs8, 0.125)
	AVX2.Dot[format.IQ1_M] = blockGrid(dotIQ1MAVX2, 56, grid1S8, signs8, 0.125)
}
