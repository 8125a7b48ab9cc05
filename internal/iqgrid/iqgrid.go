// Package iqgrid holds the constant tables of ggml's i-quant formats that
// both the encoders (package quantize) and the dot-product kernels need:
// the lattice point lists of iq3xs_init_impl (kgrid.go) and
// iq2xs_init_impl (kgrid2.go), the decoding grids ggml-common.h publishes
// (iq3xxs_grid, iq3s_grid, iq2xxs_grid, iq2xs_grid, iq2s_grid) derived from
// them, the 1-bit grid of IQ1_S and IQ1_M (iq1s_grid, from kgrid_1bit_2048,
// kgrid1.go), and the sign table ksigns_iq2xs.
package iqgrid

// values3XXS are IQ3_XXS's decoded magnitudes of lattice coordinate l
// (ggml-common.h's iq3xxs_grid: 2l+1 times four, except 62 for 60);
// IQ3_S's iq3s_grid holds 2l+1 itself.
var values3XXS = [8]uint32{4, 12, 20, 28, 36, 44, 52, 62}

// Grid3XXS is ggml-common.h's iq3xxs_grid: point k's four decoded
// magnitudes, one per byte, low byte first.
var Grid3XXS = decodeGrid(KGrid3XXS[:], values3XXS)

// Grid3S is ggml-common.h's iq3s_grid, IQ3_S's points as bytes 2l+1.
var Grid3S = decodeGrid(KGrid3S[:], [8]uint32{1, 3, 5, 7, 9, 11, 13, 15})

func decodeGrid(kgrid []uint16, v [8]uint32) []uint32 {
	g := make([]uint32, len(kgrid))
	for k, c := range kgrid {
		for i := 0; i < 4; i++ {
			g[k] |= v[c>>(3*i)&7] << (8 * i)
		}
	}
	return g
}

// Signs is ggml-common.h's ksigns_iq2xs: seven sign bits and their parity
// as the eighth (bit j set: element j is negative).
var Signs = func() (t [128]uint8) {
	for i := range t {
		p := uint8(0)
		for v := i; v != 0; v &= v - 1 {
			p ^= 1
		}
		t[i] = uint8(i) | p<<7
	}
	return t
}()

// values2 are the 2-bit i-quants' decoded magnitudes of lattice coordinate
// l (ggml-common.h's iq2xxs_grid and iq2xs_grid use 8, 25, 43).
var values2 = [4]uint64{8, 25, 43, 0}

// Grid2XXS is ggml-common.h's iq2xxs_grid: point k's eight decoded
// magnitudes, one per byte, low byte first.
var Grid2XXS = decodeGrid2(KGrid2XXS[:])

// Grid2XS is ggml-common.h's iq2xs_grid.
var Grid2XS = decodeGrid2(KGrid2XS[:])

// Grid2S is ggml-common.h's iq2s_grid.
var Grid2S = decodeGrid2(KGrid2S[:])

func decodeGrid2(kgrid []uint16) []uint64 {
	g := make([]uint64, len(kgrid))
	for k, c := range kgrid {
		for i := 0; i < 8; i++ {
			g[k] |= values2[c>>(2*i)&3] << (8 * i)
		}
	}
	return g
}

// Grid1S is ggml-common.h's iq1s_grid, the grid IQ1_S and IQ1_M share:
// point k's eight coordinates -1, 0 or 1 as int8 bytes, low byte first.
var Grid1S = func() []uint64 {
	g := make([]uint64, len(KGrid1S))
	for k, c := range KGrid1S {
		for i := 0; i < 8; i++ {
			g[k] |= uint64(uint8(int8(c>>(2*i)&3)-1)) << (8 * i)
		}
	}
	return g
}()
