//go:build !purego

package kernel

//go:noescape
func gemm8x32AVX512(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func gemm6x16AVX2(k int, a, b, c *float32, ldc int, acc bool)

// The tiles check every bound the assembly relies on before calling it.

func gemmTileAVX512(k int, a, b, c []float32, ldc int, acc bool) {
	_, _, _ = a[8*k-1], b[32*k-1], c[7*ldc+31]
	gemm8x32AVX512(k, &a[0], &b[0], &c[0], ldc, acc)
}

func gemmTileAVX2(k int, a, b, c []float32, ldc int, acc bool) {
	_, _, _ = a[6*k-1], b[16*k-1], c[5*ldc+15]
	gemm6x16AVX2(k, &a[0], &b[0], &c[0], ldc, acc)
}

// AVX2's tile: 6×16 (twelve YMM accumulators); AVX-512's: 8×32 (sixteen
// ZMM accumulators, A broadcast from memory by the FMA itself). A KC of
// 256 (AVX2) or 128 (AVX-512) keeps a micro-panel of B at 16 KiB in L1.
var _ = func() bool {
	AVX2.GemmTile = &GemmKernel{MR: 6, NR: 16, KC: 256, Kern: gemmTileAVX2}
	return true
}()

var _ = addVNNI(func(im *Impl) {
	im.GemmTile = &GemmKernel{MR: 8, NR: 32, KC: 128, Kern: gemmTileAVX512}
})
