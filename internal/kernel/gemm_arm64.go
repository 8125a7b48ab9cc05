//go:build !purego

package kernel

//go:noescape
func gemm8x12NEON(k int, a, b, c *float32, ldc int, acc bool)

// gemmTileNEON checks every bound the assembly relies on before calling it.
func gemmTileNEON(k int, a, b, c []float32, ldc int, acc bool) {
	_, _, _ = a[8*k-1], b[12*k-1], c[7*ldc+11]
	gemm8x12NEON(k, &a[0], &b[0], &c[0], ldc, acc)
}

// NEON's tile: 8×12, twenty-four of the thirty-two vector registers
// accumulating, A and B's values of a step in the other five (FMLA by
// element). A KC of 256 keeps a micro-panel of B at 12 KiB in L1.
var _ = addNEON(func(neon, dot *Impl) {
	g := &GemmKernel{MR: 8, NR: 12, KC: 256, Kern: gemmTileNEON}
	neon.GemmTile, dot.GemmTile = g, g
})
