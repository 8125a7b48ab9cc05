//go:build !amd64 || purego

package quantize

// useAVX2 is false without the amd64 kernels: the searches take their
// pure-Go path.
var useAVX2 = false

func kxSums8(x, xm, w *float32, n int, iscale *float32, nmax int32, x3 bool, sums *float32) {
	panic("quantize: no AVX2 kernels")
}

func kxErr8(x, xm, w *float32, n int, p *float32, nmax int32, x3, mad bool, errs *float32) {
	panic("quantize: no AVX2 kernels")
}

func qxSums8(x, w, wx *float32, n int, iscale *float32, lo, hi int32, sums *float32) {
	panic("quantize: no AVX2 kernels")
}
