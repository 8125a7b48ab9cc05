//go:build !amd64 || purego

package quantize

func vecSums8x8(sums *float32, lev *uint8, nblk int, cost *float32, nl int) {
	panic("quantize: no AVX2 kernels")
}

func vecSums8x4(sums *float32, lev *uint8, nblk int, cost *float32, nl int) {
	panic("quantize: no AVX2 kernels")
}
