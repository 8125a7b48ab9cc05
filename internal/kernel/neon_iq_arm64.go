//go:build !purego

package kernel

import (
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The NEON and NEONDot kernels of the 256-element i-quants
// (neon_iq_arm64.s). Each grid kernel takes the row's super-blocks, the
// activation codes and scales, the block count, the type's grid and a
// table of sign masks.

//go:noescape
func dotIQ4_XSNEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotIQ4_XSDOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotIQ2XXSNEON(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2XXSDOT(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2XSNEON(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2XSDOT(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2SNEON(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ2SDOT(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ3XXSNEON(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ3XXSDOT(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ3SNEON(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ3SDOT(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32

//go:noescape
func dotIQ1SNEON(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ1SDOT(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ1MNEON(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

//go:noescape
func dotIQ1MDOT(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32

var (
	// neonMask8 maps a sign byte (IQ2_S, IQ3_S) to eight mask bytes,
	// 0xff where the bit is set.
	neonMask8 = func() (t [256]uint64) {
		for i := range t {
			for j := 0; j < 8; j++ {
				if i>>j&1 != 0 {
					t[i] |= 0xff << (8 * j)
				}
			}
		}
		return t
	}()
	// neonMask7 maps a 7-bit sign index (IQ2_XXS, IQ2_XS, IQ3_XXS)
	// through ksigns_iq2xs to its mask bytes.
	neonMask7 = func() (t [128]uint64) {
		for i := range t {
			t[i] = neonMask8[iqgrid.Signs[i]]
		}
		return t
	}()
	// neonGrid1S8 is iq1s_grid times 8 (bytes -8, 0, 8), to which the
	// IQ1 kernels add the shift +-1.
	neonGrid1S8 = func() []uint64 {
		g := make([]uint64, len(iqgrid.Grid1S))
		for k, p := range iqgrid.Grid1S {
			for j := 0; j < 8; j++ {
				g[k] |= uint64(uint8(int8(p>>(8*j))*8)) << (8 * j)
			}
		}
		return g
	}()
)

// neonGrid wraps a grid kernel over nb super-blocks of bb bytes, with its
// tables, times the type's constant factor f (a power of two, so applied
// once at the end without a rounding of its own).
func neonGrid[G uint32 | uint64](kern func(*byte, *int8, *float32, int, *G, *uint64) float32, bb int, grid []G, signs []uint64, f float32) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*bb], x.Q[:nb*256], x.D[:nb]
		return f * kern(&w[0], &q[0], &d[0], nb, &grid[0], &signs[0])
	}
}

// The kernel signatures of the grid types with uint64 and uint32 grids.
type (
	gridKern64 = func(*byte, *int8, *float32, int, *uint64, *uint64) float32
	gridKern32 = func(*byte, *int8, *float32, int, *uint32, *uint64) float32
)

var _ = addNEON(func(neon, dot *Impl) {
	m8, m7 := neonMask8[:], neonMask7[:]
	for _, p := range []struct {
		im                              *Impl
		iq4                             func(*byte, *int8, *float32, int) float32
		iq2xxs, iq2xs, iq2s, iq1s, iq1m gridKern64
		iq3xxs, iq3s                    gridKern32
	}{
		{neon, dotIQ4_XSNEON, dotIQ2XXSNEON, dotIQ2XSNEON, dotIQ2SNEON, dotIQ1SNEON, dotIQ1MNEON, dotIQ3XXSNEON, dotIQ3SNEON},
		{dot, dotIQ4_XSDOT, dotIQ2XXSDOT, dotIQ2XSDOT, dotIQ2SDOT, dotIQ1SDOT, dotIQ1MDOT, dotIQ3XXSDOT, dotIQ3SDOT},
	} {
		p.im.Dot[format.IQ4_XS] = blockKD(p.iq4, 136)
		p.im.Dot[format.IQ2_XXS] = neonGrid(p.iq2xxs, 66, iqgrid.Grid2XXS, m7, 0.125)
		p.im.Dot[format.IQ2_XS] = neonGrid(p.iq2xs, 74, iqgrid.Grid2XS, m7, 0.125)
		p.im.Dot[format.IQ2_S] = neonGrid(p.iq2s, 82, iqgrid.Grid2S, m8, 0.125)
		p.im.Dot[format.IQ3_XXS] = neonGrid(p.iq3xxs, 98, iqgrid.Grid3XXS, m7, 0.25)
		p.im.Dot[format.IQ3_S] = neonGrid(p.iq3s, 110, iqgrid.Grid3S, m8, 1)
		p.im.Dot[format.IQ1_S] = neonGrid(p.iq1s, 50, neonGrid1S8, m8, 0.125)
		p.im.Dot[format.IQ1_M] = neonGrid(p.iq1m, 56, neonGrid1S8, m8, 0.125)
	}
})
