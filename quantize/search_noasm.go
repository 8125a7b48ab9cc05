//go:build !amd64 || purego

package quantize

// useAVX2 is false without the amd64 kernels: the searches take their
// pure-Go path.
var useAVX2 = false

func kxTrial8(x, xm, w *float32, n int, num *float32, den, sumW, sumX float32, nmax int32, x3, mad bool, out *float32, codes *int32) {
	panic("quantize: no AVX2 kernels")
}

func qxTrials24(x, w, wx *float32, n int, negnum *float32, max float32, lo, hi int32, out *float32) {
	panic("quantize: no AVX2 kernels")
}

func refitErr8(e *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32) {
	panic("quantize: no AVX2 kernels")
}

func refitShift8(s *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32) {
	panic("quantize: no AVX2 kernels")
}

func axpy8(y *float32, a float32, x *float32, n int) {
	panic("quantize: no AVX2 kernels")
}

func refitErr16(e *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32) {
	panic("quantize: no AVX-512 kernels")
}

func refitShift16(s *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32) {
	panic("quantize: no AVX-512 kernels")
}
